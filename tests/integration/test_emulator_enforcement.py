"""The emulator refuses what AWS refuses, in each service's own error and AWS's message.

Every request is authorised as its caller's role under the CloudFormation template's policies
(identity policies, the buckets' policies, ``iam:PassRole``) and validated against botocore's
API model. Each test here is one refusal AWS would answer, asserted by error code and message:

* IAM User Guide, "Troubleshoot access denied error messages": "User: <caller ARN> is not
  authorized to perform: <action> on resource: <ARN> because no identity-based policy allows
  the <action> action" / "with an explicit deny in a resource-based policy";
* the SageMaker API reference, "Common Errors": ``ValidationException`` with
  "1 validation error detected: Value '…' at '…' failed to satisfy constraint: …".
"""

from __future__ import annotations

import io
import json
import tarfile
import time
import uuid

import boto3
import botocore.session
import pytest
from botocore.exceptions import ClientError
from conftest import SKLEARN_IMAGE

from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack

WORKER_SESSION = "arn:aws:sts::123456789012:assumed-role/image-mlops-worker/"
READ_RAW = """\
import json, os, sys
import boto3
from botocore.exceptions import ClientError

bucket, key = os.environ["SM_HP_RAW_BUCKET"], os.environ["SM_HP_RAW_KEY"]
try:
    boto3.client("s3").get_object(Bucket=bucket, Key=key)
except ClientError as error:
    with open(os.path.join(os.environ["SM_OUTPUT_DIR"], "failure"), "w") as f:
        f.write(f"{error.response['Error']['Code']}: {error.response['Error']['Message']}")
    sys.exit(2)
"""


def _metadata_value_pattern() -> str:
    """The pattern of SageMaker's CustomerMetadataValue in botocore's model."""
    model = botocore.session.get_session().get_service_model("sagemaker")
    return model.shape_for("CustomerMetadataValue").metadata["pattern"]


def _refusal(excinfo) -> tuple[str, str]:
    error = excinfo.value.response["Error"]
    return error["Code"], error["Message"]


def _tar_gz(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        data = text.encode()
        info = tarfile.TarInfo(name)
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def _training_job(settings, name: str, role_arn: str, source_uri: str, **hyperparameters) -> dict:
    return {
        "TrainingJobName": name,
        "AlgorithmSpecification": {
            "TrainingImage": SKLEARN_IMAGE,
            "TrainingInputMode": "File",
        },
        "RoleArn": role_arn,
        "HyperParameters": {
            "sagemaker_program": json.dumps("program.py"),
            "sagemaker_submit_directory": json.dumps(source_uri),
            **{k: json.dumps(v) for k, v in hyperparameters.items()},
        },
        "OutputDataConfig": {
            "S3OutputPath": f"s3://{settings.models_bucket}/{settings.model_name}/_jobs/{name}/"
        },
        "ResourceConfig": {"InstanceType": "ml.m5.large", "InstanceCount": 1, "VolumeSizeInGB": 1},
        "StoppingCondition": {"MaxRuntimeInSeconds": 300},
    }


def test_a_worker_task_cannot_overwrite_a_registered_model_version(aws, settings):
    key = f"{settings.model_name}/1/model.tar.gz"
    with pytest.raises(ClientError) as refused:
        aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=b"not the approved bytes")
    code, message = _refusal(refused)
    assert code == "AccessDenied"
    assert message.startswith(f"User: {WORKER_SESSION}")
    assert message.endswith(
        f"is not authorized to perform: s3:PutObject on resource: "
        f'"arn:aws:s3:::{settings.models_bucket}/{key}" '
        "with an explicit deny in a resource-based policy"
    )


def test_a_sagemaker_job_cannot_read_the_raw_bucket(aws, admin, settings):
    run = uuid.uuid4().hex[:8]
    raw_key = f"incoming/enforcement-{run}.jpg"
    admin.s3.put_object(Bucket=settings.raw_bucket, Key=raw_key, Body=b"an upload")
    source_key = f"{settings.model_name}/_jobs/enforcement-{run}/source.tar.gz"
    admin.s3.put_object(
        Bucket=settings.models_bucket, Key=source_key, Body=_tar_gz("program.py", READ_RAW)
    )
    name = f"{settings.model_name}-enforcement-{run}"
    aws.sagemaker.create_training_job(
        **_training_job(
            settings,
            name,
            settings.sagemaker_role_arn,
            f"s3://{settings.models_bucket}/{source_key}",
            raw_bucket=settings.raw_bucket,
            raw_key=raw_key,
        )
    )
    deadline = time.monotonic() + 180
    while (described := aws.sagemaker.describe_training_job(TrainingJobName=name))[
        "TrainingJobStatus"
    ] == "InProgress" and time.monotonic() < deadline:
        time.sleep(0.5)
    assert described["TrainingJobStatus"] == "Failed", described
    role = settings.sagemaker_role_arn.rsplit("/", 1)[1]
    # the program's own output/failure, reported as SageMaker reports it
    assert described["FailureReason"].startswith(
        f"AlgorithmError: AccessDenied: User: arn:aws:sts::123456789012:assumed-role/{role}/"
    )
    assert described["FailureReason"].endswith(
        f"is not authorized to perform: s3:GetObject on resource: "
        f'"arn:aws:s3:::{settings.raw_bucket}/{raw_key}" '
        "because no identity-based policy allows the s3:GetObject action"
    )


