"""Model packages as deployment sees them, read from the registry (the single source of truth).

Approval statuses are set through :mod:`image_mlops.registry` (training room). Everything
here re-reads the registry: nothing is cached between tasks.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from image_mlops.aws import aws_client
from image_mlops.config import Settings, get_settings

APPROVED = "Approved"
REJECTED = "Rejected"
PENDING = "PendingManualApproval"
STATUSES = (APPROVED, REJECTED, PENDING)


class PackageError(LookupError):
    """No such package, or none to deploy."""


@dataclass(frozen=True)
class Candidate:
    arn: str
    version: int
    approval_status: str
    artifact_uri: str
    image_uri: str
    metadata: dict[str, str] = field(default_factory=dict)
    approval_description: str = ""
    evaluation_uri: str = ""

    @property
    def accuracy(self) -> float | None:
        value = self.metadata.get("accuracy")
        try:
            return float(value) if value not in (None, "") else None
        except ValueError:
            return None

    def summary(self) -> dict[str, Any]:
        """Small, XCom-safe description."""
        return {
            "arn": self.arn,
            "version": self.version,
            "approval_status": self.approval_status,
            "artifact_uri": self.artifact_uri,
        }


def _raw(arn: str, settings: Settings) -> dict[str, Any]:
    return aws_client("sagemaker", settings).describe_model_package(ModelPackageName=arn)


def _from_raw(raw: dict[str, Any]) -> Candidate:
    containers = (raw.get("InferenceSpecification") or {}).get("Containers") or [{}]
    metrics = (raw.get("ModelMetrics") or {}).get("ModelQuality") or {}
    metadata = dict(raw.get("CustomerMetadataProperties") or {})
    return Candidate(
        arn=raw["ModelPackageArn"],
        version=int(raw.get("ModelPackageVersion") or 0),
        approval_status=raw.get("ModelApprovalStatus") or PENDING,
        artifact_uri=containers[0].get("ModelDataUrl", ""),
        image_uri=containers[0].get("Image", ""),
        metadata=metadata,
        approval_description=raw.get("ApprovalDescription") or "",
        evaluation_uri=metadata.get("evaluation_uri")
        or (metrics.get("Statistics") or {}).get("S3Uri", ""),
    )


def _arn_for(arn_or_version: str | int, settings: Settings) -> str:
    text = str(arn_or_version).strip()
    if text.startswith("arn:"):
        return text
    if not text.isdigit():
        raise PackageError(f"model package {text!r} is neither an ARN nor a version number")
    return (
        f"arn:aws:sagemaker:{settings.region}:{settings.account_id}:model-package/"
        f"{settings.model_name}/{int(text)}"
    )


def describe(arn_or_version: str | int, settings: Settings | None = None) -> Candidate:
    """The package as the registry has it now (ARN or version number of our group)."""
    from botocore.exceptions import ClientError

    settings = settings or get_settings()
    arn = _arn_for(arn_or_version, settings)
    try:
        return _from_raw(_raw(arn, settings))
    except ClientError as exc:
        raise PackageError(
            f"model package {arn_or_version!r} not found in group {settings.model_name}: "
            f"{exc.response['Error'].get('Message', exc)}"
        ) from exc


def list_candidates(settings: Settings | None = None) -> list[Candidate]:
    """All packages of the group, newest first."""
    settings = settings or get_settings()
    sagemaker = aws_client("sagemaker", settings)
    arns: list[str] = []
    kwargs: dict[str, Any] = {"ModelPackageGroupName": settings.model_name}
    while True:
        page = sagemaker.list_model_packages(**kwargs)
        arns += [p["ModelPackageArn"] for p in page.get("ModelPackageSummaryList", [])]
        if not page.get("NextToken"):
            break
        kwargs["NextToken"] = page["NextToken"]
    packages = [_from_raw(_raw(arn, settings)) for arn in arns]
    return sorted(packages, key=lambda p: p.version, reverse=True)


def newest_deployable(settings: Settings | None = None) -> Candidate:
    """The newest package that is PendingManualApproval or Approved (the Param's default)."""
    for package in list_candidates(settings):
        if package.approval_status in (PENDING, APPROVED):
            return package
    settings = settings or get_settings()
    raise PackageError(
        f"no PendingManualApproval or Approved package in group {settings.model_name}: "
        "train and register one first (train_and_register DAG)"
    )


def set_status(arn: str, status: str, description: str, settings: Settings | None = None) -> None:
    """Set the approval status (keeping the package's metadata)."""
    if status not in STATUSES:
        raise ValueError(f"unknown approval status {status!r}")
    from image_mlops import registry

    registry.set_approval_status(arn, status, description, settings or get_settings())


def load_evaluation(candidate: Candidate, settings: Settings | None = None) -> dict[str, Any]:
    """evaluation.json of the package ({} when it has none or it cannot be read)."""
    if not candidate.evaluation_uri.startswith("s3://"):
        return {}
    from image_mlops.aws import s3_hook

    bucket, _, key = candidate.evaluation_uri[5:].partition("/")
    try:
        return json.loads(s3_hook(settings).read_key(key, bucket))
    except Exception:
        return {}
