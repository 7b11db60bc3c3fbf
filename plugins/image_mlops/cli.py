"""``image-mlops``: the command-line entry point.

Each sub-command lives in its own module in :mod:`image_mlops.commands` and exposes
``register(subparsers)``; modules are discovered, so adding a command touches no other file.
Installed packages add commands through the ``image_mlops.commands`` entry points (the
development install adds ``stack``, ``demo`` and ``demo-data``).
Exit codes: 0 success, 1 the command found a problem (e.g. invalid images), 2 usage error.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import pkgutil
import sys
from importlib.metadata import entry_points

from image_mlops import __version__, commands


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-mlops",
        description="Product-image MLOps on Airflow 3: local stack, data, models, serving.",
    )
    parser.add_argument("--version", action="version", version=f"image-mlops {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{commands.__name__}.{module.name}").register(subparsers)
    for entry in sorted(entry_points(group=commands.COMMAND_ENTRY_POINTS), key=lambda e: e.name):
        entry.load().register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.DEBUG if args.verbose else logging.INFO,
        format="%(levelname)s %(message)s",
        stream=sys.stderr,
    )
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except commands.CommandError as exc:
        print(f"image-mlops {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code


if __name__ == "__main__":
    sys.exit(main())
