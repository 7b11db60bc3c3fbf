"""``image-mlops alarms [--json]``: the model's drift alarms and their states.

The states are CloudWatch's (on the local stack, the emulator's, which evaluates alarms when
metric data arrives, as CloudWatch does). Exit code 0 when
no alarm is in ALARM, 3 when one is (handy in scripts), 1 on errors.
"""

from __future__ import annotations

import argparse
import json

from image_mlops.commands import CommandError, local_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("alarms", help="show the model's drift alarms and states")
    parser.add_argument("--json", action="store_true", help="one JSON object per alarm")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from image_mlops.ui.data import alarms

    settings = local_settings()
    try:
        rows = alarms(settings)
    except Exception as exc:
        raise CommandError(
            f"cannot read alarms from CloudWatch ({type(exc).__name__}: {exc}); "
            "is the stack up (`image-mlops stack up`)?"
        ) from exc
    if not rows:
        print("no alarms yet: monitor_model creates them on its first run")
    for row in rows:
        if args.json:
            print(json.dumps(row))
        else:
            print(f"{row['state']:<18} {row['name']}  {row['reason'][:100]}")
    return 3 if any(r["state"] == "ALARM" for r in rows) else 0
