"""The fault suite: real processes broken from outside the package, then every object counted.

Faults come from outside the code under test: the task runs in its own interpreter and is
SIGKILLed while the emulator holds one of its requests (``hang``), the emulator SIGKILLs
itself before applying a chosen request (``crash``), the test re-uploads an object while its
move waits, two runs race in two processes. After each, the books are checked for every
object sent: it is in exactly one place (validated, or quarantined in ``errors/``), with its
bytes identical, and it is counted by exactly one run.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import subprocess
import threading
import time
from pathlib import Path
from urllib.parse import unquote

import boto3
import faults
import pytest
from botocore.config import Config
from classify_fixtures import colour_image, deploy_production_model, put_incoming
from private_emulator import emulator_command, emulator_environment
from validation_corpus import corpus, photo_jpeg

from image_mlops import s3layout
from image_mlops.validation import pipeline, validator
from image_mlops_dev.stack.identities import BOOTSTRAP_SECRET, LOCAL_ACCESS_KEY_ID
from image_mlops_dev.stack.processes import free_port
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.slow]

#: a short lease, so "a run after the lease" needs no minute of waiting; long enough that no
#: run's lease runs out while it works on a busy machine (with 3 s, a parallel run saw the run
#: "at once" come after the lease, and two runs at once take over each other's expired
#: leases and count those images twice). The waits past it overlap other modules' work.
LEASE = 20
FAULT_REPORT: list[dict] = []


def _settings(settings):
    return dataclasses.replace(settings, validation_claim_lease_seconds=LEASE)


def _send(s3, settings, extra: int = 28) -> dict[str, bytes]:
    """The validation corpus plus ``extra`` photos: key → bytes, all uploaded to raw."""
    sent = {key: data for key, (data, _reason) in corpus().items()}
    for i in range(extra):
        sent[f"incoming/batch/photo-{i:02d}.jpg"] = photo_jpeg(seed=100 + i, size=96)
    for key, data in sent.items():
        s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=data)
    return sent


def _places(s3, settings) -> dict[str, list[tuple[str, bytes]]]:
    """Every copy of every sent object: raw key → [(where, bytes)] (raw itself included)."""
    places: dict[str, list[tuple[str, bytes]]] = {}
    paginator = s3.get_paginator("list_objects_v2")

    def keys(bucket):
        for page in paginator.paginate(Bucket=bucket):
            yield from (o["Key"] for o in page.get("Contents", []))

    for key in keys(settings.raw_bucket):
        if key.startswith(s3layout.RAW_AREAS):
            body = s3.get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read()
            places.setdefault(key, []).append(("raw", body))
        elif key.startswith(s3layout.ERRORS_PREFIX) and not key.endswith(".jsonl"):
            obj = s3.get_object(Bucket=settings.raw_bucket, Key=key)
            source = unquote(obj["Metadata"]["source-key"])
            places.setdefault(source, []).append((f"errors:{key}", obj["Body"].read()))
    for key in keys(settings.validated_bucket):
        if key.startswith(s3layout.INDEX_PREFIX):
            continue
        obj = s3.get_object(Bucket=settings.validated_bucket, Key=key)
        source = unquote(obj["Metadata"]["source-key"])
        places.setdefault(source, []).append((f"validated:{key}", obj["Body"].read()))
    return places


def _assert_books(s3, settings, sent: dict[str, bytes], summaries: list[dict], name: str):
    places = _places(s3, settings)
    lost = [k for k in sent if k not in places]
    doubled = {k: [w for w, _ in v] for k, v in places.items() if len(v) > 1}
    changed = [k for k, v in places.items() if k in sent and v[0][1] != sent[k]]
    left_in_raw = [k for k, v in places.items() if v[0][0] == "raw"]
    counted = sum(s["in"] for s in summaries)
    FAULT_REPORT.append(
        {"case": name, "sent": len(sent), "lost": len(lost), "doubled": len(doubled)}
    )
    assert lost == [] and doubled == {} and changed == [] and left_in_raw == []
    assert counted == len(sent), [s["in"] for s in summaries]
    assert sum(s["validated"] + s["quarantined"] for s in summaries) == len(sent)
    claims = s3.list_objects_v2(Bucket=settings.raw_bucket, Prefix=s3layout.CLAIMS_PREFIX)
    assert claims.get("KeyCount", 0) == 0


def _validate_in_process(manifest_key: str, attempt: str, env: dict | None = None):
    code = (
        "from image_mlops.config import get_settings\n"
        "from image_mlops.validation.pipeline import validate_batch\n"
        f"validate_batch(get_settings(), {manifest_key!r}, attempt={attempt!r})\n"
    )
    return faults.python(code, env)


@pytest.fixture(scope="module", autouse=True)
def fault_report():
    """The suite's figures (objects sent, lost, doubled per crash point), for the record."""
    yield
    out = Path(__file__).resolve().parents[2] / "test-output"
    out.mkdir(exist_ok=True)
    (out / "fault-suite.jsonl").write_text("".join(json.dumps(r) + "\n" for r in FAULT_REPORT))


