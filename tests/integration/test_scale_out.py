"""The same DAGs on Airflow's CeleryExecutor with two workers (``make up EXECUTOR=celery``).

One private stack for the module (:mod:`celery_stack`: what ``make up EXECUTOR=celery
WORKERS=2`` starts): Redis, the scheduler and two ``airflow celery worker`` processes, each
with a state folder and a temporary directory of its own, so a task that needed a file
another task wrote on its machine fails here. The profile lowers
``task_instance_heartbeat_timeout`` to 20 s, so a worker's death is noticed within a minute.

* mapped validation and classification batches land on both workers (the task instances'
  hostnames say which), and every image ends in exactly one place;
* a worker SIGKILLed (with every process under it, as when its machine dies) in the middle
  of a batch — one object copied, its raw original not yet deleted — leaves that batch to
  Airflow's retry on the other worker; every image is still in exactly one place, counted
  once, and no claim is left behind; ``make up`` then brings the worker back.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import faults
import pytest
from celery_stack import celery_stack, worker_of
from secret_scan import files_under, leaks
from validation_corpus import photo_jpeg

from image_mlops import s3layout
from image_mlops_dev.airflow_api import AirflowApiError
from image_mlops_dev.stack.scale_out import answering_workers, broker_url

pytestmark = [pytest.mark.stack, pytest.mark.slow(minutes=5), pytest.mark.timeout(900)]

ROOT = Path(__file__).resolve().parents[2]

WORKERS = ("worker-1", "worker-2")
#: small batches, several at once: enough of them to reach both workers
BATCHES = {
    "IMAGE_MLOPS_VALIDATION_BATCH_SIZE": "6",
    "IMAGE_MLOPS_VALIDATION_MAX_ACTIVE_BATCHES": "4",
    "IMAGE_MLOPS_CLASSIFY_BATCH_SIZE": "6",
}


@pytest.fixture(scope="module")
def stack():
    with celery_stack(workers=2, settings=BATCHES) as running:
        yield running


def _upload(stack, prefix: str, count: int, seed: int) -> dict[str, bytes]:
    sent = {
        f"incoming/{prefix}/photo-{i:02d}.jpg": photo_jpeg(seed + i, size=96) for i in range(count)
    }
    stack.upload(sent)
    return sent


def _validated_copies(stack, sent: dict[str, bytes]) -> dict[str, list[str]]:
    """raw key → where it is now (raw, errors/, validated/), for every key sent."""
    s3, settings = stack.aws.s3, stack.settings
    places: dict[str, list[str]] = {key: [] for key in sent}
    for key in stack.keys(settings.raw_bucket, "incoming/"):
        if key in places:
            places[key].append("raw")
    for key in stack.keys(settings.raw_bucket, s3layout.ERRORS_PREFIX):
        if not key.endswith(".jsonl"):
            metadata = s3.head_object(Bucket=settings.raw_bucket, Key=key)["Metadata"]
            source = unquote(metadata["source-key"])
            if source in places:
                places[source].append(f"errors:{key}")
    for key in stack.keys(settings.validated_bucket, "incoming/"):
        obj = s3.get_object(Bucket=settings.validated_bucket, Key=key)
        source = unquote(obj["Metadata"]["source-key"])
        if source in places:
            assert obj["Body"].read() == sent[source], f"{key} is not the bytes sent as {source}"
            places[source].append(f"validated:{key}")
    return places


def _assert_each_in_one_validated_place(stack, sent: dict[str, bytes]) -> None:
    places = _validated_copies(stack, sent)
    assert {k: v for k, v in places.items() if len(v) != 1} == {}
    assert all(v[0].startswith("validated:") for v in places.values()), places
    claims = stack.keys(stack.settings.raw_bucket, s3layout.CLAIMS_PREFIX)
    assert claims == []


def _workers_of(task_instances: list[dict], task_id: str) -> dict[int, str]:
    """map index → the worker that ran its (last) try."""
    return {ti["map_index"]: worker_of(ti) for ti in task_instances if ti["task_id"] == task_id}


def test_the_stack_runs_redis_and_two_workers_each_on_its_own_folders(stack):
    assert "CeleryExecutor with 2 workers" in stack.up_output
    run_dir = stack.state / "run"
    for name in WORKERS:
        assert stack.worker_pid(name) > 0
        # its temporary directory is its own: the worker's pool made its files there
        assert list((stack.state / "workers" / name / "tmp").iterdir()), name
    assert not list((stack.state / "airflow").glob("pymp-*"))
    # the broker's password is in Redis's own config file (owner-only), never on a command line
    redis_pid = int((run_dir / "redis.pid").read_text())
    cmdline = Path(f"/proc/{redis_pid}/cmdline").read_bytes()
    password_on_command_line = stack.env["IMAGE_MLOPS_REDIS_PASSWORD"].encode() in cmdline
    assert not password_on_command_line
    assert (stack.state / "redis" / "redis.conf").stat().st_mode & 0o077 == 0


def test_mapped_batches_land_on_both_workers_and_every_image_in_one_place(stack):
    client, settings = stack.client, stack.settings
    sent = _upload(stack, "spread", 48, seed=300)
    known_classify = {r["dag_run_id"] for r in client.runs("classify_images")}

    run_id = client.trigger("validate_images")
    try:
        run = client.wait_for_run("validate_images", run_id, timeout=400)
    except AirflowApiError as stuck:  # what the run was waiting for, to tell why it hung
        raise AssertionError(f"{stuck}\n{_run_diagnosis(stack, run_id)}") from stuck
    assert run["state"] == "success"
    tis = client.task_instances("validate_images", run_id)
    batches = _workers_of(tis, "validate_batch")
    assert len(batches) == 8
    assert set(batches.values()) == set(WORKERS), batches
    summary = client.xcom("validate_images", run_id, "finalize_run")
    assert (summary["in"], summary["validated"], summary["quarantined"]) == (48, 48, 0)
    _assert_each_in_one_validated_place(stack, sent)

    # the validated images' Asset starts classification, on both workers too
    classify_run = client.wait_for_new_run("classify_images", known_classify, timeout=120)
    run = client.wait_for_run("classify_images", classify_run, timeout=400)
    assert run["state"] == "success"
    batches = _workers_of(client.task_instances("classify_images", classify_run), "classify_batch")
    assert len(batches) == 8
    assert set(batches.values()) == set(WORKERS), batches
    # one class folder (or _uncertain/) per image: each output's name is the image's
    outputs = [
        k
        for k in stack.keys(settings.output_bucket, s3layout.PREDICTIONS_PREFIX)
        if not k.startswith(s3layout.MANIFESTS_PREFIX)
    ]
    assert sorted(k.rsplit("/", 1)[1] for k in outputs) == sorted(
        key.rsplit("/", 1)[1] for key in sent
    )


def _descendants(pid: int) -> list[int]:
    import psutil

    try:
        return [child.pid for child in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _run_diagnosis(stack, run_id: str) -> str:
    """The run's task instances that had not finished, and what the scheduler and the
    workers logged about heartbeats, requeues and executor events."""
    waiting = [
        f"{t['task_id']}[{t['map_index']}] {t['state']} try {t['try_number']} {t.get('hostname')}"
        for t in stack.client.task_instances("validate_images", run_id)
        if t["state"] not in ("success", "skipped", "removed")
    ]
    wanted = ("heartbeat", "stuck", "requeue", "reported", "revok", "Lost", "WorkerLost")
    lines = []
    for log in sorted((stack.state / "logs").glob("*.log")):
        hits = [
            line.rstrip()[:300]
            for line in log.read_text(errors="replace").splitlines()
            if any(word in line for word in wanted)
        ]
        lines += [f"{log.name}: {hit}" for hit in hits[-15:]]
    return "\n".join(["not finished:", *waiting, "logged:", *lines])


def test_a_worker_killed_mid_batch_leaves_its_batch_to_the_other(stack):
    client, settings = stack.client, stack.settings
    emulator = stack.stack_settings.emulator_url
    sent = _upload(stack, "kill", 30, seed=400)
    victim_key = "incoming/kill/photo-08.jpg"
    faults.clear(emulator, stack.emulator_key)
    # the batch holding this object stops after copying it, before its raw original is deleted
    faults.add(
        emulator,
        stack.emulator_key,
        action="hang",
        method="DELETE",
        bucket=settings.raw_bucket,
        key_prefix=victim_key,
    )

    run_id = client.trigger("validate_images")
    try:
        faults.wait_fired(emulator, timeout=180, credentials=stack.emulator_key)
        (index,) = [
            index
            for index, key in enumerate(client.xcom("validate_images", run_id, "plan_batches"))
            if victim_key in stack.manifest_keys(key)
        ]
        ti = next(
            t
            for t in client.task_instances("validate_images", run_id)
            if t["task_id"] == "validate_batch" and t["map_index"] == index
        )
        assert ti["state"] == "running" and ti["try_number"] == 1, ti
        victim = worker_of(ti)
        assert victim in WORKERS
        places = _validated_copies(stack, sent)
        assert sorted(places[victim_key]) == ["raw", f"validated:{victim_key}"]  # mid-move

        # the machine dies: the worker and every process under it (the task runs in a
        # process group of its own)
        pid = stack.worker_pid(victim)
        for doomed in [pid, *_descendants(pid)]:
            os.kill(doomed, signal.SIGKILL)
    finally:
        faults.clear(
            emulator, stack.emulator_key
        )  # the hung request answers 503: nobody is left to hear it

    run = client.wait_for_run("validate_images", run_id, timeout=400)
    assert run["state"] == "success"
    retried = next(
        t
        for t in client.task_instances("validate_images", run_id)
        if t["task_id"] == "validate_batch" and t["map_index"] == index
    )
    survivor = next(name for name in WORKERS if name != victim)
    assert retried["try_number"] == 2
    assert worker_of(retried) == survivor
    summary = client.xcom("validate_images", run_id, "finalize_run")
    assert (summary["in"], summary["validated"], summary["quarantined"]) == (30, 30, 0)
    _assert_each_in_one_validated_place(stack, sent)

    # `make up` again brings the dead worker back (it returns once both answer a ping)
    stack.run("up")
    broker = broker_url(stack.stack_settings.redis_port, stack.env["IMAGE_MLOPS_REDIS_PASSWORD"])
    assert answering_workers(broker) == set(WORKERS)


def _cli(stack, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "image_mlops.cli", *args],
        env=stack.env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_status_lists_redis_and_the_workers_and_a_running_stack_keeps_its_executor(stack):
    status = _cli(stack, "stack", "status")
    assert status.returncode == 0, status.stdout + status.stderr
    rows = {line.split()[0]: line for line in status.stdout.splitlines() if line.strip()}
    for name in ("redis", "celery-worker-1", "celery-worker-2", "scheduler"):
        assert "running" in rows[name], status.stdout
    # `make up EXECUTOR=local` on it: told to stop it first, and nothing is changed
    other = _cli(stack, "stack", "up", "--executor", "local")
    assert other.returncode != 0
    assert "CeleryExecutor with 2 workers" in other.stderr and "make down" in other.stderr
    again = _cli(stack, "stack", "status")
    assert again.returncode == 0 and "celery-worker-2" in again.stdout


def test_no_secret_in_the_workers_logs_the_brokers_files_or_the_database(stack):
    """Redis's password, the database's, the emulator key's secret and Airflow's own secrets:
    in none of the files the stack wrote (logs of every worker and task, Redis's append-only
    file of queued messages, the database), except the two files that keep them."""
    import json

    secrets_file = stack.state / "airflow" / "secrets.json"
    secrets = {
        name: stack.env[name]
        for name in (
            "IMAGE_MLOPS_REDIS_PASSWORD",
            "IMAGE_MLOPS_PG_PASSWORD",
            "IMAGE_MLOPS_LOCAL_AWS_SECRET",
        )
    }
    secrets.update(json.loads(secrets_file.read_text()))
    places = files_under(
        stack.state, kept_by_design={secrets_file, stack.state / "redis" / "redis.conf"}
    )
    assert any(name.startswith("logs/celery-worker-") for name in places)
    assert any("appendonly" in name for name in places)  # Redis's queued messages
    assert any("dag_id=validate_images" in name for name in places)  # the task logs
    assert leaks(secrets, places) == []
