"""A private local stack on the CeleryExecutor profile, for the scale-out tests and benchmark.

:func:`celery_stack` starts what ``make up EXECUTOR=celery WORKERS=N`` starts (the same
``LocalStack.up()``, in a subprocess with a private state folder, ports and secrets, plus
the emulator's fault rules): PostgreSQL, the emulator, Redis, Airflow's api-server,
scheduler, dag-processor and triggerer, and N Celery workers. It puts a model on the
production endpoint, unpauses ``validate_images`` and ``classify_images`` and lets the run
that unpausing creates finish, then yields a :class:`CeleryStack`.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace

from classify_fixtures import deploy_production_model

from image_mlops.config import Settings
from image_mlops_dev.airflow_api import AirflowClient
from image_mlops_dev.stack.identities import BOOTSTRAP_SECRET, LOCAL_ACCESS_KEY_ID, ca_bundle
from image_mlops_dev.stack.manager import isolated_environment
from image_mlops_dev.stack.processes import free_port
from image_mlops_dev.stack.settings import StackSettings

ROOT = Path(__file__).resolve().parents[1]
#: Settings of the profile (the rest are the stack's defaults).
PROFILE = {
    # a dying worker's task instance is failed (and retried) 20 s after its last heartbeat
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT": "20",
    "AIRFLOW__SCHEDULER__TASK_INSTANCE_HEARTBEAT_TIMEOUT_DETECTION_INTERVAL": "5",
    # no scheduled validation run in the middle of a measurement: only the one unpausing makes
    "IMAGE_MLOPS_VALIDATION_SCHEDULE": "0 0 1 1 *",
}
STACK = (
    "import sys\n"
    "from image_mlops.config import get_settings\n"
    "from image_mlops_dev.stack.manager import LocalStack\n"
    "stack = LocalStack(get_settings(), emulator_faults=True, executor='celery',\n"
    "                   workers=int(sys.argv[2]))\n"
    "stack.up() if sys.argv[1] == 'up' else stack.down()\n"
)
DAGS = ("validate_images", "classify_images")


@dataclass
class CeleryStack:
    # out of the repr (pytest prints a failed test's arguments): the env holds the secrets
    env: dict[str, str] = field(repr=False)
    settings: Settings = field(repr=False)
    #: this stack's ports (not the test worker's own private stack's)
    stack_settings: StackSettings = field(repr=False)
    state: Path
    workers: int
    client: AirflowClient = field(repr=False)
    aws: SimpleNamespace = field(repr=False)
    #: what ``up`` printed
    up_output: str = field(repr=False)

    @property
    def emulator_key(self) -> tuple[str, str, Path]:
        """This stack's bootstrap key and its emulator's CA (for its fault rules)."""
        return (LOCAL_ACCESS_KEY_ID, self.env[BOOTSTRAP_SECRET], ca_bundle(self.settings))

    def run(self, action: str) -> str:
        return run_stack(action, self.env, self.workers)

    def worker_pid(self, name: str) -> int:
        return int((self.state / "run" / f"celery-{name}.pid").read_text())

    def keys(self, bucket: str, prefix: str = "") -> list[str]:
        pages = self.aws.s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        return [o["Key"] for page in pages for o in page.get("Contents", [])]

    def upload(self, keys_and_bytes: dict[str, bytes]) -> None:
        for key, data in keys_and_bytes.items():
            self.aws.s3.put_object(Bucket=self.settings.raw_bucket, Key=key, Body=data)

    def manifest_keys(self, manifest_key: str) -> set[str]:
        body = self.aws.s3.get_object(Bucket=self.settings.raw_bucket, Key=manifest_key)["Body"]
        return {item["key"] for item in json.loads(body.read())["items"]}


def run_stack(action: str, env: dict[str, str], workers: int) -> str:
    proc = subprocess.run(
        [sys.executable, "-c", STACK, action, str(workers)],
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"stack {action} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}")
    return proc.stdout


@contextlib.contextmanager
def celery_stack(workers: int, settings: dict[str, str] | None = None) -> Iterator[CeleryStack]:
    import boto3

    state = Path(tempfile.mkdtemp(prefix="image-mlops-celery-"))
    env = isolated_environment(dict(os.environ), state, free_port(), free_port(), free_port())
    env.update({**PROFILE, **(settings or {})})
    resolved = Settings.from_env(env)
    ports = StackSettings.from_env(env)
    try:
        output = run_stack("up", env, workers)
        client = AirflowClient(ports.airflow_api_url)
        client.wait_for_dags(list(DAGS), timeout=300)
        # the test's own setup, with this stack's bootstrap key
        kwargs = {
            "endpoint_url": ports.emulator_url,
            "region_name": resolved.region,
            "verify": str(ca_bundle(resolved)),
            "aws_access_key_id": LOCAL_ACCESS_KEY_ID,
            "aws_secret_access_key": env[BOOTSTRAP_SECRET],
        }
        aws = SimpleNamespace(
            s3=boto3.client("s3", **kwargs), sagemaker=boto3.client("sagemaker", **kwargs)
        )
        deploy_production_model(resolved, version=1, operator=aws)
        for dag_id in DAGS:
            client.set_paused(dag_id, False)
        # unpausing starts the latest scheduled run (catchup=False): it finds nothing to do
        first = client.wait_for_new_run("validate_images", set(), timeout=120)
        client.wait_for_run("validate_images", first, timeout=300)
        yield CeleryStack(env, resolved, ports, state, workers, client, aws, output)
    finally:
        with contextlib.suppress(RuntimeError):
            run_stack("down", env, workers)
        shutil.rmtree(state, ignore_errors=True)


def worker_of(task_instance: dict) -> str:
    """``worker-1`` from the task instance's hostname ``worker-1.<machine>``."""
    return task_instance["hostname"].split(".", 1)[0]