@pytest.fixture
def emulator(settings):
    url = get_stack_settings().emulator_url
    faults.clear(url)
    yield url
    faults.clear(url)


def test_sigkill_of_the_task_between_copy_and_delete(clean_aws, settings, emulator):
    settings = _settings(settings)
    s3 = clean_aws.s3
    sent = _send(s3, settings)
    run_id = "fault__copy-then-delete"
    (manifest,) = pipeline.plan_run(settings, run_id)

    faults.add(
        emulator,
        action="hang",
        method="DELETE",
        bucket=settings.raw_bucket,
        key_prefix="incoming/",
        nth=5,
    )
    task = _validate_in_process(manifest, attempt="1")
    hung = faults.wait_fired(emulator, process=task)
    faults.sigkill(task)
    faults.clear(emulator)
    # the crash point: some object is copied (validated or quarantined) and still in raw
    places = _places(s3, settings)
    assert hung["matched"] == 5
    assert any(len(v) == 2 and v[0][0] == "raw" for v in places.values())

    retry = pipeline.validate_batch(settings, manifest, attempt="2")  # Airflow's next try
    summary = pipeline.finalize_run(settings, run_id, [manifest])
    assert retry["skipped"] == 0  # the dead try's leases are this batch's own: taken over
    _assert_books(s3, settings, sent, [summary], "task SIGKILL between copy and delete")


def test_sigkill_between_claim_and_copy_then_a_run_after_the_lease(clean_aws, settings, emulator):
    settings = _settings(settings)
    s3 = clean_aws.s3
    sent = _send(s3, settings)
    (killed,) = pipeline.plan_run(settings, "fault__claimed")

    faults.add(emulator, action="hang", method="PUT", bucket=settings.validated_bucket, nth=1)
    task = _validate_in_process(killed, attempt="1")
    faults.wait_fired(emulator, process=task)
    faults.sigkill(task)
    faults.clear(emulator)

    # a run at once: the objects the dead task leased are skipped as claimed, not lost
    (early,) = pipeline.plan_run(settings, "fault__early")
    pipeline.validate_batch(settings, early, attempt="1")
    early_summary = pipeline.finalize_run(settings, "fault__early", [early])
    assert early_summary["skipped_by_reason"].get(validator.SKIP_CLAIMED, 0) > 0
    # a run after the lease validates all of it
    time.sleep(LEASE + 1)
    (later,) = pipeline.plan_run(settings, "fault__later")
    pipeline.validate_batch(settings, later, attempt="1")
    later_summary = pipeline.finalize_run(settings, "fault__later", [later])
    assert later_summary["skipped"] == 0
    # the killed run's retry counts what it moved before it died, and nothing else
    pipeline.validate_batch(settings, killed, attempt="2")
    killed_summary = pipeline.finalize_run(settings, "fault__claimed", [killed])
    summaries = [killed_summary, early_summary, later_summary]
    _assert_books(s3, settings, sent, summaries, "task SIGKILL between claim and copy")


