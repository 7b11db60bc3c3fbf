"""GetObject, CopyObject and ListObjectsV2 for hot paths, without botocore's per-call pipeline.

Classifying an image takes two S3 calls: read it, copy it into its class folder. Through a
boto3 client each call costs about 0.7 ms of the worker's CPU besides the network (endpoint
rules, event hooks, serialisation, response parsing) — together more than the model's own
work on a 128 px image. :class:`DirectObjectClient` sends the same two requests the boto3
client would send, for about 0.2 ms:

* the URL is the one boto3 uses for the bucket (virtual-host or path style, custom endpoint),
  learnt once per bucket by letting boto3 build and sign a request that is never sent;
* the request is signed with SigV4 exactly as botocore's signer signs it (the same bytes,
  :mod:`image_mlops.sigv4`), with the client's own credentials (refreshed as boto3 refreshes
  them) for the signing region boto3 chose;
* it goes through the connection pool the client's own HTTP session uses for that URL
  (proxies, TLS, timeouts, connections shared with boto3's calls), found once per bucket;
* a GET asks for the object's checksum and checks the CRC32/SHA-1/SHA-256 S3 returns, as
  boto3 does.

Planning a run lists the pending images: :meth:`DirectObjectClient.list_objects` makes the
paginated ``ListObjectsV2`` requests boto3 makes (URL-encoded keys) and reads the XML itself;
botocore parses a listing at about 0.07 ms per key (a timestamp through dateutil for each).

Only success is handled here. Every other answer — an error status, a redirect, a copy's
200 with an error body, a checksum mismatch, a connection error — is handed to the boto3 call
itself, so retries, redirects, error codes and exceptions are exactly boto3's. A 403 also
turns the direct path off for the rest of the process, with one warning: whatever this path
signs wrongly, boto3 then signs instead.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import logging
import os
import re
import threading
import uuid
import zlib
from collections import Counter
from dataclasses import dataclass
from typing import Any, NamedTuple
from urllib.parse import quote, unquote_plus, urlsplit
from xml.etree import ElementTree

from image_mlops.sigv4 import BodylessRequestSigner, signing_host

log = logging.getLogger(__name__)

#: ``Credential=AKID/20260101/eu-west-1/s3/aws4_request`` → signing region and name.
_CREDENTIAL_SCOPE = re.compile(r"Credential=[^/,]+/\d{8}/([^/,]+)/([^/,]+)/aws4_request")

#: The ``<Code>`` of an S3 error body.
_ERROR_CODE = re.compile(rb"<Code>([^<]{1,100})</Code>")

#: Checksums S3 may return for a GET, computed the way S3 encodes them (base64, big endian).
_CHECKSUMS = {
    "x-amz-checksum-crc32": lambda body: zlib.crc32(body).to_bytes(4, "big"),
    "x-amz-checksum-sha1": lambda body: hashlib.sha1(body).digest(),
    "x-amz-checksum-sha256": lambda body: hashlib.sha256(body).digest(),
}


def quote_key(key: str) -> str:
    """An object key as botocore puts it in a URL path (``/`` and ``~`` kept as they are)."""
    return quote(key, safe="/~")


@dataclass(frozen=True)
class Route:
    """Where and how boto3 sends requests for one bucket's objects."""

    base_url: str  #: the URL up to the object key: ``https://b.s3.eu-west-1.amazonaws.com/``
    region: str  #: signing region
    service: str  #: signing name (``s3``)

    @functools.cached_property
    def path(self) -> str:
        """The URL path up to the object key (``/`` or ``/bucket/``)."""
        return urlsplit(self.base_url).path

    @functools.cached_property
    def signer(self) -> BodylessRequestSigner:
        return BodylessRequestSigner(
            host=signing_host(self.base_url), region=self.region, service=self.service
        )


