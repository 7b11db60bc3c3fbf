"""``image-mlops stack up|down|status|logs|env``: the embedded local stack."""

from __future__ import annotations

import argparse
import subprocess

from image_mlops.commands import CommandError, local_settings


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("stack", help="start, stop and inspect the local stack")
    actions = parser.add_subparsers(dest="action", metavar="ACTION", required=True)
    up = actions.add_parser("up", help="start PostgreSQL, the AWS emulator and Airflow")
    up.add_argument(
        "--no-airflow", action="store_true", help="only PostgreSQL and the AWS emulator"
    )
    add_topology_arguments(up)
    actions.add_parser("down", help="stop what `up` started (recorded PIDs only)")
    actions.add_parser(
        "deploy",
        help="deploy infra/image-mlops.yaml (CloudFormation) to the local emulator with the "
        "stack's bootstrap key: create, or update what changed (make up does it)",
    )
    actions.add_parser(
        "models-bucket-policy",
        help="print the models bucket's policy statement (registered versions are write-once)",
    )
    actions.add_parser("status", help="what runs, where")
    logs = actions.add_parser("logs", help="show (or follow) component logs")
    logs.add_argument("component", nargs="?", help="one component (default: all)")
    logs.add_argument("-f", "--follow", action="store_true")
    logs.add_argument("-n", "--lines", type=int, default=40)
    actions.add_parser(
        "env",
        help="print `export` lines to use the Airflow CLI, boto3 and the AWS CLI against the "
        "local stack",
    )
    parser.set_defaults(func=run)


def add_topology_arguments(parser: argparse.ArgumentParser) -> None:
    """``--executor`` / ``--workers`` (``make up EXECUTOR=celery WORKERS=2``)."""
    from image_mlops_dev.stack.settings import STACK_EXECUTORS

    parser.add_argument(
        "--executor",
        choices=STACK_EXECUTORS,
        help="Airflow's executor: local (LocalExecutor) or celery (CeleryExecutor, Redis and "
        "Celery workers); default: what runs, else IMAGE_MLOPS_STACK_EXECUTOR",
    )
    parser.add_argument(
        "--workers",
        type=int,
        metavar="N",
        help="Celery workers with --executor celery (default: IMAGE_MLOPS_STACK_WORKERS, 2)",
    )


def stack_for(args: argparse.Namespace):
    """The local stack with the topology ``args`` ask for."""
    from image_mlops_dev.stack.manager import LocalStack

    if args.workers is not None and args.workers < 1:
        raise CommandError("--workers must be at least 1", exit_code=2)
    return LocalStack(local_settings(), executor=args.executor, workers=args.workers)


def run(args: argparse.Namespace) -> int:
    from image_mlops_dev.stack.manager import LocalStack
    from image_mlops_dev.stack.processes import StackError

    try:
        stack = stack_for(args) if args.action == "up" else LocalStack(local_settings())
        if not stack.settings.is_local and args.action != "models-bucket-policy":
            # without the local target .env is not read (docs/aws.md, "The target setting"):
            # a local stack started now would have none of its settings or secrets
            raise CommandError(
                f"`stack {args.action}` runs the local stack, and IMAGE_MLOPS_TARGET is "
                f"{stack.settings.target}: unset it (or set local) for the local stack; on AWS "
                "deploy infra/image-mlops.yaml with CloudFormation (docs/aws.md)",
                exit_code=2,
            )
        if args.action == "up":
            stack.up(airflow=not args.no_airflow)
        elif args.action == "down":
            stack.down()
        elif args.action == "deploy":
            outputs = stack.deploy_aws_side()
            print(f"CloudFormation stack {stack.stack_name} deployed to the local emulator:")
            for key in sorted(outputs):
                print(f"  {key}: {outputs[key]}")
        elif args.action == "models-bucket-policy":
            import json

            from image_mlops.registry import models_bucket_policy

            print(json.dumps(models_bucket_policy(stack.settings), indent=2))
        elif args.action == "status":
            rows = stack.status()
            width = max(len(r[0]) for r in rows)
            for name, state, where in rows:
                print(f"{name:<{width}}  {state:<28}  {where}")
            return 0 if all(r[1].startswith("running") for r in rows) else 1
        elif args.action == "logs":
            return _logs(stack, args)
        elif args.action == "env":
            import shlex

            from image_mlops_dev.stack.identities import ca_bundle

            # boto3 and the AWS CLI too: the emulator, its CA, and the worker role's
            # credentials (from the environment, as Airflow gets them)
            env = stack.airflow_environment(base={})
            env["AWS_ENDPOINT_URL"] = stack.stack_settings.emulator_url
            env["AWS_CA_BUNDLE"] = str(ca_bundle(stack.settings))
            for key in sorted(env):
                print(f"export {key}={shlex.quote(env[key])}")
    except StackError as exc:
        raise CommandError(str(exc)) from exc
    return 0


def _logs(stack, args: argparse.Namespace) -> int:
    files = [*sorted(stack.log_dir.glob("*.log")), stack.postgres.log_file]
    if args.component:
        files = [f for f in files if f.stem == args.component]
        if not files:
            raise CommandError(f"no log for {args.component!r}", exit_code=2)
    files = [f for f in files if f.exists()]
    if not files:
        raise CommandError("no logs yet: run `make up` first")
    command = (
        ["tail", "-n", str(args.lines)] + (["-F"] if args.follow else []) + [str(f) for f in files]
    )
    return subprocess.call(command)