def test_sigkill_of_the_emulator_between_copy_and_delete(tmp_path, settings):
    """A private emulator with its own journal SIGKILLs itself before a raw delete."""
    settings = _settings(settings)
    port = free_port()
    journal = tmp_path / "journal.bin"
    root = Path(__file__).resolve().parents[2]

    def start():
        process = subprocess.Popen(
            [*emulator_command(port, journal), "--faults"],
            cwd=root,
            env=emulator_environment(),
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                faults._call(url, "GET")
                return process
            except OSError:
                time.sleep(0.1)
        raise AssertionError("private emulator did not start")

    url = f"http://127.0.0.1:{port}"
    emulator = start()
    s3 = boto3.client(
        "s3",
        endpoint_url=url,
        region_name="us-east-1",
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=os.environ[BOOTSTRAP_SECRET],
        config=Config(retries={"max_attempts": 1}),
    )
    for bucket in (settings.raw_bucket, settings.validated_bucket):
        s3.create_bucket(Bucket=bucket)
    sent = _send(s3, settings)
    run_id = "fault__emulator-crash"
    (manifest,) = pipeline.plan_run(settings, run_id, s3=s3)
    connection = json.loads(faults.os.environ["AIRFLOW_CONN_AWS_DEFAULT"])
    connection["extra"]["endpoint_url"] = url
    # the task fails fast once S3 is gone (one attempt per request, no back-off)
    env = {
        "AIRFLOW_CONN_AWS_DEFAULT": json.dumps(connection),
        # this private emulator has no roles: the task signs with its bootstrap key, which
        # the SDK's chain takes before the session's container credentials
        "AWS_ACCESS_KEY_ID": LOCAL_ACCESS_KEY_ID,
        "AWS_SECRET_ACCESS_KEY": os.environ[BOOTSTRAP_SECRET],
        "AWS_MAX_ATTEMPTS": "1",
        "AWS_RETRY_MODE": "standard",
    }
    try:
        faults.add(
            url,
            action="crash",
            method="DELETE",
            bucket=settings.raw_bucket,
            key_prefix="labeled/",
            nth=2,
        )
        task = _validate_in_process(manifest, attempt="1", env=env)
        emulator.wait(120)
        assert emulator.returncode == -signal.SIGKILL
        task.wait(300)  # the task fails on its own: S3 is gone
        assert task.returncode != 0

        emulator = start()  # the journal brings back everything applied before the crash
        pipeline.validate_batch(settings, manifest, s3=s3, attempt="2")
        summary = pipeline.finalize_run(settings, run_id, [manifest], s3=s3)
        _assert_books(s3, settings, sent, [summary], "emulator SIGKILL between copy and delete")
    finally:
        emulator.kill()
        emulator.wait(30)


def test_a_reupload_during_the_move_is_kept_for_the_next_run(clean_aws, settings, emulator):
    settings = _settings(settings)
    s3 = clean_aws.s3
    old, new = photo_jpeg(seed=1, size=96), photo_jpeg(seed=2, size=96)
    key = "incoming/reupload.jpg"
    s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=old)
    (manifest,) = pipeline.plan_run(settings, "fault__reupload")

    faults.add(emulator, action="hang", method="DELETE", bucket=settings.raw_bucket, key_prefix=key)
    result: dict = {}
    worker = threading.Thread(
        target=lambda: result.update(pipeline.validate_batch(settings, manifest, attempt="1"))
    )
    worker.start()
    faults.wait_fired(emulator)
    s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=new)  # the user uploads again
    faults.clear(emulator)  # the delete goes on: conditional on the validated ETag
    worker.join(60)
    first = pipeline.finalize_run(settings, "fault__reupload", [manifest])
    assert first["validated"] == 1
    got = s3.get_object(Bucket=settings.validated_bucket, Key=key)["Body"].read()
    assert got == old
    assert s3.get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read() == new

    (next_manifest,) = pipeline.plan_run(settings, "fault__reupload-next")
    pipeline.validate_batch(settings, next_manifest, attempt="1")
    second = pipeline.finalize_run(settings, "fault__reupload-next", [next_manifest])
    # never silently replacing the validated image: the new upload is quarantined, kept whole
    assert second["by_reason"] == {"unsafe_key": 1}
    places = _places(s3, settings)[key]
    assert sorted(where.split(":")[0] for where, _ in places) == ["errors", "validated"]
    assert {body for _, body in places} == {old, new}


