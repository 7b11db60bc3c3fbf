"""S3 ETags as S3 gives them: not an MD5 digest for an object encrypted with SSE-KMS.

moto 5.2.5 gives every object the MD5 of its bytes as its ETag (``"<md5 of the part
MD5s>-<parts>"`` after a multipart upload), whatever its encryption. S3 does so only for
objects stored unencrypted or with SSE-S3. The S3 API Reference, data type ``Object``
(https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html), entry ``ETag``:

    Objects created by the PUT Object, POST Object, or Copy operation, or through the AWS
    Management Console, and are encrypted by SSE-S3 or plaintext, have ETags that are an MD5
    digest of their object data.
    Objects created by the PUT Object, POST Object, or Copy operation, or through the AWS
    Management Console, and are encrypted by SSE-C or SSE-KMS, have ETags that are not an
    MD5 digest of their object data.
    If an object is created by either the Multipart Upload or Part Copy operation, the ETag
    is not an MD5 digest, regardless of the method of encryption.

and the S3 User Guide, "Checking object integrity in Amazon S3"
(https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html), which
tells to check content with the additional checksums (``ChecksumAlgorithm``), not the ETag.

So here, an object whose encryption is SSE-KMS (``aws:kms``, ``aws:kms:dsse``: the bucket's
default encryption, as ``infra/image-mlops.yaml`` sets on every bucket, or the request's
``x-amz-server-side-encryption``) gets an opaque ETag drawn at random when it is written
(PutObject, CopyObject, CompleteMultipartUpload; a multipart upload keeps the ``-<parts>``
suffix). Two writes of the same bytes get two ETags; one object version keeps its ETag on
every answer (PutObject, CopyObject, HeadObject, GetObject, ListObjectsV2) and in every
condition (``If-Match``, ``x-amz-copy-source-if-match``). Objects stored unencrypted or with
SSE-S3 keep moto's MD5 ETag, as on S3.

A random ETag would change when the journal is replayed, and an ETag read before a restart
(a lease's, a move's ``If-Match``) would no longer match. :func:`record` keeps the ETag an
SSE-KMS write was given in its journal record, and :func:`restore_from_journal` gives it back
on replay, as :mod:`.versions` does for version ids.

Tested against that behaviour in ``tests/integration/test_emulator_s3_etags.py``.
"""

from __future__ import annotations

import re
import secrets
from typing import Any
from urllib.parse import parse_qs

from image_mlops_dev.emulator.moto_patches import original, patch
from image_mlops_dev.emulator.s3.rules import bucket_and_key, is_s3_request

#: The journal record's field holding the ETag an SSE-KMS write was given.
JOURNAL_FIELD = "s3_etag"
_ETAG_IN_BODY = re.compile(rb"<ETag>(?:&quot;|&#34;|\")?([0-9a-fA-F]+(?:-\d+)?)")


def is_kms(encryption: str | None) -> bool:
    """SSE-KMS or DSSE-KMS (``aws:kms``, ``aws:kms:dsse``)."""
    return (encryption or "").startswith("aws:kms")


def opaque_etag(parts: str = "") -> str:
    """An ETag that is no digest of the bytes (``-<parts>`` kept for a multipart upload)."""
    token = secrets.token_hex(16)
    return f"{token}-{parts}" if parts else token


def _given_etag(key: Any) -> None:
    """Give ``key`` (a FakeKey just written) an opaque ETag when SSE-KMS encrypts it."""
    if not is_kms(key.encryption):
        return
    given = key._etag or ""  # moto sets it only for a multipart upload: "<md5>-<parts>"
    parts = given.rpartition("-")[2] if "-" in given else ""
    key._etag = opaque_etag(parts)


def apply() -> None:
    from moto.s3.models import S3Backend

    put_object = original(S3Backend, "put_object")

    def put_object_with_s3_etag(self: Any, *args: Any, **kwargs: Any) -> Any:
        key = put_object(self, *args, **kwargs)
        _given_etag(key)
        return key

    patch(S3Backend, "put_object", put_object_with_s3_etag)


def _header(headers: Any, name: str) -> str | None:
    return next((v for k, v in headers if k.lower() == name), None)


def record(
    environ: dict[str, Any], headers: list[tuple[str, str]], chunks: list[bytes]
) -> dict[str, Any]:
    """The journal's recorder: the ETag an SSE-KMS object write (PutObject, CopyObject,
    CompleteMultipartUpload) was given, for :func:`restore_from_journal`."""
    if not is_s3_request(environ) or not is_kms(_header(headers, "x-amz-server-side-encryption")):
        return {}
    method = environ.get("REQUEST_METHOD", "").upper()
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if method == "PUT" and "uploadId" not in query:  # PutObject, CopyObject (not UploadPart)
        etag = _header(headers, "etag")
    elif method == "POST" and "uploadId" in query:  # CompleteMultipartUpload: in the body
        found = _ETAG_IN_BODY.search(b"".join(chunks))
        etag = found.group(1).decode() if found else None
    else:
        return {}
    return {JOURNAL_FIELD: etag.strip('"')} if etag else {}


def restore_from_journal(header: dict[str, Any]) -> None:
    """The replay's restorer: the object a journaled SSE-KMS write made gets its ETag back."""
    etag = header.get(JOURNAL_FIELD)
    if not etag:
        return
    from moto.core import DEFAULT_ACCOUNT_ID
    from moto.s3.models import s3_backends

    bucket_name, key_name = bucket_and_key(header["path"])
    bucket = s3_backends[DEFAULT_ACCOUNT_ID]["aws"].buckets.get(bucket_name)
    versions = bucket.keys.getlist(key_name, []) if bucket is not None else []
    if versions and hasattr(versions[-1], "_etag"):  # not a delete marker
        versions[-1]._etag = etag
