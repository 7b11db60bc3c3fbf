"""The emulator's deployment guardrails, each against the AWS behaviour it copies.

SageMaker blue/green updates with a ``TrafficRoutingConfiguration``: the new fleet starts
while the old one serves; traffic moves in steps (a canary share first, then the rest), each
step baking under the ``AutoRollbackConfiguration`` alarms; ``DescribeEndpoint`` shows the
steps in ``PendingDeploymentSummary``; an alarm in ALARM during a step puts all traffic back
on the old fleet (``InService`` on the old configuration, the reason in ``FailureReason``).
The alarm here fires for real: the new model fails batched requests, the emulator publishes
``Invocation5XXErrors`` as SageMaker does, and its CloudWatch evaluates the alarm. A canary
smaller than one instance is refused, as AWS refuses it. Data capture writes SageMaker's
JSON Lines capture files.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import threading
import time

import pytest
from conftest import wait_endpoint_settled
from sample_model import (
    FAILING_INFERENCE_PY,
    PRIMARY_CENTROIDS,
    colour_image,
    publish_sample_package,
    upload_sample_images,
)

from image_mlops.deployment import endpoints, flow

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def aws(admin):
    """The emulator's own behaviour is under test here, not the template's permissions: the
    stack's bootstrap key (the roles' refusals are test_emulator_enforcement.py's)."""
    return admin


BLUE_JPEG = colour_image(PRIMARY_CENTROIDS["blue"], "JPEG", seed=5)
BLUE_BATCH = json.dumps({"instances": [{"b64": base64.b64encode(BLUE_JPEG).decode()}]}).encode()


def _config(settings, tag: str, workdir, stage: str, **package) -> str:
    arn = publish_sample_package(settings, tag, status="Approved", workdir=workdir, **package)
    candidate = flow.require_approved(settings, arn)
    approved = flow.verified_artifact(settings, candidate, stage)
    return endpoints.ensure_endpoint_config(settings, candidate, stage, approved)


@pytest.fixture(scope="module")
def configs(local_stack, tmp_path_factory):
    """One-instance config of the good model; two-instance configs of an inverted model (it
    says "red" for blue images) and of one that fails PNG requests."""
    from image_mlops.config import get_settings

    settings = get_settings()
    upload_sample_images(settings, per_class=2)
    work = tmp_path_factory.mktemp("guardrail-artifacts")
    return {
        "good": _config(settings, "guard-good", work, "staging"),
        "inverted": _config(settings, "guard-inverted", work, "production", invert=True),
        "failing": _config(
            settings, "guard-failing", work, "production", inference_py=FAILING_INFERENCE_PY
        ),
    }


def _label(aws, name: str, body: bytes = BLUE_JPEG, content_type: str = "image/jpeg") -> str:
    response = aws.sagemaker_runtime.invoke_endpoint(
        EndpointName=name, Body=body, ContentType=content_type
    )
    return json.loads(response["Body"].read())["predictions"][0]["label"]


def _canary(alarms: list[str], wait: int, percent: int = 50) -> dict:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {
                "Type": "CANARY",
                "CanarySize": {"Type": "CAPACITY_PERCENT", "Value": percent},
                "WaitIntervalInSeconds": wait,
            },
            "TerminationWaitInSeconds": 0,
            "MaximumExecutionTimeoutInSeconds": 600,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": a} for a in alarms]},
    }


@pytest.fixture
def endpoint(aws, configs, request):
    """An endpoint of its own on the good model, InService; deleted with its alarms after."""
    name = f"guard-{request.node.name[5:30].replace('_', '-')}".rstrip("-")
    aws.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=configs["good"])
    assert wait_endpoint_settled(aws, name, timeout=120)["EndpointStatus"] == "InService"
    yield name
    aws.sagemaker.delete_endpoint(EndpointName=name)
    aws.cloudwatch.delete_alarms(AlarmNames=endpoints.alarm_names(name))


def _baking(aws, name: str, timeout: float = 90) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        endpoint = aws.sagemaker.describe_endpoint(EndpointName=name)
        variants = (endpoint.get("PendingDeploymentSummary") or {}).get("ProductionVariants", [])
        statuses = [s for v in variants for s in v.get("VariantStatus", [])]
        if statuses and statuses[0]["Status"] == "Baking":
            return endpoint
        assert endpoint["EndpointStatus"] == "Updating", endpoint
        assert time.monotonic() < deadline, "the update never baked"
        time.sleep(0.1)


