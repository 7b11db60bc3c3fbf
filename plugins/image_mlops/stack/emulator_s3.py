"""A direct path for the S3 calls of classification: GetObject, CopyObject, ListObjectsV2.

moto answers every request through Flask routing, a generic response class (which parses the
body and query string, resolves the account, checks IAM and bucket policies, builds CORS
headers, serialises through botocore's model) and its error machinery. For a plain
``GetObject`` or ``CopyObject`` that costs about 0.6 and 1.4 ms of CPU per call, which on 2
cores was the ceiling of ``classify_images`` locally (two calls per image).

:class:`S3ObjectFastPath` answers exactly those two calls, in their plain form, straight from
moto's own S3 backend objects — the same state, the same backend methods
(``get_object``, ``copy_object``) — and hands everything else to moto unchanged: other
operations, query strings, ranges, conditional GETs, metadata/ACL/storage/encryption/tagging
headers, versioned, locked, encrypted, logged buckets or ones with a policy or notifications,
virtual-host addressing, missing buckets and keys (so moto still writes every error). The
responses carry the headers moto would send (tested side by side with moto's own answers).

``ListObjectsV2`` (one LIST per 1000 pending images when a run is planned) is answered here
in its plain form too — prefix, max-keys, continuation token, start-after, URL encoding; no
delimiter, no owner — with the XML moto writes, byte for byte: moto builds it through its
generic serialiser at ~0.2 ms per key.

One deliberate difference: ``x-amz-copy-source-if-match`` is honoured (412
``PreconditionFailed`` when the source's ETag differs), as real S3 does; moto ignores it.
"""

from __future__ import annotations

import os
import re
import threading
import uuid
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, unquote
from xml.sax.saxutils import escape

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_CREDENTIAL = re.compile(r"Credential=([^/,\s]+)/[^/]+/([^/]+)/([^/]+)/aws4_request")
_HOST_PORT = re.compile(r":\d+$")
_PATH_STYLE_HOST = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}|\[[0-9a-fA-F:]+\]|[A-Za-z0-9_-]+)$")
#: Request headers that do not change what GetObject / CopyObject do (SigV4, SDK bookkeeping).
_NEUTRAL_HEADERS = frozenset(
    {
        "HTTP_HOST",
        "HTTP_AUTHORIZATION",
        "HTTP_X_AMZ_DATE",
        "HTTP_X_AMZ_CONTENT_SHA256",
        "HTTP_X_AMZ_SECURITY_TOKEN",
        "HTTP_USER_AGENT",
        "HTTP_X_AMZ_USER_AGENT",
        "HTTP_AMZ_SDK_INVOCATION_ID",
        "HTTP_AMZ_SDK_REQUEST",
        "HTTP_ACCEPT",
        "HTTP_ACCEPT_ENCODING",
        "HTTP_CONNECTION",
        "HTTP_CONTENT_LENGTH",
        "HTTP_EXPECT",
        "HTTP_X_AMZ_CHECKSUM_MODE",  # answered as moto answers it (see _get_object)
    }
)
#: Headers a plain request may carry, per method (GetObject, CopyObject).
_ALLOWED_HEADERS = {
    "GET": _NEUTRAL_HEADERS,
    "PUT": _NEUTRAL_HEADERS | {"HTTP_X_AMZ_COPY_SOURCE", "HTTP_X_AMZ_COPY_SOURCE_IF_MATCH"},
}
#: Query strings the SDK adds to plain calls (``x-id`` names the operation).
_PLAIN_QUERIES = {"GET": ("", "x-id=GetObject"), "PUT": ("", "x-id=CopyObject")}
#: Query parameters of a plain ListObjectsV2 (``list-type=2`` is required).
_LIST_PARAMETERS = frozenset(
    {"list-type", "prefix", "max-keys", "continuation-token", "start-after", "encoding-type"}
)
_S3_XMLNS = "http://s3.amazonaws.com/doc/2006-03-01/"


