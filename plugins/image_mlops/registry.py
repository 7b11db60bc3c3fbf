"""The SageMaker Model Registry for our model package group (``settings.model_name``).

Artifacts: a training run writes ``<group>/candidates/<run>/`` (model.tar.gz, evaluation.json,
baseline.json). :func:`register_model_package` reserves the next free version folder
``<group>/<n>/`` with a conditional write of ``_reservation.json`` (two registrations at once
never share a folder: the loser takes the next number), writes the three files there once
(``IfNoneMatch``, after checking the candidate artifact's sha256) and creates the package
pointing there, with status ``PendingManualApproval``, the artifact's sha256 and object
version in its metadata. It is idempotent per training run: a package whose
``training_run_id`` metadata matches is returned instead of creating a second one (and the
ClientToken is derived from the run id); a retry finds its own reservation.

Registered folders are immutable: :func:`models_bucket_policy` is the models bucket's policy
that refuses every write under ``<group>/<n>/`` that is not a create (``If-None-Match``).
"""

from __future__ import annotations

import getpass
import hashlib
import json
import logging
import re
import subprocess
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from image_mlops import __version__, s3layout
from image_mlops.aws import aws_client, is_precondition_failed
from image_mlops.config import PROJECT_ROOT, Settings
from image_mlops.serving.container import CONTAINER_ENVIRONMENT

log = logging.getLogger(__name__)
CONTENT_TYPES = ["image/jpeg", "image/png", "application/json"]
RESPONSE_TYPES = ["application/json"]
PENDING, APPROVED, REJECTED = "PendingManualApproval", "Approved", "Rejected"
APPROVAL_STATUSES = (PENDING, APPROVED, REJECTED)


class PackageNotFound(LookupError):
    """No such package in our group, or none to deploy (the message says what to do)."""


@dataclass(frozen=True)
class ModelPackage:
    """A version of the model package group, as ``DescribeModelPackage`` answers: the one
    reader is :func:`describe_package` (and :func:`list_packages`)."""

    arn: str
    version: int
    approval_status: str
    artifact_uri: str
    image_uri: str = ""
    metadata: dict[str, str] = field(default_factory=dict)
    #: ``ModelMetrics.ModelQuality.Statistics``, where :func:`build_request` registers it
    evaluation_uri: str = ""
    baseline_uri: str = ""
    approval_description: str = ""
    created: datetime | None = None

    @property
    def accuracy(self) -> float | None:
        """The registered test accuracy (metadata ``accuracy``), None when absent."""
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
    return aws_client("sagemaker", settings)


def read_package(described: dict) -> ModelPackage:
    """The package of a ``DescribeModelPackage`` answer."""
    container = (described.get("InferenceSpecification", {}).get("Containers") or [{}])[0]
    metadata = dict(described.get("CustomerMetadataProperties") or {})
    statistics = described.get("ModelMetrics", {}).get("ModelQuality", {}).get("Statistics", {})
    return ModelPackage(
        arn=described["ModelPackageArn"],
        version=int(described.get("ModelPackageVersion") or 0),
        approval_status=described.get("ModelApprovalStatus", ""),
        artifact_uri=container.get("ModelDataUrl", ""),
        image_uri=container.get("Image", ""),
        metadata=metadata,
        # The registry's own field first; the metadata holds a copy (cut to 256 characters).
        evaluation_uri=statistics.get("S3Uri") or metadata.get("evaluation_uri", ""),
        baseline_uri=metadata.get("baseline_uri", ""),
        approval_description=described.get("ApprovalDescription", ""),
        created=described.get("CreationTime"),
    )


def package_arn(settings: Settings, arn_or_version: str | int) -> str:
    """The ARN of a package of our group given its ARN or its version number."""
    text = str(arn_or_version).strip()
    if text.startswith("arn:"):
        return text
    if not text.isdigit():
        raise PackageNotFound(f"model package {text!r} is neither an ARN nor a version number")
    # SageMaker writes the group's name in lower case in its packages' ARNs
    return (
        f"arn:aws:sagemaker:{settings.region}:{settings.account_id}:model-package/"
        f"{settings.model_name.lower()}/{int(text)}"
    )


def describe_package(settings: Settings, arn_or_version: str | int) -> ModelPackage:
    """The package as the registry has it now (ARN or version number of our group)."""
    from botocore.exceptions import ClientError

    arn = package_arn(settings, arn_or_version)
    try:
        return read_package(_client(settings).describe_model_package(ModelPackageName=arn))
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") not in (
            "ValidationException",
            "ResourceNotFound",
        ):
            raise
        raise PackageNotFound(
            f"model package {arn_or_version!r} not found in group {settings.model_name}: "
            f"{exc.response['Error'].get('Message', exc)}"
        ) from exc


def list_packages(settings: Settings, approval_status: str | None = None) -> list[ModelPackage]:
    """Packages of the group, newest (highest version) first."""
    client = _client(settings)
    kwargs: dict[str, Any] = {"ModelPackageGroupName": settings.model_name}
    if approval_status:
        kwargs["ModelApprovalStatus"] = approval_status
    arns = []
    paginator = client.get_paginator("list_model_packages")
    for page in paginator.paginate(**kwargs):
        arns += [s["ModelPackageArn"] for s in page.get("ModelPackageSummaryList", [])]
    packages = [read_package(client.describe_model_package(ModelPackageName=a)) for a in arns]
    return sorted(packages, key=lambda p: p.version, reverse=True)


