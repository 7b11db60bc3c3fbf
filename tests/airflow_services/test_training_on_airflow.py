"""train_and_register on the running stack: the training task defers to the triggerer while
the emulator runs the job, and a failed job's reason is in the task's log."""

from __future__ import annotations

import hashlib
import time

import pytest

from image_mlops_dev.airflow_api import AirflowApiError
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack
DAG_ID = "train_and_register"


@pytest.fixture(scope="module")
def client(airflow_services):
    from conftest import airflow_client

    client = airflow_client([DAG_ID])
    yield client
    client.set_paused(DAG_ID, True)


def _upload_labeled(aws, settings) -> None:
    from validation_corpus import image_bytes

    for c, label in enumerate(("mug", "lamp")):
        for i in range(10):
            data = image_bytes("PNG", (48, 48), seed=100 * c + i)
            aws.s3.put_object(
                Bucket=settings.validated_bucket,
                Key=f"labeled/{label}/on-airflow-{i}.png",
                Body=data,
                Metadata={"sha256": hashlib.sha256(data).hexdigest()},
            )


def _wait_for_train_state(
    client, run_id: str, states: tuple[str, ...], timeout=300, only_run: bool = False
) -> dict:
    deadline = time.monotonic() + timeout
    train: dict = {}
    while time.monotonic() < deadline:
        if only_run:  # unpaused, the DAG may start runs of its own (schedule, asset events)
            for other in client.runs(DAG_ID):
                if other["dag_run_id"] != run_id and other["state"] in ("queued", "running"):
                    client.set_run_state(DAG_ID, other["dag_run_id"], "failed")
        instances = {ti["task_id"]: ti for ti in client.task_instances(DAG_ID, run_id)}
        train = instances.get("train", {})
        if train.get("state") in states:
            return train
        if train.get("state") in ("failed", "up_for_retry", "success"):
            break
        time.sleep(1)
    runs = [(r["dag_run_id"], r["state"]) for r in client.runs(DAG_ID)]
    try:
        try_number = train.get("try_number") or 1
        log = client.task_log(DAG_ID, run_id, "train", try_number=try_number) if train else ""
    except AirflowApiError as exc:  # the reason below matters more than the log
        log = f"(no log: {exc})"
    raise AssertionError(
        f"train is {train.get('state')} (try {train.get('try_number')}), not one of {states}; "
        f"runs {runs}; task instances "
        f"{[(t['task_id'], t['state']) for t in client.task_instances(DAG_ID, run_id)]}:\n"
        f"{log[-3000:]}"
    )


def test_a_training_job_waits_in_the_triggerer_and_its_failure_fails_the_task(
    client, clean_aws, settings
):
    """The job's container is held at its first download (a fault rule on the emulator), so
    the task must be deferred — its worker slot free — while the job runs; released, the job
    fails, and the task fails with the job's FailureReason in its log."""
    import faults

    _upload_labeled(clean_aws, settings)
    faults.add(
        get_stack_settings().emulator_url,
        action="hang",
        method="GET",
        bucket=settings.models_bucket,
        key_prefix=f"{settings.model_name}/code/",
        times=100,
    )
    try:
        run_id = client.trigger(
            DAG_ID, conf={"hyperparameters": {"image_size": -3}, "reason": "a job that fails"}
        )
        _wait_for_train_state(client, run_id, ("deferred",), only_run=True)
        # the job is running, held at its download
        faults.wait_fired(get_stack_settings().emulator_url)
    finally:
        # released: the download is retried and goes on
        faults.clear(get_stack_settings().emulator_url)
    train = _wait_for_train_state(client, run_id, ("up_for_retry", "failed"))
    assert train["try_number"] == 1
    # no second try (the stack is shared): it would start 30 s on (retry_delay), and while it
    # runs the first try's log is not found (HTTP 404, seen on a busy machine)
    client.set_run_state(DAG_ID, run_id, "failed")
    # the task's state can be read before the log of its resumed part has been written out
    # (on a busy machine, before the try's log can be found at all: HTTP 404)
    deadline = time.monotonic() + 60
    while True:
        try:
            log = client.task_log(DAG_ID, run_id, "train", try_number=1)
        except AirflowApiError as exc:
            if "HTTP 404" not in str(exc) or time.monotonic() > deadline:
                raise
            log = ""
        if "AlgorithmError" in log or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert "AlgorithmError: ExecuteUserScriptError" in log, log[-3000:]
    # the image's sagemaker-training 4.8.0 reports the exit code and the command, not the
    # program's stderr (that is in the job's CloudWatch log)
    assert "ExitCode 1" in log and "--image_size -3" in log
