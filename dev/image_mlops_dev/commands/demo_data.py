"""``image-mlops demo-data``: write the deterministic demo images (default .local/demo-data)."""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data", help="generate demo product images (labelled, incoming, feedback)"
    )
    parser.add_argument("--out", type=Path, help="output folder (default: <state dir>/demo-data)")
    parser.add_argument("--per-class", type=int, default=60, help="labelled images per class")
    parser.add_argument("--incoming", type=int, default=60, help="unlabelled images")
    parser.add_argument("--seed", type=int, default=0, help="random seed (same seed, same bytes)")
    parser.add_argument(
        "--shifted", action="store_true", help="a drifted distribution (monitoring demo)"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from image_mlops.commands import CommandError, local_settings
    from image_mlops_dev.demo_data import generate

    if args.per_class < 1 or args.incoming < 0:
        raise CommandError("--per-class must be >= 1 and --incoming >= 0", exit_code=2)
    out = args.out or local_settings().state_dir / "demo-data"
    counts = generate(
        out,
        per_class=args.per_class,
        incoming=args.incoming,
        seed=args.seed,
        shifted=args.shifted,
    )
    print(json.dumps(counts))
    return 0
