"""The direct requests' SigV4 signer signs exactly as botocore's ``S3SigV4Auth`` does."""

from __future__ import annotations

import datetime as dt

import pytest
from botocore.auth import S3SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import ReadOnlyCredentials

from image_mlops.s3_direct import quote_key
from image_mlops.sigv4 import BodylessRequestSigner, signing_host

CLOCK = dt.datetime(2026, 11, 27, 23, 59, 58)
USER = ReadOnlyCredentials("AKIDEXAMPLE", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY", None)
ROLE = ReadOnlyCredentials(
    "ASIAEXAMPLE", "c2VjcmV0L3dpdGgrc2xhc2hlcw==", "FwoGZXIvYXdzE" + "x" * 300
)

BASE_URLS = [
    "http://127.0.0.1:5055/image-mlops-validated/",
    "http://localhost:4566/bucket/",
    "http://moto:5000/bucket/",
    "http://[::1]:5055/bucket/",
    "http://127.0.0.1:80/bucket/",
    "https://product-images.s3.eu-west-1.amazonaws.com/",
    "https://product-images.s3.amazonaws.com:443/",
    "https://s3.us-east-1.amazonaws.com/product-images/",
    "https://MiXeD.Example.COM:8443/bucket/",
]
KEYS = [
    "incoming/plain.jpg",
    "incoming/with space.jpg",
    "incoming/plus+sign&amp;=.jpg",
    "incoming/ünïcødé-名前.jpg",
    "incoming/question?hash#percent%20.jpg",
    "incoming/tilde~semi;colon,comma'quote(paren)!*.jpg",
]
REQUESTS = [
    ("GET", {"x-amz-checksum-mode": "ENABLED"}),
    ("PUT", {"x-amz-copy-source": "src-bucket/incoming/a%20b.jpg"}),
    (
        "PUT",
        {
            "x-amz-copy-source": quote_key("src/incoming/ünï + x.jpg"),
            "x-amz-copy-source-if-match": '"0123456789abcdef0123456789abcdef"',
        },
    ),
    ("GET", {"X-Amz-Checksum-Mode": "  ENABLED   twice  spaced ", "User-Agent": "not signed"}),
]


def _botocore(method, url, headers, credentials, region):
    request = AWSRequest(method=method, url=url, headers=dict(headers))
    S3SigV4Auth(credentials, "s3", region).add_auth(request)
    return {name.lower(): _text(value) for name, value in request.headers.items()}


def _text(value):
    return value.decode() if isinstance(value, bytes) else value


@pytest.fixture(autouse=True)
def frozen_clock(monkeypatch):
    monkeypatch.setattr("botocore.auth.get_current_datetime", lambda: CLOCK)


@pytest.mark.parametrize("base_url", BASE_URLS)
@pytest.mark.parametrize("credentials", [USER, ROLE], ids=["user", "temporary"])
@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1"])
def test_every_header_is_botocores(base_url, credentials, region):
    from urllib.parse import urlsplit

    signer = BodylessRequestSigner(host=signing_host(base_url), region=region, service="s3")
    for key in KEYS:
        for method, headers in REQUESTS:
            url = base_url + quote_key(key)
            ours = signer.sign(
                method,
                urlsplit(url).path,
                headers,
                credentials,
                CLOCK.strftime("%Y%m%dT%H%M%SZ"),
            )
            theirs = _botocore(method, url, headers, credentials, region)
            assert {name.lower(): value for name, value in ours.items()} == theirs, (url, method)


@pytest.mark.parametrize(
    "query",
    [
        "list-type=2&prefix=incoming%2F&encoding-type=url",
        "list-type=2&prefix=list%20a%2Bb%C3%BC%2F&encoding-type=url&continuation-token=ab%2Bc%3D",
        "x-id=GetObject",
        "b=2&a=1&a=0",
    ],
)
def test_a_query_string_is_signed_as_botocore_signs_it(query):
    base_url = "http://127.0.0.1:5055/bucket/"
    signer = BodylessRequestSigner(host=signing_host(base_url), region="us-east-1", service="s3")
    for credentials in (USER, ROLE):
        ours = signer.sign(
            "GET", "/bucket/", {}, credentials, CLOCK.strftime("%Y%m%dT%H%M%SZ"), query
        )
        theirs = _botocore("GET", f"{base_url}?{query}", {}, credentials, "us-east-1")
        assert {name.lower(): value for name, value in ours.items()} == theirs


def test_the_signing_key_follows_the_date_and_the_secret():
    signer = BodylessRequestSigner(host="h:1", region="us-east-1", service="s3")
    first = signer.sign("GET", "/b/k", {}, USER, "20261127T235959Z")["Authorization"]
    next_day = signer.sign("GET", "/b/k", {}, USER, "20261128T000000Z")["Authorization"]
    rotated = ReadOnlyCredentials(USER.access_key, "another secret", None)
    after_rotation = signer.sign("GET", "/b/k", {}, rotated, "20261128T000000Z")["Authorization"]
    assert "/20261128/us-east-1/s3/aws4_request" in next_day
    assert len({first, next_day, after_rotation}) == 3
    again = signer.sign("GET", "/b/k", {}, USER, "20261127T235959Z")["Authorization"]
    assert again == first


@pytest.mark.parametrize(
    ("url", "host"),
    [
        ("http://127.0.0.1:5055/b/", "127.0.0.1:5055"),
        ("http://127.0.0.1:80/b/", "127.0.0.1"),
        ("https://B.S3.amazonaws.com:443/", "b.s3.amazonaws.com"),
        ("https://b.s3.amazonaws.com:80/", "b.s3.amazonaws.com:80"),
        ("http://[::1]:5055/b/", "[::1]:5055"),
        ("http://user:pw@moto:5000/b/", "moto:5000"),
    ],
)
def test_the_host_is_signed_as_botocore_derives_it(url, host):
    from botocore.auth import _host_from_url

    assert signing_host(url) == host == _host_from_url(url)
