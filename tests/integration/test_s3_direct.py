"""Direct GetObject / CopyObject requests answer as boto3's calls do, and are signed as boto3's.

* On the session's emulator: bytes, ETags, copies and error codes are boto3's, for keys with
  characters that need quoting; the counters prove which path answered.
* On a moto server that checks every signature (IAM enforced): direct requests are accepted
  with long-term and temporary credentials, and a refused one hands over to boto3 for good.
* Against the URL and signature boto3 computes for real AWS (same clock): identical — only
  the sending is left out there, this machine has no AWS.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import socket
import subprocess
import sys
import time
import uuid
import zlib
from base64 import b64encode
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse
from botocore.config import Config
from botocore.exceptions import ClientError

from image_mlops.s3_direct import (
    DirectObjectClient,
    Route,
    _checksum_matches,
    _copy_result_etag,
    _listing_page,
)
from image_mlops.stack.processes import free_port

#: Keys whose URL needs quoting: spaces, +, unicode, and characters S3 treats specially.
AWKWARD_KEYS = [
    "incoming/plain.jpg",
    "incoming/with space.jpg",
    "incoming/plus+sign.jpg",
    "incoming/ünïcødé-名前.jpg",
    "incoming/tilde~and=equals&amp;.jpg",
    "incoming/question?hash#percent%20.jpg",
    "incoming/semi;colon,comma'quote(paren)!.jpg",
    "incoming/deep/er/path.jpg",
]


def _boto3_get(s3: Any, bucket: str, key: str) -> tuple[bytes, str]:
    answer = s3.get_object(Bucket=bucket, Key=key)
    return answer["Body"].read(), answer["ETag"]


# --- on the session's emulator -------------------------------------------------------------


def test_direct_get_and_copy_match_boto3_for_awkward_keys(aws, settings):
    objects = DirectObjectClient(aws.s3)
    source, target = settings.validated_bucket, settings.output_bucket
    run = uuid.uuid4().hex[:8]
    for n, key in enumerate(AWKWARD_KEYS):
        aws.s3.put_object(Bucket=source, Key=f"{run}/{key}", Body=f"image {n} {key}".encode())

    for key in AWKWARD_KEYS:
        body, etag = objects.get_object(source, f"{run}/{key}")
        assert (body, etag) == _boto3_get(aws.s3, source, f"{run}/{key}")

        copied = objects.copy_object(
            target, f"{run}/copies/{key}", source, f"{run}/{key}", if_match=etag
        )
        assert copied == etag
        assert _boto3_get(aws.s3, target, f"{run}/copies/{key}") == (body, etag)

    assert objects.calls == {"direct": 2 * len(AWKWARD_KEYS)}
    assert objects.off_reason is None


def test_errors_are_boto3s_own_and_leave_the_direct_path_on(aws, settings):
    objects = DirectObjectClient(aws.s3)
    source, target = settings.validated_bucket, settings.output_bucket
    key = f"{uuid.uuid4().hex[:8]}/incoming/a.jpg"
    aws.s3.put_object(Bucket=source, Key=key, Body=b"the content that was read")

    with pytest.raises(ClientError) as missing:
        objects.get_object(source, key + ".missing")
    assert missing.value.response["Error"]["Code"] == "NoSuchKey"
    assert missing.value.operation_name == "GetObject"

    with pytest.raises(ClientError) as changed:
        objects.copy_object(target, key, source, key, if_match='"0123456789abcdef"')
    assert changed.value.response["Error"]["Code"] == "PreconditionFailed"
    assert changed.value.operation_name == "CopyObject"
    assert key not in [o["Key"] for o in aws.s3.list_objects_v2(Bucket=target).get("Contents", [])]

    # each error was asked of boto3 after the direct answer; success stays direct
    assert objects.calls == {"boto3": 2}
    assert objects.off_reason is None
    assert objects.get_object(source, key)[0] == b"the content that was read"
    assert objects.calls == {"boto3": 2, "direct": 1}


def test_turned_off_every_call_goes_through_boto3(aws, settings):
    objects = DirectObjectClient(aws.s3, direct=False)
    key = f"{uuid.uuid4().hex[:8]}/incoming/off.jpg"
    aws.s3.put_object(Bucket=settings.validated_bucket, Key=key, Body=b"off")
    assert objects.route(settings.validated_bucket) is None
    body, etag = objects.get_object(settings.validated_bucket, key)
    assert objects.copy_object(settings.output_bucket, key, settings.validated_bucket, key) == etag
    assert body == b"off"
    assert objects.calls == {"boto3": 2}
    assert "IMAGE_MLOPS_S3_DIRECT_REQUESTS" in objects.off_reason


def test_the_route_is_learnt_without_a_request(aws, settings):
    """Learning a bucket's route sends nothing: boto3's probe is answered in process."""
    sent: list[str] = []
    events = aws.s3.meta.events
    unique_id = f"count-sends-{uuid.uuid4().hex}"
    events.register("after-call.s3", lambda **kw: sent.append(kw["event_name"]), unique_id)
    try:
        route = DirectObjectClient(aws.s3).route(settings.validated_bucket)
    finally:
        events.unregister("after-call.s3", unique_id=unique_id)
    port = os.environ["IMAGE_MLOPS_EMULATOR_PORT"]
    assert route == Route(
        base_url=f"http://127.0.0.1:{port}/{settings.validated_bucket}/",
        region=settings.region,
        service="s3",
    )
    assert sent == ["after-call.s3.GetObject"]  # the probe, answered before sending
    assert not any(
        "image-mlops-route-probe" in o["Key"]
        for o in aws.s3.list_objects_v2(Bucket=settings.validated_bucket).get("Contents", [])
    )


def _boto3_listing(s3: Any, bucket: str, prefix: str) -> list[dict[str, Any]]:
    return [
        {"Key": item["Key"], "Size": item["Size"], "ETag": item["ETag"]}
        for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=prefix)
        for item in page.get("Contents", [])
    ]


def test_a_listing_is_boto3s_listing_page_after_page(aws, settings):
    """Awkward keys, more than one page (1000 keys a page), a prefix that needs encoding."""
    bucket = settings.validated_bucket
    run = f"list {uuid.uuid4().hex[:8]}+ü"
    keys = [f"{run}/{key}" for key in AWKWARD_KEYS] + [f"{run}/n/{i:04d}" for i in range(1000)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda k: aws.s3.put_object(Bucket=bucket, Key=k, Body=k.encode()), keys))
    objects = DirectObjectClient(aws.s3)
    listed = objects.list_objects(bucket, run + "/")
    assert listed == _boto3_listing(aws.s3, bucket, run + "/")
    assert sorted(item["Key"] for item in listed) == sorted(keys)
    assert objects.list_objects(bucket, run + "/nothing-here/") == []
    assert objects.calls == {"direct": 2}


def test_a_listing_boto3_must_answer_is_boto3s(aws):
    objects = DirectObjectClient(aws.s3)
    with pytest.raises(ClientError) as missing:
        objects.list_objects(f"no-such-bucket-{uuid.uuid4().hex[:8]}", "incoming/")
    assert missing.value.response["Error"]["Code"] == "NoSuchBucket"
    assert objects.calls == {"boto3": 1}


def test_requests_share_boto3s_connection_pool(aws, settings):
    """Direct requests go through the pool botocore's session uses for the bucket's URL:
    one pool, its connections reused by both."""
    objects = DirectObjectClient(aws.s3)
    key = f"{uuid.uuid4().hex[:8]}/incoming/pooled.jpg"
    aws.s3.put_object(Bucket=settings.validated_bucket, Key=key, Body=b"pooled")
    base_url = objects.route(settings.validated_bucket).base_url
    session = aws.s3._endpoint.http_session
    botocores_pool = session._manager.connection_from_url(base_url)
    before = botocores_pool.num_requests
    for _ in range(3):
        assert objects.get_object(settings.validated_bucket, key)[0] == b"pooled"
    assert botocores_pool.num_requests == before + 3
    assert botocores_pool.num_connections <= 1 + before  # kept alive, not one per request
    assert objects.calls == {"direct": 3}


def test_a_closed_pool_is_found_again(aws, settings):
    """A pool closed since it was found (its manager cleared and closed it) is replaced by the
    one botocore's session uses now."""
    objects = DirectObjectClient(aws.s3)
    key = f"{uuid.uuid4().hex[:8]}/incoming/closed.jpg"
    aws.s3.put_object(Bucket=settings.validated_bucket, Key=key, Body=b"closed")
    assert objects.get_object(settings.validated_bucket, key)[0] == b"closed"
    manager = aws.s3._endpoint.http_session._manager
    old_pool = manager.connection_from_url(objects.route(settings.validated_bucket).base_url)
    manager.clear()
    old_pool.close()
    assert objects.get_object(settings.validated_bucket, key)[0] == b"closed"
    assert objects.calls == {"direct": 2}


