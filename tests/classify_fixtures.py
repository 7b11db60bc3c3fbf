"""Fixtures of the classification room, reusable by e2e tests.

* :func:`deploy_production_model` — puts a model on the production endpoint of the emulator
  the way the deployment stage does (artifact in the models bucket, SageMaker model with the
  package ARN/version in its environment, endpoint config, endpoint created or updated);
* :func:`remove_production_endpoint` — no production model;
* :func:`put_incoming` — a validated incoming image with the validation metadata.
"""

from __future__ import annotations

import hashlib
import tempfile
from pathlib import Path

from conftest import SKLEARN_IMAGE, wait_endpoint_settled
from sample_model import PRIMARY_CENTROIDS, colour_image, write_artifact

from image_mlops import s3layout
from image_mlops.serving.container import (
    CONTAINER_ENVIRONMENT,
    ENV_PACKAGE_ARN,
    ENV_PACKAGE_VERSION,
)
from image_mlops.serving.integrity import ApprovedArtifact

__all__ = [
    "PRIMARY_CENTROIDS",
    "colour_image",
    "deploy_production_model",
    "put_incoming",
    "remove_production_endpoint",
]


class _Operator:
    """Clients with the stack's bootstrap key: these fixtures stand in for an operator (or the
    deployment stage with rights no DAG has, such as replacing a registered version's file)."""

    def __init__(self, settings) -> None:
        from image_mlops_dev.stack.identities import admin_client

        self.s3 = admin_client("s3", settings)
        self.sagemaker = admin_client("sagemaker", settings)


def deploy_production_model(
    settings, version: int, centroids=None, archive: Path | None = None, operator=None
) -> dict:
    """Serve model package ``version`` in production.

    The artifact is ``archive`` when given, else a nearest-mean-colour model of ``centroids``.
    ``operator``: clients with the stack's bootstrap key (default: this session's stack's).
    """
    aws = operator or _Operator(settings)
    key = s3layout.model_artifact_key(settings.model_name, version)
    with tempfile.TemporaryDirectory() as tmp:
        if archive is None:
            archive = write_artifact(Path(tmp) / "model.tar.gz", centroids or PRIMARY_CENTROIDS)
        body = archive.read_bytes()
        # registered version folders are write-once (the models bucket's policy): a test
        # that reuses a version number removes the old file first, as an administrator would
        aws.s3.delete_object(Bucket=settings.models_bucket, Key=key)
        put = aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=body, IfNoneMatch="*")
    data_url = f"s3://{settings.models_bucket}/{key}"
    package_arn = (
        f"arn:aws:sagemaker:{settings.region}:{settings.account_id}:model-package/"
        f"{settings.model_name}/{version}"
    )
    digest = hashlib.sha256(body)
    model_name = f"{settings.model_name}-v{version}-{digest.hexdigest()[:8]}"
    existing = {m["ModelName"] for m in aws.sagemaker.list_models()["Models"]}
    if model_name not in existing:
        aws.sagemaker.create_model(
            ModelName=model_name,
            ExecutionRoleArn=settings.sagemaker_role_arn,
            PrimaryContainer={
                "Image": SKLEARN_IMAGE,
                "ModelDataUrl": data_url,
                "Environment": {
                    ENV_PACKAGE_ARN: package_arn,
                    ENV_PACKAGE_VERSION: str(version),
                    **CONTAINER_ENVIRONMENT,
                    **ApprovedArtifact(
                        data_url, digest.hexdigest(), put.get("VersionId")
                    ).environment(),
                },
            },
        )
        aws.sagemaker.create_endpoint_config(
            EndpointConfigName=model_name,
            ProductionVariants=[
                {
                    "VariantName": "AllTraffic",
                    "ModelName": model_name,
                    "InitialInstanceCount": 1,
                    "InstanceType": settings.inference_instance_type,
                }
            ],
        )
    endpoint = settings.endpoint_name("production")
    endpoints = {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]}
    if endpoint not in endpoints:
        aws.sagemaker.create_endpoint(EndpointName=endpoint, EndpointConfigName=model_name)
    elif aws.sagemaker.describe_endpoint(EndpointName=endpoint)["EndpointConfigName"] != model_name:
        aws.sagemaker.update_endpoint(EndpointName=endpoint, EndpointConfigName=model_name)
    wait_in_service(aws, endpoint)
    return {"package_arn": package_arn, "package_version": version, "model_name": model_name}


def wait_in_service(aws, endpoint: str, timeout: float = 120) -> dict:
    """Wait until the emulator's model server serves ``endpoint`` (→ InService)."""
    described = wait_endpoint_settled(aws, endpoint, timeout=timeout)
    assert described["EndpointStatus"] == "InService", described.get("FailureReason")
    return described


def remove_production_endpoint(settings) -> None:
    aws = _Operator(settings)
    endpoint = settings.endpoint_name("production")
    endpoints = {e["EndpointName"] for e in aws.sagemaker.list_endpoints()["Endpoints"]}
    if endpoint in endpoints:
        aws.sagemaker.delete_endpoint(EndpointName=endpoint)


def put_incoming(aws, settings, name: str, data: bytes, *, with_sha: bool = True) -> str:
    """Write ``validated/incoming/<name>`` with the metadata validation attaches."""
    key = s3layout.INCOMING_PREFIX + name
    metadata = {"format": "JPEG", "source-key": key, "run-id": "test"}
    if with_sha:
        metadata["sha256"] = hashlib.sha256(data).hexdigest()
    aws.s3.put_object(Bucket=settings.validated_bucket, Key=key, Body=data, Metadata=metadata)
    return key


#: Columns of a classified image's row, as :func:`insert_classified` takes them.
CLASSIFIED_COLUMNS = (
    "image_sha256",
    "model_version",
    "source_key",
    "output_key",
    "predicted_class",
    "confidence",
    "uncertain",
)


def insert_classified(settings, rows: list[tuple]) -> None:
    """Rows in the predictions table as classification leaves them (``CLASSIFIED_COLUMNS``,
    with a placeholder package, endpoint and run)."""
    from image_mlops.classification.records import ensure_predictions_table
    from image_mlops.labels.events import pg_hook

    ensure_predictions_table(settings)
    pg_hook(settings).insert_rows(
        "predictions",
        [
            (*row, "arn:aws:sagemaker:us-east-1:123456789012:model-package/x/1", "ep", "r")
            for row in rows
        ],
        target_fields=[*CLASSIFIED_COLUMNS, "model_package_arn", "endpoint_name", "run_id"],
    )
