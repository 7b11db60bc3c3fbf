"""What ``image_mlops.aws.aws_client`` costs: a client kept by the process, against building
one for every call (what it did before, and the baseline in the same run).

CPU time of the calling process only (``time.process_time``), on a connection with a static
key and no endpoint, so nothing leaves the process: botocore's endpoint rules and the
service's model parsed, the provider's hook walking the stack for its user agent. A client
that fetches credentials (the container credentials endpoint, an assumed role) costs a
request more when built, and nothing more when kept.

    .venv/bin/python bench/aws_client_cost.py            # 20 builds, 2,000 kept, per service
    .venv/bin/python bench/aws_client_cost.py --quick    # 5 and 500
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))

SERVICES = ("s3", "sagemaker", "cloudwatch")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    builds, kept_calls = (5, 500) if args.quick else (20, 2000)
    os.environ["AIRFLOW_CONN_BENCH_AWS"] = json.dumps(
        {
            "conn_type": "aws",
            "login": "AKIAEXAMPLEBENCH0000",
            "password": "not-a-real-secret",
            "extra": {"region_name": "us-east-1"},
        }
    )
    os.environ["IMAGE_MLOPS_AWS_CONN_ID"] = "bench_aws"
    # the hook logs where its credentials came from at every build
    os.environ["AIRFLOW__LOGGING__LOGGING_LEVEL"] = "WARNING"
    from image_mlops.aws import _new_client, aws_client
    from image_mlops.config import get_settings

    settings = get_settings()
    print(f"{'service':<12} {'built each call':>16} {'kept':>10} {'ratio':>8}")
    for service in SERVICES:
        _new_client(service, settings, None)  # imports out of the way
        started = time.process_time()
        for _ in range(builds):
            _new_client(service, settings, None)
        built = (time.process_time() - started) / builds
        aws_client(service, settings)
        started = time.process_time()
        for _ in range(kept_calls):
            aws_client(service, settings)
        kept = (time.process_time() - started) / kept_calls
        print(f"{service:<12} {built * 1e3:>13.0f} ms {kept * 1e3:>7.2f} ms {built / kept:>7.0f}×")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
