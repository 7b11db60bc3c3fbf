"""The emulator's S3 rules behave as S3 does (each rule against the documented AWS behaviour).

* keys over 1,024 bytes: ``KeyTooLongError``; user metadata over 2 KB: ``MetadataTooLarge``;
* a metadata value sent with UTF-8 bytes comes back RFC 2047-encoded, and can be copied on;
* ``CopySourceIfMatch`` with another ETag: ``PreconditionFailed``;
* a bucket policy enforcing conditional writes refuses plain PUTs and copies on its keys.
"""

from __future__ import annotations

import base64
import contextlib
import email.header
import json

import botocore.exceptions
import pytest
from validation_corpus import put_raw_http

from image_mlops_dev.emulator.s3.rules import rfc2047_value
from image_mlops_dev.stack.settings import get_stack_settings

pytestmark = pytest.mark.stack


@pytest.fixture(scope="session")
def aws(admin):
    """The emulator's own behaviour is under test here, not the template's permissions: the
    stack's bootstrap key (the roles' refusals are test_emulator_enforcement.py's)."""
    return admin


BUCKET = "image-mlops-rules-test"


@pytest.fixture
def bucket(aws):
    with contextlib.suppress(aws.s3.exceptions.BucketAlreadyOwnedByYou):
        aws.s3.create_bucket(Bucket=BUCKET)
    aws.s3.delete_bucket_policy(Bucket=BUCKET)
    for key in aws.keys(BUCKET):
        aws.s3.delete_object(Bucket=BUCKET, Key=key)
    return BUCKET


def _code(exc: botocore.exceptions.ClientError) -> str:
    return exc.response["Error"]["Code"]


def _raw_put(settings, key: str, headers: dict[str, bytes], body: bytes = b"x") -> int:
    return put_raw_http(get_stack_settings().emulator_url, BUCKET, key, headers, body)


def test_a_key_over_1024_bytes_is_refused_as_by_s3(aws, bucket):
    aws.s3.put_object(Bucket=bucket, Key="k" * 1024, Body=b"ok")  # exactly the limit
    for key in ("k" * 1025, "ü" * 513):  # 1,025 and 1,026 bytes
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            aws.s3.put_object(Bucket=bucket, Key=key, Body=b"x")
        assert _code(caught.value) == "KeyTooLongError"
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            aws.s3.copy_object(
                Bucket=bucket, Key=key, CopySource={"Bucket": bucket, "Key": "k" * 1024}
            )
        assert _code(caught.value) == "KeyTooLongError"
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            aws.s3.create_multipart_upload(Bucket=bucket, Key=key)
        assert _code(caught.value) == "KeyTooLongError"
    assert aws.keys(bucket) == ["k" * 1024]


def test_more_than_2kb_of_user_metadata_is_refused_as_by_s3(aws, bucket):
    # names (without x-amz-meta-) and values count: 4 + 2044 = 2048 bytes fits
    aws.s3.put_object(Bucket=bucket, Key="fits", Body=b"x", Metadata={"name": "v" * 2044})
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.put_object(Bucket=bucket, Key="big", Body=b"x", Metadata={"name": "v" * 2045})
    assert _code(caught.value) == "MetadataTooLarge"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.copy_object(
            Bucket=bucket,
            Key="big",
            CopySource={"Bucket": bucket, "Key": "fits"},
            MetadataDirective="REPLACE",
            Metadata={"a": "v" * 1500, "b": "w" * 1500},
        )
    assert _code(caught.value) == "MetadataTooLarge"
    # a copy that keeps the source's metadata is not measured again
    aws.s3.copy_object(Bucket=bucket, Key="copy", CopySource={"Bucket": bucket, "Key": "fits"})
    assert sorted(aws.keys(bucket)) == ["copy", "fits"]


