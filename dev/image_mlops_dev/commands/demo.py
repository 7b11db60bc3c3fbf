"""``image-mlops demo``: stack up, the whole lifecycle through Airflow, a summary."""

from __future__ import annotations

import argparse
import dataclasses
import json
from pathlib import Path

from image_mlops.commands import CommandError, local_settings
from image_mlops_dev.commands.stack import add_topology_arguments, stack_for


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo",
        help="run the whole lifecycle on the local stack (the stack stays up)",
        description=(
            "Starts the local stack, loads demo data, and drives every DAG through the "
            "running Airflow. DEMO_INTERACTIVE=1 lets you answer the approvals in the UI."
        ),
    )
    parser.add_argument(
        "--interactive",
        action="store_true",
        default=None,
        help="answer approvals yourself in the Airflow UI (same as DEMO_INTERACTIVE=1)",
    )
    parser.add_argument(
        "--result-json",
        type=Path,
        metavar="PATH",
        help="also write the outcome (runs, approvals, summary) as JSON (used by the e2e test)",
    )
    add_topology_arguments(parser)
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from image_mlops_dev.airflow_api import AirflowApiError
    from image_mlops_dev.demo.story import DemoError, run_demo
    from image_mlops_dev.stack.processes import StackError
    from image_mlops_dev.stack.settings import get_stack_settings

    settings = local_settings()
    if not settings.is_local:
        raise CommandError("the demo runs on the local stack: set IMAGE_MLOPS_TARGET=local")
    try:
        stack_for(args).up()
        result = run_demo(settings, interactive=args.interactive)
    except (StackError, DemoError, AirflowApiError) as exc:
        raise CommandError(
            f"{exc}\n(the stack is still up: `make status`, `make logs`, "
            f"{get_stack_settings().airflow_url})"
        ) from exc
    if args.result_json:
        args.result_json.write_text(json.dumps(dataclasses.asdict(result), indent=2, default=str))
    return 0
