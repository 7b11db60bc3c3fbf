"""The bytes that serve are the bytes that were approved.

Registration records the artifact's sha256 (``artifact_sha256``) and, on a versioned models
bucket, its object version (``artifact_version_id``) in the package's metadata, and writes
the version folder ``<group>/<version>/`` once (``IfNoneMatch``; the models bucket's policy
refuses any other write there: :func:`image_mlops.registry.models_bucket_policy`).

Deployment checks the artifact against the package before staging and before production and
puts both values into the SageMaker model's environment (:data:`ENV_ARTIFACT_SHA256`,
:data:`ENV_ARTIFACT_VERSION_ID`). What hands an artifact to SageMaker (a Batch Transform
job) fetches that version and checks its sha256 first, and so does the local emulator's
model server before it serves. A mismatch refuses with :class:`ArtifactIntegrityError`, publishes
one ``ArtifactIntegrityFailures`` datum and so trips the integrity alarm; an endpoint already
serving keeps its approved bytes (they stay addressable by their version id).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re
from dataclasses import dataclass
from typing import Any

from image_mlops.config import Settings, get_settings

log = logging.getLogger(__name__)

ENV_ARTIFACT_SHA256 = "IMAGE_MLOPS_ARTIFACT_SHA256"
ENV_ARTIFACT_VERSION_ID = "IMAGE_MLOPS_ARTIFACT_VERSION_ID"
_READ_CHUNK = 1024 * 1024
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


class ArtifactIntegrityError(RuntimeError):
    """The artifact is not the approved one (or cannot be shown to be): nothing loads it."""


@dataclass(frozen=True)
class ApprovedArtifact:
    """What was approved: where, which bytes (sha256) and, if versioned, which version."""

    url: str
    sha256: str
    version_id: str | None = None

    def environment(self) -> dict[str, str]:
        """The SageMaker model environment entries that carry it to whoever loads it."""
        env = {ENV_ARTIFACT_SHA256: self.sha256}
        if self.version_id:
            env[ENV_ARTIFACT_VERSION_ID] = self.version_id
        return env

    @classmethod
    def from_environment(cls, url: str, environment: dict[str, str]) -> ApprovedArtifact:
        sha = (environment or {}).get(ENV_ARTIFACT_SHA256, "")
        if not _SHA256.match(sha):
            raise ArtifactIntegrityError(
                f"the model serving {url} carries no approved sha256 ({ENV_ARTIFACT_SHA256}): "
                "refusing to load it — deploy the model package with the deploy_model DAG"
            )
        return cls(url, sha, (environment or {}).get(ENV_ARTIFACT_VERSION_ID) or None)


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise ArtifactIntegrityError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


def require_inside_group(url: str, settings: Settings) -> None:
    """A package's ``ModelDataUrl`` must lie in its own group's prefix of the models bucket."""
    prefix = f"s3://{settings.models_bucket}/{settings.model_name}/"
    if not url.startswith(prefix) or "/../" in url or "/./" in url:
        raise ArtifactIntegrityError(
            f"ModelDataUrl {url} is outside the model group's prefix {prefix}: refusing it"
        )


def approved_artifact(
    url: str, metadata: dict[str, str], settings: Settings | None = None
) -> ApprovedArtifact:
    """The approved artifact of a package (its URL and ``CustomerMetadataProperties``)."""
    settings = settings or get_settings()
    require_inside_group(url, settings)
    sha = (metadata or {}).get("artifact_sha256", "")
    if not _SHA256.match(sha):
        raise ArtifactIntegrityError(
            f"the package of {url} records no artifact_sha256: its bytes cannot be verified, "
            "so it is not deployed — register it again with train_and_register"
        )
    return ApprovedArtifact(url, sha, (metadata or {}).get("artifact_version_id") or None)


def _get(s3: Any, approved: ApprovedArtifact) -> dict[str, Any]:
    bucket, key = split_s3_url(approved.url)
    kwargs: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if approved.version_id:
        kwargs["VersionId"] = approved.version_id
    return s3.get_object(**kwargs)


def _refuse(approved: ApprovedArtifact, where: str, found: str, settings) -> None:
    report_failure(approved, where, found, settings)
    raise ArtifactIntegrityError(
        f"{where}: {approved.url} {found}, but sha256 {approved.sha256} was approved — the "
        "artifact is refused (an endpoint already serving keeps its approved bytes). Find out "
        "who replaced it, then deploy an approved package again."
    )


def verify(
    s3: Any, approved: ApprovedArtifact, where: str, settings: Settings | None = None
) -> str | None:
    """Raise unless the object (that version, if known) hashes to the approved sha256.

    Streams the object (artifacts can be large). Returns its version id (``None`` on an
    unversioned bucket). ``where`` names the check in the error and the log
    (``deploy staging``, ``batch transform``).
    """
    from botocore.exceptions import ClientError

    try:
        response = _get(s3, approved)
    except ClientError as exc:
        _refuse(approved, where, f"cannot be read ({exc.response['Error'].get('Code')})", settings)
    hasher = hashlib.sha256()
    for chunk in iter(lambda: response["Body"].read(_READ_CHUNK), b""):
        hasher.update(chunk)
    if hasher.hexdigest() != approved.sha256:
        _refuse(approved, where, f"has sha256 {hasher.hexdigest()}", settings)
    log.info("%s: %s verified (sha256 %s)", where, approved.url, approved.sha256)
    return response.get("VersionId")


def load_verified(
    s3: Any, approved: ApprovedArtifact, where: str, settings: Settings | None = None
) -> bytes:
    """The approved artifact's bytes (that version), checked before they are returned."""
    body = _get(s3, approved)["Body"].read()
    digest = hashlib.sha256(body).hexdigest()
    if digest != approved.sha256:
        _refuse(approved, where, f"has sha256 {digest}", settings)
    return body


def report_failure(
    approved: ApprovedArtifact, where: str, found: str, settings: Settings | None = None
) -> None:
    """One ``ArtifactIntegrityFailures`` datum (the integrity alarm watches it), a log, and
    the ``integrity_refused`` notification."""
    from image_mlops import notifications
    from image_mlops.aws import aws_client
    from image_mlops.monitoring import metrics as m

    settings = settings or get_settings()
    log.error("artifact integrity: %s: %s %s", where, approved.url, found)
    try:
        notifications.notify(
            settings,
            "integrity_refused",
            f"{settings.model_name}: artifact refused ({where})",
            f"{where}: {approved.url} {found}, but sha256 {approved.sha256} was approved. "
            "Nothing loaded it; find out who replaced it, then deploy an approved package again.",
            artifact=approved.url,
        )
    except Exception:  # nor on SNS: the refusal stands whoever hears of it
        log.exception("could not notify integrity_refused")
    now = dt.datetime.now(dt.UTC)
    try:
        aws_client("cloudwatch", settings).put_metric_data(
            Namespace=settings.cloudwatch_namespace,
            MetricData=[m.datum(m.ARTIFACT_INTEGRITY_FAILURES, 1, now, model=settings.model_name)],
        )
    except Exception:  # the refusal itself must not depend on CloudWatch answering
        log.exception("could not publish %s", m.ARTIFACT_INTEGRITY_FAILURES)
