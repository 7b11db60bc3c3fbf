"""Download a product's main image (http(s) or s3 URL) safely, and store it for validation.

A download either returns the bytes (:class:`FetchedImage`) or raises :class:`DownloadError`
with one reason code of :data:`REASONS`; the caller records the reason per product and goes
on. Transient failures (timeouts, connection errors, HTTP 5xx/429, S3 throttling) are retried
with exponential backoff; permanent ones (404, wrong content type, too large) are not.

A catalogue row is untrusted input, and the worker that fetches it sits inside the network
(next to the instance metadata service, the emulator, the Airflow API). So
:class:`FetchPolicy` decides what a URL may reach: ``http``/``https`` to public addresses only
— the host is resolved, loopback, private, link-local, multicast and reserved addresses are
refused unless on ``IMAGE_MLOPS_CATALOG_ALLOWED_NETWORKS``, and the connection goes to the
address that was checked (no second lookup to rebind) — every redirect hop checked again, at
most ``IMAGE_MLOPS_CATALOG_MAX_REDIRECTS`` of them; ``s3://`` only under
``IMAGE_MLOPS_CATALOG_S3_ALLOWED_PREFIXES``. The image timeout is a wall-clock deadline for
the whole download, however slowly a server drips its bytes. Credentials and query strings
never reach a log line, a reason or the manifest (:func:`redact_url`).
"""

from __future__ import annotations

import hashlib
import ipaddress
import logging
import re
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit, urlunsplit

from image_mlops import s3layout

if TYPE_CHECKING:
    from image_mlops.config import Settings

log = logging.getLogger(__name__)

#: Reason codes recorded in the manifest for a product whose main image was not stored.
REASONS = {
    "no_image_url": "the product has no image with image_index 0",
    "invalid_url": "the image URL cannot be parsed (no host, no bucket or no key)",
    "unsupported_url_scheme": "the URL (or a redirect) is not http://, https:// or s3://",
    "blocked_address": "the host is loopback, private, link-local, multicast or reserved "
    "(not on IMAGE_MLOPS_CATALOG_ALLOWED_NETWORKS)",
    "s3_not_allowed": "the s3:// URL is outside IMAGE_MLOPS_CATALOG_S3_ALLOWED_PREFIXES",
    "too_many_redirects": "more redirects than IMAGE_MLOPS_CATALOG_MAX_REDIRECTS",
    "not_found": "HTTP 404/410, or the S3 object or bucket does not exist",
    "http_error": "any other HTTP error status (5xx and 429 after the retries)",
    "timeout": "no complete answer within the image timeout (after the retries)",
    "connection_error": "the server could not be reached (after the retries)",
    "too_large": "the image is larger than IMAGE_MLOPS_MAX_IMAGE_BYTES",
    "not_an_image_content_type": "the answer's Content-Type is not image/*",
    "empty_body": "the answer has no bytes",
    "s3_error": "another S3 error (access denied, throttling after the retries, ...)",
}

_REDIRECTS = (301, 302, 303, 307, 308)


def redact_url(url: str) -> str:
    """``url`` without user, password, query string or fragment: safe to log and record."""
    try:
        parts = urlsplit(url)
        netloc = parts.netloc
        if "@" in netloc:
            netloc = "***@" + netloc.rsplit("@", 1)[1]
        return urlunsplit(
            (parts.scheme, netloc, parts.path, "redacted" if parts.query else "", "")
        ).replace("?redacted", "?…")
    except ValueError:
        return "<unparseable URL>"