def latest_package(settings: Settings, approval_status: str | None = None) -> ModelPackage | None:
    packages = list_packages(settings, approval_status)
    return packages[0] if packages else None


def newest_deployable(settings: Settings) -> ModelPackage:
    """The newest package that is PendingManualApproval or Approved (deploy_model's default)."""
    for package in list_packages(settings):
        if package.approval_status in (PENDING, APPROVED):
            return package
    raise PackageNotFound(
        f"no PendingManualApproval or Approved package in group {settings.model_name}: "
        "train and register one first (train_and_register DAG)"
    )


def set_approval_status(settings: Settings, arn: str, status: str, description: str = "") -> None:
    """Set the approval status (the package keeps its metadata)."""
    if status not in APPROVAL_STATUSES:
        raise ValueError(f"unknown approval status {status!r}: one of {APPROVAL_STATUSES}")
    kwargs: dict[str, Any] = {"ModelPackageArn": arn, "ModelApprovalStatus": status}
    if description:
        kwargs["ApprovalDescription"] = description[:1000]
    _client(settings).update_model_package(**kwargs)


def load_evaluation(settings: Settings, package: ModelPackage) -> dict:
    """The package's ``evaluation.json``."""
    if not package.evaluation_uri:
        raise ValueError(f"package {package.arn} has no evaluation_uri")
    bucket, _, key = package.evaluation_uri.removeprefix("s3://").partition("/")
    body = aws_client("s3", settings).get_object(Bucket=bucket, Key=key)
    return json.loads(body["Body"].read())


def find_by_training_run(settings: Settings, training_run_id: str) -> ModelPackage | None:
    for package in list_packages(settings):
        if package.metadata.get("training_run_id") == training_run_id:
            return package
    return None


# CustomerMetadataProperties values: 1 to 256 characters of letters, numbers, separators and
# ``_.:/=+-@`` (botocore's data/sagemaker/2017-07-24/service-2.json, shape
# CustomerMetadataValue: min 1, max 256, pattern ``([\p{L}\p{Z}\p{N}_.:\/=+\-@]*)${1,256}``;
# SageMaker answers ValidationException for anything else). JSON, commas and percent signs are
# refused, so counts are written as ``source=n`` words, free text has its other punctuation
# replaced, and an empty value is left out.
METADATA_VALUE_MAX = 256
_METADATA_PUNCTUATION = frozenset("_.:/=+-@")
_METADATA_REPLACEMENTS = {",": " /", ";": " /", "%": " pct", "(": "- ", ")": "", "'": "", '"': ""}


def _metadata_char_allowed(char: str) -> bool:
    import unicodedata

    return char in _METADATA_PUNCTUATION or unicodedata.category(char)[0] in "LNZ"


def metadata_text(text: str) -> str:
    """``text`` as a metadata value SageMaker accepts: the common punctuation spelled with
    allowed characters, anything else allowed replaced by ``_``, cut at 256 characters."""
    out = []
    for char in text:
        if _metadata_char_allowed(char):
            out.append(char)
        elif char in _METADATA_REPLACEMENTS:
            out.append(_METADATA_REPLACEMENTS[char])
        else:
            out.append("_")
    return re.sub(r" {2,}", " ", "".join(out)).strip()[:METADATA_VALUE_MAX]


def metadata_values(metadata: dict[str, str]) -> dict[str, str]:
    """``metadata`` as SageMaker accepts it: each value through :func:`metadata_text`, the
    empty ones left out (a value has at least one character)."""
    values = {key: metadata_text(value) for key, value in metadata.items()}
    return {key: value for key, value in values.items() if value}


def encode_counts(counts: dict[str, int]) -> str:
    """``{"feedback": 3, "upload": 150}`` as the metadata value ``feedback=3 upload=150``."""
    return " ".join(
        f"{metadata_text(str(k)).replace(' ', '_')}={int(v)}" for k, v in sorted(counts.items())
    )


def decode_counts(value: str | None) -> dict[str, int]:
    """The counts that :func:`encode_counts` wrote (``{}`` for an empty or missing value)."""
    out = {}
    for word in (value or "").split():
        name, _, count = word.rpartition("=")
        if name and count.isdigit():
            out[name] = int(count)
    return out


RESERVATION_FILE = "_reservation.json"
#: Version folders tried past the registry's latest before giving up (a safety bound).
MAX_RESERVATION_TRIES = 100


class RegistrationError(RuntimeError):
    """The candidate cannot be registered as it is (the message says why)."""


