"""deploy_model as a real DAG run (dag.test) for registry decisions made outside Airflow."""

from __future__ import annotations

import pytest
from conftest import endpoint_invocations, run_dag

from image_mlops.deployment import history, production_model
from image_mlops.serving.sample_model import publish_sample_package, upload_sample_images

pytestmark = pytest.mark.stack
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
    assert production_model().package_arn == arn
    rows = history.for_run(run.run_id)
    assert [(r["stage"], r["outcome"]) for r in rows] == [
        ("staging", "succeeded"),
        ("production", "succeeded"),
    ]
    summary = run.get_task_instance("check_production").xcom_pull(task_ids="check_production")
    assert summary["outcome"] == "succeeded" and summary["smoke"]["samples"] == 9


def test_rejected_in_registry_deploys_nothing(dag_bag, settings, tmp_path):
    arn = publish_sample_package(settings, "dag-rejected", status="Rejected", workdir=tmp_path)
    before = production_model()
    run = run_dag(dag_bag, "deploy_model", conf={"model_package": arn})
    states = _states(run)
    assert run.state == "success", states
    assert states["registry_rejected"] == "success"
    for task_id in ("approve_candidate", "deploy_staging", "deploy_production"):
        assert states[task_id] == "skipped", states
    assert production_model() == before
    [row] = history.for_run(run.run_id)
    assert (row["stage"], row["outcome"]) == ("approval", "rejected")