class S3ObjectFastPath:
    """WSGI middleware: plain GetObject / CopyObject from moto's backend, the rest to moto."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        #: Calls answered here, by operation (read by the tests and the benchmark).
        self.served = {"GetObject": 0, "CopyObject": 0, "ListObjectsV2": 0}
        self._count_lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        answer = self._answer(environ)
        if answer is None:
            return self.app(environ, start_response)
        operation, status, headers, body = answer
        with self._count_lock:
            self.served[operation] += 1
        headers = [*headers, ("Content-Length", str(len(body)))]
        start_response(status, headers)
        return [body]

    def _answer(self, environ: dict[str, Any]) -> tuple[str, str, list, bytes] | None:
        method = environ.get("REQUEST_METHOD")
        if method not in _PLAIN_QUERIES:
            return None
        raw_uri = environ.get("RAW_URI") or environ.get("REQUEST_URI") or ""
        raw_path, _, query = raw_uri.partition("?")
        if method == "GET" and query.startswith("list-type=2"):
            return _list_objects_v2(environ, raw_path, query)
        if query not in _PLAIN_QUERIES[method]:
            return None
        copy = method == "PUT"
        if copy and ("HTTP_X_AMZ_COPY_SOURCE" not in environ or _has_body(environ)):
            return None
        bucket_name, _, key_name = unquote(raw_path).lstrip("/").partition("/")
        if not bucket_name or not key_name:
            return None
        backend = _caller_backend(environ, _ALLOWED_HEADERS[method])
        if backend is None:
            return None
        if copy:
            return self._copy_object(environ, backend, bucket_name, key_name)
        return _get_object(backend, bucket_name, key_name, environ.get("HTTP_X_AMZ_CHECKSUM_MODE"))

    def _copy_object(
        self, environ: dict[str, Any], backend: Any, bucket_name: str, key_name: str
    ) -> tuple[str, str, list, bytes] | None:
        source = unquote(environ["HTTP_X_AMZ_COPY_SOURCE"])
        if "?" in source:  # a versionId: moto's path
            return None
        source_bucket, _, source_key = source.lstrip("/").partition("/")
        target = _plain_bucket(backend, bucket_name)
        if (
            target is None
            or _plain_bucket(backend, source_bucket) is None
            or target.object_lock_enabled
            or target.encryption
            or target.notification_configuration
            or (source_bucket, source_key) == (bucket_name, key_name)
        ):
            return None
        key = _plain_key(backend, source_bucket, source_key)
        if key is None:
            return None
        wanted = environ.get("HTTP_X_AMZ_COPY_SOURCE_IF_MATCH")
        if wanted is not None and key.etag not in (wanted, f'"{wanted}"'):
            return "CopyObject", *_precondition_failed()
        backend.copy_object(key, bucket_name, key_name)
        new_key = backend.get_object(bucket_name, key_name)
        if target.acl is not None:
            new_key.set_acl(target.acl)
        checksum = ""
        if new_key.checksum_value:
            algorithm = escape(new_key.checksum_algorithm)
            checksum = (
                f"<Checksum{algorithm}>{escape(new_key.checksum_value)}</Checksum{algorithm}>"
            )
        body = (
            '<?xml version="1.0" encoding="utf-8"?>\n'
            '<CopyObjectResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">'
            f"<ETag>{escape(new_key.etag)}</ETag>"
            f"<LastModified>{new_key.last_modified_ISO8601}</LastModified>"
            f"{checksum}</CopyObjectResult>"
        ).encode()
        headers = {**new_key.response_dict, "Content-Type": "application/xml"}
        headers.pop("content-length", None)
        return "CopyObject", "200 OK", _with_request_id(headers), body


def _caller_backend(environ: dict[str, Any], allowed: frozenset[str]) -> Any:
    """moto's backend for a path-style, SigV4-signed S3 request with only ``allowed`` headers."""
    if any(name.startswith("HTTP_") and name not in allowed for name in environ):
        return None
    host = _HOST_PORT.sub("", environ.get("HTTP_HOST", ""))
    credential = _CREDENTIAL.search(environ.get("HTTP_AUTHORIZATION", ""))
    if not _PATH_STYLE_HOST.match(host) or not credential or credential.group(3) != "s3":
        return None
    return _backend(credential.group(1), credential.group(2))


def _list_objects_v2(
    environ: dict[str, Any], raw_path: str, query: str
) -> tuple[str, str, list, bytes] | None:
    """A plain ListObjectsV2 from moto's backend, serialised as moto serialises it."""
    from moto import settings

    bucket_name = unquote(raw_path).strip("/")
    if not bucket_name or "/" in bucket_name or "+" in query or _has_body(environ):
        return None
    pairs = parse_qsl(query, keep_blank_values=True)
    params = dict(pairs)
    if len(params) != len(pairs) or not set(params) <= _LIST_PARAMETERS:
        return None
    if params.get("list-type") != "2" or params.get("encoding-type", "url") != "url":
        return None
    backend = _caller_backend(environ, _NEUTRAL_HEADERS)
    if backend is None:
        return None
    bucket = _plain_bucket(backend, bucket_name)
    if bucket is None:
        return None
    try:
        max_keys = int(params.get("max-keys", settings.get_s3_default_max_keys()))
    except ValueError:
        return None
    token, start_after = params.get("continuation-token"), params.get("start-after")
    after = start_after
    if token is not None:
        after = backend._pagination_tokens.get(token)
        if after is None:
            return None  # unknown or empty token: moto writes the error
    if max_keys < 0:
        return None

    from moto.s3.models import FakeDeleteMarker

    prefix = params.get("prefix") or ""
    keys = sorted(
        (key for name, key in bucket.keys.items() if name.startswith(prefix)),
        key=lambda key: key.name,
    )
    keys = [key for key in keys if not isinstance(key, FakeDeleteMarker)]
    if after:
        keys = [key for key in keys if key.name > after]
    truncated = max_keys != 0 and len(keys) > max_keys
    page = keys[:max_keys]
    next_token = None
    if truncated:
        next_token = _remember_token(backend, page[-1].name)

    url = "encoding-type" in params
    parts = [
        '<?xml version="1.0" encoding="utf-8"?>\n',
        f'<ListBucketResult xmlns="{_S3_XMLNS}">',
        f"<IsTruncated>{'true' if truncated else 'false'}</IsTruncated>",
    ]
    for key in page:
        name = quote(key.name) if url else escape(key.name)
        checksum = (
            f"<ChecksumAlgorithm>{escape(key.checksum_algorithm)}</ChecksumAlgorithm>"
            if key.checksum_algorithm
            else ""
        )
        parts.append(
            f"<Contents><Key>{name}</Key>"
            f"<LastModified>{key.last_modified_ISO8601}</LastModified>"
            f"<ETag>{escape(key.etag)}</ETag>{checksum}<Size>{key.size}</Size>"
            f"<StorageClass>{escape(key.storage_class)}</StorageClass></Contents>"
        )
    parts.append(f"<Name>{escape(bucket.name)}</Name>")
    # moto writes an empty element as <Prefix/>
    parts.append(
        f"<Prefix>{quote(prefix) if url else escape(prefix)}</Prefix>" if prefix else "<Prefix/>"
    )
    parts.append(f"<MaxKeys>{max_keys}</MaxKeys>")
    if url:
        parts.append("<EncodingType>url</EncodingType>")
    parts.append(f"<KeyCount>{len(page)}</KeyCount>")
    if next_token:
        parts.append(f"<NextContinuationToken>{next_token}</NextContinuationToken>")
    if token is None and start_after:
        parts.append(f"<StartAfter>{escape(start_after)}</StartAfter>")
    parts.append("</ListBucketResult>")
    headers = _with_request_id({"Content-Type": "application/xml"})
    return "ListObjectsV2", "200 OK", headers, "".join(parts).encode()


