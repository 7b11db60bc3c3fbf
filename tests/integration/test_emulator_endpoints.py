"""The emulator hosts endpoints as SageMaker does: model-server processes behind InvokeEndpoint.

Each test compares with the AWS behaviour the emulator copies: Creating → InService once the
model server answers /ping; InvokeEndpoint answered by that process (with the invoked
variant); a model's error as ModelError (424); a blue/green update whose new fleet cannot
start rolled back while the old process keeps serving; an update refused at once by a
rollback alarm in ALARM; DeleteEndpoint stopping the process.
"""

from __future__ import annotations

import datetime as dt
import json
import time

import psutil
import pytest
from conftest import (
    SKLEARN_IMAGE,
    create_emulator_test_role,
    wait_endpoint_settled,
    wait_for_alarm_evaluation,
)
from sample_model import (
    PRIMARY_CENTROIDS,
    colour_image,
    publish_sample_package,
    upload_sample_images,
)

from image_mlops.deployment import endpoints, flow
from image_mlops.serving.container import CONTAINER_ENVIRONMENT

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def aws(admin):
    """The emulator's own behaviour is under test here, not the template's permissions: the
    stack's bootstrap key (the roles' refusals are test_emulator_enforcement.py's)."""
    return admin


ENDPOINT = "emulator-hosted-endpoint"


@pytest.fixture(scope="module")
def hosted(local_stack, admin, tmp_path_factory):
    """An endpoint on the good sample model (configs and model made by the deployment)."""
    from image_mlops.config import get_settings

    settings = get_settings()
    upload_sample_images(settings, per_class=2)
    work = tmp_path_factory.mktemp("artifacts")
    arn = publish_sample_package(settings, "hosted", status="Approved", workdir=work)
    candidate = flow.require_approved(settings, arn)
    approved = flow.verified_artifact(settings, candidate, "staging")
    config = endpoints.ensure_endpoint_config(settings, candidate, "staging", approved)
    sagemaker = admin.sagemaker  # an endpoint of the test's own name
    sagemaker.create_endpoint(EndpointName=ENDPOINT, EndpointConfigName=config)
    yield {"config": config, "candidate": candidate, "approved": approved}
    sagemaker.delete_endpoint(EndpointName=ENDPOINT)


def model_servers(endpoint_name: str) -> dict[int, str]:
    """pid → working folder of the emulator's model-server processes of one endpoint."""
    found = {}
    for process in psutil.process_iter(["pid", "cmdline", "cwd"]):
        cmdline = process.info["cmdline"] or []
        serving = "image_mlops_dev.emulator.containers" in cmdline and "serving" in cmdline
        if serving and f"/endpoints/{endpoint_name}/" in (process.info["cwd"] or ""):
            found[process.info["pid"]] = process.info["cwd"]
    return found


def label(aws, name: str) -> tuple[str, str]:
    response = aws.sagemaker_runtime.invoke_endpoint(
        EndpointName=name,
        Body=colour_image(PRIMARY_CENTROIDS["blue"], "PNG", seed=3),
        ContentType="image/png",
    )
    body = json.loads(response["Body"].read())
    return body["predictions"][0]["label"], response["InvokedProductionVariant"]


def test_created_endpoint_is_served_by_its_own_model_server(aws, hosted):
    assert wait_endpoint_settled(aws, ENDPOINT)["EndpointStatus"] == "InService"
    servers = model_servers(ENDPOINT)
    assert len(servers) == 1 and hosted["config"] in next(iter(servers.values()))
    assert label(aws, ENDPOINT) == ("blue", endpoints.VARIANT)


def test_a_model_error_is_a_model_error(aws, hosted):
    wait_endpoint_settled(aws, ENDPOINT)
    with pytest.raises(aws.sagemaker_runtime.exceptions.ModelError) as raised:
        aws.sagemaker_runtime.invoke_endpoint(
            EndpointName=ENDPOINT, Body=b"some text", ContentType="text/plain"
        )
    error = raised.value.response
    assert error["ResponseMetadata"]["HTTPStatusCode"] == 424
    # the scikit-learn image's server (sagemaker-containers) wraps whatever the model's own
    # input_fn raises in its ClientError, which Flask answers with a 500
    assert error["OriginalStatusCode"] == 500
    assert "Internal Server Error" in error["OriginalMessage"]
    with pytest.raises(aws.sagemaker_runtime.exceptions.ClientError, match="not found"):
        aws.sagemaker_runtime.invoke_endpoint(
            EndpointName="no-such-endpoint", Body=b"{}", ContentType="application/json"
        )


