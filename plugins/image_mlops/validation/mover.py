"""Moving objects safely on S3: copy → verify (size + SHA-256 checksum) → delete.

Standalone on purpose (standard library only; the S3 client is passed in), so the Lambda zip
ships this file as ``image_mover.py`` next to ``image_checks.py``. The conditional writes
(``IfNoneMatch="*"``) give claims and content-index markers "first writer wins" semantics;
deletes are conditional on the version that was checked (``If-Match`` on its ETag, or its
version id), so an upload made during a move is never deleted with the object it replaced.
"""

from __future__ import annotations

import base64
import json
import time
from typing import Any

#: How long a claim holds when its writer neither finishes nor releases it (a killed
#: worker): after this, any other attempt may take the object over.
DEFAULT_CLAIM_LEASE_SECONDS = 45
#: S3's limit on user metadata: the UTF-8 bytes of every name and value.
MAX_METADATA_BYTES = 2048


class MoveError(RuntimeError):
    """A copy could not be verified; the source is left in place (nothing lost)."""


PRECONDITION_CODES = ("412", "PreconditionFailed", "ConditionalRequestConflict")


def error_code(exc: Exception) -> str:
    """S3's error code of a botocore ``ClientError`` (``""`` for anything else)."""
    return str(getattr(exc, "response", {}).get("Error", {}).get("Code", ""))


def is_missing(exc: Exception) -> bool:
    return error_code(exc) in ("404", "NoSuchKey", "NotFound")


def _is_precondition(exc: Exception) -> bool:
    return error_code(exc) in PRECONDITION_CODES


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
    if checksum is None or "-" in checksum:
        # no checksum kept, or one of the parts' checksums (``...-N``, a multipart object),
        # which is no digest of the bytes: hash the copy ourselves
        import hashlib

        body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        ok = hashlib.sha256(body).hexdigest() == sha256
    else:
        ok = checksum == b64_sha256(sha256)
    if not ok:
        raise MoveError(f"s3://{bucket}/{key} does not have sha256 {sha256}")


def delete(
    s3: Any, bucket: str, key: str, *, etag: str | None = None, version_id: str | None = None
) -> bool:
    """Delete the version of ``key`` that was checked; ``False`` when it was replaced.

    With ``version_id`` exactly that version goes (a newer upload is another version); with
    ``etag`` the delete is conditional (``If-Match``): a new upload under the key since then
    stays in place, for the next run. An object already gone counts as deleted (a retry).
    """
    params: dict[str, Any] = {"Bucket": bucket, "Key": key}
    if version_id:
        params["VersionId"] = version_id
    elif etag:
        params["IfMatch"] = etag
    try:
        s3.delete_object(**params)
    except Exception as exc:
        if is_missing(exc):
            return True
        if _is_precondition(exc):
            return False
        raise
    return True


def metadata_bytes(metadata: dict[str, str]) -> int:
    """User metadata size as S3 measures it (names without ``x-amz-meta-``, and values)."""
    return sum(len(k.encode()) + len(v.encode()) for k, v in metadata.items())


def carriable(metadata: dict[str, str]) -> str | None:
    """Why ``metadata`` cannot be sent on in a request (``None``: it can)."""
    for name, value in metadata.items():
        if not (name.isascii() and value.isascii()):
            return f"metadata {name!r} is not ASCII (S3 returns such values RFC 2047-encoded)"
    return None


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


def claim(
    s3: Any,
    bucket: str,
    key: str,
    owner: dict[str, Any],
    lease_seconds: float = DEFAULT_CLAIM_LEASE_SECONDS,
    now: float | None = None,
) -> tuple[str | None, dict[str, Any]]:
    """Take the lease ``key`` for ``owner`` (``run_id``, ``batch``, ``try``).

    Returns ``(etag, record)``: the ETag of our claim object when we hold the lease (release
    it with that ETag), else ``None`` and the holder's record. A lease is taken over when it
    has expired, or when it belongs to an earlier try of the same run's batch (that try is
    over: Airflow runs one try at a time); the take-over is conditional on the ETag read, so
    of two attempts taking over at once exactly one wins.
    """
    now = time.time() if now is None else now
    record = {**owner, "at": now, "expires": now + lease_seconds}
    body = json.dumps(record).encode()
    for _ in range(3):
        try:
            return s3.put_object(Bucket=bucket, Key=key, Body=body, IfNoneMatch="*")["ETag"], record
        except Exception as exc:
            if not _is_precondition(exc):
                raise
        try:
            current = s3.get_object(Bucket=bucket, Key=key)
        except Exception as exc:
            if is_missing(exc):
                continue  # released in between: try to create it again
            raise
        held = json.loads(current["Body"].read())
        held.setdefault("run_id", held.get("owner"))  # a claim written before leases
        expires = float(held.get("expires", float(held.get("at", 0)) + lease_seconds))
        same_batch = (held.get("run_id"), held.get("batch")) == (owner["run_id"], owner["batch"])
        if not same_batch and now < expires:
            return None, held
        try:
            put = s3.put_object(Bucket=bucket, Key=key, Body=body, IfMatch=current["ETag"])
            return put["ETag"], record
        except Exception as exc:
            if not (_is_precondition(exc) or is_missing(exc)):
                raise
    current_body = read_text(s3, bucket, key)
    return None, json.loads(current_body) if current_body else {"run_id": "unknown"}


def release(s3: Any, bucket: str, key: str, etag: str) -> None:
    """Give a lease back, unless another attempt has taken it over since."""
    delete(s3, bucket, key, etag=etag)