class DirectObjectClient:
    """Direct GetObject, CopyObject and ListObjectsV2 requests on behalf of a boto3 S3 client
    (thread-safe).

    ``direct=False`` sends every call through ``client`` (the setting
    ``IMAGE_MLOPS_S3_DIRECT_REQUESTS``); :attr:`calls` counts which path answered.
    """

    def __init__(self, client: Any, *, direct: bool = True) -> None:
        self.client = client
        # The client's own credential object and HTTP session (botocore keeps them on private
        # attributes; without them every call simply goes through boto3).
        self._credentials = getattr(getattr(client, "_request_signer", None), "_credentials", None)
        http = getattr(getattr(client, "_endpoint", None), "http_session", None)
        self._transport = SessionPools(http) if SessionPools.usable(http) else None
        self._routes: dict[str, Route | None] = {}
        self._lock = threading.Lock()
        self.calls: Counter[str] = Counter()
        self.off_reason: str | None = None
        if not direct:
            self.off_reason = "turned off by IMAGE_MLOPS_S3_DIRECT_REQUESTS"
        elif self._credentials is None or self._transport is None:
            self.off_reason = (
                "this botocore keeps no credentials or urllib3 HTTP session on the client"
            )

    # --- the calls ------------------------------------------------------------------------

    def get_object(self, bucket: str, key: str) -> tuple[bytes, str | None]:
        """The object's bytes and its ETag (quoted, as S3 sends it)."""
        route = self.route(bucket)
        if route is not None:
            response = self._send(
                "GET", route, key, {"x-amz-checksum-mode": "ENABLED"}, "GetObject"
            )
            if response is not None:
                status, headers, body = response
                if status == 200 and _checksum_matches(headers, body):
                    self._count("direct")
                    return body, headers.get("ETag")
        self._count("boto3")
        answer = self.client.get_object(Bucket=bucket, Key=key)
        return answer["Body"].read(), answer.get("ETag")

    def copy_object(
        self,
        bucket: str,
        key: str,
        source_bucket: str,
        source_key: str,
        *,
        if_match: str | None = None,
    ) -> str:
        """Copy ``source_bucket/source_key`` to ``bucket/key``; returns the copy's ETag (quoted).

        ``if_match`` (a quoted ETag) makes the copy conditional on the source's content.
        """
        route = self.route(bucket)
        if route is not None:
            headers = {"x-amz-copy-source": quote_key(f"{source_bucket}/{source_key}")}
            if if_match:
                headers["x-amz-copy-source-if-match"] = if_match
            response = self._send("PUT", route, key, headers, "CopyObject")
            if response is not None and response[0] == 200:
                etag = _copy_result_etag(response[2])
                if etag is not None:
                    self._count("direct")
                    return etag
        self._count("boto3")
        request: dict[str, Any] = {
            "Bucket": bucket,
            "Key": key,
            "CopySource": {"Bucket": source_bucket, "Key": source_key},
        }
        if if_match:
            request["CopySourceIfMatch"] = if_match
        answer = self.client.copy_object(**request)
        return (answer.get("CopyObjectResult") or {}).get("ETag", "")

    def list_objects(self, bucket: str, prefix: str) -> list[dict[str, Any]]:
        """Every object under ``prefix``, in S3's order, as ``{"Key", "Size", "ETag"}`` —
        the fields of boto3's paginated ``ListObjectsV2`` (keys decoded the same way)."""
        route = self.route(bucket)
        if route is not None:
            listed = self._list_direct(route, prefix)
            if listed is not None:
                self._count("direct")
                return listed
        self._count("boto3")
        paginator = self.client.get_paginator("list_objects_v2")
        return [
            {"Key": item["Key"], "Size": item["Size"], "ETag": item["ETag"]}
            for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
            for item in page.get("Contents", [])
        ]

    def _list_direct(self, route: Route, prefix: str) -> list[dict[str, Any]] | None:
        """The listing page by page, as boto3 asks for it (URL-encoded keys); None when any
        page is not a plain successful answer (boto3 then lists from the start)."""
        listed: list[dict[str, Any]] = []
        token = None
        while True:
            query = f"list-type=2&prefix={quote(prefix, safe='-_.~')}&encoding-type=url"
            if token is not None:
                query += f"&continuation-token={quote(token, safe='-_.~')}"
            response = self._send("GET", route, "", {}, "ListObjectsV2", query)
            if response is None or response[0] != 200:
                return None
            page = _listing_page(response[2])
            if page is None:
                return None
            contents, token = page
            listed.extend(contents)
            if token is None:
                return listed

    # --- where requests go -----------------------------------------------------------------

    def route(self, bucket: str) -> Route | None:
        """The bucket's route, learnt from boto3 once; None: send through boto3."""
        if self.off_reason is not None:
            return None
        with self._lock:
            if bucket not in self._routes:
                self._routes[bucket] = self._learn_route(bucket)
            return self._routes[bucket]

    def _learn_route(self, bucket: str) -> Route | None:
        """Let boto3 build and sign a GET for a made-up key, answer it here, read its URL."""
        from botocore.awsrequest import AWSResponse

        probe = f"image-mlops-route-probe-{uuid.uuid4().hex}"
        seen: dict[str, str] = {}

        def answer_probe(request: Any, **_: Any) -> AWSResponse | None:
            if probe not in request.url:
                return None  # another thread's real request: not ours to answer
            authorization = request.headers.get("Authorization") or b""
            seen["url"] = request.url
            seen["authorization"] = (
                authorization.decode() if isinstance(authorization, bytes) else authorization
            )
            return AWSResponse(request.url, 200, {}, None)

        event = "before-send.s3.GetObject"
        self.client.meta.events.register_first(event, answer_probe)
        try:
            self.client.get_object(Bucket=bucket, Key=probe)
        except Exception as exc:  # e.g. a bucket name boto3 rejects: its own calls will say so
            log.info("s3://%s: no direct route (%s); its calls go through boto3", bucket, exc)
            return None
        finally:
            self.client.meta.events.unregister(event, answer_probe)
        url, authorization = seen.get("url", ""), seen.get("authorization", "")
        scope = _CREDENTIAL_SCOPE.search(authorization)
        signed = authorization.startswith("AWS4-HMAC-SHA256") and scope is not None
        if not url.endswith("/" + probe) or not signed:
            log.info(
                "s3://%s: boto3 does not sign with SigV4 in the URL path here; its calls go "
                "through boto3",
                bucket,
            )
            return None
        return Route(base_url=url[: -len(probe)], region=scope.group(1), service=scope.group(2))

    def _send(
        self,
        method: str,
        route: Route,
        key: str,
        headers: dict[str, str],
        operation: str,
        query: str = "",
    ) -> tuple[int, Any, bytes] | None:
        """(status, headers, body) of one signed request for ``key`` (empty: the bucket) and
        an encoded ``query``; None when it could not be sent."""
        from botocore.auth import SIGV4_TIMESTAMP, get_current_datetime
        from botocore.exceptions import BotoCoreError
        from urllib3.exceptions import HTTPError

        quoted = quote_key(key)
        try:
            credentials = self._credentials.get_frozen_credentials()
            timestamp = get_current_datetime().strftime(SIGV4_TIMESTAMP)  # botocore's clock
            signed = route.signer.sign(
                method, route.path + quoted, headers, credentials, timestamp, query
            )
            if method != "GET":
                signed["Content-Length"] = "0"  # added after signing, as botocore does
            url = route.base_url + quoted + (f"?{query}" if query else "")
            request = Request(method, url, signed)
            status, response_headers, body = self._transport.send(route, request)
        except (BotoCoreError, HTTPError, OSError) as exc:
            log.debug("direct %s of %s not sent (%s); asking boto3", operation, key, exc)
            return None
        if status == 403:
            # the error code only: S3's body also names the access key and what was signed
            code = _ERROR_CODE.search(body)
            reason = code.group(1).decode(errors="replace") if code else "no error code"
            self._turn_off(f"S3 refused a direct {operation} with 403 {reason}")
        return status, response_headers, body

    def _turn_off(self, reason: str) -> None:
        with self._lock:
            if self.off_reason is None:
                self.off_reason = reason
                log.warning(
                    "Direct S3 requests are off for this process (%s). Every call now goes "
                    "through boto3: same results, more CPU per image. Set "
                    "IMAGE_MLOPS_S3_DIRECT_REQUESTS=false to skip this attempt.",
                    reason,
                )

    def _count(self, path: str) -> None:
        with self._lock:
            self.calls[path] += 1