def _remember_token(backend: Any, last_key: str) -> str:
    """The continuation token moto would hand out after ``last_key`` (and remember)."""
    from moto.utilities.utils import md5_hash

    token = md5_hash(last_key.encode("utf-8")).hexdigest()
    backend._pagination_tokens[token] = last_key
    return token


def _has_body(environ: dict[str, Any]) -> bool:
    return (environ.get("CONTENT_LENGTH") or "0") != "0"


def _backend(access_key: str, region: str) -> Any:
    """moto's S3 backend of the caller's account, chosen as moto chooses it."""
    from moto import settings
    from moto.iam.models import get_account_id_from
    from moto.s3.models import s3_backends
    from moto.utilities.utils import get_partition

    if float("inf") != settings.INITIAL_NO_AUTH_ACTION_COUNT:
        return None  # IAM enforcement is on: every call goes through moto's checks
    account = os.environ.get("MOTO_ACCOUNT_ID") or get_account_id_from(access_key)
    return s3_backends[account][get_partition(region)]


def _plain_bucket(backend: Any, name: str) -> Any:
    """The bucket, when nothing about it changes how a plain object call behaves."""
    bucket = backend.buckets.get(name)
    if bucket is None or bucket.is_versioned or bucket.policy or bucket.logging:
        return None
    return bucket


def _plain_key(backend: Any, bucket_name: str, key_name: str) -> Any:
    from moto.s3.utils import ARCHIVE_STORAGE_CLASSES

    key = backend.get_object(bucket_name, key_name)
    if key is None or key.storage_class in ARCHIVE_STORAGE_CLASSES:
        return None
    return key


def _get_object(
    backend: Any, bucket_name: str, key_name: str, checksum_mode: str | None
) -> tuple[str, str, list, bytes] | None:
    if _plain_bucket(backend, bucket_name) is None:
        return None
    key = _plain_key(backend, bucket_name, key_name)
    if key is None:
        return None
    headers = dict(key.response_dict)
    if checksum_mode == "ENABLED" and key.checksum_algorithm:
        # the SDK asks for the stored checksum to validate the body with, as moto sends it
        checksum = key.checksum_value
        if key.checksum_type == "COMPOSITE":
            checksum = f"{key.checksum_value}-{key.checksum_parts}"
        headers[f"x-amz-checksum-{key.checksum_algorithm.lower()}"] = checksum
        if key.checksum_type:
            headers["x-amz-checksum-type"] = key.checksum_type
    headers.update(key.metadata)
    headers["Accept-Ranges"] = "bytes"
    headers.pop("content-length", None)
    return "GetObject", "200 OK", _with_request_id(headers), key.value


def _precondition_failed() -> tuple[str, list, bytes]:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>PreconditionFailed</Code>'
        b"<Message>At least one of the pre-conditions you specified did not hold</Message>"
        b"<Condition>x-amz-copy-source-If-Match</Condition></Error>"
    )
    return "412 Precondition Failed", _with_request_id({"Content-Type": "application/xml"}), body


def _with_request_id(headers: dict[str, Any]) -> list[tuple[str, str]]:
    request_id = uuid.uuid4().hex
    return [
        *((name, str(value)) for name, value in headers.items()),
        ("x-amzn-requestid", request_id),
        ("access-control-allow-origin", "*"),
    ]
