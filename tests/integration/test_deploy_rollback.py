"""deploy_model's rollback guardrail as a real DAG run (dag.test): an alarm during the
production canary rolls it back. A module of its own: its last wait (the rollback alarm's
errors ageing out of AWS's one-minute periods) overlaps the other modules' work on other
workers instead of holding up the rest of ``test_deploy_dag``."""

from __future__ import annotations

import pytest
from conftest import run_dag
from sample_model import publish_sample_package, upload_sample_images

from image_mlops.deployment import history, production_model, scaling

pytestmark = [pytest.mark.stack, pytest.mark.slow]


def _states(run):
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def _deploy(dag_bag, settings, tmp_path, tag: str, **package):
    arn = publish_sample_package(settings, tag, status="Approved", workdir=tmp_path, **package)
    return arn, run_dag(dag_bag, "deploy_model", conf={"model_package": arn})


def _wait_alarms_ok(settings, names: list[str], timeout: float = 240.0) -> None:
    """Until the rollback alarms read OK again (their errors aged out of the period), so
    that later deployments are not rolled back at once."""
    import time

    from image_mlops.aws import aws_client

    cloudwatch = aws_client("cloudwatch", settings)
    deadline = time.monotonic() + timeout
    while True:
        alarms = cloudwatch.describe_alarms(AlarmNames=names)["MetricAlarms"]
        if all(a["StateValue"] != "ALARM" for a in alarms):
            return
        assert time.monotonic() < deadline, [(a["AlarmName"], a["StateValue"]) for a in alarms]
        time.sleep(2)


def test_an_alarm_during_the_production_canary_rolls_it_back(
    dag_bag, settings, tmp_path, monkeypatch, notification_inbox
):
    """The candidate passes staging (its smoke test sends one image per request) and fails
    the batched requests of production traffic (classify_images batches): during the canary
    its 5xx errors trip the rollback alarm, and the old model, which never stopped serving,
    keeps all the traffic."""
    import threading

    from sample_model import (
        FAILING_INFERENCE_PY,
        PRIMARY_CENTROIDS,
        colour_image,
    )

    from image_mlops.deployment import endpoints
    from image_mlops.serving.runtime import get_runtime

    monkeypatch.setenv("IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL", "false")
    monkeypatch.setenv("IMAGE_MLOPS_TRAFFIC_WAIT_SECONDS", "20")
    upload_sample_images(settings, per_class=3)
    production_endpoint = settings.endpoint_name("production")
    _deploy(dag_bag, settings, tmp_path, "dag-rollback-base")
    before = production_model(settings)
    assert scaling.describe(settings, production_endpoint) is not None
    image = colour_image(PRIMARY_CENTROIDS["blue"], "JPEG", seed=9)
    runtime, stop, answers = get_runtime(settings), threading.Event(), []

    def production_traffic() -> None:
        while not stop.is_set():
            try:
                answers.append(runtime.invoke_images(production_endpoint, [image])[0]["label"])
            except Exception as exc:
                answers.append(str(exc))
            stop.wait(0.2)

    sender = threading.Thread(target=production_traffic, daemon=True)
    sender.start()
    try:
        _arn, run = _deploy(
            dag_bag, settings, tmp_path, "dag-rollback", inference_py=FAILING_INFERENCE_PY
        )
    finally:
        stop.set()
        sender.join()
    try:
        states = _states(run)
        assert run.state == "failed", states
        assert states["check_staging"] == "success" and states["check_production"] == "failed"
        # the canary's share of traffic met the new model
        assert any("ModelError" in answer for answer in answers), answers
        assert production_model(settings) == before  # the old configuration, the old model
        assert runtime.invoke_images(production_endpoint, [image])[0]["label"] == "blue"
        production = {r["stage"]: r for r in history.for_run(settings, run.run_id)}["production"]
        assert production["outcome"] == "rolled_back"
        alarm = endpoints.alarm_names(production_endpoint)[0]
        assert f"{alarm} in ALARM" in production["reason"]
        assert "at step 1 of 2: 50% of traffic" in production["reason"]
        # (a step shorter than the sensor's poke interval is not seen; the end always is)
        statuses = [step["status"] for step in production["steps"]]
        assert statuses[-2:] == ["RolledBack", "AutoScalingRemoved"], production["steps"]
        assert scaling.describe(settings, production_endpoint) is None
        notes = notification_inbox()
        [rolled_back] = [n for n in notes if n["event"] == "rolled_back"]
        assert rolled_back["attributes"]["run_id"] == run.run_id
        assert f"{alarm} in ALARM" in rolled_back["message"]
        assert "rolled back from production" in rolled_back["subject"]
        assert not [
            n for n in notes if n["event"] == "deployed" and n["attributes"]["run_id"] == run.run_id
        ]
    finally:
        _wait_alarms_ok(settings, endpoints.alarm_names(production_endpoint))
