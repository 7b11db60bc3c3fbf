"""The AWS emulator: our SageMaker UpdateEndpoint extension behaves like AWS, and the journal
keeps every bucket, object, registry entry, endpoint, metric and alarm across a crash.

The extension tests use the session's emulator (``aws`` fixture). The persistence tests start
a second, private emulator process on its own port and journal, kill it with SIGKILL (a
crash, not a clean stop) and start it again on the same journal.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import random
import time
import uuid
from pathlib import Path

import botocore.exceptions
import pytest
from boto3.s3.transfer import TransferConfig
from botocore.validate import validate_parameters
from conftest import EMULATOR_TEST_ROLE, SKLEARN_IMAGE, create_emulator_test_role
from private_emulator import PrivateEmulator

from image_mlops.deployment.endpoints import wait_for_endpoint
from image_mlops.serving.container import CONTAINER_ENVIRONMENT

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def aws(admin):
    """The emulator's own behaviour is under test here, not the template's permissions: the
    stack's bootstrap key (the roles' refusals are test_emulator_enforcement.py's)."""
    return admin


@pytest.fixture(autouse=True)
def _emulator_test_role(emulator_test_role):
    """The jobs and models here run as ``ROLE`` (see conftest.EMULATOR_TEST_ROLE)."""


ROOT = Path(__file__).resolve().parents[2]
ROLE = f"arn:aws:iam::123456789012:role/{EMULATOR_TEST_ROLE}"


# -- helpers -------------------------------------------------------------------------------------
def _validated(client, operation: str, **params) -> dict:
    """``params`` after checking them against botocore's model of ``operation`` (as AWS would)."""
    shape = client.meta.service_model.operation_model(operation).input_shape
    validate_parameters(params, shape)
    return params


def _endpoint_with_two_configs(
    sagemaker, name: str, weight_b: float = 1.0, *, s3=None, bucket: str | None = None
):
    """An InService endpoint on config ``<name>-a``, plus an unused config ``<name>-b``
    (both on a real sample artifact in ``bucket``: the emulator's model servers load it)."""
    from image_mlops.aws import aws_client
    from image_mlops.config import get_settings

    approved = _sample_artifact(
        s3 or aws_client("s3"), bucket or get_settings().models_bucket, name
    )
    for suffix in ("a", "b"):
        sagemaker.create_model(
            ModelName=f"{name}-{suffix}",
            ExecutionRoleArn=ROLE,
            PrimaryContainer={
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": approved.url,
                "Environment": {**CONTAINER_ENVIRONMENT, **approved.environment()},
            },
        )
        sagemaker.create_endpoint_config(
            EndpointConfigName=f"{name}-{suffix}",
            ProductionVariants=[
                {
                    "VariantName": f"variant-{suffix}",
                    "ModelName": f"{name}-{suffix}",
                    "InitialInstanceCount": 1 if suffix == "a" else 2,
                    "InstanceType": "ml.m5.large",
                    "InitialVariantWeight": 1.0 if suffix == "a" else weight_b,
                }
            ],
        )
    sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=f"{name}-a")
    return wait_for_endpoint(sagemaker, name, timeout=90, poll=0.2)


def _sample_artifact(s3, bucket: str, name: str):
    import hashlib
    import tempfile

    from sample_model import write_artifact

    from image_mlops.serving.integrity import ApprovedArtifact

    with tempfile.TemporaryDirectory() as tmp:
        body = write_artifact(Path(tmp) / "model.tar.gz").read_bytes()
    key = f"emulator-tests/{name}/model.tar.gz"
    put = s3.put_object(Bucket=bucket, Key=key, Body=body)
    return ApprovedArtifact(
        f"s3://{bucket}/{key}", hashlib.sha256(body).hexdigest(), put.get("VersionId")
    )


def _unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


