"""``image-mlops``: the command-line entry point.

Each sub-command lives in its own module in :mod:`image_mlops.commands` and exposes
``register(subparsers)``; modules are discovered, so adding a command touches no other file.
Installed packages add commands through the ``image_mlops.commands`` entry points (the
development install adds ``stack``, ``demo`` and ``demo-data``).
Exit codes: 0 success, 1 the command found a problem (e.g. invalid images), 2 usage error.

A command's output is its own lines: the libraries' log lines (Airflow, its providers, boto)
go to ``<IMAGE_MLOPS_STATE_DIR>/logs/image-mlops.log``, and stderr shows warnings and errors
only; ``-v`` puts every log line, debug and up, on stderr instead.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import os
import pkgutil
import sys
from importlib.metadata import entry_points
from pathlib import Path
from typing import TextIO

from image_mlops import __version__, commands
from image_mlops.config import SettingsError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="image-mlops",
        description="Product-image MLOps on Airflow 3: local stack, data, models, serving.",
    )
    parser.add_argument("--version", action="version", version=f"image-mlops {__version__}")
    parser.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="every log line, debug and up, on stderr (otherwise the libraries' lines go to "
        f"the state folder's logs/{LOG_FILE_NAME})",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module in sorted(pkgutil.iter_modules(commands.__path__), key=lambda m: m.name):
        if module.name.startswith("_"):
            continue
        importlib.import_module(f"{commands.__name__}.{module.name}").register(subparsers)
    for entry in sorted(entry_points(group=commands.COMMAND_ENTRY_POINTS), key=lambda e: e.name):
        entry.load().register(subparsers)
    return parser


LOG_FILE_NAME = "image-mlops.log"


def _log_stream() -> TextIO:
    """The log file in the state folder (line-buffered), or nowhere if it cannot be made."""
    from image_mlops.config import SettingsError, get_settings

    try:
        folder = Path(get_settings().state_dir) / "logs"
        folder.mkdir(parents=True, exist_ok=True)
        return open(folder / LOG_FILE_NAME, "a", buffering=1, encoding="utf-8")
    except (OSError, SettingsError):
        return open(os.devnull, "w", encoding="utf-8")


def configure_logging(verbose: bool) -> None:
    """Where log lines go (see the module's docstring)."""
    if verbose:
        stream = sys.stderr
        handlers = [logging.StreamHandler(stream)]
        handlers[0].setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        level = logging.DEBUG
    else:
        stream = _log_stream()
        to_file = logging.StreamHandler(stream)
        to_file.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        to_stderr = logging.StreamHandler(sys.stderr)
        to_stderr.setLevel(logging.WARNING)
        to_stderr.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handlers = [to_file, to_stderr]
        level = logging.INFO

    def install() -> None:
        root = logging.getLogger()
        for handler in root.handlers[:]:
            root.removeHandler(handler)
        for handler in handlers:
            root.addHandler(handler)
        root.setLevel(level)

    install()  # Airflow's first lines, while it is imported, go there too
    # Airflow sets up logging when imported (its structlog loggers write to stdout), so ours
    # is put back after it; without colours, as the lines go to a file
    had_no_color = "NO_COLOR" in os.environ
    os.environ["NO_COLOR"] = "1"
    try:
        import airflow  # noqa: F401
    finally:
        if not had_no_color:
            del os.environ["NO_COLOR"]
    install()
    import structlog

    structlog.configure(logger_factory=structlog.WriteLoggerFactory(file=stream))


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help(sys.stderr)
        return 2
    try:
        commands.prepare_environment()  # before Airflow is imported: it reads its config once
        configure_logging(args.verbose)
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        return 130
    except commands.CommandError as exc:
        print(f"image-mlops {args.command}: {exc}", file=sys.stderr)
        return exc.exit_code
    except SettingsError as exc:  # a setting or connection we cannot use: its fix, one line
        print(f"image-mlops {args.command}: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