def models_bucket_policy(settings: Settings) -> dict[str, Any]:
    """The models bucket's policy: registered version folders are write-once.

    A ``Deny`` of ``s3:PutObject`` without ``If-None-Match`` on ``<group>/<n>/*`` (S3's
    "enforce conditional writes" form; version folders start with a digit 1-9), so neither a
    PutObject that would overwrite nor a CopyObject can change a registered artifact. In the
    bucket's policy of ``infra/image-mlops.yaml`` (the emulator enforces it);
    ``image-mlops stack models-bucket-policy`` prints it (development install).
    """
    bucket, group = settings.models_bucket, settings.model_name
    return {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RegisteredModelVersionsAreWriteOnce",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": [f"arn:aws:s3:::{bucket}/{group}/{d}*" for d in "123456789"],
                "Condition": {"Null": {"s3:if-none-match": "true"}},
            }
        ],
    }


def reserve_version_folder(s3: Any, settings: Settings, first: int, training_run_id: str) -> int:
    """The first version folder from ``first`` on that is free, or already this run's."""
    bucket, group = settings.models_bucket, settings.model_name
    body = json.dumps({"training_run_id": training_run_id}).encode()
    for version in range(first, first + MAX_RESERVATION_TRIES):
        key = s3layout.model_prefix(group, version) + RESERVATION_FILE
        try:
            s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")
            return version
        except Exception as exc:
            if not is_precondition_failed(exc):
                raise
        held = json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())
        if held.get("training_run_id") == training_run_id:
            return version  # a retry of this registration
        log.info("version folder %s is taken (run %s)", version, held.get("training_run_id"))
    raise RegistrationError(f"no free version folder in {first}..{first + MAX_RESERVATION_TRIES}")


def _write_once(s3: Any, settings: Settings, source_key: str, target_key: str, sha256=None):
    """Copy a candidate file into its version folder with a create-only PUT; returns
    ``(uri, version id)``. The bytes are checked against ``sha256`` when given; a retry
    that finds the file already written accepts it only with the same bytes."""
    bucket = settings.models_bucket
    body = s3.get_object(Bucket=bucket, Key=source_key)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    if sha256 is not None and digest != sha256:
        raise RegistrationError(
            f"candidate {source_key} has sha256 {digest}, training reported {sha256}: it "
            "changed after training — not registered; run train_and_register again"
        )
    try:
        version_id = s3.put_object(Bucket=bucket, Key=target_key, Body=body, IfNoneMatch="*").get(
            "VersionId"
        )
    except Exception as exc:
        if not is_precondition_failed(exc):
            raise
        existing = s3.get_object(Bucket=bucket, Key=target_key)
        if hashlib.sha256(existing["Body"].read()).hexdigest() != digest:
            raise RegistrationError(
                f"{target_key} already holds other bytes: the version folder is not ours"
            ) from exc
        version_id = existing.get("VersionId")
    return f"s3://{bucket}/{target_key}", version_id


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
                    "Environment": dict(CONTAINER_ENVIRONMENT),
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
    settings: Settings,
    *,
    candidate_prefix: str,
    artifact_sha256: str,
    data_fingerprint: str,
    accuracy: float,
    macro_f1: float,
    training_run_id: str,
    reason: str = "",
    extra_metadata: dict[str, str] | None = None,
) -> ModelPackage:
    """Register the candidate as a new version (PendingManualApproval); idempotent per run.

    ``extra_metadata`` joins the package's ``CustomerMetadataProperties`` (the recent-window
    scores and the labels' lineage)."""
    from image_mlops.training.job import image_uri

    existing = find_by_training_run(settings, training_run_id)
    if existing:
        log.info("training run %s is already registered as %s", training_run_id, existing.arn)
        return existing
    s3 = aws_client("s3", settings)
    latest = latest_package(settings)
    group = settings.model_name
    version = reserve_version_folder(
        s3, settings, (latest.version if latest else 0) + 1, training_run_id
    )
    artifact_uri, artifact_version_id = _write_once(
        s3,
        settings,
        candidate_prefix + s3layout.MODEL_ARTIFACT,
        s3layout.model_artifact_key(group, version),
        sha256=artifact_sha256,
    )
    uris = {
        "artifact": artifact_uri,
        "evaluation": _write_once(
            s3,
            settings,
            candidate_prefix + s3layout.EVALUATION_FILE,
            s3layout.evaluation_key(group, version),
        )[0],
        "baseline": _write_once(
            s3,
            settings,
            candidate_prefix + s3layout.BASELINE_FILE,
            s3layout.baseline_key(group, version),
        )[0],
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
    if artifact_version_id:
        metadata["artifact_version_id"] = artifact_version_id
    if reason:
        metadata["reason"] = reason
    metadata.update(extra_metadata or {})
    metadata = metadata_values(metadata)
    request = build_request(
        settings,
        version_prefix_uris=uris,
        metadata=metadata,
        image_uri=image_uri(settings, "inference"),
        client_token=hashlib.sha256(training_run_id.encode()).hexdigest()[:32],
        description=f"trained by run {training_run_id}" + (f" ({reason})" if reason else ""),
    )
    arn = _client(settings).create_model_package(**request)["ModelPackageArn"]
    package = describe_package(settings, arn)
    if package.version != version:
        log.warning(
            "registry assigned version %s, artifacts are under %s/", package.version, version
        )
    log.info("registered %s (version %s, PendingManualApproval)", arn, package.version)
    return package