def test_a_canary_shifts_part_of_the_traffic_then_all_of_it(aws, configs, endpoint, settings):
    alarms = endpoints.ensure_rollback_alarms(settings, endpoint)
    aws.sagemaker.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=configs["inverted"],
        DeploymentConfig=_canary(alarms, wait=6),
    )
    baking = _baking(aws, endpoint)
    assert baking["EndpointConfigName"] == configs["good"]  # still the old configuration
    pending = baking["PendingDeploymentSummary"]
    assert pending["EndpointConfigName"] == configs["inverted"]
    [variant] = pending["ProductionVariants"]
    assert variant["DesiredInstanceCount"] == 2
    assert "step 1 of 2: 50% of traffic" in variant["VariantStatus"][0]["StatusMessage"]
    # during the canary both fleets answer: the old says blue, the inverted one red
    answers = {_label(aws, endpoint) for _ in range(40)}
    assert answers == {"blue", "red"}
    done = wait_endpoint_settled(aws, endpoint, timeout=120)
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == configs["inverted"]
    assert "PendingDeploymentSummary" not in done and not done.get("FailureReason")
    assert {_label(aws, endpoint) for _ in range(10)} == {"red"}


def test_an_alarm_during_the_canary_rolls_traffic_back_to_the_old_fleet(
    aws, configs, endpoint, settings
):
    """The new model fails batched requests: its 5xx errors, published as SageMaker publishes
    them, put the rollback alarm in ALARM during the canary, and the update rolls back."""
    alarms = endpoints.ensure_rollback_alarms(settings, endpoint)
    aws.sagemaker.update_endpoint(
        EndpointName=endpoint,
        EndpointConfigName=configs["failing"],
        DeploymentConfig=_canary(alarms, wait=120),
    )
    _baking(aws, endpoint)
    errors, stop = [], threading.Event()

    def traffic() -> None:  # production traffic: batched requests
        while not stop.is_set():
            try:
                _label(aws, endpoint, BLUE_BATCH, "application/json")
            except aws.sagemaker_runtime.exceptions.ModelError as exc:
                errors.append(exc.response["OriginalStatusCode"])
            time.sleep(0.1)

    sender = threading.Thread(target=traffic, daemon=True)
    sender.start()
    try:
        done = wait_endpoint_settled(aws, endpoint, timeout=90)
    finally:
        stop.set()
        sender.join()
    assert errors and set(errors) == {500}  # the canary's model failed some requests
    assert done["EndpointStatus"] == "InService"
    assert done["EndpointConfigName"] == configs["good"]
    assert f"{alarms[0]} in ALARM during deployment" in done["FailureReason"]
    assert "step 1 of 2" in done["FailureReason"]
    # the old model serves all traffic, batches too
    assert {_label(aws, endpoint, BLUE_BATCH, "application/json") for _ in range(10)} == {"blue"}
    alarm = aws.cloudwatch.describe_alarms(AlarmNames=[alarms[0]])["MetricAlarms"][0]
    assert alarm["StateValue"] == "ALARM"
    statistics = aws.cloudwatch.get_metric_statistics(
        Namespace="AWS/SageMaker",
        MetricName="Invocation5XXErrors",
        Dimensions=[
            {"Name": "EndpointName", "Value": endpoint},
            {"Name": "VariantName", "Value": endpoints.VARIANT},
        ],
        StartTime=dt.datetime.now(dt.UTC) - dt.timedelta(minutes=10),
        EndTime=dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1),
        Period=60,
        Statistics=["Sum"],
    )
    assert sum(p["Sum"] for p in statistics["Datapoints"]) >= 1


def test_a_canary_of_less_than_one_instance_is_refused(aws, configs, endpoint, settings):
    alarms = endpoints.ensure_rollback_alarms(settings, endpoint)
    with pytest.raises(aws.sagemaker.exceptions.ClientError, match="at least one instance"):
        aws.sagemaker.update_endpoint(  # half of a one-instance fleet
            EndpointName=endpoint,
            EndpointConfigName=configs["good"],
            DeploymentConfig=_canary(alarms, wait=0, percent=50),
        )
    assert aws.sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointStatus"] == "InService"


