"""Container profiles: what AWS publishes for each image the project can name, and the
virtualenv the emulator runs that image's programs in.

A profile (one ``*.toml`` file in this folder) records an image as AWS builds it: the Python
minor version, the packages and their versions (copied from the image's source, which it
cites: repository, ref, commit, files, date), its model server, and what cannot be installed
on this machine with what the local run does instead (``[not_installed]``).

:func:`environment` builds a profile's virtualenv on first use and keeps it in a cache folder
(``IMAGE_MLOPS_CONTAINER_VENVS``; the stack's ``<state>/container-venvs`` by default): the
profile's Python (pyenv's interpreter of that minor version, or the nearest one), then the
profile's packages as PyPI had them when the image's source was tagged (``pip
--uploaded-prior-to``), so the unpinned ones resolve as they did for AWS's build. Our own
virtualenv's packages are never on its path.

:func:`check_python` runs vermin over a program before it starts: code that needs a newer
Python than the image's is refused with the construct vermin names, whichever interpreter
runs it here.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import time
import tomllib
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

log = logging.getLogger("image_mlops.emulator.images")

HERE = Path(__file__).resolve().parent
#: The environment variable naming the folder the profiles' virtualenvs are cached in.
VENVS_ENV = "IMAGE_MLOPS_CONTAINER_VENVS"
_PYENV_ROOT = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
#: The version of :func:`environment`'s steps (part of every virtualenv's name).
BUILD_STEPS = "3"
#: The pip that builds a profile: 26.0 brought --uploaded-prior-to, 26.0.1 is the newest that
#: still runs on Python 3.9 (the 1.2-1 image's), which pip 26.1 and later refuse.
BUILDER_PIP = "pip==26.0.1"


class ImageError(RuntimeError):
    """The image cannot run here; the message is the job's or endpoint's failure reason."""


@dataclass(frozen=True)
class Profile:
    name: str
    python: str
    images: tuple[str, ...]
    serving: str
    built: str
    requirements: tuple[str, ...]
    source: dict[str, object]
    #: what the local run installs instead of a package it cannot have (requirement lines)
    local_requirements: tuple[str, ...] = ()
    not_installed: dict[str, str] = field(default_factory=dict)
    patch_collections_mapping: tuple[str, ...] = ()
    path: Path | None = None

    @property
    def digest(self) -> str:
        """Changes whenever the profile's file or the build's steps do: a changed profile
        gets a new virtualenv."""
        data = self.path.read_bytes() if self.path else self.name.encode()
        return hashlib.sha256(BUILD_STEPS.encode() + data).hexdigest()[:12]

    def matches(self, image_uri: str) -> bool:
        repository_and_tag = image_uri.rsplit("/", 1)[-1]
        return any(repository_and_tag.startswith(prefix) for prefix in self.images)


def _load(path: Path) -> Profile:
    data = tomllib.loads(path.read_text())
    return Profile(
        name=data["name"],
        python=data["python"],
        images=tuple(data["images"]),
        serving=data["serving"],
        built=data["built"],
        requirements=tuple(data["requirements"]),
        source=data["source"],
        local_requirements=tuple(data.get("local_requirements", ())),
        not_installed=dict(data.get("not_installed", {})),
        patch_collections_mapping=tuple(data.get("patch_collections_mapping", ())),
        path=path,
    )


def profiles() -> list[Profile]:
    return [_load(path) for path in sorted(HERE.glob("*.toml"))]


def profile_for(image_uri: str) -> Profile:
    """The profile of ``image_uri``; :class:`ImageError` for an image without one."""
    for profile in profiles():
        if profile.matches(image_uri):
            return profile
    known = ", ".join(prefix for p in profiles() for prefix in p.images)
    raise ImageError(
        f"ClientError: the local emulator has no container profile for the image {image_uri} "
        f"(it knows {known}): add one to dev/image_mlops_dev/emulator/images/ "
        "(docs/local-stack.md, 'Container profiles')"
    )


# --- the image's Python ---------------------------------------------------------------------
def _minor(version: str) -> tuple[int, int]:
    major, minor = version.split(".")[:2]
    return int(major), int(minor)


def interpreters() -> dict[str, Path]:
    """``"3.12"`` → an interpreter of that minor version: pyenv's, else one on ``PATH``."""
    found: dict[str, Path] = {}
    for folder in sorted((_PYENV_ROOT / "versions").glob("3.*")):
        if re.fullmatch(r"3\.\d+\.\d+", folder.name):
            minor = ".".join(folder.name.split(".")[:2])
            binary = folder / "bin" / f"python{minor}"
            if binary.is_file():
                found[minor] = binary
    for minor in (f"3.{n}" for n in range(6, 20)):
        if minor not in found and (which := shutil.which(f"python{minor}")):
            found[minor] = Path(which)
    return found