def test_starting_a_training_job_needs_pass_role_on_its_role(aws, settings):
    """The worker may pass the SageMaker execution role only: not another role (its own)."""
    worker_role = settings.sagemaker_role_arn.rsplit("/", 1)[0] + "/image-mlops-worker"
    name = f"{settings.model_name}-pass-role-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as refused:
        aws.sagemaker.create_training_job(
            **_training_job(settings, name, worker_role, f"s3://{settings.models_bucket}/x.tar.gz")
        )
    code, message = _refusal(refused)
    assert code == "AccessDeniedException"
    assert message.startswith(f"User: {WORKER_SESSION}")
    assert message.endswith(
        f"is not authorized to perform: iam:PassRole on resource: {worker_role} "
        "because no identity-based policy allows the iam:PassRole action"
    )
    with pytest.raises(ClientError) as missing:
        aws.sagemaker.describe_training_job(TrainingJobName=name)
    assert _refusal(missing)[0] == "ValidationException"  # nothing was created


def test_a_plain_http_request_to_a_tls_only_bucket_is_refused(aws, settings):
    """The buckets deny ``aws:SecureTransport: false``; the emulator's plain-HTTP port is the
    same server without TLS, so the condition is what it is on AWS (no header decides it)."""

    plain = boto3.client(
        "s3", endpoint_url=get_stack_settings().emulator_plain_url, region_name=settings.region
    )
    key = f"incoming/plain-{uuid.uuid4().hex[:8]}.jpg"
    with pytest.raises(ClientError) as refused:
        plain.put_object(Bucket=settings.raw_bucket, Key=key, Body=b"over plain HTTP")
    code, message = _refusal(refused)
    assert code == "AccessDenied"
    assert message.endswith(
        f"is not authorized to perform: s3:PutObject on resource: "
        f'"arn:aws:s3:::{settings.raw_bucket}/{key}" '
        "with an explicit deny in a resource-based policy"
    )
    # the same call over TLS is allowed: the refusal was the transport's
    aws.s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=b"over TLS")


def test_a_worker_cannot_create_a_job_named_outside_its_policy(aws, settings):
    name = f"outside-{uuid.uuid4().hex[:8]}"
    with pytest.raises(ClientError) as refused:
        aws.sagemaker.create_training_job(
            **_training_job(
                settings, name, settings.sagemaker_role_arn, f"s3://{settings.models_bucket}/x"
            )
        )
    code, message = _refusal(refused)
    assert code == "AccessDeniedException"
    assert message == (
        f"User: {message.split(' ')[1]} is not authorized to perform: "
        f"sagemaker:CreateTrainingJob on resource: "
        f"arn:aws:sagemaker:{settings.region}:123456789012:training-job/{name} "
        "because no identity-based policy allows the sagemaker:CreateTrainingJob action"
    )
    assert message.split(" ")[1].startswith(WORKER_SESSION)


def test_a_model_package_with_a_metadata_value_aws_rejects_is_refused(aws, settings):
    value = '{"upload":150}'  # what registration sent before: JSON, refused by the pattern

    def versions() -> int:
        listed = aws.sagemaker.list_model_packages(ModelPackageGroupName=settings.model_name)
        return len(listed["ModelPackageSummaryList"])

    before = versions()
    with pytest.raises(ClientError) as refused:
        aws.sagemaker.create_model_package(
            ModelPackageGroupName=settings.model_name,
            ModelApprovalStatus="PendingManualApproval",
            InferenceSpecification={
                "Containers": [{"Image": SKLEARN_IMAGE}],
                "SupportedContentTypes": ["application/json"],
                "SupportedResponseMIMETypes": ["application/json"],
            },
            CustomerMetadataProperties={"labels_by_source": value},
        )
    code, message = _refusal(refused)
    assert code == "ValidationException"
    assert message == (
        f"1 validation error detected: Value '{value}' at "
        "'customerMetadataProperties.labels_by_source' failed to satisfy constraint: "
        f"Member must satisfy regular expression pattern: {_metadata_value_pattern()}"
    )
    assert versions() == before  # nothing was registered


def test_a_worker_cannot_turn_the_emulators_own_knobs(settings):
    """``/_emulator/latency`` and ``/_emulator/faults`` answer before authorisation: only the
    stack's bootstrap key may use them (before, any signed caller could slow or break it)."""
    import ssl
    import urllib.error
    import urllib.request

    from botocore.auth import SigV4Auth
    from botocore.awsrequest import AWSRequest

    from image_mlops_dev.stack.identities import ca_bundle

    worker = botocore.session.get_session().get_credentials().get_frozen_credentials()
    context = ssl.create_default_context(cafile=str(ca_bundle(settings)))
    for path in ("/_emulator/latency", "/_emulator/faults"):
        request = AWSRequest(
            method="POST", url=f"{get_stack_settings().emulator_url}{path}", data=b'{"s3_ms": 5000}'
        )
        SigV4Auth(worker, "s3", settings.region).add_auth(request)
        prepared = urllib.request.Request(
            request.url, data=request.body, method="POST", headers=dict(request.headers.items())
        )
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(prepared, timeout=10, context=context)
        assert refused.value.code == 403
        body = json.loads(refused.value.read())
        assert body["__type"] == "AccessDeniedException"
        assert body["message"].startswith(f"{WORKER_SESSION}")
