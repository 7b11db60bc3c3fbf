"""Download a product's main image (http(s) or s3 URL) safely, and store it for validation.

A download either returns the bytes (:class:`FetchedImage`) or raises :class:`DownloadError`
with one reason code of :data:`REASONS`; the caller records the reason per product and goes
on. Transient failures (timeouts, connection errors, HTTP 5xx/429, S3 throttling) are retried
with exponential backoff; permanent ones (404, wrong content type, too large) are not.
"""

from __future__ import annotations

import hashlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from image_mlops import s3layout

log = logging.getLogger(__name__)

#: Reason codes recorded in the manifest for a product whose main image was not stored.
REASONS = {
    "no_image_url": "the product has no image with image_index 0",
    "invalid_url": "the image URL cannot be parsed (no host, no bucket or no key)",
    "unsupported_url_scheme": "the URL is not http://, https:// or s3://",
    "not_found": "HTTP 404/410, or the S3 object or bucket does not exist",
    "http_error": "any other HTTP error status (5xx and 429 after the retries)",
    "timeout": "no complete answer within the image timeout (after the retries)",
    "connection_error": "the server could not be reached (after the retries)",
    "too_large": "the image is larger than IMAGE_MLOPS_MAX_IMAGE_BYTES",
    "not_an_image_content_type": "the answer's Content-Type is not image/*",
    "empty_body": "the answer has no bytes",
    "s3_error": "another S3 error (access denied, throttling after the retries, ...)",
}

_EXTENSIONS = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/png": "png",
    "image/webp": "webp",
    "image/gif": "gif",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "image/svg+xml": "svg",
    "image/avif": "avif",
}
_CHUNK = 64 * 1024
USER_AGENT = "image-mlops-catalog/1"


