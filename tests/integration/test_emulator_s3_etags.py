"""The emulator's S3 ETags, checksums and bucket encryption are S3's (each against its doc).

* the template's buckets are encrypted as ``infra/image-mlops.yaml`` says (SSE-KMS, bucket
  key), and an object written with no encryption header is SSE-KMS;
* an SSE-KMS object's ETag is not the MD5 of its bytes ("Object", S3 API Reference,
  https://docs.aws.amazon.com/AmazonS3/latest/API/API_Object.html, entry ``ETag``), whether
  the bucket's default or the request's ``x-amz-server-side-encryption`` encrypts it; it is
  the same on every answer for one object version, and a new write gets a new one; an
  unencrypted or SSE-S3 object's ETag is the MD5 of its bytes;
* a multipart upload's ETag is ``<md5 of the parts' MD5s>-<parts>`` unencrypted, and not that
  digest under SSE-KMS (still ``-<parts>``);
* ``ChecksumSHA256`` ("Checking object integrity in Amazon S3", S3 User Guide,
  https://docs.aws.amazon.com/AmazonS3/latest/userguide/checking-object-integrity.html): the
  SHA-256 of the bytes after a PutObject or a CopyObject asking for it, the source's after a
  copy that names no algorithm, ``<sha256 of the parts' sha256s>-<parts>`` with type
  ``COMPOSITE`` after a multipart upload, on HeadObject as on GetObject;
* the ETags survive a restart (the journal keeps them).
"""

from __future__ import annotations

import base64
import contextlib
import hashlib

import botocore.exceptions
import pytest
from private_emulator import PrivateEmulator

pytestmark = pytest.mark.stack

KMS_BUCKET, PLAIN_BUCKET = "image-mlops-etags-kms", "image-mlops-etags-plain"
KMS_DEFAULT = {
    "Rules": [
        {
            "ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms"},
            "BucketKeyEnabled": True,
        }
    ]
}
PART = 5 * 1024 * 1024  # S3's smallest part (but the last)


@pytest.fixture(scope="module")
def s3(admin):
    """The emulator's behaviour is under test, not the template's permissions: the stack's
    bootstrap key, on buckets of this module's own."""
    client = admin.s3
    for bucket in (KMS_BUCKET, PLAIN_BUCKET):
        with contextlib.suppress(client.exceptions.BucketAlreadyOwnedByYou):
            client.create_bucket(Bucket=bucket)
    client.put_bucket_encryption(Bucket=KMS_BUCKET, ServerSideEncryptionConfiguration=KMS_DEFAULT)
    return client


def md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def b64_sha256(data: bytes) -> str:
    return base64.b64encode(hashlib.sha256(data).digest()).decode()


def etag(response: dict) -> str:
    return response["ETag"].strip('"')


def listed_etag(s3, bucket: str, key: str) -> str:
    (obj,) = s3.list_objects_v2(Bucket=bucket, Prefix=key)["Contents"]
    return obj["ETag"].strip('"')


def multipart(s3, bucket: str, key: str, parts: list[bytes], **create) -> dict:
    upload = s3.create_multipart_upload(Bucket=bucket, Key=key, **create)["UploadId"]
    done = []
    for number, body in enumerate(parts, start=1):
        extra = {"ChecksumAlgorithm": create["ChecksumAlgorithm"]} if create else {}
        part = s3.upload_part(
            Bucket=bucket, Key=key, UploadId=upload, PartNumber=number, Body=body, **extra
        )
        done.append(
            {"PartNumber": number, "ETag": part["ETag"]}
            | ({"ChecksumSHA256": part["ChecksumSHA256"]} if create else {})
        )
    return s3.complete_multipart_upload(
        Bucket=bucket, Key=key, UploadId=upload, MultipartUpload={"Parts": done}
    )