def test_data_capture_writes_sagemakers_capture_files_and_monitoring_reads_them(
    aws, configs, settings
):
    """An endpoint config with the deployment's DataCaptureConfig: every sampled invocation
    is written as SageMaker writes it (JSON Lines under
    <destination>/<endpoint>/<variant>/yyyy/mm/dd/hh/), and monitoring's input-drift
    statistics are those of the captured images."""
    import dataclasses
    import io

    from PIL import Image

    from image_mlops.image_stats import input_stats
    from image_mlops.monitoring.publish import live_input_stats
    from image_mlops.monitoring.sources import MonitoredModel

    name, config = "guard-captured", "guard-captured-config"
    captured = dataclasses.replace(settings, data_capture_percent=100)
    good = aws.sagemaker.describe_endpoint_config(EndpointConfigName=configs["good"])
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName=config,
        ProductionVariants=good["ProductionVariants"],
        DataCaptureConfig=endpoints.data_capture_config(captured),
    )
    started = dt.datetime.now(dt.UTC)
    aws.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config)
    try:
        assert wait_endpoint_settled(aws, name, timeout=120)["EndpointStatus"] == "InService"
        assert [_label(aws, name) for _ in range(2)] == ["blue"] * 2
        assert _label(aws, name, BLUE_BATCH, "application/json") == "blue"
        prefix = f"data-capture/{name}/{endpoints.VARIANT}/"
        deadline = time.monotonic() + 30
        while True:
            listed = aws.s3.list_objects_v2(Bucket=settings.output_bucket, Prefix=prefix)
            if listed.get("KeyCount"):
                break
            assert time.monotonic() < deadline, "no capture file written"
            time.sleep(0.5)
        key = listed["Contents"][0]["Key"]
        hour = dt.datetime.now(dt.UTC).strftime("%Y/%m/%d/")
        assert key.startswith(prefix + hour) and key.endswith(".jsonl")
        body = aws.s3.get_object(Bucket=settings.output_bucket, Key=key)["Body"].read()
        records = [json.loads(line) for line in body.decode().splitlines()]
        assert len(records) == 3  # (one flush: the three invocations came within seconds)
        record = records[0]
        assert record["eventVersion"] == "0" and record["eventMetadata"]["eventId"]
        sent = record["captureData"]["endpointInput"]
        assert (sent["mode"], sent["encoding"], sent["observedContentType"]) == (
            "INPUT",
            "BASE64",
            "image/jpeg",
        )
        assert base64.b64decode(sent["data"]) == BLUE_JPEG
        answer = json.loads(base64.b64decode(record["captureData"]["endpointOutput"]["data"]))
        assert answer["predictions"][0]["label"] == "blue"
        # monitoring: three captured images (two single, one in a batch), their statistics
        model = MonitoredModel(1, "s3://unused/baseline.json", endpoint_name=name)
        stats, source = live_input_stats(
            captured, model, [], started, dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
        )
        assert source == "data_capture"
        assert stats == [input_stats(Image.open(io.BytesIO(BLUE_JPEG)))] * 3
        off = dataclasses.replace(settings, data_capture_percent=0)
        assert live_input_stats(off, model, [{"input_stats": {"x": 1}}], started, started) == (
            [{"x": 1}],
            "predictions",
        )
    finally:
        aws.sagemaker.delete_endpoint(EndpointName=name)


def test_deregistering_a_scalable_target_deletes_its_policies(aws, settings):
    """As on AWS (moto kept them), and a policy needs a registered target."""
    from image_mlops.deployment import scaling

    name = "guard-scaled"
    autoscaling = aws.application_autoscaling
    with pytest.raises(autoscaling.exceptions.ObjectNotFoundException):
        autoscaling.put_scaling_policy(
            PolicyName=scaling.policy_name(name),
            ServiceNamespace=scaling.NAMESPACE,
            ResourceId=scaling.resource_id(name),
            ScalableDimension=scaling.DIMENSION,
            PolicyType="TargetTrackingScaling",
            TargetTrackingScalingPolicyConfiguration={"TargetValue": 1.0},
        )
    applied = scaling.apply(settings, name)
    assert applied["resource_id"] == f"endpoint/{name}/variant/AllTraffic"
    assert len(scaling.describe(settings, name)["Policies"]) == 1
    assert scaling.remove(settings, name) is True
    assert scaling.describe(settings, name) is None
    policies = autoscaling.describe_scaling_policies(
        ServiceNamespace=scaling.NAMESPACE, ResourceId=scaling.resource_id(name)
    )["ScalingPolicies"]
    assert policies == []
    assert scaling.remove(settings, name) is False  # nothing left: nothing to do
