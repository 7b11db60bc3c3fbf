"""
### deploy_model — human approval → staging → smoke test → production, with rollback

Runs when a model package is registered (`registered_model` Asset), or on demand with the
`model_package` Param (ARN or version number; empty: the newest PendingManualApproval or
Approved package of the group).

1. **resolve_candidate** — the package and its registry status.
2. **route_approval** — `PendingManualApproval` → ask; already `Approved` (e.g. in SageMaker
   Studio) → deploy without asking; already `Rejected` → **registry_rejected** (nothing deployed).
3. **approve_candidate** — human-in-the-loop approval (Airflow UI → *Required actions*): the
   candidate next to the production model (metrics, per-class recall, data fingerprint, who
   trained it). Approve → package `Approved` in the registry (who/when in the description);
   Reject → `Rejected`, the run stops. Nobody answering within
   `IMAGE_MLOPS_APPROVAL_TIMEOUT_HOURS` (72) is a Reject too, recorded as such (both approvals).
4. **deploy_staging** → **wait_staging** → **check_staging** — SageMaker model + endpoint
   config, create or blue/green-update `<model>-staging` (traffic shifted as
   `IMAGE_MLOPS_STAGING_TRAFFIC_ROUTING` says, default all at once; its error and latency
   alarms roll the update back), wait for InService recording each shifting step, verify it
   serves the new config, smoke-test it (held-out labelled sample: accuracy ≥ registered −
   tolerance, no errors, p50/p95 latency). Failure stops the run; production is untouched.
5. **approve_production** (if `IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL`, default on).
6. **deploy_production** → **wait_production** → **check_production** — the same on
   `<model>-production` (default: a canary — half the new fleet's capacity takes traffic
   first, then all of it, each step baking `IMAGE_MLOPS_TRAFFIC_WAIT_SECONDS` under the
   rollback alarms); the registry is re-read and anything not `Approved` is refused. An
   alarm during a step rolls the update back (the old model never stopped serving); a failed
   check rolls back to the previous configuration, verifies the previous model answers and
   fails the run. Success emits `production_model`.

Every stage is recorded in the `deployments` table (image_mlops DB); each task returns its
record, visible in the task's XCom. The notification topic (`IMAGE_MLOPS_NOTIFICATION_TOPIC`)
is told when an approval waits (with its link), when production gets the model and when a
production update is rolled back. Names are deterministic: re-running or clearing any task
is safe.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import Param, dag, task
from airflow.task.trigger_rule import TriggerRule

from image_mlops.assets import PRODUCTION_MODEL, REGISTERED_MODEL
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args
from image_mlops.deployment.operators import RegistryApprovalOperator
from image_mlops.deployment.sensors import EndpointDeploymentSensor
from image_mlops.notifications import ApprovalNotifier

settings = get_settings()
# Results travel as task arguments elsewhere; here the candidate is read with xcom_pull: the
# approval operators' subjects are text around its version, and an argument would make
# resolve_candidate an upstream of the deploy tasks and defeat their trigger rule.
CANDIDATE_ARN = "{{ ti.xcom_pull(task_ids='resolve_candidate')['arn'] }}"
CANDIDATE_VERSION = "{{ ti.xcom_pull(task_ids='resolve_candidate')['version'] }}"


@dag(
    schedule=[REGISTERED_MODEL],
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "deployment"],
    # one retry, not two: each try of a deployment step may act on a live endpoint (create,
    # update, roll back); a second transient error is for a person to look at
    default_args=default_args(settings, retries=1),
    params={
        "model_package": Param(
            None,
            type=["null", "string", "integer"],
            description="Model package ARN or version (empty: newest pending/approved).",
        )
    },
    doc_md=__doc__,
)
def deploy_model():
    @task
    def resolve_candidate(params=None):
        from image_mlops.deployment import flow

        return flow.resolve_candidate(get_settings(), params.get("model_package"))

    @task.branch
    def route_approval(candidate: dict):
        return {
            "ask": "approve_candidate",
            "deploy": "deploy_staging",
            "stop": "registry_rejected",
        }[candidate["route"]]

    @task
    def registry_rejected(candidate: dict, run_id=None):
        from image_mlops.deployment import flow

        return flow.record_registry_decision(get_settings(), candidate["arn"], run_id)

    approve_candidate = RegistryApprovalOperator(
        task_id="approve_candidate",
        subject=f"Deploy {settings.model_name} v{CANDIDATE_VERSION}?",
        package_arn=CANDIDATE_ARN,
        stage="approval",
        response_timeout=settings.approval_timeout,
        notifiers=[
            ApprovalNotifier(
                settings, subject=f"Approval needed: {settings.model_name} v{CANDIDATE_VERSION}"
            )
        ],
    )

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def deploy_staging(run_id=None, ti=None):
        from image_mlops.deployment import flow

        # pulled, not passed: an XCom argument would add resolve_candidate as a successful
        # upstream and defeat the trigger rule when the approval branch is skipped
        candidate = ti.xcom_pull(task_ids="resolve_candidate")
        return flow.deploy(get_settings(), "staging", candidate["arn"], run_id)

    wait_staging = EndpointDeploymentSensor(
        task_id="wait_staging",
        stage="staging",
        endpoint_name=settings.endpoint_name("staging"),
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.region,
        mode="reschedule",
        poke_interval=settings.job_poll_seconds,
        timeout=2 * 60 * 60,
    )

    @task
    def check_staging(deployment: dict):
        from image_mlops.deployment import flow

        return flow.check(get_settings(), "staging", deployment)

    @task.branch
    def route_production():
        from image_mlops.config import get_settings

        if get_settings().require_production_approval:
            return "approve_production"
        return "deploy_production"

    approve_production = RegistryApprovalOperator(
        task_id="approve_production",
        subject=f"Promote {settings.model_name} v{CANDIDATE_VERSION} to production?",
        package_arn=CANDIDATE_ARN,
        stage="production",
        response_timeout=settings.approval_timeout,
        notifiers=[
            ApprovalNotifier(
                settings,
                subject=f"Production approval needed: {settings.model_name} v{CANDIDATE_VERSION}",
            )
        ],
    )

    @task(trigger_rule=TriggerRule.NONE_FAILED_MIN_ONE_SUCCESS)
    def deploy_production(run_id=None, ti=None):
        from image_mlops.deployment import flow

        candidate = ti.xcom_pull(task_ids="resolve_candidate")
        answer = ti.xcom_pull(task_ids="approve_production") or {}
        user = answer.get("responded_by_user") or {}
        approver = user.get("name") or user.get("id")
        return flow.deploy(
            get_settings(), "production", candidate["arn"], run_id, approver=approver
        )

    wait_production = EndpointDeploymentSensor(
        task_id="wait_production",
        stage="production",
        endpoint_name=settings.endpoint_name("production"),
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.region,
        mode="reschedule",
        poke_interval=settings.job_poll_seconds,
        timeout=2 * 60 * 60,
    )

    @task(outlets=[PRODUCTION_MODEL])
    def check_production(deployment: dict):
        from image_mlops.deployment import flow

        return flow.check(get_settings(), "production", deployment)

    candidate = resolve_candidate()
    route = route_approval(candidate)
    staging = deploy_staging()
    route >> [approve_candidate, registry_rejected(candidate), staging]
    approve_candidate >> staging
    staged = check_staging(staging)
    staging >> wait_staging >> staged
    production_route = route_production()
    staged >> production_route >> [approve_production]
    production = deploy_production()
    production_route >> production
    approve_production >> production
    checked = check_production(production)
    production >> wait_production >> checked


deploy_model()