def test_the_templates_buckets_are_encrypted_as_the_template_says(admin, settings):
    for bucket in settings.buckets:
        (rule,) = admin.s3.get_bucket_encryption(Bucket=bucket)[
            "ServerSideEncryptionConfiguration"
        ]["Rules"]
        assert rule["ApplyServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms", bucket
        assert rule["BucketKeyEnabled"] is True, bucket
    body = b"written with no encryption header"
    put = admin.s3.put_object(Bucket=settings.raw_bucket, Key="etag-probe", Body=body)
    try:
        assert put["ServerSideEncryption"] == "aws:kms"
        assert put["BucketKeyEnabled"] is True
        assert etag(put) != md5(body)
    finally:
        admin.s3.delete_object(Bucket=settings.raw_bucket, Key="etag-probe")


def test_an_sse_kms_objects_etag_is_not_its_md5_and_is_stable_for_its_version(s3):
    body = b"the same bytes" * 100
    put = s3.put_object(Bucket=KMS_BUCKET, Key="a.jpg", Body=body)
    assert put["ServerSideEncryption"] == "aws:kms"
    tag = etag(put)
    assert len(tag) == 32 and tag != md5(body)
    # one object version, one ETag, on every answer
    assert etag(s3.head_object(Bucket=KMS_BUCKET, Key="a.jpg")) == tag
    assert etag(s3.get_object(Bucket=KMS_BUCKET, Key="a.jpg")) == tag
    assert listed_etag(s3, KMS_BUCKET, "a.jpg") == tag
    assert s3.get_object(Bucket=KMS_BUCKET, Key="a.jpg", IfMatch=put["ETag"])["Body"].read() == body
    # the same bytes under another key, or written again: other ETags
    other = etag(s3.put_object(Bucket=KMS_BUCKET, Key="b.jpg", Body=body))
    assert other not in (tag, md5(body))
    again = etag(s3.put_object(Bucket=KMS_BUCKET, Key="a.jpg", Body=body))
    assert again not in (tag, md5(body))
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.get_object(Bucket=KMS_BUCKET, Key="a.jpg", IfMatch=put["ETag"])
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"

    # a copy: an ETag of its own, as its CopyObject result says; conditional on the source's
    copied = s3.copy_object(
        Bucket=KMS_BUCKET,
        Key="copy.jpg",
        CopySource={"Bucket": KMS_BUCKET, "Key": "a.jpg"},
        CopySourceIfMatch=f'"{again}"',
    )["CopyObjectResult"]
    assert etag(copied) not in (again, md5(body))
    assert etag(s3.head_object(Bucket=KMS_BUCKET, Key="copy.jpg")) == etag(copied)
    assert listed_etag(s3, KMS_BUCKET, "copy.jpg") == etag(copied)
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        s3.copy_object(
            Bucket=KMS_BUCKET,
            Key="copy.jpg",
            CopySource={"Bucket": KMS_BUCKET, "Key": "a.jpg"},
            CopySourceIfMatch=f'"{md5(body)}"',
        )
    assert caught.value.response["Error"]["Code"] == "PreconditionFailed"


def test_the_requests_encryption_decides_on_an_unencrypted_bucket(s3):
    body = b"plain bytes"
    assert etag(s3.put_object(Bucket=PLAIN_BUCKET, Key="plain", Body=body)) == md5(body)
    sse_s3 = s3.put_object(
        Bucket=PLAIN_BUCKET, Key="sse-s3", Body=body, ServerSideEncryption="AES256"
    )
    assert sse_s3["ServerSideEncryption"] == "AES256" and etag(sse_s3) == md5(body)
    kms = s3.put_object(Bucket=PLAIN_BUCKET, Key="kms", Body=body, ServerSideEncryption="aws:kms")
    assert kms["ServerSideEncryption"] == "aws:kms" and etag(kms) != md5(body)
    assert etag(s3.head_object(Bucket=PLAIN_BUCKET, Key="kms")) == etag(kms)
    # a copy into an SSE-KMS bucket is SSE-KMS: no MD5 either
    copied = s3.copy_object(
        Bucket=KMS_BUCKET, Key="from-plain", CopySource={"Bucket": PLAIN_BUCKET, "Key": "plain"}
    )
    assert etag(copied["CopyObjectResult"]) != md5(body)
    # and an SSE-S3 copy of an SSE-KMS object has the MD5 again
    copied = s3.copy_object(
        Bucket=PLAIN_BUCKET, Key="back", CopySource={"Bucket": PLAIN_BUCKET, "Key": "kms"}
    )
    assert etag(copied["CopyObjectResult"]) == md5(body)


def test_a_multipart_uploads_etag_has_its_part_count(s3):
    parts = [b"p" * PART, b"q" * 10]
    s3_formula = hashlib.md5(b"".join(hashlib.md5(p).digest() for p in parts)).hexdigest()
    plain = multipart(s3, PLAIN_BUCKET, "big.tar.gz", parts)
    assert etag(plain) == f"{s3_formula}-2"
    kms = multipart(s3, KMS_BUCKET, "big.tar.gz", parts)
    digest, _, count = etag(kms).partition("-")
    assert count == "2" and len(digest) == 32 and digest != s3_formula
    assert etag(s3.head_object(Bucket=KMS_BUCKET, Key="big.tar.gz")) == etag(kms)
    assert listed_etag(s3, KMS_BUCKET, "big.tar.gz") == etag(kms)


def test_sha256_checksums_on_put_copy_and_multipart(s3):
    body = b"checksummed bytes" * 50
    put = s3.put_object(Bucket=KMS_BUCKET, Key="sum.jpg", Body=body, ChecksumAlgorithm="SHA256")
    assert put["ChecksumSHA256"] == b64_sha256(body)
    head = s3.head_object(Bucket=KMS_BUCKET, Key="sum.jpg", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64_sha256(body)
    got = s3.get_object(Bucket=KMS_BUCKET, Key="sum.jpg", ChecksumMode="ENABLED")
    assert got["ChecksumSHA256"] == b64_sha256(body)

    # a copy asking for SHA-256, of a source that has another checksum (botocore's CRC32)
    s3.put_object(Bucket=KMS_BUCKET, Key="crc.jpg", Body=body)
    crc = s3.head_object(Bucket=KMS_BUCKET, Key="crc.jpg", ChecksumMode="ENABLED")
    assert "ChecksumSHA256" not in crc and crc.get("ChecksumCRC32")
    copied = s3.copy_object(
        Bucket=KMS_BUCKET,
        Key="crc-copy.jpg",
        CopySource={"Bucket": KMS_BUCKET, "Key": "crc.jpg"},
        ChecksumAlgorithm="SHA256",
    )["CopyObjectResult"]
    assert copied["ChecksumSHA256"] == b64_sha256(body)
    # a copy naming no algorithm takes the source's checksum (CopyObject,
    # https://docs.aws.amazon.com/AmazonS3/latest/API/API_CopyObject.html)
    copied = s3.copy_object(
        Bucket=KMS_BUCKET, Key="sum-copy.jpg", CopySource={"Bucket": KMS_BUCKET, "Key": "sum.jpg"}
    )["CopyObjectResult"]
    assert copied["ChecksumSHA256"] == b64_sha256(body)
    head = s3.head_object(Bucket=KMS_BUCKET, Key="sum-copy.jpg", ChecksumMode="ENABLED")
    assert head["ChecksumSHA256"] == b64_sha256(body)

    # a multipart upload: a checksum of the parts' checksums, with the part count
    parts = [b"m" * PART, b"n" * 10]
    multipart(s3, KMS_BUCKET, "parts.bin", parts, ChecksumAlgorithm="SHA256")
    composite = base64.b64encode(
        hashlib.sha256(b"".join(hashlib.sha256(p).digest() for p in parts)).digest()
    ).decode()
    for answer in (
        s3.head_object(Bucket=KMS_BUCKET, Key="parts.bin", ChecksumMode="ENABLED"),
        s3.get_object(Bucket=KMS_BUCKET, Key="parts.bin", ChecksumMode="ENABLED"),
    ):
        assert answer["ChecksumSHA256"] == f"{composite}-2"
        assert answer["ChecksumType"] == "COMPOSITE"
    # which is no SHA-256 of the bytes: a copy asking for one gets the full object's
    copied = s3.copy_object(
        Bucket=KMS_BUCKET,
        Key="parts-copy.bin",
        CopySource={"Bucket": KMS_BUCKET, "Key": "parts.bin"},
        ChecksumAlgorithm="SHA256",
    )["CopyObjectResult"]
    assert copied["ChecksumSHA256"] == b64_sha256(b"".join(parts))


def test_sse_kms_etags_survive_a_restart(tmp_path):
    emulator = PrivateEmulator(tmp_path / "journal.bin", tmp_path / "emulator.log")
    emulator.start()
    try:
        s3 = emulator.client("s3")
        s3.create_bucket(Bucket=KMS_BUCKET)
        s3.put_bucket_encryption(Bucket=KMS_BUCKET, ServerSideEncryptionConfiguration=KMS_DEFAULT)
        put = etag(s3.put_object(Bucket=KMS_BUCKET, Key="a.jpg", Body=b"bytes"))
        copied = etag(
            s3.copy_object(
                Bucket=KMS_BUCKET, Key="b.jpg", CopySource={"Bucket": KMS_BUCKET, "Key": "a.jpg"}
            )["CopyObjectResult"]
        )
        parts = etag(multipart(s3, KMS_BUCKET, "c.bin", [b"c" * PART, b"d"]))
        before = {"a.jpg": put, "b.jpg": copied, "c.bin": parts}

        emulator.crash()
        emulator.start()

        s3 = emulator.client("s3")
        after = {
            obj["Key"]: obj["ETag"].strip('"')
            for obj in s3.list_objects_v2(Bucket=KMS_BUCKET)["Contents"]
        }
        assert after == before
        # a condition read before the restart still holds after it
        s3.delete_object(Bucket=KMS_BUCKET, Key="a.jpg", IfMatch=f'"{put}"')
        assert [o["Key"] for o in s3.list_objects_v2(Bucket=KMS_BUCKET)["Contents"]] == [
            "b.jpg",
            "c.bin",
        ]
    finally:
        emulator.stop()