class _ForwardingProxy:
    """A plain HTTP forward proxy on a free port: keeps each request line, relays the rest."""

    def __init__(self) -> None:
        import http.client
        import http.server
        import threading

        self.request_lines: list[str] = []
        proxy = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def _relay(self) -> None:
                from urllib.parse import urlsplit

                proxy.request_lines.append(self.requestline)
                url = urlsplit(self.path)
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                upstream = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
                headers = {k: v for k, v in self.headers.items() if k.lower() != "proxy-connection"}
                upstream.request(
                    self.command, url.path + (f"?{url.query}" if url.query else ""), body, headers
                )
                answer = upstream.getresponse()
                data = answer.read()
                self.send_response(answer.status, answer.reason)
                for name, value in answer.getheaders():
                    if name.lower() not in ("transfer-encoding", "connection", "content-length"):
                        self.send_header(name, value)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
                upstream.close()

            do_GET = do_PUT = do_HEAD = do_POST = do_DELETE = _relay

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_direct_requests_go_through_the_clients_http_proxy(settings):
    """With a proxy configured, direct requests go where boto3's go: through the proxy, with
    the absolute URL as request target, as botocore sends them."""
    endpoint = f"http://127.0.0.1:{os.environ['IMAGE_MLOPS_EMULATOR_PORT']}"
    proxy = _ForwardingProxy()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name=settings.region,
            aws_access_key_id="test",
            aws_secret_access_key="test",
            config=Config(proxies={"http": proxy.url}, s3={"addressing_style": "path"}),
        )
        key = f"{uuid.uuid4().hex[:8]}/incoming/proxied one.jpg"
        s3.put_object(Bucket=settings.validated_bucket, Key=key, Body=b"via the proxy")
        objects = DirectObjectClient(s3)
        body, etag = objects.get_object(settings.validated_bucket, key)
        copied = objects.copy_object(
            settings.output_bucket, key, settings.validated_bucket, key, if_match=etag
        )
    finally:
        proxy.close()
    assert body == b"via the proxy" and copied == etag
    assert objects.calls == {"direct": 2}
    quoted = key.replace(" ", "%20")
    assert proxy.request_lines[-2:] == [
        f"GET {endpoint}/{settings.validated_bucket}/{quoted} HTTP/1.1",
        f"PUT {endpoint}/{settings.output_bucket}/{quoted} HTTP/1.1",
    ]