class Request(NamedTuple):
    """A signed request ready to send."""

    method: str
    url: str
    headers: dict[str, str]
    body: bytes | None = None


class SessionPools:
    """Sends a signed request through the urllib3 connection pool that botocore's HTTP
    session (``URLLib3Session``) would send it through.

    ``URLLib3Session.send`` finds the pool for every request (the proxy for the URL, the pool
    manager, the pool, its TLS settings, the request target) and wraps the answer in botocore
    objects: about 0.08 ms of CPU per request. The pool and the request target's prefix are
    the same for every key of a bucket, so they are found once per route, with the session's
    own methods, and the request goes straight to ``urlopen`` with the arguments botocore
    passes. A pool closed since it was found is found again.
    """

    #: The session methods and attributes used (private to botocore: checked, never assumed).
    NEEDS = (
        "_proxy_config",
        "_get_connection_manager",
        "_setup_ssl_cert",
        "_get_request_target",
        "_verify",
    )

    def __init__(self, session: Any) -> None:
        self._session = session
        self._pools: dict[str, tuple[Any, str]] = {}
        self._lock = threading.Lock()

    @classmethod
    def usable(cls, session: Any) -> bool:
        return session is not None and all(hasattr(session, name) for name in cls.NEEDS)

    def send(self, route: Route, request: Request) -> tuple[int, Any, bytes]:
        """(status, headers, whole body) of ``request``, whose URL is under
        ``route.base_url``."""
        pool, target = self._pool(route.base_url)
        response = pool.urlopen(
            method=request.method,
            url=target + request.url[len(route.base_url) :],
            body=request.body,
            headers=request.headers,
            retries=False,  # boto3 retries, when the direct request hands over to it
            assert_same_host=False,
            preload_content=False,
            decode_content=False,
            enforce_content_length=False,
        )
        try:
            body = response.read()
        finally:
            response.release_conn()
        return response.status, response.headers, body

    def _pool(self, base_url: str) -> tuple[Any, str]:
        found = self._pools.get(base_url)
        if found is not None and found[0].pool is not None:  # None: the pool was closed
            return found
        from botocore.utils import ensure_boolean

        with self._lock:
            session = self._session
            proxy_url = session._proxy_config.proxy_url_for(base_url)
            pool = session._get_connection_manager(base_url, proxy_url).connection_from_url(
                base_url
            )
            session._setup_ssl_cert(pool, base_url, session._verify)
            if ensure_boolean(os.environ.get("BOTO_EXPERIMENTAL__ADD_PROXY_HOST_HEADER", "")):
                pool.proxy_headers["host"] = urlsplit(base_url).hostname  # as botocore does
            # a path (or the whole URL through an HTTP proxy), as botocore computes it
            target = session._get_request_target(base_url, proxy_url)
            self._pools[base_url] = (pool, target)
            return pool, target


