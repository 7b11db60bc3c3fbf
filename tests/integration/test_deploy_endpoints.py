"""Staging, smoke test, production and rollback against the emulator (functions, no DAG)."""

from __future__ import annotations

import dataclasses
import json

import pytest
from sample_model import (
    PRIMARY_CENTROIDS,
    colour_image,
    publish_sample_package,
    upload_sample_images,
)

from image_mlops.deployment import endpoints, flow, history, production_model
from image_mlops.serving.runtime import get_runtime

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture(scope="module")
def packages(local_stack, tmp_path_factory):
    from image_mlops.config import get_settings

    settings = get_settings()
    upload_sample_images(settings, per_class=4)
    work = tmp_path_factory.mktemp("artifacts")
    return {
        "good": publish_sample_package(settings, "ep-good", status="Approved", workdir=work),
        "good2": publish_sample_package(settings, "ep-good2", status="Approved", workdir=work),
        "broken": publish_sample_package(
            settings, "ep-broken", invert=True, status="Approved", workdir=work
        ),
        "pending": publish_sample_package(settings, "ep-pending", workdir=work),
    }


def _deploy(settings, stage, arn, run_id):
    deployment = flow.deploy(settings, stage, arn, run_id)
    endpoints.wait_in_service(settings, deployment["endpoint_name"], poll=0.3)  # the sensor
    return flow.check(settings, stage, deployment)


def _label(endpoint, rgb=PRIMARY_CENTROIDS["blue"]):
    body = get_runtime().invoke(endpoint, colour_image(rgb, "PNG", seed=9), "image/png")
    return json.loads(body)["predictions"][0]["label"]


def test_staging_deploy_and_smoke_test(packages, settings):
    result = _deploy(settings, "staging", packages["good"], "t-staging")
    assert result["outcome"] == "succeeded"
    assert result["smoke"]["samples"] == 12 and result["smoke"]["accuracy"] == 1.0
    assert result["latency_p95_ms"] >= result["latency_p50_ms"] > 0
    serving = endpoints.serving_model(settings, settings.endpoint_name("staging"))
    assert serving.package_arn == packages["good"]
    assert _label(settings.endpoint_name("staging")) == "blue"
    [row] = history.for_run(settings, "t-staging")
    assert row["outcome"] == "succeeded" and row["smoke_accuracy"] == 1.0
    assert row["approver"]  # the registry's approval description


def test_pending_package_is_never_deployed(packages, settings):
    before = endpoints.describe_endpoint(settings, settings.endpoint_name("production"))
    for stage in ("staging", "production"):
        with pytest.raises(flow.NotApproved, match="PendingManualApproval"):
            flow.deploy(settings, stage, packages["pending"], f"t-pending-{stage}")
    after = endpoints.describe_endpoint(settings, settings.endpoint_name("production"))
    assert (before or {}).get("EndpointConfigName") == (after or {}).get("EndpointConfigName")
    assert [r["outcome"] for r in history.for_run(settings, "t-pending-production")] == ["failed"]


def test_broken_artifact_fails_staging_and_production_keeps_serving(
    packages, settings, notification_inbox
):
    _deploy(settings, "production", packages["good"], "t-broken-setup")
    notification_inbox()  # the setup's own notifications
    with pytest.raises(flow.DeploymentFailed, match="staging smoke test failed: accuracy"):
        _deploy(settings, "staging", packages["broken"], "t-broken")
    [note] = [n for n in notification_inbox() if n["event"] == "smoke_test_failed"]
    assert note["attributes"]["stage"] == "staging"
    assert note["attributes"]["run_id"] == "t-broken"
    assert note["message"].endswith("Production is untouched.")
    assert production_model(settings).package_arn == packages["good"]
    assert _label(settings.endpoint_name("production")) == "blue"
    [row] = history.for_run(settings, "t-broken")
    assert row["outcome"] == "smoke_failed" and row["smoke_accuracy"] < 0.5


def test_production_check_failure_rolls_back(packages, settings):
    _deploy(settings, "production", packages["good"], "t-rollback-setup")
    previous = production_model(settings)
    with pytest.raises(flow.DeploymentFailed, match="Rolled back"):
        _deploy(settings, "production", packages["broken"], "t-rollback")
    now = production_model(settings)
    assert now.endpoint_config_name == previous.endpoint_config_name
    assert now.package_arn == packages["good"]
    assert _label(settings.endpoint_name("production")) == "blue"
    [row] = history.for_run(settings, "t-rollback")
    assert row["outcome"] == "rolled_back"
    assert row["previous_config_name"] == previous.endpoint_config_name


def test_rerunning_a_deployment_is_idempotent(packages, settings):
    _deploy(settings, "staging", packages["good"], "t-rerun-setup")  # staging serves another model
    # the update bakes long enough for the retry to find it under way, however busy the
    # machine (with the tests' 5 s bake, a loaded run saw it finished: "unchanged")
    settings = dataclasses.replace(settings, traffic_wait_seconds=30)
    first = flow.deploy(settings, "staging", packages["good2"], "t-rerun")
    # a retry while the update bakes starts nothing again
    during = flow.deploy(settings, "staging", packages["good2"], "t-rerun")
    assert first["action"] in ("created", "updated") and during["action"] == "in_progress"
    endpoints.wait_in_service(settings, first["endpoint_name"], poll=0.3)
    second = flow.deploy(settings, "staging", packages["good2"], "t-rerun")
    assert second["endpoint_config_name"] == first["endpoint_config_name"]
    assert second["action"] == "unchanged"
    assert second["previous_config_name"] == first["previous_config_name"]
    flow.check(settings, "staging", second)
    flow.check(settings, "staging", second)
    assert [r["outcome"] for r in history.for_run(settings, "t-rerun")] == ["succeeded"]