class DownloadError(Exception):
    """A main image that could not be fetched: ``reason`` is one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str = "", *, retryable: bool = False) -> None:
        assert reason in REASONS, reason
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail
        self.retryable = retryable


@dataclass(frozen=True)
class FetchedImage:
    url: str
    body: bytes
    content_type: str
    attempts: int = 1

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.body).hexdigest()

    @property
    def extension(self) -> str:
        return extension_for(self.content_type)


def extension_for(content_type: str) -> str:
    """File extension for an ``image/*`` content type (``image/jpeg`` → ``jpg``)."""
    content_type = content_type.lower()
    if content_type in _EXTENSIONS:
        return _EXTENSIONS[content_type]
    subtype = content_type.partition("/")[2]
    return re.sub(r"[^a-z0-9]+", "", subtype)[:10] or "img"


def _media_type(header: str | None) -> str:
    return (header or "").split(";")[0].strip().lower()


def _check_content_type(content_type: str) -> None:
    if not content_type.startswith("image/"):
        raise DownloadError("not_an_image_content_type", content_type or "no Content-Type")


def _too_large(size: int, max_bytes: int) -> DownloadError:
    return DownloadError("too_large", f"{size} bytes > limit {max_bytes}")


# -- http(s) --------------------------------------------------------------------------------
def fetch_http(url: str, *, timeout: float, max_bytes: int) -> FetchedImage:
    """GET ``url`` streaming, within ``timeout`` seconds in total, at most ``max_bytes``."""
    import requests
    from urllib3.exceptions import ReadTimeoutError

    deadline = time.monotonic() + timeout
    try:
        with requests.get(
            url,
            stream=True,
            timeout=(timeout, timeout),
            headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
        ) as response:
            status = response.status_code
            if status in (404, 410):
                raise DownloadError("not_found", f"HTTP {status}")
            if status >= 400 or status < 200:
                raise DownloadError(
                    "http_error", f"HTTP {status}", retryable=status >= 500 or status == 429
                )
            content_type = _media_type(response.headers.get("Content-Type"))
            _check_content_type(content_type)
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > max_bytes:
                raise _too_large(int(declared), max_bytes)
            body = bytearray()
            for block in response.iter_content(_CHUNK):
                body += block
                if len(body) > max_bytes:
                    raise _too_large(len(body), max_bytes)
                if time.monotonic() > deadline:
                    raise DownloadError(
                        "timeout", f"not complete after {timeout:g} s", retryable=True
                    )
    except requests.Timeout as exc:
        raise DownloadError("timeout", f"{timeout:g} s: {exc}", retryable=True) from None
    except requests.ConnectionError as exc:
        # A read timeout while streaming the body surfaces as a ConnectionError.
        if exc.args and isinstance(exc.args[0], ReadTimeoutError):
            raise DownloadError("timeout", f"{timeout:g} s: {exc}", retryable=True) from None
        raise DownloadError("connection_error", str(exc)[:300], retryable=True) from None
    except requests.RequestException as exc:
        raise DownloadError("invalid_url", str(exc)[:300]) from None
    if not body:
        raise DownloadError("empty_body")
    return FetchedImage(url=url, body=bytes(body), content_type=content_type)


# -- s3 ---------------------------------------------------------------------------------------
_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "500", "503"}


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise DownloadError("invalid_url", f"{url!r} has no bucket or key")
    return bucket, key


def fetch_s3(url: str, *, s3: Any, max_bytes: int) -> FetchedImage:
    """Read ``s3://bucket/key`` with the AWS connection's client, at most ``max_bytes``."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

    bucket, key = parse_s3_url(url)
    try:
        response = s3.get_object(Bucket=bucket, Key=key)
        stream = response["Body"]
        try:
            size = int(response.get("ContentLength") or 0)
            if size > max_bytes:
                raise _too_large(size, max_bytes)
            content_type = _media_type(response.get("ContentType"))
            _check_content_type(content_type)
            body = stream.read(max_bytes + 1)
        finally:
            stream.close()
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code", ""))
        if code in _MISSING:
            raise DownloadError("not_found", f"{code}: s3://{bucket}/{key}") from None
        raise DownloadError(
            "s3_error", f"{code}: {exc}"[:300], retryable=code in _TRANSIENT
        ) from None
    except (ReadTimeoutError, TimeoutError) as exc:
        raise DownloadError("timeout", str(exc)[:300], retryable=True) from None
    except ConnectionError as exc:
        raise DownloadError("connection_error", str(exc)[:300], retryable=True) from None
    except BotoCoreError as exc:
        raise DownloadError("s3_error", str(exc)[:300], retryable=True) from None
    if len(body) > max_bytes:
        raise _too_large(len(body), max_bytes)
    if not body:
        raise DownloadError("empty_body")
    return FetchedImage(url=url, body=body, content_type=content_type)


# -- any URL, with retries ----------------------------------------------------------------------
def fetch_image(
    url: str,
    *,
    timeout: float,
    max_bytes: int,
    retries: int,
    s3: Any = None,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchedImage:
    """Fetch ``url`` (http, https or s3), retrying transient failures ``retries`` times.

    Waits ``backoff * 2**attempt`` seconds between tries. Raises :class:`DownloadError`.
    """
    scheme = urlsplit(url).scheme.lower()
    if scheme in ("http", "https"):

        def attempt() -> FetchedImage:
            return fetch_http(url, timeout=timeout, max_bytes=max_bytes)

    elif scheme == "s3":
        if s3 is None:
            raise ValueError("an S3 client is needed for s3:// URLs")

        def attempt() -> FetchedImage:
            return fetch_s3(url, s3=s3, max_bytes=max_bytes)

    else:
        raise DownloadError("unsupported_url_scheme", f"{scheme or 'no scheme'}: {url[:200]}")

    for number in range(retries + 1):
        try:
            image = attempt()
        except DownloadError as exc:
            if not exc.retryable or number == retries:
                if number:
                    exc.detail = f"{exc.detail} (after {number + 1} attempts)"
                raise
            wait = backoff * 2**number
            log.info("retrying %s in %.1f s: %s", url, wait, exc)
            sleep(wait)
            continue
        return FetchedImage(image.url, image.body, image.content_type, attempts=number + 1)
    raise AssertionError("unreachable")


# -- storing ------------------------------------------------------------------------------------
def _metadata(s3: Any, bucket: str, key: str) -> dict[str, str] | None:
    from botocore.exceptions import ClientError

    try:
        return s3.head_object(Bucket=bucket, Key=key).get("Metadata", {})
    except ClientError as exc:
        code = str(exc.response.get("Error", {}).get("Code"))
        if code in _MISSING:
            return None
        if code in ("403", "AccessDenied", "Forbidden"):
            # Without s3:ListBucket a missing key answers 403: treat it as "not there".
            log.debug("no access to s3://%s/%s (%s): treated as absent", bucket, key, code)
            return None
        raise


def store_main_image(
    s3: Any, image: FetchedImage, *, product_id: int, raw_bucket: str, validated_bucket: str
) -> tuple[str, str]:
    """Put the image at ``incoming/product-<id>.<ext>``; returns (key, status).

    status: ``stored`` (written), ``unchanged`` (the same bytes already wait in incoming/),
    ``already_validated`` (the same bytes are already in the validated bucket, so they are
    not fed to validation again, where they would be quarantined as duplicates).
    """
    key = s3layout.catalog_image_key(product_id, image.extension)
    sha256 = image.sha256
    existing = _metadata(s3, raw_bucket, key)
    if existing is not None and existing.get("sha256") == sha256:
        return key, "unchanged"
    validated = _metadata(s3, validated_bucket, key)
    if validated is not None and validated.get("sha256") == sha256:
        return key, "already_validated"
    s3.put_object(
        Bucket=raw_bucket,
        Key=key,
        Body=image.body,
        ContentType=image.content_type,
        Metadata={"product-id": str(product_id), "sha256": sha256},
    )
    return key, "stored"
