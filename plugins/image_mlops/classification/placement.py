"""Put a classified image into its class folder of the output bucket.

``predictions/<class>/<path>`` or, below the confidence threshold, ``predictions/_uncertain/
<path>``, where ``<path>`` is the image's path below ``incoming/`` (keys from
:mod:`image_mlops.s3layout`): the same image always lands on the same key, so a rerun
overwrites instead of duplicating, and two images of one basename never share a key. When an
earlier model placed the same image elsewhere, the image *moves*: copy to the new key →
verify the copy → delete the old key. Only keys of the image's own path are ever deleted:
a placement never removes a key another image owns.

The copy is conditional on the ETag of the source version the batch read
(``CopySourceIfMatch``: the same object, so its ETag names that version), and asks S3 for the
copy's SHA-256 checksum (``ChecksumAlgorithm="SHA256"``): the checksum in the copy's own
response, compared with the sha256 of the bytes that were classified, proves the file placed
is that content (no HEAD). The ETags of the source and the copy are never compared: S3's ETag
of an SSE-KMS object, as the template's buckets encrypt them, is no digest of its bytes.
Without a full-object checksum to compare (no sha256 given, or a checksum of part checksums,
``...-N``), a HEAD checks the copy's size before a stale placement is deleted.
"""

from __future__ import annotations

import base64
import logging
import re
from dataclasses import dataclass, field
from typing import Any

from image_mlops import s3layout
from image_mlops.config import Settings

log = logging.getLogger(__name__)

_UNSAFE_CLASS_CHARS = re.compile(r"[^\w.-]+")


class PlacementError(RuntimeError):
    """A copy could not be verified; the old placement is kept (retry the task)."""


class SourceChanged(PlacementError):
    """The source object changed after the batch read it: classify it again (next run)."""


def class_folder(label: str) -> str:
    """A model label as one safe key segment (``"wine glass"`` → ``wine_glass``)."""
    folder = _UNSAFE_CLASS_CHARS.sub("_", label).strip("._")
    if not folder or folder == s3layout.UNCERTAIN_CLASS:
        folder = f"class_{folder or 'unnamed'}"
    return folder


def target_key(source_key: str, label: str | None, uncertain: bool) -> str:
    if uncertain or not label:
        return s3layout.uncertain_key(source_key)
    return s3layout.prediction_key(class_folder(label), source_key)


@dataclass
class Placement:
    source_key: str
    target_key: str
    size: int | None = None
    stale_keys: set[str] = field(default_factory=set)
    #: ETag of the source as the batch read it (unquoted); None: copy whatever is there.
    source_etag: str | None = None
    #: sha256 (hex) of the bytes that were classified; the copy's checksum must be theirs.
    sha256: str | None = None


def b64_sha256(hex_digest: str) -> str:
    """A sha256 (hex) in the form S3 gives ``ChecksumSHA256`` (base64 of the digest)."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def own_stale_keys(placement: Placement) -> list[str]:
    """The earlier placements of this very image: other class folders, the same path.

    A key of another path (an image of the same content elsewhere, or a placement made
    before output keys kept the path) belongs to someone else and is never deleted.
    """
    paths = s3layout.placement_paths(placement.source_key)
    return sorted(
        key
        for key in placement.stale_keys
        if key != placement.target_key and s3layout.placed_path(key) in paths
    )


def place(s3: Any, settings: Settings, placement: Placement) -> list[str]:
    """Copy the image to its target; delete stale placements once the copy is verified.

    Returns the stale keys removed. Raises :class:`SourceChanged` when the source no longer
    holds the content that was read (nothing is deleted then).
    """
    from botocore.exceptions import ClientError

    condition = {"CopySourceIfMatch": f'"{placement.source_etag}"'} if placement.source_etag else {}
    try:
        copied = s3.copy_object(
            Bucket=settings.output_bucket,
            Key=placement.target_key,
            CopySource={"Bucket": settings.validated_bucket, "Key": placement.source_key},
            ChecksumAlgorithm="SHA256",
            **condition,
        )["CopyObjectResult"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("PreconditionFailed", "412"):
            raise SourceChanged(f"{placement.source_key} changed after it was read") from exc
        raise
    checksum = copied.get("ChecksumSHA256") or ""
    verified = bool(placement.sha256) and bool(checksum) and "-" not in checksum
    if verified and checksum != b64_sha256(placement.sha256 or ""):
        raise SourceChanged(
            f"copy of {placement.source_key} has SHA-256 {checksum}, the content classified "
            f"has {b64_sha256(placement.sha256 or '')}: the source changed after it was read"
        )
    stale = own_stale_keys(placement)
    if not stale:
        return []
    if not verified:
        head = s3.head_object(Bucket=settings.output_bucket, Key=placement.target_key)
        if placement.size is not None and head["ContentLength"] != placement.size:
            raise PlacementError(
                f"copy of {placement.source_key} to {placement.target_key} has "
                f"{head['ContentLength']} bytes, expected {placement.size}: old placement kept"
            )
    s3.delete_objects(
        Bucket=settings.output_bucket,
        Delete={"Objects": [{"Key": key} for key in stale], "Quiet": True},
    )
    log.info("moved %s: %s → %s", placement.source_key, ", ".join(stale), placement.target_key)
    return stale
