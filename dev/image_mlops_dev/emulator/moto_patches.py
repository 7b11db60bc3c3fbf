"""Patching moto: every patch names its target and fails loudly when the pinned moto lacks it.

The emulator extends moto (pinned in requirements-dev.txt) where AWS behaves otherwise. A
patch that silently found nothing to replace would leave the emulator forgiving what AWS
refuses, so :func:`patch` refuses to start the emulator instead, naming what is missing.
Patches keep the original they replace: applying them twice wraps the original once.
"""

from __future__ import annotations

from typing import Any

#: The moto release the patches are written against (requirements-dev.txt pins it).
PINNED_MOTO = "5.2.5"

_originals: dict[tuple[Any, str], Any] = {}


class MotoChanged(RuntimeError):
    """The installed moto lacks something a patch replaces."""


def original(owner: Any, name: str) -> Any:
    """``owner.name`` as moto has it (before any patch of ours)."""
    key = (owner, name)
    if key not in _originals:
        if not hasattr(owner, name):
            import moto

            where = getattr(owner, "__qualname__", getattr(owner, "__name__", repr(owner)))
            raise MotoChanged(
                f"{getattr(owner, '__module__', '')}.{where}.{name} is not in moto "
                f"{moto.__version__}: the emulator's patches are written for moto {PINNED_MOTO} "
                "(pinned in requirements-dev.txt); install that version"
            )
        _originals[key] = getattr(owner, name)
    return _originals[key]


def patch(owner: Any, name: str, replacement: Any) -> Any:
    """Replace ``owner.name`` (which must exist) with ``replacement``; returns the original."""
    kept = original(owner, name)
    setattr(owner, name, replacement)
    return kept


_added: dict[tuple[Any, str], Any] = {}


def add(owner: Any, name: str, addition: Any) -> None:
    """Give ``owner`` a ``name`` the pinned moto lacks; refuses when moto has one of its own
    (a newer moto: check whether the addition is still needed, then drop or patch it)."""
    key = (owner, name)
    if key not in _added and hasattr(owner, name):
        raise MotoChanged(
            f"moto now has {getattr(owner, '__qualname__', owner)}.{name}: the emulator adds "
            f"its own (written for moto {PINNED_MOTO}); review it"
        )
    _added[key] = addition
    setattr(owner, name, addition)


def original_classmethod(owner: type, name: str) -> Any:
    """The function behind a classmethod ``owner.name`` as moto has it."""
    kept = original(owner, name)
    return getattr(kept, "__func__", kept)
