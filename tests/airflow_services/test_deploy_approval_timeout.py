"""An approval nobody answers is a Reject: nothing is deployed, and the registry and the
history say that nobody answered.

On the running stack: ``deploy_model`` asks, nobody answers, and the task's deadline (72 h by
default) is moved into the past in the metadata database — what 72 hours of waiting would
do. Airflow's scheduler then resolves it with the request's default answer, as it would.
"""

from __future__ import annotations

import datetime as dt
import time

import pytest
from sample_model import publish_sample_package

from image_mlops import registry
from image_mlops.deployment import history, production_model

pytestmark = pytest.mark.stack
DAG_ID = "deploy_model"


@pytest.fixture(scope="module")
def client(airflow_services):
    from conftest import airflow_client

    return airflow_client([DAG_ID])


def _expire_deadline(run_id: str, task_id: str) -> None:
    from airflow.models.taskinstance import TaskInstance
    from airflow.utils.session import create_session

    with create_session() as session:
        updated = (
            session.query(TaskInstance)
            .filter(
                TaskInstance.dag_id == DAG_ID,
                TaskInstance.run_id == run_id,
                TaskInstance.task_id == task_id,
                TaskInstance.state == "awaiting_input",
            )
            .update(
                {"trigger_timeout": dt.datetime.now(dt.UTC) - dt.timedelta(seconds=1)},
                synchronize_session=False,
            )
        )
    assert updated == 1


def test_no_answer_within_the_timeout_rejects_and_deploys_nothing(client, settings, tmp_path):
    arn = publish_sample_package(settings, "hitl-timeout", workdir=tmp_path)
    before = production_model(settings)
    run_id = client.trigger(DAG_ID, conf={"model_package": arn})
    deadline = time.monotonic() + 300
    while not client.pending_approvals(DAG_ID, run_id):
        assert time.monotonic() < deadline, "approve_candidate never asked"
        time.sleep(2)
    # nobody answers; the 72 hours pass
    _expire_deadline(run_id, "approve_candidate")
    run = client.wait_for_run(DAG_ID, run_id, timeout=300)
    states = {ti["task_id"]: ti["state"] for ti in client.task_instances(DAG_ID, run_id)}
    assert run["state"] == "success", states
    assert states["approve_candidate"] == "success", states
    for task_id in ("deploy_staging", "deploy_production", "check_production"):
        assert states[task_id] == "skipped", states
    assert production_model(settings) == before
    package = registry.describe_package(settings, arn)
    assert package.approval_status == "Rejected"
    assert package.approval_description.startswith("Rejected: no answer within 3 days")
    [row] = history.for_run(settings, run_id)
    assert (row["stage"], row["outcome"], row["approver"]) == ("approval", "rejected", "nobody")
    assert "the default answer 'Reject' was taken" in row["reason"]


def test_the_deploy_dag_asks_with_the_timeout_setting_and_reject_as_default(dag_bag, settings):
    dag = dag_bag.get_dag(DAG_ID)
    for task_id in ("approve_candidate", "approve_production"):
        approval = dag.get_task(task_id)
        assert approval.defaults == ["Reject"]
        assert approval.response_timeout == dt.timedelta(hours=settings.approval_timeout_hours)