# --- on a server that checks signatures ----------------------------------------------------

EVERYTHING = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Action": "*", "Resource": "*"}],
}
TRUST = {
    "Version": "2012-10-17",
    "Statement": [{"Effect": "Allow", "Principal": {"AWS": "*"}, "Action": "sts:AssumeRole"}],
}


@pytest.fixture(scope="module")
def signing_server() -> Iterator[dict[str, Any]]:
    """moto with IAM enforced (every request's SigV4 signature is checked), a user and key."""
    port = free_port()
    env = {**os.environ, "INITIAL_NO_AUTH_ACTION_COUNT": "3"}  # the first 3 setup calls
    process = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline or process.poll() is not None:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        url = f"http://127.0.0.1:{port}"
        setup = {"endpoint_url": url, "region_name": "us-east-1"}
        iam = boto3.client("iam", aws_access_key_id="x", aws_secret_access_key="y", **setup)
        iam.create_user(UserName="classifier")
        iam.put_user_policy(
            UserName="classifier",
            PolicyName="everything",
            PolicyDocument=json.dumps(EVERYTHING),
        )
        key = iam.create_access_key(UserName="classifier")["AccessKey"]
        iam = boto3.client(
            "iam",
            aws_access_key_id=key["AccessKeyId"],
            aws_secret_access_key=key["SecretAccessKey"],
            **setup,
        )
        iam.create_role(RoleName="classify", AssumeRolePolicyDocument=json.dumps(TRUST))
        iam.put_role_policy(
            RoleName="classify", PolicyName="everything", PolicyDocument=json.dumps(EVERYTHING)
        )
        yield {"url": url, "id": key["AccessKeyId"], "secret": key["SecretAccessKey"]}
    finally:
        process.terminate()
        process.wait(timeout=10)


