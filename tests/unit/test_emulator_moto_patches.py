"""The emulator's patches of moto name their target and fail loudly on another moto."""

from __future__ import annotations

import types

import moto
import pytest

from image_mlops_dev.emulator import moto_patches
from image_mlops_dev.emulator.moto_patches import MotoChanged, add, original, patch


def test_moto_is_the_pinned_release():
    assert moto.__version__ == moto_patches.PINNED_MOTO


def test_a_patch_of_something_moto_lacks_refuses_and_names_it():
    owner = types.ModuleType("moto.fake")
    with pytest.raises(MotoChanged, match=r"\.absent is not in moto .* written for moto 5\.2\.5"):
        patch(owner, "absent", lambda: "ours")


def test_a_patch_keeps_the_original_and_wraps_it_once():
    class Owner:
        def act(self) -> str:
            return "moto"

    def wrapped(self) -> str:
        return "ours+" + original(Owner, "act")(self)

    patch(Owner, "act", wrapped)
    patch(Owner, "act", wrapped)  # applied twice: still one layer around moto's
    assert Owner().act() == "ours+moto"


def test_an_addition_moto_has_grown_refuses():
    class Owner:
        def update_endpoint(self) -> None: ...

    with pytest.raises(MotoChanged, match=r"moto now has .*update_endpoint"):
        add(Owner, "update_endpoint", lambda self: None)


def test_the_emulators_patches_apply_on_the_pinned_moto():
    from image_mlops_dev.emulator.server import apply_moto_patches

    apply_moto_patches()
    apply_moto_patches()  # idempotent
