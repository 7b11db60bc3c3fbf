"""``image-mlops validate [--json] PATH...``: check local image files with the pipeline's checks.

Folders are searched recursively. Duplicates among the given files are reported as
``duplicate`` on every copy after the first, in sorted path order. Exit code 0 when all files
are valid, 1 when any is invalid, 2 on usage errors (a path that does not exist).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from image_mlops.commands import CommandError, local_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "validate", help="check local image files (or folders) with the validation checks"
    )
    parser.add_argument("paths", nargs="+", metavar="PATH", help="files or folders")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")
    parser.set_defaults(func=run)


def collect(paths: list[str]) -> list[Path]:
    files: set[Path] = set()
    for given in paths:
        path = Path(given)
        if not path.exists():
            raise CommandError(f"{given}: no such file or folder", exit_code=2)
        if path.is_dir():
            files.update(p for p in path.rglob("*") if p.is_file())
        else:
            files.add(path)
    return sorted(files, key=str)


def run(args: argparse.Namespace) -> int:
    from image_mlops.validation.checks import check_image, mark_duplicates
    from image_mlops.validation.pipeline import limits_from

    limits = limits_from(local_settings())  # limits from the environment / .env
    files = collect(args.paths)
    results = [(str(p), check_image(p.read_bytes(), p.name, limits)) for p in files]
    mark_duplicates(results)
    for path, r in results:
        if args.json:
            record = {
                "path": path,
                "valid": r.valid,
                "reason": r.reason,
                "detail": r.detail or r.extension_mismatch or "",
                "format": r.format,
                "width": r.width,
                "height": r.height,
                "mode": r.mode,
                "sha256": r.sha256,
                "size": r.size,
            }
            print(json.dumps(record, ensure_ascii=False))
        elif r.valid:
            note = f"  ({r.extension_mismatch})" if r.extension_mismatch else ""
            print(f"ok       {path}  {r.format} {r.width}x{r.height} {r.mode}{note}")
        else:
            print(f"INVALID  {path}  {r.reason}: {r.detail}")
    return 0 if all(r.valid for _, r in results) else 1