def _signed_client(server: dict[str, Any], **credentials: str) -> Any:
    return boto3.client(
        "s3",
        endpoint_url=server["url"],
        region_name="us-east-1",
        config=Config(retries={"max_attempts": 1}),
        **credentials,
    )


def _user_client(server: dict[str, Any], secret: str | None = None) -> Any:
    return _signed_client(
        server,
        aws_access_key_id=server["id"],
        aws_secret_access_key=secret or server["secret"],
    )


def test_the_server_really_checks_signatures(signing_server):
    wrong = _user_client(signing_server, secret="not-the-secret")
    with pytest.raises(ClientError) as refused:
        wrong.list_buckets()
    assert refused.value.response["Error"]["Code"] == "SignatureDoesNotMatch"


@pytest.mark.parametrize("credentials", ["user key", "assumed role (session token)"])
def test_direct_requests_are_accepted_by_a_server_that_checks_signatures(
    signing_server, credentials
):
    s3 = _user_client(signing_server)
    if credentials != "user key":
        sts = boto3.client(
            "sts",
            endpoint_url=signing_server["url"],
            region_name="us-east-1",
            aws_access_key_id=signing_server["id"],
            aws_secret_access_key=signing_server["secret"],
        )
        temporary = sts.assume_role(
            RoleArn="arn:aws:iam::123456789012:role/classify", RoleSessionName="batch"
        )["Credentials"]
        s3 = _signed_client(
            signing_server,
            aws_access_key_id=temporary["AccessKeyId"],
            aws_secret_access_key=temporary["SecretAccessKey"],
            aws_session_token=temporary["SessionToken"],
        )
    bucket = f"signed-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    for key in AWKWARD_KEYS:
        s3.put_object(Bucket=bucket, Key=key, Body=key.encode())

    objects = DirectObjectClient(s3)
    for key in AWKWARD_KEYS:
        body, etag = objects.get_object(bucket, key)
        assert body == key.encode()
        assert objects.copy_object(bucket, "copies/" + key, bucket, key, if_match=etag) == etag
    listed = objects.list_objects(bucket, "incoming/")  # a signed query string
    assert sorted(item["Key"] for item in listed) == sorted(AWKWARD_KEYS)
    assert objects.calls == {"direct": 2 * len(AWKWARD_KEYS) + 1}, objects.off_reason