def test_two_runs_at_once_in_two_processes(clean_aws, settings):
    settings = _settings(settings)
    s3 = clean_aws.s3
    sent = _send(s3, settings, extra=60)
    code = (
        "import sys\n"
        "from image_mlops.config import get_settings\n"
        "from image_mlops.validation import pipeline\n"
        "run, settings = sys.argv[-1], get_settings()\n"
        "keys = pipeline.plan_run(settings, run)\n"
        "[pipeline.validate_batch(settings, k, attempt='1') for k in keys]\n"
        "import json; print('SUMMARY', json.dumps(pipeline.finalize_run(settings, run, keys)))\n"
    )
    env = {
        "IMAGE_MLOPS_VALIDATION_BATCH_SIZE": "20",
        "IMAGE_MLOPS_VALIDATION_CLAIM_LEASE_SECONDS": str(LEASE),
    }
    runs = []
    for name in ("fault__race-a", "fault__race-b"):
        runs.append(faults.python(code.replace("sys.argv[-1]", repr(name)), env))
    summaries = []
    for process in runs:
        out, _ = process.communicate(timeout=300)
        assert process.returncode == 0, out.decode()[-2000:]
        line = next(x for x in out.decode().splitlines() if x.startswith("SUMMARY "))
        summaries.append(json.loads(line.removeprefix("SUMMARY ")))
    # a run that found objects leased by the other skipped them; a third run takes the rest
    (rest,) = pipeline.plan_run(settings, "fault__race-rest") or [None]
    if rest:
        time.sleep(LEASE + 1)
        pipeline.validate_batch(settings, rest, attempt="1")
        summaries.append(pipeline.finalize_run(settings, "fault__race-rest", [rest]))
    _assert_books(s3, settings, sent, summaries, "two runs at once")


def test_sigkill_of_classification_between_copy_and_record(
    clean_aws, settings, emulator, local_stack
):
    from image_mlops.classification import records, run

    aws = clean_aws
    records.ensure_predictions_table(settings)
    records._execute(settings, "TRUNCATE predictions")
    deploy_production_model(settings, version=1)
    images = {}
    for i in range(12):
        name = f"shop{i % 3}/item-{i // 3}.jpg"  # basenames repeat across folders
        images[put_incoming(aws, settings, name, colour_image((200, 30, 30), seed=i))] = i
    model = run.find_model(settings)
    (batch,) = run.plan(settings, model, "fault__classify", batch_size=50)

    faults.add(
        emulator,
        action="hang",
        method="PUT",
        bucket=settings.output_bucket,
        key_prefix=s3layout.PREDICTIONS_PREFIX,
        nth=6,
    )
    code = (
        "import json\n"
        "from image_mlops.classification import run\n"
        "from image_mlops.config import get_settings\n"
        f"run.classify(get_settings(), json.loads({json.dumps(batch)!r}), "
        f"json.loads({json.dumps(model)!r}), 'fault__classify')\n"
    )
    task = faults.python(code)
    faults.wait_fired(emulator, process=task)
    faults.sigkill(task)
    faults.clear(emulator)
    placed_before = [k for k in aws.keys(settings.output_bucket, "predictions/")]
    assert 0 < len(placed_before) < len(images)
    assert records._execute(settings, "SELECT count(*) FROM predictions")[0][0] == 0

    (again,) = run.plan(settings, model, "fault__classify-2", batch_size=50)
    assert again["count"] == len(images)  # nothing was recorded: every image is pending
    run.classify(settings, again, model, "fault__classify-2")
    placed = [k for k in aws.keys(settings.output_bucket, "predictions/") if "_manifests/" not in k]
    rows = records._execute(settings, "SELECT source_key, output_key FROM predictions")
    assert len(rows) == len(images)
    assert sorted(o for _, o in rows) == sorted(placed)  # exactly one place per image
    assert {s for s, _ in rows} == set(images)
    FAULT_REPORT.append(
        {
            "case": "classification SIGKILL between copy and record",
            "sent": len(images),
            "lost": len(images) - len(placed),
            "doubled": len(placed) - len(set(placed)),
        }
    )
