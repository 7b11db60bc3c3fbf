"""S3 rules moto does not enforce, added in front of it the way S3 behaves.

A WSGI middleware of the emulator. Each rule copies one documented S3 behaviour, and each is
tested against that behaviour (``tests/integration/test_emulator_s3_rules.py``):

* **Key length** — a key longer than 1,024 bytes (UTF-8) is refused: ``400 KeyTooLongError``
  (PutObject, CopyObject, CreateMultipartUpload).
* **User metadata size** — more than 2 KB of user metadata (the UTF-8 bytes of every
  ``x-amz-meta-`` name, without the prefix, and value) is refused: ``400 MetadataTooLarge``
  (PutObject, CopyObject with ``REPLACE``, CreateMultipartUpload).
* **Non-ASCII metadata** — S3 stores a value sent with non-ASCII bytes and returns it
  RFC 2047-encoded (``=?UTF-8?B?...?=``), so GET/HEAD answers stay ASCII; moto hands the raw
  bytes back (which botocore then refuses to send on in a copy).
* **Conditional copy** — ``x-amz-copy-source-if-match``: ``412 PreconditionFailed`` when the
  source's ETag differs (moto ignores the header).

A bucket policy, the conditional-writes form included (``Deny s3:PutObject`` when
``s3:if-none-match`` is absent), is the authorization layer's
(:mod:`image_mlops_dev.emulator.iam.authorizer`).

Refused requests never reach moto, so the journal never records them.
"""

from __future__ import annotations

import base64
import email.header
import io
import re
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, quote, unquote
from xml.sax.saxutils import escape

from image_mlops_dev.emulator.http.wsgi import call, path_bucket_and_key

StartResponse = Callable[..., Any]
WsgiApp = Callable[..., Iterable[bytes]]

MAX_KEY_BYTES = 1024
MAX_USER_METADATA_BYTES = 2048
_META_ENV_PREFIX = "HTTP_X_AMZ_META_"
_META_HEADER_PREFIX = "x-amz-meta-"
_CREDENTIAL_SERVICE = re.compile(r"Credential=[^/,\s]+/[^/]+/[^/]+/([^/]+)/aws4_request")
#: Query parameters that make a PUT something else than PutObject / CopyObject.
_PUT_SUBRESOURCES = frozenset(
    {
        "acl",
        "tagging",
        "retention",
        "legal-hold",
        "partNumber",
        "uploadId",
        "policy",
        "versioning",
        "cors",
        "lifecycle",
        "encryption",
        "notification",
        "website",
        "logging",
        "replication",
        "ownershipControls",
        "publicAccessBlock",
        "object-lock",
        "accelerate",
        "requestPayment",
        "intelligent-tiering",
        "analytics",
        "metrics",
        "inventory",
    }
)


