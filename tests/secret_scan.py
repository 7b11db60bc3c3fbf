"""Look for a stack's secrets in everything it wrote (the e2e and scale-out tests)."""

from __future__ import annotations

from pathlib import Path


def files_under(state: Path, kept_by_design: set[Path]) -> dict[str, bytes]:
    """Every readable file under ``state`` (relative name → bytes), but those kept on purpose."""
    kept = {path.resolve() for path in kept_by_design}
    places = {}
    for path in state.rglob("*"):
        if path.is_file() and not path.is_symlink() and path.resolve() not in kept:
            try:
                places[str(path.relative_to(state))] = path.read_bytes()
            except PermissionError:  # PostgreSQL's own files, as its system user
                continue
    return places


def leaks(secrets: dict[str, str], places: dict[str, bytes]) -> list[tuple[str, str]]:
    """(secret's name, where) for every secret found; the values themselves never printed."""
    assert all(len(value) >= 16 for value in secrets.values())
    return [
        (name, where)
        for name, value in secrets.items()
        for where, data in places.items()
        if value.encode() in data
    ]
