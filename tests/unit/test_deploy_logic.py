"""Pure deployment logic: sampling, percentiles, routing, the approval body, names."""

from __future__ import annotations

import pytest

from image_mlops.config import Settings
from image_mlops.deployment import approval, endpoints, smoke
from image_mlops.registry import ModelPackage


def _candidate(version=3, status="PendingManualApproval", **metadata):
    return ModelPackage(
        arn=f"arn:aws:sagemaker:us-east-1:123456789012:model-package/g/{version}",
        version=version,
        approval_status=status,
        artifact_uri=f"s3://models/g/{version}/model.tar.gz",
        image_uri="img",
        metadata={k: str(v) for k, v in metadata.items()},
    )


def test_percentile_nearest_rank():
    values = [float(v) for v in range(1, 101)]
    assert smoke.percentile(values, 50) == 50.0
    assert smoke.percentile(values, 95) == 95.0
    assert smoke.percentile([], 95) == 0.0
    assert smoke.percentile([7.0], 95) == 7.0


def test_sample_is_deterministic_and_spread_over_classes():
    keys = [f"labeled/{c}/{i}.jpg" for c in ("a", "b", "c") for i in range(10)]
    keys += ["labeled/a/readme.txt", "labeled/x.jpg"]
    sample = smoke.choose_sample(keys, 7)
    assert sample == smoke.choose_sample(list(reversed(keys)), 7)
    assert len(sample) == 7
    assert {k.split("/")[1] for k in sample} == {"a", "b", "c"}
    assert all(k.endswith(".jpg") for k in sample)


def test_route_honours_registry_decisions():
    assert approval.route(_candidate(status="PendingManualApproval")) == approval.ASK
    assert approval.route(_candidate(status="Approved")) == approval.DEPLOY
    assert approval.route(_candidate(status="Rejected")) == approval.STOP


def test_body_compares_candidate_with_production():
    candidate = _candidate(3, accuracy=0.91, data_fingerprint="fp3", trained_by="ana")
    production = _candidate(2, accuracy=0.93, data_fingerprint="fp2", trained_by="bob")
    body = approval.comparison_markdown(
        candidate,
        {"accuracy": 0.91, "per_class": {"mug": {"recall": 0.8}, "shoe": {"recall": 0.95}}},
        production,
        {"accuracy": 0.93, "per_class": {"mug": {"recall": 0.9}, "shoe": {"recall": 0.9}}},
    )
    assert "| accuracy | 0.910 | 0.930 |" in body
    assert "| data fingerprint | fp3 | fp2 |" in body
    assert "| trained by | ana | bob |" in body
    assert "| mug | 0.800 | 0.900 | -0.100 ⚠ |" in body
    assert "| shoe | 0.950 | 0.900 | +0.050 |" in body


def test_names_are_deterministic_and_valid():
    settings = Settings()
    a, b = _candidate(3), _candidate(4)
    assert endpoints.model_name_for(settings, a) == endpoints.model_name_for(settings, a)
    assert endpoints.model_name_for(settings, a) != endpoints.model_name_for(settings, b)
    staging = endpoints.endpoint_config_name_for(settings, a, "staging")
    production = endpoints.endpoint_config_name_for(settings, a, "production")
    assert staging != production
    for name in (staging, production, endpoints.model_name_for(settings, a)):
        assert len(name) <= 63 and name.replace("-", "").isalnum()


@pytest.mark.parametrize("routing", ["all_at_once", "canary", "linear"])
def test_deployment_config_validates_against_botocore(routing):
    import botocore.session
    from botocore.validate import validate_parameters

    settings = Settings(production_traffic_routing=routing)
    model = botocore.session.get_session().get_service_model("sagemaker")
    config = endpoints.deployment_config(
        settings, endpoints.alarm_names("e"), endpoints.traffic_routing(settings, "production")
    )
    params = {"EndpointName": "e", "EndpointConfigName": "c", "DeploymentConfig": config}
    validate_parameters(params, model.operation_model("UpdateEndpoint").input_shape)
    assert config["BlueGreenUpdatePolicy"]["TrafficRoutingConfiguration"]["Type"] == (
        routing.upper()
    )


def test_traffic_routing_defaults_and_the_one_instance_fallback():
    settings = Settings()
    staging = endpoints.traffic_routing(settings, "staging")
    production = endpoints.traffic_routing(settings, "production")
    assert (staging.kind, staging.fallback_reason) == ("ALL_AT_ONCE", None)
    assert production.kind == "CANARY" and production.fallback_reason is None
    assert production.configuration["CanarySize"] == {"Type": "CAPACITY_PERCENT", "Value": 50}
    assert settings.production_instance_count == 2
    one = Settings(production_instance_count=1)
    fallback = endpoints.traffic_routing(one, "production")
    assert fallback.kind == "ALL_AT_ONCE"
    assert "at least two instances" in fallback.fallback_reason
    assert "IMAGE_MLOPS_PRODUCTION_INSTANCE_COUNT is 1" in fallback.fallback_reason