# -- UpdateEndpoint ------------------------------------------------------------------------------
def test_update_endpoint_switches_config_and_variants(aws):
    name = _unique("upd")
    before = _endpoint_with_two_configs(aws.sagemaker, name)
    assert before["EndpointConfigName"] == f"{name}-a"
    assert [v["VariantName"] for v in before["ProductionVariants"]] == ["variant-a"]

    params = _validated(
        aws.sagemaker, "UpdateEndpoint", EndpointName=name, EndpointConfigName=f"{name}-b"
    )
    answer = aws.sagemaker.update_endpoint(**params)
    assert answer["EndpointArn"] == before["EndpointArn"]

    after = wait_for_endpoint(aws.sagemaker, name, timeout=90, poll=0.2)
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == f"{name}-b"
    assert [(v["VariantName"], v["CurrentInstanceCount"]) for v in after["ProductionVariants"]] == [
        ("variant-b", 2)
    ]
    assert "FailureReason" not in after
    assert after["LastModifiedTime"] >= before["LastModifiedTime"]


@pytest.mark.parametrize("missing", ["endpoint", "config"])
def test_update_endpoint_unknown_names_are_validation_errors(aws, missing):
    name = _unique("miss")
    _endpoint_with_two_configs(aws.sagemaker, name)
    params = {
        "EndpointName": name if missing == "config" else f"{name}-nope",
        "EndpointConfigName": f"{name}-nope" if missing == "config" else f"{name}-b",
    }
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.sagemaker.update_endpoint(**_validated(aws.sagemaker, "UpdateEndpoint", **params))
    error = caught.value.response["Error"]
    assert error["Code"] == "ValidationException"
    # AWS names the missing resource by ARN in the message.
    kind = "endpoint-config" if missing == "config" else "endpoint"
    assert f":{kind}/{name}-nope" in error["Message"]
    # The endpoint is untouched.
    assert aws.sagemaker.describe_endpoint(EndpointName=name)["EndpointConfigName"] == (f"{name}-a")


def _alarm(cloudwatch, name: str, state: str) -> None:
    """An alarm that the emulator evaluates into ``state`` (ALARM or OK) from its own data."""
    namespace = f"EmulatorTest/{name}"
    cloudwatch.put_metric_alarm(
        AlarmName=name,
        Namespace=namespace,
        MetricName="Errors",
        Statistic="Sum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1.0,
        ComparisonOperator="GreaterThanOrEqualToThreshold",
        TreatMissingData="notBreaching",
    )
    if state == "ALARM":
        cloudwatch.put_metric_data(
            Namespace=namespace,
            MetricData=[
                {"MetricName": "Errors", "Value": 5.0, "Timestamp": dt.datetime.now(dt.UTC)}
            ],
        )
    deadline = time.monotonic() + 20
    while cloudwatch.describe_alarms(AlarmNames=[name])["MetricAlarms"][0]["StateValue"] != state:
        assert time.monotonic() < deadline, f"{name} never became {state}"
        time.sleep(0.2)


def _deployment_config(alarm: str) -> dict:
    return {
        "BlueGreenUpdatePolicy": {
            "TrafficRoutingConfiguration": {"Type": "ALL_AT_ONCE", "WaitIntervalInSeconds": 0},
            "TerminationWaitInSeconds": 0,
        },
        "AutoRollbackConfiguration": {"Alarms": [{"AlarmName": alarm}]},
    }


def test_update_endpoint_rolls_back_when_an_alarm_fires(aws):
    name = _unique("rb")
    alarm = f"{name}-errors"
    _endpoint_with_two_configs(aws.sagemaker, name)
    _alarm(aws.cloudwatch, alarm, "ALARM")

    params = _validated(
        aws.sagemaker,
        "UpdateEndpoint",
        EndpointName=name,
        EndpointConfigName=f"{name}-b",
        DeploymentConfig=_deployment_config(alarm),
    )
    aws.sagemaker.update_endpoint(**params)

    after = aws.sagemaker.describe_endpoint(EndpointName=name)
    # AWS: the blue fleet keeps serving; the status alone does not reveal the rollback.
    assert after["EndpointStatus"] == "InService"
    assert after["EndpointConfigName"] == f"{name}-a"
    assert [v["VariantName"] for v in after["ProductionVariants"]] == ["variant-a"]
    assert alarm in after["FailureReason"]
    assert after["LastDeploymentConfig"] == params["DeploymentConfig"]


