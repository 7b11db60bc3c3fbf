"""The emulator's direct path for GetObject / CopyObject answers exactly as moto does.

Two servers run in this process on the same moto state: the emulator's application (direct
path in front of moto) and moto alone. Every request is sent to both and the answers are
compared; the direct path's counters prove which calls it served and which it left to moto.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from werkzeug.serving import make_server

from image_mlops.stack import emulator, emulator_http
from image_mlops.stack.emulator_s3 import S3ObjectFastPath

#: Headers that differ between any two answers (time, request id, server).
VOLATILE = {"date", "x-amzn-requestid", "server", "x-amz-id-2", "x-amz-request-id"}


def _serve(app) -> tuple[str, object]:
    server = make_server(
        "127.0.0.1", 0, app, threaded=True, request_handler=emulator_http.request_handler()
    )
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return f"http://127.0.0.1:{server.server_port}", server


@pytest.fixture(scope="module")
def servers(tmp_path_factory) -> Iterator[dict]:
    journal = tmp_path_factory.mktemp("journal") / "journal"
    app = emulator.build_app(journal)
    fast_path = app.app.app  # journal → S3 rules → fast path → moto
    assert isinstance(fast_path, S3ObjectFastPath)
    direct_url, direct = _serve(app)
    moto_url, moto_only = _serve(emulator.JournalingApp(fast_path.app, None))

    def client(url: str):
        return boto3.client(
            "s3",
            endpoint_url=url,
            region_name="us-east-1",
            aws_access_key_id="fastpath-test",
            aws_secret_access_key="fastpath-test",
            config=Config(retries={"max_attempts": 1}),
        )

    yield {
        "direct": client(direct_url),
        "moto": client(moto_url),
        "fast_path": fast_path,
        "journal": journal,
    }
    direct.shutdown()
    moto_only.shutdown()


@pytest.fixture
def buckets(servers) -> tuple[str, str]:
    source, target = f"src-{uuid.uuid4().hex[:8]}", f"dst-{uuid.uuid4().hex[:8]}"
    for name in (source, target):
        servers["moto"].create_bucket(Bucket=name)
    return source, target


def _headers(response: dict) -> dict:
    return {
        k: v for k, v in response["ResponseMetadata"]["HTTPHeaders"].items() if k not in VOLATILE
    }


def _served(servers) -> dict:
    return dict(servers["fast_path"].served)


KEYS = ["plain.jpg", "folder/with space+plus%percent.png", "unicodé/ключ.jpg", "a?b=c#d.jpg"]


@pytest.mark.parametrize("key", KEYS)
def test_get_object_answers_like_moto(servers, buckets, key):
    source, _ = buckets
    servers["moto"].put_object(
        Bucket=source,
        Key=key,
        Body=b"\xff\xd8 image bytes",
        ContentType="image/jpeg",
        Metadata={"sha256": "abc", "origin": "camera-7"},
    )
    before = _served(servers)
    direct = servers["direct"].get_object(Bucket=source, Key=key)
    assert _served(servers)["GetObject"] == before["GetObject"] + 1
    reference = servers["moto"].get_object(Bucket=source, Key=key)
    assert direct["Body"].read() == reference["Body"].read() == b"\xff\xd8 image bytes"
    assert _headers(direct) == _headers(reference)
    for field in ("ETag", "ContentType", "ContentLength", "Metadata", "LastModified"):
        assert direct[field] == reference[field], field


def test_copy_object_answers_and_stores_like_moto(servers, buckets):
    source, target = buckets
    put = servers["moto"].put_object(
        Bucket=source, Key="in/x.jpg", Body=b"x" * 5000, Metadata={"sha256": "def"}
    )
    before = _served(servers)
    direct = servers["direct"].copy_object(
        Bucket=target,
        Key="direct/x.jpg",
        CopySource={"Bucket": source, "Key": "in/x.jpg"},
        CopySourceIfMatch=put["ETag"],
    )
    assert _served(servers)["CopyObject"] == before["CopyObject"] + 1
    reference = servers["moto"].copy_object(
        Bucket=target, Key="moto/x.jpg", CopySource={"Bucket": source, "Key": "in/x.jpg"}
    )
    assert direct["CopyObjectResult"]["ETag"] == reference["CopyObjectResult"]["ETag"]
    assert direct["CopyObjectResult"]["ETag"] == put["ETag"]
    assert (
        abs(
            direct["CopyObjectResult"]["LastModified"]
            - reference["CopyObjectResult"]["LastModified"]
        ).total_seconds()
        < 60
    )
    assert _headers(direct) == _headers(reference)
    # the copies themselves are the same, read back through moto
    a = servers["moto"].get_object(Bucket=target, Key="direct/x.jpg")
    b = servers["moto"].get_object(Bucket=target, Key="moto/x.jpg")
    assert a["Body"].read() == b["Body"].read() == b"x" * 5000
    assert (a["ETag"], a["Metadata"], a["ContentType"]) == (
        b["ETag"],
        b["Metadata"],
        b["ContentType"],
    )
    assert (
        servers["moto"].get_object_acl(Bucket=target, Key="direct/x.jpg")["Grants"]
        == (servers["moto"].get_object_acl(Bucket=target, Key="moto/x.jpg")["Grants"])
    )


def test_copy_is_journaled_for_replay(servers, buckets):
    source, target = buckets
    servers["moto"].put_object(Bucket=source, Key="j.jpg", Body=b"journal me")
    servers["direct"].copy_object(
        Bucket=target, Key="copied/j.jpg", CopySource={"Bucket": source, "Key": "j.jpg"}
    )
    records = list(emulator.Journal.read(Path(servers["journal"])))
    copies = [
        header
        for header, _ in records
        if header["method"] == "PUT" and header["path"] == f"/{target}/copied/j.jpg"
    ]
    assert len(copies) == 1
    assert copies[0]["headers"]["HTTP_X_AMZ_COPY_SOURCE"] == f"{source}/j.jpg"


def test_copy_source_if_match_is_honoured(servers, buckets):
    source, target = buckets
    servers["moto"].put_object(Bucket=source, Key="c.jpg", Body=b"new content")
    with pytest.raises(ClientError) as error:
        servers["direct"].copy_object(
            Bucket=target,
            Key="c.jpg",
            CopySource={"Bucket": source, "Key": "c.jpg"},
            CopySourceIfMatch='"0123456789abcdef0123456789abcdef"',
        )
    assert error.value.response["Error"]["Code"] == "PreconditionFailed"
    assert error.value.response["ResponseMetadata"]["HTTPStatusCode"] == 412
    assert "Contents" not in servers["moto"].list_objects_v2(Bucket=target)


def _other_calls(client, source: str, target: str):
    """Calls that are not the plain form: each must be left to moto."""
    yield "range", lambda: client.get_object(Bucket=source, Key="k", Range="bytes=0-1")
    yield "if-none-match", lambda: client.get_object(Bucket=source, Key="k", IfNoneMatch='"x"')
    yield "missing key", lambda: client.get_object(Bucket=source, Key="missing")
    yield "missing bucket", lambda: client.get_object(Bucket="no-such-bucket-fp", Key="k")
    yield "override", lambda: client.get_object(Bucket=source, Key="k", ResponseContentType="a/b")
    yield "head", lambda: client.head_object(Bucket=source, Key="k")
    yield (
        "replace metadata",
        lambda: client.copy_object(
            Bucket=target,
            Key="r",
            CopySource={"Bucket": source, "Key": "k"},
            MetadataDirective="REPLACE",
            Metadata={"a": "b"},
        ),
    )
    yield (
        "storage class",
        lambda: client.copy_object(
            Bucket=target,
            Key="s",
            CopySource={"Bucket": source, "Key": "k"},
            StorageClass="STANDARD_IA",
        ),
    )
    yield (
        "missing source",
        lambda: client.copy_object(
            Bucket=target, Key="m", CopySource={"Bucket": source, "Key": "nope"}
        ),
    )
    yield (
        "onto itself",
        lambda: client.copy_object(
            Bucket=source, Key="k", CopySource={"Bucket": source, "Key": "k"}
        ),
    )
    yield "put", lambda: client.put_object(Bucket=target, Key="p", Body=b"p")


def _outcome(call) -> tuple:
    try:
        response = call()
    except ClientError as exc:
        return (
            "error",
            exc.response["Error"]["Code"],
            exc.response["ResponseMetadata"]["HTTPStatusCode"],
        )
    body = response["Body"].read() if "Body" in response else None
    return ("ok", response["ResponseMetadata"]["HTTPStatusCode"], body)


def test_everything_else_is_left_to_moto(servers, buckets):
    source, target = buckets
    servers["moto"].put_object(Bucket=source, Key="k", Body=b"0123456789")
    direct = dict(_other_calls(servers["direct"], source, target))
    reference = dict(_other_calls(servers["moto"], source, target))
    for name in direct:
        before = _served(servers)
        got = _outcome(direct[name])
        assert _served(servers) == before, f"{name} was answered by the direct path"
        assert got == _outcome(reference[name]), name


def test_versioned_buckets_are_left_to_moto(servers, buckets):
    source, target = buckets
    servers["moto"].put_bucket_versioning(
        Bucket=source, VersioningConfiguration={"Status": "Enabled"}
    )
    servers["moto"].put_object(Bucket=source, Key="v", Body=b"v1")
    before = _served(servers)
    direct = servers["direct"].get_object(Bucket=source, Key="v")
    servers["direct"].copy_object(Bucket=target, Key="v", CopySource={"Bucket": source, "Key": "v"})
    assert _served(servers) == before
    assert direct["VersionId"] == servers["moto"].get_object(Bucket=source, Key="v")["VersionId"]


LIST_KEYS = [
    "incoming/a b.jpg",
    "incoming/c+d.jpg",
    "incoming/z&<>.jpg",
    "incoming/é.jpg",
    "incoming/sub/deeper.jpg",
    "other/x.jpg",
    "incomingx",
]


def _raw_list(client, bucket: str, **params) -> tuple[int, dict, bytes]:
    """The HTTP answer to one ListObjectsV2 call, before botocore parses it."""
    seen: dict = {}

    def keep(response_dict, **_):
        seen.update(response_dict)

    unique_id = f"raw-{uuid.uuid4().hex}"
    client.meta.events.register("before-parse.s3.ListObjectsV2", keep, unique_id=unique_id)
    try:
        client.list_objects_v2(Bucket=bucket, **params)
    finally:
        client.meta.events.unregister("before-parse.s3.ListObjectsV2", unique_id=unique_id)
    headers = {k.lower(): v for k, v in seen["headers"].items() if k.lower() not in VOLATILE}
    return seen["status_code"], headers, seen["body"]


@pytest.mark.parametrize(
    "params",
    [
        {},
        {"Prefix": "incoming/"},
        {"Prefix": "incoming/", "MaxKeys": 2},
        {"Prefix": "incoming/", "StartAfter": "incoming/c"},
        {"Prefix": "nothing-here/"},
        {"MaxKeys": 0},
        {"Prefix": "é"},
    ],
    ids=["all", "prefix", "paged", "start-after", "empty", "max-keys-0", "unicode-prefix"],
)
def test_list_objects_v2_answers_byte_for_byte_like_moto(servers, buckets, params):
    source, _ = buckets
    for key in LIST_KEYS:
        servers["moto"].put_object(Bucket=source, Key=key, Body=key.encode())
    pages = 0
    while True:
        before = _served(servers)
        direct = _raw_list(servers["direct"], source, **params)
        assert _served(servers)["ListObjectsV2"] == before["ListObjectsV2"] + 1
        assert direct == _raw_list(servers["moto"], source, **params)
        pages += 1
        answer = servers["direct"].list_objects_v2(Bucket=source, **params)
        if not answer["IsTruncated"]:
            break
        params = {**params, "ContinuationToken": answer["NextContinuationToken"]}
    assert pages == (3 if params.get("MaxKeys") == 2 else 1)


def test_list_objects_v2_pages_through_every_key(servers, buckets):
    source, _ = buckets
    for key in LIST_KEYS:
        servers["moto"].put_object(Bucket=source, Key=key, Body=b"k")
    paginator = servers["direct"].get_paginator("list_objects_v2")
    listed = [
        obj["Key"]
        for page in paginator.paginate(Bucket=source, PaginationConfig={"PageSize": 3})
        for obj in page.get("Contents", [])
    ]
    assert listed == sorted(LIST_KEYS)


def _other_lists(client, bucket: str):
    """List calls that are not the plain form: each must be left to moto."""
    yield "delimiter", lambda: client.list_objects_v2(Bucket=bucket, Delimiter="/")
    yield "owner", lambda: client.list_objects_v2(Bucket=bucket, FetchOwner=True)
    yield "bad token", lambda: client.list_objects_v2(Bucket=bucket, ContinuationToken="nope")
    yield "missing bucket", lambda: client.list_objects_v2(Bucket="no-such-bucket-list")
    yield "v1 listing", lambda: client.list_objects(Bucket=bucket)
    yield "versions", lambda: client.list_object_versions(Bucket=bucket)


def test_other_listings_are_left_to_moto(servers, buckets):
    source, _ = buckets
    for key in LIST_KEYS:
        servers["moto"].put_object(Bucket=source, Key=key, Body=b"k")
    direct = dict(_other_lists(servers["direct"], source))
    reference = dict(_other_lists(servers["moto"], source))
    for name in direct:
        before = _served(servers)
        try:
            got = direct[name]()
            got = {k: v for k, v in got.items() if k != "ResponseMetadata"}
        except ClientError as exc:
            got = exc.response["Error"]["Code"]
        assert _served(servers) == before, f"{name} was answered by the direct path"
        try:
            expected = reference[name]()
            expected = {k: v for k, v in expected.items() if k != "ResponseMetadata"}
        except ClientError as exc:
            expected = exc.response["Error"]["Code"]
        assert got == expected, name


def test_listing_a_versioned_bucket_is_left_to_moto(servers, buckets):
    source, _ = buckets
    servers["moto"].put_bucket_versioning(
        Bucket=source, VersioningConfiguration={"Status": "Enabled"}
    )
    servers["moto"].put_object(Bucket=source, Key="v", Body=b"v1")
    servers["moto"].delete_object(Bucket=source, Key="v")  # a delete marker
    before = _served(servers)
    assert "Contents" not in servers["direct"].list_objects_v2(Bucket=source)
    assert _served(servers) == before
