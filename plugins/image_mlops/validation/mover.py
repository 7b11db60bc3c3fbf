"""Moving objects safely on S3: copy → verify (size + SHA-256 checksum) → delete.

Standalone on purpose (standard library only; the S3 client is passed in), so the Lambda zip
ships this file as ``image_mover.py`` next to ``image_checks.py``. The conditional writes
(``IfNoneMatch="*"``) give claims and content-index markers "first writer wins" semantics.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

#: A claim older than this is considered abandoned (its run crashed) and may be taken over.
CLAIM_TTL_SECONDS = 3600


class MoveError(RuntimeError):
    """A copy could not be verified; the source is left in place (nothing lost)."""


def _code(exc: Exception) -> str:
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def is_missing(exc: Exception) -> bool:
    return _code(exc) in ("404", "NoSuchKey", "NotFound")


def _is_precondition(exc: Exception) -> bool:
    return _code(exc) in ("412", "PreconditionFailed", "ConditionalRequestConflict")


def b64_sha256(hex_digest: str) -> str:
    """The form S3 uses for ``ChecksumSHA256``."""
    return base64.b64encode(bytes.fromhex(hex_digest)).decode()


def head(s3: Any, bucket: str, key: str) -> dict | None:
    """``head_object`` with the checksum, or ``None`` when the object does not exist."""
    try:
        return s3.head_object(Bucket=bucket, Key=key, ChecksumMode="ENABLED")
    except Exception as exc:
        if is_missing(exc):
            return None
        raise


def read_text(s3: Any, bucket: str, key: str) -> str | None:
    try:
        return s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode()
    except Exception as exc:
        if is_missing(exc):
            return None
        raise


def copy_verified(
    s3: Any,
    *,
    src_bucket: str,
    src_key: str,
    dst_bucket: str,
    dst_key: str,
    sha256: str,
    size: int,
    src_etag: str | None = None,
    metadata: dict[str, str] | None = None,
    content_type: str | None = None,
) -> None:
    """Server-side copy, then check the destination's size and SHA-256 against ours.

    ``src_etag`` makes the copy conditional on the source still being the bytes we checked.
    ``metadata`` replaces the user metadata (callers merge the source's own metadata in);
    ``None`` keeps the source's metadata as is.
    """
    params: dict[str, Any] = {
        "Bucket": dst_bucket,
        "Key": dst_key,
        "CopySource": {"Bucket": src_bucket, "Key": src_key},
        "ChecksumAlgorithm": "SHA256",
    }
    if src_etag:
        params["CopySourceIfMatch"] = src_etag
    if metadata is not None:
        params["MetadataDirective"] = "REPLACE"
        params["Metadata"] = metadata
        if content_type:
            params["ContentType"] = content_type
    s3.copy_object(**params)
    verify(s3, dst_bucket, dst_key, sha256=sha256, size=size)


def verify(s3: Any, bucket: str, key: str, *, sha256: str, size: int) -> None:
    """Raise :class:`MoveError` unless ``bucket/key`` holds exactly ``size`` bytes of ``sha256``."""
    meta = head(s3, bucket, key)
    if meta is None:
        raise MoveError(f"copy to s3://{bucket}/{key} is missing after the copy")
    if meta["ContentLength"] != size:
        raise MoveError(f"s3://{bucket}/{key} has {meta['ContentLength']} bytes, expected {size}")
    checksum = meta.get("ChecksumSHA256")
    if checksum is None:  # the store kept no checksum: hash the copy ourselves
        import hashlib

        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        ok = hashlib.sha256(body).hexdigest() == sha256
    else:
        ok = checksum.split("-")[0] == b64_sha256(sha256)
    if not ok:
        raise MoveError(f"s3://{bucket}/{key} does not have sha256 {sha256}")


def delete(s3: Any, bucket: str, key: str) -> None:
    """Delete an object (deleting a missing object is not an error: retries are safe)."""
    s3.delete_object(Bucket=bucket, Key=key)


def put_if_absent(s3: Any, bucket: str, key: str, body: str) -> str:
    """Write ``body`` unless ``key`` exists; return the value that is there now (first wins)."""
    try:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode(), IfNoneMatch="*")
        return body
    except Exception as exc:
        if not _is_precondition(exc):
            raise
    existing = read_text(s3, bucket, key)
    return body if existing is None else existing


def claim(s3: Any, bucket: str, key: str, owner: str, now: float | None = None) -> str:
    """Claim ``key`` for ``owner``; return the owner holding it (a stale claim is taken over)."""
    now = time.time() if now is None else now
    body = json.dumps({"owner": owner, "at": now})
    held = json.loads(put_if_absent(s3, bucket, key, body))
    if held["owner"] != owner and now - float(held.get("at", 0)) > CLAIM_TTL_SECONDS:
        s3.put_object(Bucket=bucket, Key=key, Body=body.encode())
        return owner
    return held["owner"]