def test_deployment_steps_are_read_from_describe_endpoint():
    import datetime as dt

    at = dt.datetime(2026, 12, 2, 12, 0, tzinfo=dt.UTC)
    updating = {
        "EndpointStatus": "Updating",
        "EndpointConfigName": "old",
        "PendingDeploymentSummary": {
            "EndpointConfigName": "new",
            "ProductionVariants": [
                {
                    "VariantName": "AllTraffic",
                    "VariantStatus": [
                        {"Status": "Baking", "StatusMessage": "Baking step 1", "StartTime": at}
                    ],
                }
            ],
        },
    }
    assert endpoints.deployment_steps(updating) == [
        {"status": "Baking", "message": "Baking step 1", "at": at.isoformat()}
    ]
    rolled_back = {
        "EndpointStatus": "InService",
        "EndpointConfigName": "old",
        "FailureReason": "Update rolled back: alarm(s) x in ALARM during deployment",
        "LastModifiedTime": at,
    }
    [step] = endpoints.deployment_steps(rolled_back)
    assert step["status"] == "RolledBack" and "alarm(s) x" in step["message"]
    [step] = endpoints.deployment_steps({**rolled_back, "FailureReason": None})
    assert step == {"status": "InService", "message": "serving old", "at": at.isoformat()}


def test_rollback_alarms_are_outside_the_drift_sensors_prefix():
    """The drift sensor waits on every alarm under alarm_prefix(model): deployment alarms
    must not be among them, or an invocation-error alarm would start a retraining."""
    from image_mlops.config import get_settings
    from image_mlops.deployment.endpoints import alarm_names
    from image_mlops.monitoring.metrics import alarm_prefix

    settings = get_settings()
    prefix = alarm_prefix(settings.model_name)
    for stage in ("staging", "production"):
        names = alarm_names(settings.endpoint_name(stage))
        assert names
        assert not [name for name in names if name.startswith(prefix)]


class _FakeApprovals:
    """The two AirflowClient calls ApprovalAnswerer makes, with pending requests we set."""

    def __init__(self) -> None:
        self.pending: list[dict] = []
        self.answers: list[tuple[str, int]] = []

    def pending_approvals(self, dag_id: str, run_id: str) -> list[dict]:
        return list(self.pending)

    def answer(self, dag_id, run_id, task_id, option, map_index=-1) -> dict:
        try_number = next(d for d in self.pending if d["task_instance"]["task_id"] == task_id)[
            "task_instance"
        ]["try_number"]
        self.answers.append((option, try_number))
        self.pending = []
        return {}


def test_a_retried_approval_waits_the_full_settle_time_again(monkeypatch):
    from image_mlops_dev import airflow_api

    clock = [100.0]
    monkeypatch.setattr(airflow_api.time, "monotonic", lambda: clock[0])
    client = _FakeApprovals()
    answerer = airflow_api.ApprovalAnswerer(client, decide=lambda _d: "Approve", settle=4.0)

    def request(try_number: int) -> dict:
        return {"task_instance": {"task_id": "approve_production", "try_number": try_number}}

    client.pending = [request(1)]
    answerer.poll("deploy_model", "r")  # first seen: not answered yet
    clock[0] += 4.5
    answerer.poll("deploy_model", "r")
    assert client.answers == [("Approve", 1)]

    client.pending = [request(2)]  # the task failed and its retry asks again
    clock[0] += 30
    answerer.poll("deploy_model", "r")
    assert client.answers == [("Approve", 1)], "the retry was answered within its settle time"
    clock[0] += 4.5
    answerer.poll("deploy_model", "r")
    assert client.answers == [("Approve", 1), ("Approve", 2)]


def test_notification_topic_is_a_name_in_the_account_or_an_arn():
    from image_mlops import notifications

    settings = Settings()
    assert notifications.topic_arn(settings) == (
        f"arn:aws:sns:{settings.region}:{settings.account_id}:image-mlops-notifications"
    )
    arn = "arn:aws:sns:eu-west-1:111122223333:ml-alerts"
    assert notifications.topic_arn(Settings(notification_topic=arn)) == arn
    assert notifications.topic_arn(Settings(notification_topic="")) is None
    assert notifications.notify(Settings(notification_topic=""), "deployed", "s", "m") is None


def test_notification_events_are_a_closed_set():
    from image_mlops import notifications

    attributes = notifications.attributes("deployed", Settings(), version=3, run_id="r")
    assert attributes == {
        "event": "deployed",
        "model": "product-image-classifier",
        "version": 3,
        "run_id": "r",
    }
    with pytest.raises(ValueError, match="unknown notification event"):
        notifications.attributes("deploy", Settings())
