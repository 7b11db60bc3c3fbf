"""The SageMaker Model Registry for our model package group (``settings.model_name``).

Artifacts: a training run writes ``<group>/candidates/<run>/`` (model.tar.gz, evaluation.json,
baseline.json). :func:`register_model_package` pre-computes the next version (latest + 1),
copies the three files to ``<group>/<version>/`` (copy → verify sha256 → keep the candidate
for audit) and creates the package pointing there, with status ``PendingManualApproval``.
It is idempotent per training run: a package whose ``training_run_id`` metadata matches is
returned instead of creating a second one (and the ClientToken is derived from the run id).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import subprocess
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from image_mlops import __version__, s3layout
from image_mlops.config import PROJECT_ROOT, Settings, get_settings

log = logging.getLogger(__name__)
CONTENT_TYPES = ["image/jpeg", "image/png", "application/json"]
RESPONSE_TYPES = ["application/json"]
APPROVAL_STATUSES = ("PendingManualApproval", "Approved", "Rejected")


@dataclass
class ModelPackage:
    arn: str
    version: int
    approval_status: str
    artifact_uri: str
    evaluation_uri: str | None
    baseline_uri: str | None
    image_uri: str | None
    metadata: dict
    created: datetime | None


def code_version() -> str:
    try:
        commit = subprocess.run(
            ["git", "-C", str(PROJECT_ROOT), "rev-parse", "--short", "HEAD"],
            capture_output=True,
            text=True,
            check=False,
            timeout=5,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        commit = ""
    return f"{__version__}+{commit}" if commit else __version__


def _client(settings: Settings):
    from image_mlops.aws import aws_client

    return aws_client("sagemaker", settings)


def _to_package(described: dict) -> ModelPackage:
    container = (described.get("InferenceSpecification", {}).get("Containers") or [{}])[0]
    metadata = dict(described.get("CustomerMetadataProperties") or {})
    statistics = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    return ModelPackage(
        arn=described["ModelPackageArn"],
        version=int(described.get("ModelPackageVersion") or 0),
        approval_status=described.get("ModelApprovalStatus", ""),
        artifact_uri=container.get("ModelDataUrl", ""),
        evaluation_uri=statistics.get("S3Uri") or metadata.get("evaluation_uri"),
        baseline_uri=metadata.get("baseline_uri"),
        image_uri=container.get("Image"),
        metadata=metadata,
        created=described.get("CreationTime"),
    )


def describe_package(arn_or_version: str | int, settings: Settings | None = None) -> ModelPackage:
    settings = settings or get_settings()
    ref = str(arn_or_version)
    if not ref.startswith("arn:"):
        ref = (
            f"arn:aws:sagemaker:{settings.region}:{settings.account_id}:model-package/"
            f"{settings.model_name.lower()}/{int(ref)}"
        )
    return _to_package(_client(settings).describe_model_package(ModelPackageName=ref))


def list_packages(
    approval_status: str | None = None, settings: Settings | None = None
) -> list[ModelPackage]:
    """Packages of the group, newest (highest version) first."""
    settings = settings or get_settings()
    client = _client(settings)
    kwargs: dict[str, Any] = {"ModelPackageGroupName": settings.model_name}
    if approval_status:
        kwargs["ModelApprovalStatus"] = approval_status
    arns = []
    paginator = client.get_paginator("list_model_packages")
    for page in paginator.paginate(**kwargs):
        arns += [s["ModelPackageArn"] for s in page.get("ModelPackageSummaryList", [])]
    packages = [_to_package(client.describe_model_package(ModelPackageName=a)) for a in arns]
    return sorted(packages, key=lambda p: p.version, reverse=True)


def latest_package(
    approval_status: str | None = None, settings: Settings | None = None
) -> ModelPackage | None:
    packages = list_packages(approval_status, settings)
    return packages[0] if packages else None


def set_approval_status(
    arn: str, status: str, description: str = "", settings: Settings | None = None
) -> None:
    if status not in APPROVAL_STATUSES:
        raise ValueError(f"unknown approval status {status!r}: one of {APPROVAL_STATUSES}")
    kwargs: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
    if description:
        kwargs["ApprovalDescription"] = description[:1000]
    _client(settings or get_settings()).update_model_package(**kwargs)


def load_evaluation(package: ModelPackage, settings: Settings | None = None) -> dict:
    from image_mlops.aws import aws_client

    if not package.evaluation_uri:
        raise ValueError(f"package {package.arn} has no evaluation_uri")
    bucket, _, key = package.evaluation_uri.removeprefix("s3://").partition("/")
    body = aws_client("s3", settings or get_settings()).get_object(Bucket=bucket, Key=key)
    return json.loads(body["Body"].read())


def find_by_training_run(training_run_id: str, settings: Settings) -> ModelPackage | None:
    for package in list_packages(settings=settings):
        if package.metadata.get("training_run_id") == training_run_id:
            return package
    return None


def _copy_verified(settings: Settings, source_key: str, target_key: str) -> str:
    """Copy within the models bucket, verify the bytes, return the target URI."""
    from image_mlops.aws import aws_client

    s3 = aws_client("s3", settings)
    bucket = settings.models_bucket
    s3.copy_object(Bucket=bucket, Key=target_key, CopySource={"Bucket": bucket, "Key": source_key})
    src = hashlib.sha256(s3.get_object(Bucket=bucket, Key=source_key)["Body"].read()).hexdigest()
    dst = hashlib.sha256(s3.get_object(Bucket=bucket, Key=target_key)["Body"].read()).hexdigest()
    if src != dst:
        raise RuntimeError(f"copy of {source_key} to {target_key} does not verify; retry")
    return f"s3://{bucket}/{target_key}"


def build_request(
    settings: Settings,
    *,
    version_prefix_uris: dict[str, str],
    metadata: dict[str, str],
    image_uri: str,
    client_token: str,
    description: str = "",
) -> dict[str, Any]:
    """The CreateModelPackage request (validated against botocore in the tests)."""
    return {
        "ModelPackageGroupName": settings.model_name,
        "ModelPackageDescription": (description or "product-image classifier")[:1000],
        "ModelApprovalStatus": "PendingManualApproval",
        "InferenceSpecification": {
            "Containers": [
                {
                    "Image": image_uri,
                    "ModelDataUrl": version_prefix_uris["artifact"],
                    "Environment": {
                        "SAGEMAKER_PROGRAM": "inference.py",
                        "SAGEMAKER_SUBMIT_DIRECTORY": "/opt/ml/model/code",
                    },
                    "Framework": "SKLEARN",
                    "FrameworkVersion": settings.framework_version.split("-")[0],
                }
            ],
            "SupportedContentTypes": CONTENT_TYPES,
            "SupportedResponseMIMETypes": RESPONSE_TYPES,
            "SupportedRealtimeInferenceInstanceTypes": [settings.inference_instance_type],
            "SupportedTransformInstanceTypes": [settings.inference_instance_type],
        },
        "ModelMetrics": {
            "ModelQuality": {
                "Statistics": {
                    "ContentType": "application/json",
                    "S3Uri": version_prefix_uris["evaluation"],
                }
            }
        },
        "CustomerMetadataProperties": metadata,
        "ClientToken": client_token,
    }


def register_model_package(
    *,
    candidate_prefix: str,
    artifact_sha256: str,
    data_fingerprint: str,
    accuracy: float,
    macro_f1: float,
    training_run_id: str,
    reason: str = "",
    settings: Settings | None = None,
) -> ModelPackage:
    """Register the candidate as a new version (PendingManualApproval); idempotent per run."""
    from image_mlops.training.runner import image_uri

    settings = settings or get_settings()
    existing = find_by_training_run(training_run_id, settings)
    if existing:
        log.info("training run %s is already registered as %s", training_run_id, existing.arn)
        return existing
    latest = latest_package(settings=settings)
    version = (latest.version if latest else 0) + 1
    group = settings.model_name
    uris = {
        "artifact": _copy_verified(
            settings,
            candidate_prefix + s3layout.MODEL_ARTIFACT,
            s3layout.model_artifact_key(group, version),
        ),
        "evaluation": _copy_verified(
            settings,
            candidate_prefix + s3layout.EVALUATION_FILE,
            s3layout.evaluation_key(group, version),
        ),
        "baseline": _copy_verified(
            settings,
            candidate_prefix + s3layout.BASELINE_FILE,
            s3layout.baseline_key(group, version),
        ),
    }
    try:
        trained_by = getpass.getuser()
    except (KeyError, OSError):
        trained_by = "unknown"
    metadata = {
        "artifact_sha256": artifact_sha256,
        "data_fingerprint": data_fingerprint,
        "code_version": code_version(),
        "accuracy": f"{accuracy:.6f}",
        "macro_f1": f"{macro_f1:.6f}",
        "training_run_id": training_run_id[:256],
        "trained_by": trained_by,
        "baseline_uri": uris["baseline"],
        "evaluation_uri": uris["evaluation"],
    }
    if reason:
        metadata["reason"] = reason[:256]
    request = build_request(
        settings,
        version_prefix_uris=uris,
        metadata=metadata,
        image_uri=image_uri(settings, "inference"),
        client_token=hashlib.sha256(training_run_id.encode()).hexdigest()[:32],
        description=f"trained by run {training_run_id}" + (f" ({reason})" if reason else ""),
    )
    arn = _client(settings).create_model_package(**request)["ModelPackageArn"]
    package = describe_package(arn, settings)
    if package.version != version:
        log.warning(
            "registry assigned version %s, artifacts are under %s/", package.version, version
        )
    log.info("registered %s (version %s, PendingManualApproval)", arn, package.version)
    return package