def test_a_refused_direct_request_hands_over_to_boto3_for_good(signing_server, caplog):
    s3 = _user_client(signing_server)
    bucket = f"refused-{uuid.uuid4().hex[:12]}"
    s3.create_bucket(Bucket=bucket)
    s3.put_object(Bucket=bucket, Key="a.jpg", Body=b"a")
    objects = DirectObjectClient(s3)
    # what a credential type this path signed wrongly would look like to the server
    objects._credentials = boto3.Session(
        aws_access_key_id=signing_server["id"], aws_secret_access_key="stale"
    ).get_credentials()

    with caplog.at_level(logging.WARNING, logger="image_mlops.s3_direct"):
        assert objects.get_object(bucket, "a.jpg")[0] == b"a"  # boto3 answered
        assert objects.get_object(bucket, "a.jpg")[0] == b"a"  # straight to boto3
    assert objects.calls == {"boto3": 2}
    assert objects.off_reason == "S3 refused a direct GetObject with 403 SignatureDoesNotMatch"
    warnings = [r for r in caplog.records if "Direct S3 requests are off" in r.getMessage()]
    assert len(warnings) == 1
    assert "stale" not in caplog.text  # the secret is never logged
    assert signing_server["id"] not in caplog.text  # nor the key id S3's error body names


# --- the requests for real AWS -------------------------------------------------------------


def _text(value: str | bytes) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _response(url: str, status: int, headers: dict[str, str], body: bytes) -> AWSResponse:
    class Raw:
        def stream(self):
            yield body

    return AWSResponse(url, status, headers, Raw())


class _CapturingTransport:
    """Stands in for the connection pools to AWS (not reachable here): keeps what would be
    sent."""

    def __init__(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        self.sent: list[Any] = []
        self.answer = (status, body, headers)

    def send(self, route: Any, request: Any) -> tuple[int, dict[str, str], bytes]:
        assert request.url.startswith(route.base_url)
        self.sent.append(request)
        status, body, headers = self.answer
        return status, headers, body


@pytest.mark.parametrize("region", ["eu-west-1", "us-east-1"])
@pytest.mark.parametrize("key", AWKWARD_KEYS[1:6])
def test_requests_are_the_ones_boto3_signs_for_real_aws(monkeypatch, region, key):
    """Same URL, headers and signature as boto3's own GetObject / CopyObject, same clock."""
    clock = dt.datetime(2026, 11, 27, 12, 0, 0)
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: clock)
    s3 = boto3.client(
        "s3",
        region_name=region,
        aws_access_key_id="AKIDEXAMPLE",
        aws_secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        aws_session_token="session-token",
    )
    boto3_sent: list[Any] = []

    def keep(request: Any, **_: Any) -> AWSResponse:
        boto3_sent.append(request)
        return _response(request.url, 404, {}, b"")

    s3.meta.events.register("before-send.s3", keep)
    for call in (
        lambda: s3.get_object(Bucket="product-images", Key=key),
        lambda: s3.copy_object(
            Bucket="product-predictions",
            Key="predictions/mug/" + key,
            CopySource={"Bucket": "product-images", "Key": key},
            CopySourceIfMatch='"abc"',
        ),
    ):
        with pytest.raises(ClientError):
            call()
    s3.meta.events.unregister("before-send.s3", keep)

    body = b"bytes of the image"
    crc = b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    objects = DirectObjectClient(s3)
    objects._transport = _CapturingTransport(
        200, body, {"ETag": '"e"', "x-amz-checksum-crc32": crc}
    )
    assert objects.get_object("product-images", key) == (body, '"e"')
    objects._transport.answer = (
        200,
        b"<CopyObjectResult><ETag>&quot;abc&quot;</ETag></CopyObjectResult>",
        {},
    )
    objects.copy_object(
        "product-predictions", "predictions/mug/" + key, "product-images", key, if_match='"abc"'
    )
    assert objects.calls == {"direct": 2}

    endpoint = "s3.amazonaws.com" if region == "us-east-1" else f"s3.{region}.amazonaws.com"
    get, copy = objects._transport.sent
    assert get.url.startswith(f"https://product-images.{endpoint}/incoming/")
    assert copy.url.startswith(f"https://product-predictions.{endpoint}/predictions/mug/")
    for ours, theirs in zip(objects._transport.sent, boto3_sent[-2:], strict=True):
        assert ours.method == theirs.method
        assert ours.url == theirs.url
        ours_headers = {name.lower(): _text(value) for name, value in ours.headers.items()}
        authorization = _text(theirs.headers["Authorization"])
        assert ours_headers["authorization"] == authorization
        signed = authorization.split("SignedHeaders=")[1].split(",")[0].split(";")
        assert "x-amz-security-token" in signed
        for name in signed:
            if name != "host":
                assert ours_headers[name] == _text(theirs.headers[name]), name