def test_update_endpoint_with_quiet_alarm_goes_through(aws):
    name = _unique("ok")
    alarm = f"{name}-errors"
    _endpoint_with_two_configs(aws.sagemaker, name)
    _alarm(aws.cloudwatch, alarm, "OK")
    config = _deployment_config(alarm)

    aws.sagemaker.update_endpoint(
        **_validated(
            aws.sagemaker,
            "UpdateEndpoint",
            EndpointName=name,
            EndpointConfigName=f"{name}-b",
            DeploymentConfig=config,
            RetainAllVariantProperties=False,
        )
    )
    after = wait_for_endpoint(aws.sagemaker, name, timeout=90, poll=0.2)
    assert after["EndpointConfigName"] == f"{name}-b"
    assert "FailureReason" not in after
    assert after["LastDeploymentConfig"] == config


# -- persistence across a crash -------------------------------------------------------------
@pytest.fixture
def private_emulator(tmp_path):
    emulator = PrivateEmulator(tmp_path / "journal.bin", tmp_path / "emulator.log")
    emulator.start()
    create_emulator_test_role(emulator.client("iam"))  # the models' ROLE
    yield emulator
    emulator.stop()


BUCKET = "persist-bucket"
KEYS = {
    "labeled/shoe/plain.jpg": b"\xff\xd8\xff plain jpeg-ish bytes",
    "labeled/ümläut/çafé ñ 日本語.png": b"\x89PNG unicode key",
    "incoming/a folder with spaces/x+y=z&q?.jpg": b"spaces and url-special characters",
    "empty/zero-bytes": b"",
    "catalog/100% cotton #1.jpg": b"percent and hash",
}
START = dt.datetime(2026, 1, 1, 12, 0, tzinfo=dt.UTC)