def interpreter(version: str) -> tuple[Path, str]:
    """The interpreter for the image's Python ``version``, and the minor version it is.

    The same minor when this machine has it; else the nearest, a newer one before an older
    one at the same distance (code the image accepts then runs; :func:`check_python` refuses
    code that needs more than the image has)."""
    available = interpreters()
    if version in available:
        return available[version], version
    wanted = _minor(version)
    candidates = [m for m in available if _minor(m)[0] == wanted[0]]
    if not candidates:
        raise ImageError(f"InternalServerError: no Python {wanted[0]} interpreter on this machine")
    nearest = min(candidates, key=lambda m: (abs(_minor(m)[1] - wanted[1]), _minor(m) < wanted))
    log.warning("no Python %s here: running the image's programs on Python %s", version, nearest)
    return available[nearest], nearest


def check_python(profile: Profile, folder: Path) -> None:
    """Refuse the program in ``folder`` if vermin finds a construct that needs a newer Python
    than the image's (``ImageError`` naming the file, the line and the construct)."""
    files = sorted(str(p) for p in folder.rglob("*.py") if "__pycache__" not in p.parts)
    if not files:
        return
    result = subprocess.run(
        [
            str(Path(sys.executable).parent / "vermin"),  # its console script (no __main__)
            f"--target={profile.python}-",
            "--violations",
            "--format",
            "parsable",
            "--no-tips",
            "--eval-annotations",
            *files,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode == 0:
        return
    findings = []
    for line in result.stdout.splitlines():
        # parsable: "<file>:<line>:<column>:<py2>:<py3>:<feature>"; the summary lines have no file
        path, line_no, _column, _py2, needs, feature = (line.split(":", 5) + [""] * 6)[:6]
        if path and line_no and feature:
            name = Path(path).relative_to(folder) if Path(path).is_relative_to(folder) else path
            findings.append(f"{name}:{line_no}: {feature} requires Python {needs}")
    if not findings:  # vermin itself failed: say so rather than refuse silently
        raise ImageError(f"InternalServerError: vermin could not check the program: {result}")
    raise ImageError(
        f"ClientError: the image {profile.name} has Python {profile.python}, but the program "
        f"needs a newer one: " + "; ".join(findings[:5])
    )


# --- the virtualenvs ------------------------------------------------------------------------
def cache_folder(state_dir: Path) -> Path:
    """Where the profiles' virtualenvs are kept: ``IMAGE_MLOPS_CONTAINER_VENVS``, else the state
    folder's ``container-venvs/``."""
    return Path(os.environ.get(VENVS_ENV) or state_dir / "container-venvs")


@contextlib.contextmanager
def locked(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)  # one build at a time, across processes
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def _pip(python: Path, *args: str) -> None:
    """The virtualenv's own pip (``python -m pip``), installing into it."""
    done = subprocess.run(
        [str(python), "-m", "pip", *args], capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        tail = "\n".join((done.stdout + done.stderr).splitlines()[-15:])
        raise ImageError(f"InternalServerError: building the image's virtualenv failed:\n{tail}")


def _patch_collections_mapping(venv: Path, relative: str) -> None:
    for target in venv.glob(f"lib/python3.*/site-packages/{relative}"):
        text = target.read_text()
        target.write_text(text.replace("collections.Mapping", "collections.abc.Mapping"))


def _size(folder: Path) -> int:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file() and not p.is_symlink())


def environment(profile: Profile, cache: Path) -> Path:
    """The profile's virtualenv (its ``bin/python``'s folder's parent), built on first use.

    Built under a file lock (two jobs starting at once build it once); ``.built.json`` is
    written last, so a build killed half-way is started again, not used."""
    venv = cache / f"{profile.name}-{profile.digest}"
    marker = venv / ".built.json"
    if marker.is_file():
        return venv
    with locked(cache / f"{venv.name}.lock"):
        if marker.is_file():
            return venv
        shutil.rmtree(venv, ignore_errors=True)
        started = time.monotonic()
        python, minor = interpreter(profile.python)
        subprocess.run([str(python), "-m", "venv", str(venv)], check=True, capture_output=True)
        venv_python = venv / "bin" / "python"
        # the builder: a pip that knows --uploaded-prior-to and still runs on Python 3.9
        _pip(venv_python, "install", "--quiet", "--isolated", BUILDER_PIP)
        if profile.local_requirements:
            # first, from this machine's own files (torch's CPU build): a requirement that
            # depends on them then finds them installed instead of pulling PyPI's (CUDA) build
            _pip(venv_python, "install", "--quiet", *profile.local_requirements)
        # the image's packages as PyPI had them then (--uploaded-prior-to: an unpinned package
        # resolves as it did for AWS's build), then pip itself as the image had it. --isolated:
        # PyPI only; a local index or wheel folder in pip's configuration has no upload dates,
        # so the cutoff would let its newest files through.
        cutoff = ("--isolated", "--uploaded-prior-to", profile.built)
        _pip(venv_python, "install", "--quiet", *cutoff, "setuptools", "wheel")
        _pip(venv_python, "install", "--quiet", *cutoff, *profile.requirements)
        # (--force-reinstall: the builder's newer pip would otherwise satisfy "pip")
        _pip(venv_python, "install", "--quiet", *cutoff, "--force-reinstall", "--no-deps", "pip")
        for relative in profile.patch_collections_mapping:
            _patch_collections_mapping(venv, relative)
        seconds = time.monotonic() - started
        marker.write_text(
            json.dumps(
                {
                    "profile": profile.name,
                    "python": minor,
                    "seconds": round(seconds, 1),
                    "bytes": _size(venv),
                }
            )
        )
        log.info("built %s (Python %s) in %.0f s", venv, minor, seconds)
    return venv


def container_python(image_venv: Path, folder: Path) -> Path:
    """A container's own Python: a virtualenv in ``folder`` that sees the image's packages.

    What a program installs at start (the scikit-learn server installs the model's code as a
    package; a training program's ``requirements.txt``) lands in this container's virtualenv,
    as it lands in one container's filesystem on AWS, never in the cached image."""
    subprocess.run(
        [str(image_venv / "bin" / "python"), "-m", "venv", "--without-pip", str(folder)],
        check=True,
        capture_output=True,
    )
    (site,) = folder.glob("lib/python3.*/site-packages")
    (image_site,) = image_venv.glob("lib/python3.*/site-packages")
    # addsitedir, not a plain path: the image's own .pth files (setuptools' distutils shim,
    # which sagemaker-containers imports on Python 3.12) must run as they do in the image
    (site / "_image.pth").write_text(f"import site; site.addsitedir({str(image_site)!r})\n")
    return folder / "bin" / "python"


def program_environment(image_venv: Path, python: Path, extra: dict[str, str]) -> dict[str, str]:
    """The environment a program in the image starts with: the image's ``PATH`` (the
    container's and the image's ``bin``), the AWS variables the platform hands in (the role's
    session, the emulator as the endpoint, its CA), and ``extra``; nothing of our virtualenv.

    ``PIP_NO_INDEX=1``: the containers have no package index, as in a VPC without a NAT or
    with network isolation, so a program that needs to install something fails here first."""
    inherited = {
        k: v
        for k, v in os.environ.items()
        if k.startswith("AWS_") or k in ("HOME", "TZ", "TMPDIR", "LANG", "LC_ALL")
    }
    return {
        "PATH": f"{python.parent}:{image_venv / 'bin'}:/usr/local/bin:/usr/bin:/bin",
        "PYTHONUNBUFFERED": "1",
        "PYTHONIOENCODING": "UTF-8",
        "PIP_NO_INDEX": "1",
        "PIP_DISABLE_PIP_VERSION_CHECK": "1",
        **inherited,
        **extra,
    }