def test_update_whose_new_fleet_fails_rolls_back_and_the_old_process_keeps_serving(
    aws, hosted, settings
):
    wait_endpoint_settled(aws, ENDPOINT)
    before = model_servers(ENDPOINT)
    # the same artifact under a model whose approved sha256 is another one: it must not load
    model = f"{hosted['config']}-tampered"[:63]
    aws.sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=settings.sagemaker_role_arn,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": hosted["candidate"].artifact_uri,
            "Environment": {
                **CONTAINER_ENVIRONMENT,
                **hosted["approved"].environment(),
                "IMAGE_MLOPS_ARTIFACT_SHA256": "0" * 64,
            },
        },
    )
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName=model,
        ProductionVariants=[
            {
                "VariantName": endpoints.VARIANT,
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    aws.sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName=model)
    assert aws.sagemaker.describe_endpoint(EndpointName=ENDPOINT)["EndpointStatus"] == "Updating"
    assert label(aws, ENDPOINT)[0] == "blue"  # the old fleet serves during the update
    endpoint = wait_endpoint_settled(aws, ENDPOINT)
    assert endpoint["EndpointStatus"] == "InService"
    assert endpoint["EndpointConfigName"] == hosted["config"]
    assert "rolled back" in endpoint["FailureReason"] and "sha256" in endpoint["FailureReason"]
    assert model_servers(ENDPOINT) == before  # the very same process
    assert label(aws, ENDPOINT)[0] == "blue"


def test_update_with_a_rollback_alarm_in_alarm_is_refused_at_once(aws, hosted, settings):
    wait_endpoint_settled(aws, ENDPOINT)
    started = dt.datetime.now(dt.UTC)
    alarms = endpoints.ensure_rollback_alarms(settings, ENDPOINT)
    wait_for_alarm_evaluation(after=started)  # then nothing re-evaluates them for a minute
    aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="ALARM", StateReason="test")
    try:
        aws.sagemaker.update_endpoint(
            EndpointName=ENDPOINT,
            EndpointConfigName=hosted["config"],
            DeploymentConfig=endpoints.deployment_config(
                settings, alarms, endpoints.traffic_routing(settings, "staging")
            ),
        )
        endpoint = aws.sagemaker.describe_endpoint(EndpointName=ENDPOINT)
        assert endpoint["EndpointStatus"] == "InService"
        assert alarms[0] in endpoint["FailureReason"]
        with pytest.raises(aws.sagemaker.exceptions.ClientError, match="Could not find"):
            aws.sagemaker.update_endpoint(EndpointName=ENDPOINT, EndpointConfigName="nope")
    finally:
        aws.cloudwatch.set_alarm_state(AlarmName=alarms[0], StateValue="OK", StateReason="test")
        aws.cloudwatch.delete_alarms(AlarmNames=alarms)


def test_delete_stops_the_model_server(aws, hosted, settings):
    name = "emulator-deleted-endpoint"
    aws.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=hosted["config"])
    assert aws.sagemaker.describe_endpoint(EndpointName=name)["EndpointStatus"] == "Creating"
    assert wait_endpoint_settled(aws, name)["EndpointStatus"] == "InService"
    [pid] = model_servers(name)
    server = psutil.Process(pid)  # before the delete: a fast stop must not look like no server
    aws.sagemaker.delete_endpoint(EndpointName=name)
    server.wait(timeout=20)
    assert not model_servers(name)
    with pytest.raises(aws.sagemaker_runtime.exceptions.ClientError, match="not found"):
        label(aws, name)


def test_endpoints_come_back_after_down_and_up(tmp_path):
    """make down / make up: the journal restores the endpoint and its model server starts."""
    import hashlib

    from private_emulator import PrivateEmulator
    from sample_model import write_artifact

    from image_mlops.serving.integrity import ApprovedArtifact

    emulator = PrivateEmulator(tmp_path / "journal.bin", tmp_path / "emulator.log")
    emulator.start()
    try:
        s3, sagemaker = emulator.client("s3"), emulator.client("sagemaker")
        role = create_emulator_test_role(emulator.client("iam"))
        s3.create_bucket(Bucket="models")
        s3.put_bucket_versioning(Bucket="models", VersioningConfiguration={"Status": "Enabled"})
        body = write_artifact(tmp_path / "model.tar.gz").read_bytes()
        put = s3.put_object(Bucket="models", Key="m/model.tar.gz", Body=body)
        approved = ApprovedArtifact(
            "s3://models/m/model.tar.gz", hashlib.sha256(body).hexdigest(), put["VersionId"]
        )
        sagemaker.create_model(
            ModelName="restart-model",
            ExecutionRoleArn=role,
            PrimaryContainer={
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": approved.url,
                "Environment": {**CONTAINER_ENVIRONMENT, **approved.environment()},
            },
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName="restart-config",
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": "restart-model",
                    "InitialInstanceCount": 1,
                    "InstanceType": "ml.m5.large",
                }
            ],
        )
        sagemaker.create_endpoint(EndpointName="restart", EndpointConfigName="restart-config")
        clients = type("Clients", (), {"sagemaker": sagemaker})()
        assert wait_endpoint_settled(clients, "restart")["EndpointStatus"] == "InService"
        clients.sagemaker_runtime = emulator.client("sagemaker-runtime")
        assert label(clients, "restart")[0] == "blue"
        [before] = model_servers("restart")
        emulator.stop()  # its process group: the model server ends with the emulator
        deadline = time.monotonic() + 20
        while model_servers("restart"):
            assert time.monotonic() < deadline, "the model server outlived the emulator"
            time.sleep(0.2)
        emulator.start()
        clients.sagemaker = emulator.client("sagemaker")
        clients.sagemaker_runtime = emulator.client("sagemaker-runtime")
        endpoint = clients.sagemaker.describe_endpoint(EndpointName="restart")
        assert (endpoint["EndpointStatus"], endpoint["EndpointConfigName"]) == (
            "InService",
            "restart-config",
        )
        assert label(clients, "restart")[0] == "blue"  # waits for the restored model server
        [after] = model_servers("restart")
        assert after != before
    finally:
        emulator.stop()