def _checksum_matches(headers: Any, body: bytes) -> bool:
    """False when S3 sent a whole-object checksum we can compute and it differs."""
    for name, digest in _CHECKSUMS.items():
        value = headers.get(name)
        if value and "-" not in value:  # "…-3" is a multipart checksum of checksums
            return base64.b64encode(digest(body)).decode() == value
    return True


def _listing_page(body: bytes) -> tuple[list[dict[str, Any]], str | None] | None:
    """The objects of one ``ListObjectsV2`` page and its continuation token (None: the last
    page); None for anything but a ``<ListBucketResult>``."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    namespace = root.tag[: root.tag.index("}") + 1] if root.tag.startswith("{") else ""
    if root.tag != f"{namespace}ListBucketResult":
        return None
    encoded = root.findtext(f"{namespace}EncodingType") == "url"
    contents = []
    for item in root.iterfind(f"{namespace}Contents"):
        key = item.findtext(f"{namespace}Key")
        size = item.findtext(f"{namespace}Size")
        etag = item.findtext(f"{namespace}ETag")
        if key is None or size is None or etag is None:
            return None
        contents.append(
            {"Key": unquote_plus(key) if encoded else key, "Size": int(size), "ETag": etag}
        )
    if root.findtext(f"{namespace}IsTruncated") != "true":
        return contents, None
    token = root.findtext(f"{namespace}NextContinuationToken")
    return (contents, token) if token else None


def _copy_result_etag(body: bytes) -> str | None:
    """The ETag of a ``<CopyObjectResult>``; None for anything else (S3 can answer a failed
    copy with a 200 and an ``<Error>`` body)."""
    try:
        root = ElementTree.fromstring(body)
    except ElementTree.ParseError:
        return None
    if not root.tag.endswith("CopyObjectResult"):
        return None
    for child in root:
        if child.tag.endswith("ETag") and child.text:
            return child.text
    return None
