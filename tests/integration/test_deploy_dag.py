"""deploy_model as a real DAG run (dag.test): registry decisions made outside Airflow, and
a production canary step by step (an alarm rolling one back: ``test_deploy_rollback``)."""

from __future__ import annotations

import pytest
from conftest import endpoint_invocations, run_dag
from sample_model import publish_sample_package, upload_sample_images

from image_mlops.aws import aws_client
from image_mlops.deployment import history, production_model, scaling

pytestmark = [pytest.mark.stack, pytest.mark.slow]
STAGES = ("staging", "production")


def _states(run):
    return {ti.task_id: ti.state for ti in run.get_task_instances()}


def test_approved_in_registry_deploys_without_asking(dag_bag, settings, tmp_path, monkeypatch):
    monkeypatch.setenv("IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL", "false")
    upload_sample_images(settings, per_class=3)
    arn = publish_sample_package(settings, "dag-approved", status="Approved", workdir=tmp_path)
    smoked = {stage: endpoint_invocations(settings.endpoint_name(stage)) for stage in STAGES}
    run = run_dag(dag_bag, "deploy_model", conf={"model_package": arn})
    states = _states(run)
    assert run.state == "success", states
    # each smoke test went to its endpoint's model server through InvokeEndpoint
    for stage in STAGES:
        assert endpoint_invocations(settings.endpoint_name(stage)) > smoked[stage], stage
    assert states["approve_candidate"] == "skipped"
    assert states["approve_production"] == "skipped"
    assert states["check_production"] == "success"
    assert production_model(settings).package_arn == arn
    rows = history.for_run(settings, run.run_id)
    assert [(r["stage"], r["outcome"]) for r in rows] == [
        ("staging", "succeeded"),
        ("production", "succeeded"),
    ]
    summary = run.get_task_instance("check_production").xcom_pull(task_ids="check_production")
    assert summary["outcome"] == "succeeded" and summary["smoke"]["samples"] == 9


def test_rejected_in_registry_deploys_nothing(dag_bag, settings, tmp_path):
    arn = publish_sample_package(settings, "dag-rejected", status="Rejected", workdir=tmp_path)
    before = production_model(settings)
    run = run_dag(dag_bag, "deploy_model", conf={"model_package": arn})
    states = _states(run)
    assert run.state == "success", states
    assert states["registry_rejected"] == "success"
    for task_id in ("approve_candidate", "deploy_staging", "deploy_production"):
        assert states[task_id] == "skipped", states
    assert production_model(settings) == before
    [row] = history.for_run(settings, run.run_id)
    assert (row["stage"], row["outcome"]) == ("approval", "rejected")


def _deploy(dag_bag, settings, tmp_path, tag: str, **package):
    arn = publish_sample_package(settings, tag, status="Approved", workdir=tmp_path, **package)
    return arn, run_dag(dag_bag, "deploy_model", conf={"model_package": arn})


def test_production_update_is_a_canary_recorded_step_by_step(
    dag_bag, settings, tmp_path, monkeypatch, notification_inbox
):
    import datetime as dt
    import time

    from image_mlops.config import get_settings
    from image_mlops.monitoring.publish import live_input_stats
    from image_mlops.monitoring.sources import MonitoredModel

    monkeypatch.setenv("IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL", "false")
    monkeypatch.setenv("IMAGE_MLOPS_DATA_CAPTURE_PERCENT", "100")  # every smoke request
    upload_sample_images(settings, per_class=3)
    _deploy(dag_bag, settings, tmp_path, "dag-canary-base")  # production exists after this
    started = dt.datetime.now(dt.UTC)
    arn, run = _deploy(dag_bag, settings, tmp_path, "dag-canary")
    assert run.state == "success", _states(run)
    assert production_model(settings).package_arn == arn
    rows = {r["stage"]: r for r in history.for_run(settings, run.run_id)}
    assert rows["staging"]["traffic_routing"] == "ALL_AT_ONCE"
    production = rows["production"]
    assert production["traffic_routing"] == "CANARY" and production["outcome"] == "succeeded"
    messages = [(s["status"], s["message"]) for s in production["steps"]]
    # the canary's two steps, each baking 5 s: the sensor records what its pokes see, and a
    # poke that comes late (a loaded machine) may see only one of them (the sensor's docstring)
    baking = [m for status, m in messages if status == "Baking"]
    expected = ["step 1 of 2: 50% of traffic", "step 2 of 2: 100% of traffic"]
    seen = [step for step in expected if any(step in m for m in baking)]
    assert seen and len(seen) == len(baking), messages
    assert all(seen[i] in baking[i] for i in range(len(seen))), messages  # in their order
    in_service = [m for status, m in messages if status == "InService"]
    assert in_service and production["endpoint_config_name"] in in_service[-1]
    config = aws_client("sagemaker", settings).describe_endpoint_config(
        EndpointConfigName=production["endpoint_config_name"]
    )
    assert config["ProductionVariants"][0]["InitialInstanceCount"] == 2
    # autoscaling of the production variant, applied once the check passed
    target = scaling.describe(settings, settings.endpoint_name("production"))
    assert (target["MinCapacity"], target["MaxCapacity"]) == (2, 4)
    [policy] = target["Policies"]
    assert policy["PolicyType"] == "TargetTrackingScaling"
    tracking = policy["TargetTrackingScalingPolicyConfiguration"]
    assert tracking["PredefinedMetricSpecification"]["PredefinedMetricType"] == (
        "SageMakerVariantInvocationsPerInstance"
    )
    assert messages[-1][0] == "AutoScaling"
    # data capture: the production smoke test's requests, read back by monitoring
    assert config["DataCaptureConfig"]["InitialSamplingPercentage"] == 100
    captured = get_settings()
    model = MonitoredModel(1, "s3://unused/baseline.json", settings.endpoint_name("production"))
    deadline = time.monotonic() + 30
    while True:
        stats, source = live_input_stats(captured, model, [], started, dt.datetime.now(dt.UTC))
        if len(stats) >= production["smoke_samples"]:
            break
        assert time.monotonic() < deadline, (len(stats), source)
        time.sleep(1)
    assert source == "data_capture"
    deployed = [n for n in notification_inbox() if n["event"] == "deployed"]
    assert [n["attributes"]["version"] for n in deployed][-1] == str(
        rows["production"]["package_version"]
    )
    assert production["endpoint_config_name"] in deployed[-1]["message"]
    assert deployed[-1]["attributes"]["run_id"] == run.run_id