# --- the small parts ----------------------------------------------------------------------


def test_checksums_are_checked_when_s3_sends_one_we_can_compute():
    body = b"some image bytes"
    crc32 = b64encode(zlib.crc32(body).to_bytes(4, "big")).decode()
    import hashlib

    sha256 = b64encode(hashlib.sha256(body).digest()).decode()
    assert _checksum_matches({"x-amz-checksum-crc32": crc32}, body)
    assert not _checksum_matches({"x-amz-checksum-crc32": crc32}, body + b"!")
    assert _checksum_matches({"x-amz-checksum-sha256": sha256}, body)
    assert not _checksum_matches({"x-amz-checksum-sha256": sha256}, b"other")
    assert _checksum_matches({"x-amz-checksum-crc32": "AAAAAA==-3"}, body)  # multipart
    assert _checksum_matches({"x-amz-checksum-crc64nvme": "whatever"}, body)  # cannot compute
    assert _checksum_matches({}, body)


def test_only_a_listing_counts_as_a_listing_page():
    ns = 'xmlns="http://s3.amazonaws.com/doc/2006-03-01/"'
    page = (
        f"<ListBucketResult {ns}><IsTruncated>true</IsTruncated><Contents><Key>a%20b+c</Key>"
        "<ETag>&quot;e&quot;</ETag><Size>3</Size></Contents><EncodingType>url</EncodingType>"
        "<NextContinuationToken>t1</NextContinuationToken></ListBucketResult>"
    ).encode()
    assert _listing_page(page) == ([{"Key": "a b c", "Size": 3, "ETag": '"e"'}], "t1")
    last = page.replace(b"<IsTruncated>true", b"<IsTruncated>false")
    assert _listing_page(last) == ([{"Key": "a b c", "Size": 3, "ETag": '"e"'}], None)
    not_encoded = last.replace(b"<EncodingType>url</EncodingType>", b"")
    assert _listing_page(not_encoded)[0][0]["Key"] == "a%20b+c"
    assert (
        _listing_page(page.replace(b"<NextContinuationToken>t1</NextContinuationToken>", b""))
        is None
    )
    assert _listing_page(b"<Error><Code>InternalError</Code></Error>") is None
    assert _listing_page(b"not xml") is None


def test_only_a_copy_result_counts_as_a_copy():
    ok = b'<?xml version="1.0"?><CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"><LastModified>x</LastModified><ETag>"e1"</ETag></CopyObjectResult>'
    assert _copy_result_etag(ok) == '"e1"'
    error = b"<Error><Code>InternalError</Code><Message>We encountered an error</Message></Error>"
    assert _copy_result_etag(error) is None
    assert _copy_result_etag(b"not xml") is None


def test_a_bucket_boto3_refuses_has_no_route_and_boto3_says_why(aws):
    from botocore.exceptions import ParamValidationError

    objects = DirectObjectClient(aws.s3)
    assert objects.route("not a valid bucket name") is None
    with pytest.raises(ParamValidationError):
        objects.get_object("not a valid bucket name", "k")
    assert objects.calls == {"boto3": 1}
