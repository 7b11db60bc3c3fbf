"""Human approvals answered through the REST API the UI uses, on the running stack."""

from __future__ import annotations

import pytest
from sample_model import publish_sample_package, upload_sample_images

from image_mlops import registry
from image_mlops.deployment import history, production_model
from image_mlops_dev.airflow_api import ApprovalAnswerer
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = [pytest.mark.stack, pytest.mark.slow]
DAG_ID = "deploy_model"


@pytest.fixture(scope="module")
def client(airflow_services):
    from conftest import airflow_client

    return airflow_client([DAG_ID])


def _run(client, arn, decide):
    answerer = ApprovalAnswerer(client, decide)
    run_id = client.trigger(DAG_ID, conf={"model_package": arn})
    run = client.wait_for_run(
        DAG_ID, run_id, timeout=900, on_poll=lambda _r: answerer.poll(DAG_ID, run_id)
    )
    states = {ti["task_id"]: ti["state"] for ti in client.task_instances(DAG_ID, run_id)}
    return run, run_id, states, answerer.answered


def test_approve_twice_deploys_to_production(client, settings, tmp_path, notification_inbox):
    upload_sample_images(settings, per_class=3)
    arn = publish_sample_package(settings, "hitl-approve", workdir=tmp_path)
    run, run_id, states, answered = _run(client, arn, lambda _d: "Approve")
    assert run["state"] == "success", states
    # (an answer that hits Airflow 3.3.2's awaiting_input race is asked again on the retry)
    assert {task for task, _ in answered} == {"approve_candidate", "approve_production"}
    package = registry.describe_package(settings, arn)
    assert package.approval_status == "Approved"
    assert package.approval_description.startswith("Approved by ")
    assert run_id in package.approval_description
    assert production_model(settings).package_arn == arn
    rows = {r["stage"]: r for r in history.for_run(settings, run_id)}
    assert rows["production"]["outcome"] == "succeeded"
    assert rows["production"]["approver"]  # the production approver
    assert rows["staging"]["latency_p95_ms"] is not None
    # both approvals were announced, each with the link to its page in the Airflow UI
    notes = notification_inbox()
    asked = {n["attributes"]["link"] for n in notes if n["event"] == "approval_needed"}
    for task_id in ("approve_candidate", "approve_production"):
        airflow = get_stack_settings().airflow_url
        link = f"{airflow}/dags/{DAG_ID}/runs/{run_id}/tasks/{task_id}/required_actions"
        assert any(found.startswith(link) for found in asked), (link, asked)
    assert any(n["event"] == "deployed" and n["attributes"]["run_id"] == run_id for n in notes)


def test_rejection_deploys_nothing(client, settings, tmp_path):
    arn = publish_sample_package(settings, "hitl-reject", workdir=tmp_path)
    before = production_model(settings)
    run, run_id, states, answered = _run(client, arn, lambda _d: "Reject")
    assert {answer for _, answer in answered} == {"Reject"}
    assert {task for task, _ in answered} == {"approve_candidate"}
    assert run["state"] == "success", states
    for task_id in ("deploy_staging", "deploy_production", "check_production"):
        assert states[task_id] == "skipped", states
    package = registry.describe_package(settings, arn)
    assert package.approval_status == "Rejected"
    assert package.approval_description.startswith("Rejected by ")
    assert production_model(settings) == before
    [row] = history.for_run(settings, run_id)
    assert (row["stage"], row["outcome"]) == ("approval", "rejected")
