"""``python -m image_mlops_dev.emulator.images [--build | --path] [NAME ...]``: the container
profiles (name, Python, images, source); with ``--build`` each one's virtualenv built (or
found) in the cache folder, with its first build's time and size; with ``--path`` only the
virtualenv's folder (built if need be), e.g. to run a script with the image's Python."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from image_mlops_dev.emulator import images


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("names", nargs="*", help="profiles (default: all)")
    parser.add_argument("--build", action="store_true", help="build the virtualenvs")
    parser.add_argument("--path", action="store_true", help="print the virtualenvs' folders")
    parser.add_argument(
        "--cache",
        type=Path,
        help=f"the virtualenvs' folder (default: ${images.VENVS_ENV}, else the state folder's "
        "container-venvs/, where `make up` keeps them)",
    )
    args = parser.parse_args(argv)
    if args.cache is None:
        from image_mlops.config import get_settings

        args.cache = images.cache_folder(get_settings().state_dir)
    chosen = [p for p in images.profiles() if not args.names or p.name in args.names]
    for profile in chosen:
        if args.path:
            print(images.environment(profile, args.cache.resolve()))
            continue
        source = profile.source
        line = (
            f"{profile.name}: Python {profile.python}, images {', '.join(profile.images)}; "
            f"{source['repository']} {source['ref']} ({source['date']})"
        )
        if args.build:
            venv = images.environment(profile, args.cache)
            built = json.loads((venv / ".built.json").read_text())
            line += f"; first build {built['seconds']:.0f} s, {built['bytes'] / 1e6:.0f} MB"
        print(line, flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