def _populate(emulator: PrivateEmulator) -> dict:
    """Write one of everything; returns what must be there after a restart."""
    s3 = emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    for key, body in KEYS.items():
        s3.put_object(Bucket=BUCKET, Key=key, Body=body, Metadata={"sha": str(len(body))})
    # > 8 MB through boto3's managed transfer: a real multipart upload (5 MiB parts).
    big = random.Random(7).randbytes(9 * 1024 * 1024 + 123)
    s3.upload_fileobj(
        io.BytesIO(big),
        BUCKET,
        "big/multipart.bin",
        Config=TransferConfig(multipart_threshold=5 * 1024 * 1024, multipart_chunksize=5 * 1024**2),
    )
    # an object written then deleted stays deleted
    s3.put_object(Bucket=BUCKET, Key="deleted.txt", Body=b"gone")
    s3.delete_object(Bucket=BUCKET, Key="deleted.txt")

    sagemaker = emulator.client("sagemaker")
    sagemaker.create_model_package_group(ModelPackageGroupName="persist-group")
    package = sagemaker.create_model_package(
        ModelPackageGroupName="persist-group",
        ModelApprovalStatus="PendingManualApproval",
        CustomerMetadataProperties={"sha256": "abc123"},
        InferenceSpecification={
            "Containers": [
                {"Image": SKLEARN_IMAGE, "ModelDataUrl": f"s3://{BUCKET}/m/model.tar.gz"}
            ],
            "SupportedContentTypes": ["image/png", "image/jpeg"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
    )
    sagemaker.update_model_package(
        ModelPackageArn=package["ModelPackageArn"], ModelApprovalStatus="Approved"
    )
    _endpoint_with_two_configs(sagemaker, "persist-endpoint", s3=s3, bucket=BUCKET)
    sagemaker.update_endpoint(
        EndpointName="persist-endpoint", EndpointConfigName="persist-endpoint-b"
    )
    wait_for_endpoint(sagemaker, "persist-endpoint", timeout=90, poll=0.2)

    cloudwatch = emulator.client("cloudwatch")
    cloudwatch.put_metric_data(
        Namespace="PersistTest",
        MetricData=[
            {
                "MetricName": "Accuracy",
                "Dimensions": [{"Name": "Class", "Value": "shoe"}],
                "Timestamp": START + dt.timedelta(minutes=i),
                "Value": 0.5 + i / 10,
                "Unit": "None",
            }
            for i in range(4)
        ],
    )
    _alarm(cloudwatch, "persist-alarm", "ALARM")
    return {"big": big, "package_arn": package["ModelPackageArn"]}


def _snapshot(emulator: PrivateEmulator) -> dict:
    """Everything _populate wrote, as plain comparable data."""
    s3 = emulator.client("s3")
    objects = {}
    for item in s3.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        got = s3.get_object(Bucket=BUCKET, Key=item["Key"])
        objects[item["Key"]] = (got["Body"].read(), got["ETag"], got.get("Metadata"))
    sagemaker = emulator.client("sagemaker")
    packages = sagemaker.list_model_packages(ModelPackageGroupName="persist-group")
    described = [
        sagemaker.describe_model_package(ModelPackageName=p["ModelPackageArn"])
        for p in packages["ModelPackageSummaryList"]
    ]
    endpoint = sagemaker.describe_endpoint(EndpointName="persist-endpoint")
    cloudwatch = emulator.client("cloudwatch")
    stats = cloudwatch.get_metric_statistics(
        Namespace="PersistTest",
        MetricName="Accuracy",
        Dimensions=[{"Name": "Class", "Value": "shoe"}],
        StartTime=START - dt.timedelta(minutes=1),
        EndTime=START + dt.timedelta(minutes=10),
        Period=60,
        Statistics=["Average"],
    )
    alarms = cloudwatch.describe_alarms(AlarmNames=["persist-alarm"])["MetricAlarms"]
    return {
        "objects": objects,
        "packages": [
            (
                p["ModelPackageArn"],
                p["ModelPackageVersion"],
                p["ModelApprovalStatus"],
                p["CustomerMetadataProperties"],
                p["InferenceSpecification"],
            )
            for p in described
        ],
        "group": sagemaker.describe_model_package_group(ModelPackageGroupName="persist-group")[
            "ModelPackageGroupArn"
        ],
        "endpoint": (
            endpoint["EndpointArn"],
            endpoint["EndpointConfigName"],
            endpoint["EndpointStatus"],
            endpoint["ProductionVariants"],
        ),
        "metrics": sorted((p["Timestamp"], p["Average"]) for p in stats["Datapoints"]),
        "alarms": [(a["AlarmName"], a["StateValue"], a["Threshold"]) for a in alarms],
    }


def test_state_survives_a_crash_byte_identical(private_emulator):
    written = _populate(private_emulator)
    before = _snapshot(private_emulator)
    # what we wrote is what the emulator holds (so the comparison below means something)
    assert before["objects"]["big/multipart.bin"][0] == written["big"]
    assert "-" in before["objects"]["big/multipart.bin"][1]  # a multipart ETag: "<md5>-<parts>"
    assert {k: v[0] for k, v in before["objects"].items() if k in KEYS} == KEYS
    assert "deleted.txt" not in before["objects"]
    assert before["endpoint"][1] == "persist-endpoint-b"
    assert [v for _, v in before["metrics"]] == pytest.approx([0.5, 0.6, 0.7, 0.8])
    assert before["alarms"] == [("persist-alarm", "ALARM", 1.0)]
    assert before["packages"][0][2] == "Approved"

    private_emulator.crash()
    private_emulator.start()

    after = _snapshot(private_emulator)
    assert sorted(after["objects"]) == sorted(before["objects"])
    for key, (body, etag, metadata) in before["objects"].items():
        got_body, got_etag, got_metadata = after["objects"][key]
        assert got_body == body, f"{key}: content differs after restart"
        assert (got_etag, got_metadata) == (etag, metadata), key
    for part in ("packages", "group", "endpoint", "metrics", "alarms"):
        assert after[part] == before[part], part


def test_the_journal_is_compacted_on_start_and_replays_to_the_same_state(private_emulator):
    """Claims written and removed, overwritten results, a source deleted after its copy, a
    batch delete: the restarted emulator drops what nothing needs, and holds the same."""
    from image_mlops_dev.emulator.http.journal import Journal

    _populate(private_emulator)
    s3 = private_emulator.client("s3")
    for i in range(30):  # leases taken and given back
        s3.put_object(Bucket=BUCKET, Key=f"_claims/{i}", Body=b'{"run": "r"}')
        s3.delete_object(Bucket=BUCKET, Key=f"_claims/{i}")
    for i in range(5):  # a result rewritten by every retry
        s3.put_object(Bucket=BUCKET, Key="results/batch-1.json", Body=f"try {i}".encode())
    s3.put_object(Bucket=BUCKET, Key="raw/moved.jpg", Body=b"the image")  # copy → delete
    s3.copy_object(
        Bucket=BUCKET,
        Key="validated/moved.jpg",
        CopySource={"Bucket": BUCKET, "Key": "raw/moved.jpg"},
    )
    s3.delete_object(Bucket=BUCKET, Key="raw/moved.jpg")
    for i in range(3):
        s3.put_object(Bucket=BUCKET, Key=f"batch/{i}", Body=b"x")
    s3.delete_objects(Bucket=BUCKET, Delete={"Objects": [{"Key": f"batch/{i}"} for i in range(3)]})
    before = _snapshot(private_emulator)
    records_before = sum(1 for _ in Journal.read(private_emulator.journal))

    private_emulator.crash()
    private_emulator.start()

    records_after = sum(1 for _ in Journal.read(private_emulator.journal))
    # 60 lease records, 4 rewrites, 3 deleted batch files, deleted.txt's put and delete
    assert records_before - records_after >= 60 + 4 + 3 + 2
    after = _snapshot(private_emulator)
    assert after == before
    assert after["objects"]["validated/moved.jpg"][0] == b"the image"
    assert after["objects"]["results/batch-1.json"][0] == b"try 4"
    assert not [k for k in after["objects"] if k.startswith(("_claims/", "batch/", "raw/"))]
    # and once more: a compacted journal replays and compacts again to itself
    private_emulator.crash()
    private_emulator.start()
    assert sum(1 for _ in Journal.read(private_emulator.journal)) == records_after
    assert _snapshot(private_emulator) == before


def test_object_versions_keep_their_ids_across_a_crash(private_emulator):
    """An id recorded elsewhere (the approved artifact version in a model's environment)
    still names the same bytes after the emulator restarts from its journal."""
    s3 = private_emulator.client("s3")
    s3.create_bucket(Bucket="versioned-persist")
    s3.put_bucket_versioning(
        Bucket="versioned-persist", VersioningConfiguration={"Status": "Enabled"}
    )
    first = s3.put_object(Bucket="versioned-persist", Key="m/model.tar.gz", Body=b"approved")
    second = s3.put_object(Bucket="versioned-persist", Key="m/model.tar.gz", Body=b"replaced")
    copied = s3.copy_object(
        Bucket="versioned-persist",
        Key="m/copy.tar.gz",
        CopySource={"Bucket": "versioned-persist", "Key": "m/model.tar.gz"},
    )
    marker = s3.delete_object(Bucket="versioned-persist", Key="m/copy.tar.gz")
    ids = [first["VersionId"], second["VersionId"], copied["VersionId"], marker["VersionId"]]
    assert len(set(ids)) == 4

    private_emulator.crash()
    private_emulator.start()
    s3 = private_emulator.client("s3")  # a new port

    def body(key, version):
        got = s3.get_object(Bucket="versioned-persist", Key=key, VersionId=version)
        return got["Body"].read()

    assert body("m/model.tar.gz", first["VersionId"]) == b"approved"
    assert body("m/model.tar.gz", second["VersionId"]) == b"replaced"
    assert body("m/copy.tar.gz", copied["VersionId"]) == b"replaced"
    listed = s3.list_object_versions(Bucket="versioned-persist", Prefix="m/")
    assert {v["VersionId"] for v in listed["Versions"]} == set(ids[:3])
    assert [m["VersionId"] for m in listed["DeleteMarkers"]] == [marker["VersionId"]]


def _last_record_offset(journal: Path) -> int:
    data = journal.read_bytes()
    offset = data.rfind(b"IMJ1 {")
    assert offset > 0, "journal has fewer than two records"
    return offset


def test_torn_last_record_is_ignored_and_the_rest_replays(private_emulator):
    s3 = private_emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="kept/ünïcode.bin", Body=b"kept" * 1000)
    s3.put_object(Bucket=BUCKET, Key="torn/last.bin", Body=b"torn" * 1000)
    private_emulator.crash()

    journal = private_emulator.journal
    start = _last_record_offset(journal)
    size = journal.stat().st_size
    # a crash in the middle of writing the last record's body
    with open(journal, "r+b") as handle:
        handle.truncate(start + (size - start) // 2)

    private_emulator.start()
    s3 = private_emulator.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["kept/ünïcode.bin"]
    assert s3.get_object(Bucket=BUCKET, Key="kept/ünïcode.bin")["Body"].read() == b"kept" * 1000
    assert "ignoring a torn last record" in private_emulator.log.read_text()

    # Writes after the recovery must survive the next crash too (the torn tail is gone, not
    # left in the middle of the journal).
    s3.put_object(Bucket=BUCKET, Key="after/recovery.bin", Body=b"after")
    private_emulator.crash()
    private_emulator.start()
    s3 = private_emulator.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["after/recovery.bin", "kept/ünïcode.bin"]


def test_torn_header_is_ignored(private_emulator):
    s3 = private_emulator.client("s3")
    s3.create_bucket(Bucket=BUCKET)
    s3.put_object(Bucket=BUCKET, Key="kept.bin", Body=b"kept")
    s3.put_object(Bucket=BUCKET, Key="torn.bin", Body=b"torn")
    private_emulator.crash()
    journal = private_emulator.journal
    start = _last_record_offset(journal)
    with open(journal, "r+b") as handle:
        handle.truncate(start + 20)  # inside the JSON header line

    private_emulator.start()
    s3 = private_emulator.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=BUCKET).get("Contents", [])]
    assert keys == ["kept.bin"]


def test_topics_and_subscriptions_survive_a_restart_and_a_message_is_delivered_once(
    private_emulator,
):
    """SNS Publish is not replayed: a restart must not deliver a notification again (the
    queue's waiting messages are gone, as the journal keeps no messages)."""
    sns, sqs = private_emulator.client("sns"), private_emulator.client("sqs")
    topic = sns.create_topic(Name="restart-topic")["TopicArn"]
    url = sqs.create_queue(QueueName="restart-inbox")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["QueueArn"])["Attributes"][
        "QueueArn"
    ]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn)
    sns.publish(TopicArn=topic, Message="deployed", Subject="once")
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["Message"] == "deployed"
    sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
    private_emulator.stop()
    private_emulator.start()
    sns, sqs = private_emulator.client("sns"), private_emulator.client("sqs")
    [subscription] = sns.list_subscriptions_by_topic(TopicArn=topic)["Subscriptions"]
    assert subscription["Endpoint"] == queue_arn
    received = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=1)
    assert received.get("Messages", []) == []
    sns.publish(TopicArn=topic, Message="after the restart")
    [message] = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10)["Messages"]
    assert json.loads(message["Body"])["Message"] == "after the restart"