@dataclass(frozen=True)
class FetchPolicy:
    """Where a catalogue URL may lead (see the module's docstring)."""

    #: networks reachable although not public (an internal image host)
    allowed_networks: tuple[ipaddress.IPv4Network | ipaddress.IPv6Network, ...] = ()
    #: ``s3://bucket/prefix`` URLs may be read under (none: no s3:// at all)
    s3_prefixes: tuple[str, ...] = ()
    max_redirects: int = 5

    @classmethod
    def from_settings(cls, settings: Settings) -> FetchPolicy:
        networks = tuple(
            ipaddress.ip_network(value.strip(), strict=False)
            for value in settings.catalog_allowed_networks
            if value.strip()
        )
        prefixes = tuple(p.strip() for p in settings.catalog_s3_allowed_prefixes if p.strip())
        if not prefixes:  # the sample catalogue's own pictures
            prefixes = (f"s3://{settings.raw_bucket}/{s3layout.CATALOG_MEDIA_PREFIX}",)
        return cls(networks, prefixes, settings.catalog_max_redirects)

    def addresses(self, host: str, port: int) -> list[str]:
        """The addresses of ``host``, all of them allowed, or :class:`DownloadError`."""
        try:
            found = _resolve(host, port)
        except OSError as exc:
            raise DownloadError(
                "connection_error",
                f"cannot resolve the host: {exc.strerror or exc}",
                retryable=True,
            ) from None
        if not found:
            raise DownloadError("connection_error", "the host has no address", retryable=True)
        for address in found:
            ip = ipaddress.ip_address(address)
            if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped:
                ip = ip.ipv4_mapped
            if not _public(ip) and not any(ip in net for net in self.allowed_networks):
                raise DownloadError("blocked_address", f"{host} resolves to {ip}")
        return found

    def check_s3(self, bucket: str, key: str) -> None:
        target = f"s3://{bucket}/{key}"
        segments = key.split("/")
        if "." in segments or ".." in segments:
            raise DownloadError("s3_not_allowed", f"s3://{bucket}/ key with dot segments")
        for prefix in self.s3_prefixes:
            if target.startswith(prefix if prefix.count("/") > 2 else prefix.rstrip("/") + "/"):
                return
        raise DownloadError("s3_not_allowed", f"s3://{bucket}/{key.rsplit('/', 1)[0]}/")


