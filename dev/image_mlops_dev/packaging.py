"""Deployment archives: ``plugins.zip`` for MWAA, the validation Lambda's zip.

python -m image_mlops_dev.packaging dist/plugins.zip     (or: make plugins-zip)
python -m image_mlops_dev.packaging --lambda dist/validate_lambda.zip   (or: make lambda-zip)

``plugins.zip`` holds the production package only (``image_mlops`` and its UI plugin). The
Lambda zip deploys as is: ``image_mlops/include/scripts/validate_lambda.py``, standalone copies of
the validation modules (``image_checks.py``, ``image_mover.py``, ``image_validator.py``) and
Pillow built for the function's runtime and architecture (python3.12, x86_64: PyPI's
manylinux wheel, taken with pip's ``--platform``, ``--python-version`` and ``--only-binary``,
as AWS's "Working with .zip file archives for Python Lambda functions" describes). The Lambda
runtime provides only the standard library and boto3; the local emulator runs the handler
from this zip on Python 3.12 with nothing else.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from image_mlops.config import INCLUDE_DIR, PROJECT_ROOT

PLUGINS = PROJECT_ROOT / "plugins"
#: What MWAA's plugins folder holds: the package, the Airflow plugin module, the ignore file.
ENTRIES = ("image_mlops", "image_mlops_ui.py", ".airflowignore")
_SKIPPED_PARTS = {"__pycache__"}


def plugin_files() -> list[Path]:
    files: list[Path] = []
    for entry in ENTRIES:
        path = PLUGINS / entry
        found = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
        files += [
            p
            for p in found
            if not (_SKIPPED_PARTS & set(p.relative_to(PLUGINS).parts))
            and p.suffix != ".pyc"
            and not any(part.endswith(".egg-info") for part in p.relative_to(PLUGINS).parts)
        ]
    return files


def build_plugins_zip(dest: Path) -> Path:
    """Write ``dest`` (deterministic order, fixed timestamps: the same tree, the same bytes)."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    with zipfile.ZipFile(dest, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for path in plugin_files():
            info = zipfile.ZipInfo(path.relative_to(PLUGINS).as_posix(), (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, path.read_bytes())
    return dest


#: The validation Lambda's zip: archive name → source (the handler imports these names).
LAMBDA_FILES = {
    "validate_lambda.py": INCLUDE_DIR / "scripts/validate_lambda.py",
    "image_checks.py": PLUGINS / "image_mlops/validation/checks.py",
    "image_mover.py": PLUGINS / "image_mlops/validation/mover.py",
    "image_validator.py": PLUGINS / "image_mlops/validation/validator.py",
}
LAMBDA_HANDLER = "validate_lambda.handler"


#: The function's runtime and architecture (infra/image-mlops.yaml: python3.12, x86_64), as
#: pip's --python-version and --platform name them: python3.12 runs on Amazon Linux 2023
#: (glibc 2.34), so wheels up to manylinux_2_34 load there (Pillow 12 and newer publish
#: manylinux_2_27/2_28 wheels only, none for manylinux2014).
LAMBDA_PYTHON = "3.12"
LAMBDA_PLATFORMS = ("manylinux_2_34_x86_64", "manylinux_2_28_x86_64", "manylinux2014_x86_64")


def lambda_packages(cache: Path | None = None) -> Path:
    """A folder holding Pillow for the Lambda's runtime (the version this project pins), built
    once per version into ``cache`` (the container profiles' folder) under a file lock."""
    import importlib.metadata
    import shutil
    import subprocess

    from image_mlops.config import get_settings
    from image_mlops_dev.emulator import images

    pillow = f"Pillow=={importlib.metadata.version('Pillow')}"
    cache = cache or images.cache_folder(get_settings().state_dir)
    target = cache / f"lambda-packages-{pillow.replace('==', '-')}-cp312-x86_64"
    with images.locked(cache / f"{target.name}.lock"):
        if not (target / ".complete").exists():
            shutil.rmtree(target, ignore_errors=True)
            subprocess.run(
                [
                    *(sys.executable, "-m", "pip", "install", "--quiet", "--no-deps"),
                    *("--target", str(target)),
                    *(arg for tag in LAMBDA_PLATFORMS for arg in ("--platform", tag)),
                    *("--implementation", "cp"),
                    *("--python-version", LAMBDA_PYTHON, "--only-binary=:all:"),
                    pillow,
                ],
                check=True,
            )
            (target / ".complete").write_text(pillow)
    return target


def _zip_entry(archive: zipfile.ZipFile, name: str, data: bytes) -> None:
    info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))  # fixed: the same tree, the same bytes
    info.compress_type = zipfile.ZIP_DEFLATED
    info.external_attr = 0o644 << 16
    archive.writestr(info, data)


def validation_lambda_zip(packages: Path | None = None) -> bytes:
    """The validation Lambda's code and Pillow (deterministic bytes)."""
    import io

    packages = packages or lambda_packages()
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(LAMBDA_FILES.items()):
            _zip_entry(archive, name, source.read_bytes())
        for path in sorted(packages.rglob("*")):
            relative = path.relative_to(packages)
            skipped = relative.parts[0] in (".complete", "bin") or "__pycache__" in relative.parts
            if path.is_file() and not skipped:
                _zip_entry(archive, relative.as_posix(), path.read_bytes())
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--lambda":
        target = Path(args[1] if len(args) > 1 else "dist/validate_lambda.zip")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(validation_lambda_zip())
        print(
            f"{target}: {len(LAMBDA_FILES)} files and Pillow for python{LAMBDA_PYTHON} "
            f"x86_64 (handler {LAMBDA_HANDLER})"
        )
        return
    target = build_plugins_zip(Path(args[0] if args else "dist/plugins.zip"))
    print(f"{target}: {len(plugin_files())} files")


if __name__ == "__main__":
    main()
