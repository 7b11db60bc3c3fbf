"""The emulator's container profiles: every image the project can name has one, each cites
what AWS publishes, and the image's Python decides what runs (pyenv's nearest interpreter,
vermin's refusal of newer constructs)."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from image_mlops_dev.emulator import images


def test_every_profile_cites_its_source_and_says_what_it_lacks():
    profiles = images.profiles()
    assert len({p.name for p in profiles}) == len(profiles)
    for profile in profiles:
        assert profile.python.count(".") == 1 and profile.python.startswith("3."), profile.name
        assert profile.requirements, profile.name
        assert dt.datetime.fromisoformat(profile.built.replace("Z", "+00:00")).tzinfo
        for key in ("repository", "ref", "date", "files"):
            assert profile.source.get(key), (profile.name, key)
        assert profile.not_installed, f"{profile.name}: say what the local run does instead"
        assert all(reason.strip() for reason in profile.not_installed.values())


@pytest.mark.parametrize(
    ("framework", "version", "py_version", "expected"),
    [
        ("sklearn", "1.4-2-py312", "", "sklearn-1.4-2-py312"),  # the default
        ("sklearn", "1.2-1", "", "sklearn-1.2-1"),  # the default before 2026-12
        ("pytorch", "2.3", "py311", None),  # docs/bring-your-own.md's example
    ],
)
def test_every_image_the_project_names_has_a_profile(
    monkeypatch, framework, version, py_version, expected
):
    from image_mlops.config import get_settings
    from image_mlops.training.job import image_uri

    monkeypatch.setenv("IMAGE_MLOPS_TRAINING_FRAMEWORK", framework)
    monkeypatch.setenv("IMAGE_MLOPS_FRAMEWORK_VERSION", version)
    monkeypatch.setenv("IMAGE_MLOPS_FRAMEWORK_PY_VERSION", py_version)
    settings = get_settings()
    for scope in ("training", "inference"):
        profile = images.profile_for(image_uri(settings, scope))
        assert profile.name == (expected or f"{framework}-{version}-{scope}")
        assert profile.serving != "none" or scope == "training"


def test_the_lambda_runtime_of_the_template_has_a_profile():
    from image_mlops_dev import infra

    assert "Runtime: python3.12" in infra.TEMPLATE_PATH.read_text()
    assert images.profile_for("lambda:python3.12").python == "3.12"


def test_an_image_without_a_profile_is_refused_by_name():
    with pytest.raises(images.ImageError, match=r"no container profile for the image .*mine:1"):
        images.profile_for("123456789012.dkr.ecr.us-east-1.amazonaws.com/mine:1")


def test_the_images_python_or_the_nearest_newer_one(monkeypatch):
    found = {"3.9": Path("/py/3.9"), "3.11": Path("/py/3.11"), "3.13": Path("/py/3.13")}
    monkeypatch.setattr(images, "interpreters", lambda: found)
    assert images.interpreter("3.11") == (Path("/py/3.11"), "3.11")
    # 3.12 missing: 3.11 and 3.13 are as near; the newer one runs what the image accepts
    assert images.interpreter("3.12") == (Path("/py/3.13"), "3.13")
    assert images.interpreter("3.10") == (Path("/py/3.11"), "3.11")
    monkeypatch.setattr(images, "interpreters", lambda: {"3.9": Path("/py/3.9")})
    assert images.interpreter("3.12") == (Path("/py/3.9"), "3.9")


def test_this_machine_has_every_profiles_python():
    """pyenv's interpreters (3.9 to 3.13 on this machine kind): no profile falls back."""
    available = images.interpreters()
    for profile in images.profiles():
        assert profile.python in available, profile.name


def test_vermin_refuses_what_the_images_python_cannot_run(tmp_path):
    (tmp_path / "inference.py").write_text(
        "def f(a, b):\n    return list(zip(a, b, strict=True))\n"
    )
    old = next(p for p in images.profiles() if p.name == "sklearn-1.2-1")
    with pytest.raises(images.ImageError) as refused:
        images.check_python(old, tmp_path)
    message = str(refused.value)
    assert "sklearn-1.2-1 has Python 3.9" in message
    assert "inference.py:2: 'zip(strict)' requires Python 3.10" in message
    images.check_python(images.profile_for("sagemaker-scikit-learn:1.4-2-py312-cpu-py3"), tmp_path)


def test_the_built_in_programs_run_on_the_default_images_python():
    from image_mlops.config import PROJECT_ROOT

    default = images.profile_for("sagemaker-scikit-learn:1.4-2-py312-cpu-py3")
    images.check_python(default, PROJECT_ROOT / "plugins/image_mlops/include/scripts")