def test_non_ascii_metadata_comes_back_rfc2047_encoded_and_copies_on(aws, bucket, settings):
    value = "Café ☕ – größer"
    status = _raw_put(settings, "incoming/cafe.jpg", {"x-amz-meta-title": value.encode()})
    assert status == 200
    meta = aws.s3.head_object(Bucket=bucket, Key="incoming/cafe.jpg")["Metadata"]
    assert meta["title"].isascii() and meta["title"].startswith("=?UTF-8?B?")
    ((decoded, charset),) = email.header.decode_header(meta["title"])
    assert decoded.decode(charset) == value
    got = aws.s3.get_object(Bucket=bucket, Key="incoming/cafe.jpg")["Metadata"]
    assert got == meta
    # what used to wedge validation: carrying the value over in a REPLACE copy
    aws.s3.copy_object(
        Bucket=bucket,
        Key="copied.jpg",
        CopySource={"Bucket": bucket, "Key": "incoming/cafe.jpg"},
        MetadataDirective="REPLACE",
        Metadata={**meta, "run-id": "r1"},
    )
    assert aws.s3.head_object(Bucket=bucket, Key="copied.jpg")["Metadata"]["title"] == meta["title"]
    # ASCII values are returned as they were sent
    assert rfc2047_value("plain") == "plain"
    assert base64.b64decode(rfc2047_value("é".encode().decode("latin-1"))[10:-2]) == "é".encode()


def test_copy_source_if_match_is_honoured(aws, bucket):
    etag = aws.s3.put_object(Bucket=bucket, Key="src", Body=b"one")["ETag"]
    aws.s3.copy_object(
        Bucket=bucket,
        Key="dst",
        CopySource={"Bucket": bucket, "Key": "src"},
        CopySourceIfMatch=etag,
        MetadataDirective="REPLACE",
        Metadata={"a": "b"},
    )
    aws.s3.put_object(Bucket=bucket, Key="src", Body=b"two")  # changed since it was read
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.copy_object(
            Bucket=bucket,
            Key="dst",
            CopySource={"Bucket": bucket, "Key": "src"},
            CopySourceIfMatch=etag,
            MetadataDirective="REPLACE",
            Metadata={"a": "c"},
        )
    assert _code(caught.value) == "PreconditionFailed"
    assert aws.s3.get_object(Bucket=bucket, Key="dst")["Body"].read() == b"one"


def test_a_policy_enforcing_conditional_writes_refuses_overwrites(aws, bucket):
    policy = {
        "Version": "2012-10-17",
        "Statement": [
            {
                "Sid": "RegisteredVersionsAreWriteOnce",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "NotResource": [f"arn:aws:s3:::{bucket}/clf/candidates/*"],
                "Condition": {"Null": {"s3:if-none-match": "true"}},
            },
            {  # no condition: moto's own evaluation still applies it
                "Sid": "NothingUnderLocked",
                "Effect": "Deny",
                "Principal": "*",
                "Action": "s3:PutObject",
                "Resource": f"arn:aws:s3:::{bucket}/clf/candidates/locked/*",
            },
        ],
    }
    aws.s3.put_bucket_policy(Bucket=bucket, Policy=json.dumps(policy))
    aws.s3.put_object(Bucket=bucket, Key="clf/candidates/r1/model.tar.gz", Body=b"v1")
    aws.s3.put_object(Bucket=bucket, Key="clf/candidates/r1/model.tar.gz", Body=b"v1b")
    aws.s3.put_object(Bucket=bucket, Key="clf/1/model.tar.gz", Body=b"v1", IfNoneMatch="*")
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.put_object(Bucket=bucket, Key="clf/1/model.tar.gz", Body=b"evil", IfNoneMatch="*")
    assert _code(caught.value) == "PreconditionFailed"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.put_object(Bucket=bucket, Key="clf/1/model.tar.gz", Body=b"evil")
    assert _code(caught.value) == "AccessDenied"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.copy_object(
            Bucket=bucket,
            Key="clf/1/model.tar.gz",
            CopySource={"Bucket": bucket, "Key": "clf/candidates/r1/model.tar.gz"},
        )
    assert _code(caught.value) == "AccessDenied"
    assert aws.s3.get_object(Bucket=bucket, Key="clf/1/model.tar.gz")["Body"].read() == b"v1"
    with pytest.raises(botocore.exceptions.ClientError) as caught:
        aws.s3.put_object(Bucket=bucket, Key="clf/candidates/locked/x", Body=b"x", IfNoneMatch="*")
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
    # the policy is read again once it changes
    aws.s3.delete_bucket_policy(Bucket=bucket)
    aws.s3.put_object(Bucket=bucket, Key="clf/1/model.tar.gz", Body=b"now allowed")
