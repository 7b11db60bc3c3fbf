"""Deployment archives: ``plugins.zip`` for MWAA, the validation Lambda's zip.

python -m image_mlops_dev.packaging dist/plugins.zip     (or: make plugins-zip)
python -m image_mlops_dev.packaging --lambda dist/validate_lambda.zip   (or: make lambda-zip)

``plugins.zip`` holds the production package only (``image_mlops`` and its UI plugin). The
Lambda zip holds ``include/scripts/validate_lambda.py`` and standalone copies of the
validation modules (``image_checks.py``, ``image_mover.py``, ``image_validator.py``); Pillow
is added for AWS with ``pip install --target`` (see the docs), while the local emulator's
Lambda runs it with this virtualenv's Pillow.
"""

from __future__ import annotations

import sys
import zipfile
from pathlib import Path

from image_mlops.config import PROJECT_ROOT

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
    "validate_lambda.py": PROJECT_ROOT / "include/scripts/validate_lambda.py",
    "image_checks.py": PLUGINS / "image_mlops/validation/checks.py",
    "image_mover.py": PLUGINS / "image_mlops/validation/mover.py",
    "image_validator.py": PLUGINS / "image_mlops/validation/validator.py",
}
LAMBDA_HANDLER = "validate_lambda.handler"


def validation_lambda_zip() -> bytes:
    """The validation Lambda's code (deterministic bytes)."""
    import io

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for name, source in sorted(LAMBDA_FILES.items()):
            info = zipfile.ZipInfo(name, (2026, 1, 1, 0, 0, 0))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.external_attr = 0o644 << 16
            archive.writestr(info, source.read_bytes())
    return buffer.getvalue()


def main(argv: list[str] | None = None) -> None:
    args = list(sys.argv[1:] if argv is None else argv)
    if args and args[0] == "--lambda":
        target = Path(args[1] if len(args) > 1 else "dist/validate_lambda.zip")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(validation_lambda_zip())
        print(f"{target}: {len(LAMBDA_FILES)} files (handler {LAMBDA_HANDLER})")
        return
    target = build_plugins_zip(Path(args[0] if args else "dist/plugins.zip"))
    print(f"{target}: {len(plugin_files())} files")


if __name__ == "__main__":
    main()
