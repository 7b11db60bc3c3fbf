"""``plugins.zip`` for MWAA: the production package only (``image_mlops`` and its UI plugin).

python -m image_mlops_dev.packaging dist/plugins.zip     (or: make plugins-zip)
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


if __name__ == "__main__":
    target = build_plugins_zip(Path(sys.argv[1] if len(sys.argv) > 1 else "dist/plugins.zip"))
    print(f"{target}: {len(plugin_files())} files")
