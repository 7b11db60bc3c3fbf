"""What the emulator's authorisation and validation add to each request.

One private emulator with the template deployed; the worker role's calls the DAGs make most
(S3 HeadObject, GetObject and PutObject of small objects, CloudWatch PutMetricData,
SageMaker ListModelPackages), each timed round trip over TLS, with authorisation and validation
on (as everywhere) and, as the baseline in the same run against the same emulator and
state, off (``POST /_emulator/enforcement``, the bootstrap key's, for this benchmark only).
Rounds alternate on/off so drift on the shared machine falls on both.

    .venv/bin/python bench/emulator_request_cost.py            # 5 rounds of 100 calls each
    .venv/bin/python bench/emulator_request_cost.py --quick    # 3 rounds of 40
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))

from classify_throughput import private_environment  # noqa: E402  (bench/ is on the path)


def calls(settings, aws) -> dict:
    """name → one call, as the worker role makes it."""
    key = "incoming/bench/object.jpg"
    aws["s3"].put_object(Bucket=settings.raw_bucket, Key=key, Body=b"x" * 1024)
    return {
        "s3 HeadObject": lambda: aws["s3"].head_object(Bucket=settings.raw_bucket, Key=key),
        "s3 GetObject": lambda: (
            aws["s3"].get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read()
        ),
        "s3 PutObject 1 KiB": lambda: aws["s3"].put_object(
            Bucket=settings.raw_bucket, Key="incoming/bench/put.jpg", Body=b"y" * 1024
        ),
        "cloudwatch PutMetricData": lambda: aws["cloudwatch"].put_metric_data(
            Namespace=settings.cloudwatch_namespace,
            MetricData=[{"MetricName": "BenchRequests", "Value": 1.0, "Unit": "Count"}],
        ),
        "sagemaker ListModelPackages": lambda: aws["sagemaker"].list_model_packages(
            ModelPackageGroupName=settings.model_name, MaxResults=10
        ),
    }


def timed(call, n: int) -> float:
    """Median milliseconds of ``n`` round trips."""
    took = []
    for _ in range(n):
        started = time.perf_counter()
        call()
        took.append((time.perf_counter() - started) * 1000)
    return statistics.median(took)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=100, help="calls per operation per round")
    parser.add_argument("--quick", action="store_true", help="3 rounds of 40")
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.calls = 3, 40

    private_environment(Path(tempfile.mkdtemp(prefix="image-mlops-bench-")))
    from image_mlops.aws import aws_client
    from image_mlops.config import get_settings
    from image_mlops_dev.stack.identities import emulator_call
    from image_mlops_dev.stack.manager import LocalStack

    settings = get_settings()
    stack = LocalStack(settings)
    try:
        print("starting a private AWS emulator and deploying the template ...", flush=True)
        stack.start_emulator()
        stack.deploy_aws_side()
        for variable in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN"):
            os.environ.pop(variable, None)
        os.environ.update(stack.airflow_environment(base={}))  # the worker role, as Airflow
        aws = {s: aws_client(s, settings) for s in ("s3", "sagemaker", "cloudwatch")}
        operations = calls(settings, aws)
        for call in operations.values():
            call()  # connections open, caches warm
        medians: dict[str, dict[bool, list[float]]] = {
            name: {True: [], False: []} for name in operations
        }
        for _ in range(args.rounds):
            for on in (True, False):
                emulator_call("/_emulator/enforcement", method="POST", payload={"on": on})
                for name, call in operations.items():
                    medians[name][on].append(timed(call, args.calls))
        emulator_call("/_emulator/enforcement", method="POST", payload={"on": True})
    finally:
        stack.down(say=lambda _m: None)

    print(f"\nmedian round trip, ms ({args.rounds} rounds x {args.calls} calls, median of rounds)")
    print(f"{'operation':34} {'enforced':>9} {'baseline':>9} {'added':>7}")
    added = []
    for name, by_mode in medians.items():
        on, off = statistics.median(by_mode[True]), statistics.median(by_mode[False])
        added.append(on - off)
        print(f"{name:34} {on:9.2f} {off:9.2f} {on - off:+7.2f}")
    print(f"{'median added per request':34} {'':9} {'':9} {statistics.median(added):+7.2f}")


if __name__ == "__main__":
    main()