def _error(start_response: StartResponse, status: str, code: str, message: str, **extra: Any):
    fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in extra.items())
    body = (
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        f"<Error><Code>{code}</Code><Message>{escape(message)}</Message>{fields}"
        "<RequestId>image-mlops-emulator</RequestId></Error>"
    ).encode()
    start_response(
        status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


def is_s3_request(environ: dict[str, Any]) -> bool:
    """An S3 request: signed for ``s3``, or unsigned REST (no JSON target, no query action)."""
    auth = environ.get("HTTP_AUTHORIZATION", "")
    match = _CREDENTIAL_SERVICE.search(auth)
    if match:
        return match.group(1) == "s3"
    query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
    if "X-Amz-Credential" in query:
        return query["X-Amz-Credential"][0].split("/")[-2:-1] == ["s3"]
    return not auth and "HTTP_X_AMZ_TARGET" not in environ and "Action" not in query


#: Path-style ``/bucket/key`` of a WSGI ``PATH_INFO`` (the decoded path, as latin-1).
bucket_and_key = path_bucket_and_key


def copy_source(header_value: str) -> tuple[str, str, str]:
    """``(bucket, key, version id or "")`` of an ``x-amz-copy-source`` header value."""
    text = unquote(header_value.encode("latin-1").decode("utf-8", "replace"))
    path, _, version = text.partition("?versionId=")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key, version


def rfc2047_value(raw: str) -> str:
    """A metadata value as S3 returns it: unchanged when ASCII, else RFC 2047 (UTF-8, B)."""
    data = raw.encode("latin-1", "replace")
    if data.isascii():
        return raw
    text = data.decode("utf-8", "replace")
    return "=?UTF-8?B?" + base64.b64encode(text.encode()).decode() + "?="


def _decoded_len(value: str) -> int:
    data = value.encode("latin-1", "replace")
    if b"=?" in data:
        try:
            parts = email.header.decode_header(data.decode("ascii"))
            return sum(
                len(p.encode() if isinstance(p, str) else p.decode(c or "ascii").encode())
                for p, c in parts
            )
        except (UnicodeDecodeError, LookupError, ValueError):
            pass
    return len(data)


def user_metadata_bytes(environ: dict[str, Any]) -> int:
    """S3's measure: UTF-8 bytes of every user metadata name (without prefix) and value."""
    total = 0
    for name, value in environ.items():
        if name.startswith(_META_ENV_PREFIX) and isinstance(value, str):
            total += len(name[len(_META_ENV_PREFIX) :]) + _decoded_len(value)
    return total


class S3Rules:
    """The middleware (see the module docstring)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app

    # --- helpers: requests of our own to the wrapped app (the same state) -----------------
    def _internal(self, environ: dict[str, Any], method: str, path: str, query: str = ""):
        inner = {
            k: v
            for k, v in environ.items()
            if not k.startswith(("HTTP_X_AMZ_COPY_SOURCE", _META_ENV_PREFIX, "HTTP_IF_"))
            and k not in ("HTTP_X_AMZ_METADATA_DIRECTIVE", "CONTENT_TYPE", "HTTP_CONTENT_MD5")
        }
        # moto reads the key from the raw URI when the server gives one
        raw_uri = quote(path.encode("latin-1").decode("utf-8", "replace")) + (
            f"?{query}" if query else ""
        )
        inner.update(
            {
                "REQUEST_METHOD": method,
                "PATH_INFO": path,
                "QUERY_STRING": query,
                "REQUEST_URI": raw_uri,
                "RAW_URI": raw_uri,
                "CONTENT_LENGTH": "0",
                "wsgi.input": io.BytesIO(b""),
            }
        )
        status, headers, body = call(self.app, inner)
        return status, {k.lower(): v for k, v in headers}, body

    # --- the rules ------------------------------------------------------------------------
    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        if not is_s3_request(environ):
            return self.app(environ, start_response)
        method = environ.get("REQUEST_METHOD", "GET").upper()
        query = parse_qs(environ.get("QUERY_STRING", ""), keep_blank_values=True)
        bucket, key = bucket_and_key(environ.get("PATH_INFO", ""))
        if bucket and key:
            refused = self._refusal(environ, start_response, method, query, bucket, key)
            if refused is not None:
                return refused
            if method in ("GET", "HEAD"):
                return self.app(environ, _encoding_metadata(start_response))
        return self.app(environ, start_response)

    def _refusal(self, environ, start_response, method, query, bucket: str, key: str):
        put_object = method == "PUT" and not (_PUT_SUBRESOURCES & query.keys())
        create_upload = method == "POST" and "uploads" in query
        copy = put_object and "HTTP_X_AMZ_COPY_SOURCE" in environ
        if put_object or create_upload:
            size = len(key.encode())
            if size > MAX_KEY_BYTES:
                return _error(
                    start_response,
                    "400 Bad Request",
                    "KeyTooLongError",
                    "Your key is too long",
                    Size=size,
                    MaxSizeAllowed=MAX_KEY_BYTES,
                )
            replace = environ.get("HTTP_X_AMZ_METADATA_DIRECTIVE", "COPY").upper() == "REPLACE"
            if not copy or replace:
                metadata = user_metadata_bytes(environ)
                if metadata > MAX_USER_METADATA_BYTES:
                    return _error(
                        start_response,
                        "400 Bad Request",
                        "MetadataTooLarge",
                        "Your metadata headers exceed the maximum allowed metadata size.",
                        Size=metadata,
                        MaxSizeAllowed=MAX_USER_METADATA_BYTES,
                    )
        if copy and "HTTP_X_AMZ_COPY_SOURCE_IF_MATCH" in environ:
            return self._check_copy_source(environ, start_response)
        return None

    def _check_copy_source(self, environ, start_response):
        bucket, key, version = copy_source(environ["HTTP_X_AMZ_COPY_SOURCE"])
        status, headers, _ = self._internal(
            environ,
            "HEAD",
            f"/{bucket}/{key}".encode().decode("latin-1"),
            f"versionId={version}" if version else "",
        )
        if status != 200:
            return None  # moto answers the missing source as S3 does
        wanted = {
            e.strip().strip('"') for e in environ["HTTP_X_AMZ_COPY_SOURCE_IF_MATCH"].split(",")
        }
        if headers.get("etag", "").strip('"') not in wanted and "*" not in wanted:
            return _error(
                start_response,
                "412 Precondition Failed",
                "PreconditionFailed",
                "At least one of the pre-conditions you specified did not hold",
                Condition="x-amz-copy-source-If-Match",
            )
        return None


def _encoding_metadata(start_response: StartResponse) -> StartResponse:
    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
        fixed = [
            (name, rfc2047_value(value) if name.lower().startswith(_META_HEADER_PREFIX) else value)
            for name, value in headers
        ]
        return start_response(status, fixed, exc_info)

    return start