def _public(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return ip.is_global and not (
        ip.is_multicast or ip.is_reserved or ip.is_link_local or ip.is_loopback
    )


def _resolve(host: str, port: int) -> list[str]:
    infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return list(dict.fromkeys(info[4][0] for info in infos))


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
def fetch_http(
    url: str, *, timeout: float, max_bytes: int, policy: FetchPolicy | None = None
) -> FetchedImage:
    """GET ``url`` streaming, within ``timeout`` seconds in total, at most ``max_bytes``,
    following redirects only where ``policy`` allows."""
    policy = policy or FetchPolicy()
    deadline = time.monotonic() + timeout
    current = url
    for hop in range(policy.max_redirects + 1):
        location = _get(current, policy, deadline, timeout, max_bytes)
        if isinstance(location, FetchedImage):
            return FetchedImage(url=url, body=location.body, content_type=location.content_type)
        current = urljoin(current, location)
        if urlsplit(current).scheme.lower() not in ("http", "https"):
            raise DownloadError(
                "unsupported_url_scheme", f"redirect {hop + 1} leads to {redact_url(current)}"
            )
    raise DownloadError("too_many_redirects", f"more than {policy.max_redirects}")


def _get(
    url: str, policy: FetchPolicy, deadline: float, timeout: float, max_bytes: int
) -> FetchedImage | str:
    """One request: the image, or the ``Location`` of a redirect."""
    import certifi
    import urllib3
    from urllib3.exceptions import HTTPError, LocationParseError, NewConnectionError, SSLError
    from urllib3.exceptions import TimeoutError as RequestTimedOut

    try:
        parts = urlsplit(url)
        host, port = parts.hostname, parts.port
    except ValueError:
        raise DownloadError("invalid_url", redact_url(url)) from None
    if not host:
        raise DownloadError("invalid_url", f"{redact_url(url)} has no host")
    https = parts.scheme.lower() == "https"
    port = port or (443 if https else 80)
    address = policy.addresses(host, port)[0]  # connect to the address that was checked
    remaining = deadline - time.monotonic()
    if remaining <= 0:
        raise DownloadError("timeout", f"not complete after {timeout:g} s", retryable=True)
    pool_args: dict[str, Any] = {
        "timeout": urllib3.Timeout(total=remaining),
        "retries": False,
        "maxsize": 1,
    }
    if https:
        pool: Any = urllib3.HTTPSConnectionPool(
            address,
            port,
            server_hostname=host,  # SNI and the certificate are the host's, not the address's
            assert_hostname=host,
            cert_reqs="CERT_REQUIRED",
            ca_certs=certifi.where(),
            **pool_args,
        )
    else:
        pool = urllib3.HTTPConnectionPool(address, port, **pool_args)
    named = f"[{host}]" if ":" in host else host  # an IPv6 literal keeps its brackets
    host_header = named if port == (443 if https else 80) else f"{named}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    watchdog: threading.Timer | None = None
    try:
        response = pool.urlopen(
            "GET",
            target,
            headers={"Host": host_header, "User-Agent": USER_AGENT, "Accept": "image/*"},
            redirect=False,
            preload_content=False,
            retries=False,
        )
        try:
            status = response.status
            if status in _REDIRECTS and response.headers.get("Location"):
                return response.headers["Location"]
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
            # the deadline holds even against one byte every few seconds: a watchdog ends
            # a read that is still waiting when time is up
            watchdog = threading.Timer(max(0.0, deadline - time.monotonic()), response.shutdown)
            watchdog.daemon = True
            watchdog.start()
            body = bytearray()
            while True:
                block = response.read1(_CHUNK)
                if time.monotonic() >= deadline:
                    raise DownloadError(
                        "timeout", f"not complete after {timeout:g} s", retryable=True
                    )
                if not block:
                    break
                body += block
                if len(body) > max_bytes:
                    raise _too_large(len(body), max_bytes)
        finally:
            response.release_conn()
    except DownloadError:
        raise
    except NewConnectionError as exc:  # (urllib3 derives it from its connect timeout)
        raise DownloadError("connection_error", _cause(exc), retryable=True) from None
    except RequestTimedOut:
        why = f"not complete after {timeout:g} s"
        raise DownloadError("timeout", why, retryable=True) from None
    except SSLError as exc:
        raise DownloadError("connection_error", f"TLS: {_cause(exc)}", retryable=True) from None
    except LocationParseError:
        raise DownloadError("invalid_url", redact_url(url)) from None
    except (HTTPError, OSError) as exc:
        if time.monotonic() >= deadline:
            raise DownloadError(
                "timeout", f"not complete after {timeout:g} s", retryable=True
            ) from None
        raise DownloadError("connection_error", _cause(exc), retryable=True) from None
    finally:
        if watchdog is not None:
            watchdog.cancel()
        pool.close()
    if not body:
        raise DownloadError("empty_body")
    return FetchedImage(url=url, body=bytes(body), content_type=content_type)


def _cause(exc: BaseException) -> str:
    """A short description of a network error that names no URL (which may hold secrets)."""
    while exc.__context__ is not None and not isinstance(exc, OSError):
        exc = exc.__context__
    text = getattr(exc, "strerror", None) or type(exc).__name__
    return str(text)[:200]


# -- s3 ---------------------------------------------------------------------------------------
_MISSING = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_TRANSIENT = {"SlowDown", "Throttling", "ThrottlingException", "RequestTimeout", "500", "503"}


def parse_s3_url(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    bucket, key = parts.netloc, parts.path.lstrip("/")
    if not bucket or not key:
        raise DownloadError("invalid_url", f"{url!r} has no bucket or key")
    return bucket, key


def fetch_s3(
    url: str, *, s3: Any, max_bytes: int, policy: FetchPolicy | None = None
) -> FetchedImage:
    """Read ``s3://bucket/key`` with the AWS connection's client, at most ``max_bytes``,
    where ``policy`` allows."""
    from botocore.exceptions import BotoCoreError, ClientError, ConnectionError, ReadTimeoutError

    bucket, key = parse_s3_url(url)
    (policy or FetchPolicy()).check_s3(bucket, key)
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
    policy: FetchPolicy | None = None,
    backoff: float = 0.5,
    sleep: Callable[[float], None] = time.sleep,
) -> FetchedImage:
    """Fetch ``url`` (http, https or s3), retrying transient failures ``retries`` times.

    Waits ``backoff * 2**attempt`` seconds between tries. Raises :class:`DownloadError`.
    ``policy`` says what the URL may reach (default: public hosts only, no ``s3://``).
    """
    policy = policy or FetchPolicy()
    try:
        scheme = urlsplit(url).scheme.lower()
    except ValueError:
        raise DownloadError("invalid_url", redact_url(url)) from None
    if scheme in ("http", "https"):

        def attempt() -> FetchedImage:
            return fetch_http(url, timeout=timeout, max_bytes=max_bytes, policy=policy)

    elif scheme == "s3":
        if s3 is None:
            raise ValueError("an S3 client is needed for s3:// URLs")

        def attempt() -> FetchedImage:
            return fetch_s3(url, s3=s3, max_bytes=max_bytes, policy=policy)

    else:
        raise DownloadError(
            "unsupported_url_scheme", f"{scheme or 'no scheme'}: {redact_url(url)[:200]}"
        )

    for number in range(retries + 1):
        try:
            image = attempt()
        except DownloadError as exc:
            if not exc.retryable or number == retries:
                if number:
                    exc.detail = f"{exc.detail} (after {number + 1} attempts)"
                raise
            wait = backoff * 2**number
            log.info("retrying %s in %.1f s: %s", redact_url(url), wait, exc)
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
