"""The emulator's front door: only requests signed with a key the emulator knows get in.

moto answers unsigned requests and allows every origin (CORS). On a shared machine that let
anyone who could reach the port — or any web page open in a local browser — replace a model
artifact whose ``inference.py`` the workers run. This WSGI layer, outermost in the server,
checks each request's AWS Signature Version 4 as AWS does, with botocore's own signer: it
recomputes the signature of the request as received (header ``Authorization`` or a
presigned URL's ``X-Amz-*`` parameters) with the secret of the access key it names, and
refuses the request unless both match, the clock skew is under 15 minutes (a presigned URL:
not expired) and a signed S3 body hash is the body's. It also drops moto's CORS headers and
answers every preflight ``OPTIONS`` with 403: the emulator is no browser's API.

Which keys exist, and whose they are, is not this layer's business: a resolver given by the
composition root maps an access key id (and a session token, for temporary credentials) to
its secret and its principal, which this layer puts into the environ (:data:`PRINCIPAL`) for
the authorization layer. The journal's replay and the in-process outcome records go below
this layer, so they never depend on it.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

from botocore.auth import S3SigV4Auth, S3SigV4QueryAuth, SigV4Auth, SigV4QueryAuth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from image_mlops_dev.emulator.http.errors import error_response
from image_mlops_dev.emulator.http.operations import operation_of
from image_mlops_dev.emulator.http.wsgi import PRINCIPAL, buffered_body

log = logging.getLogger("image_mlops.emulator")

WsgiApp = Callable[..., Iterable[bytes]]

#: Answered without a signature: readiness (``GET`` only), which tells nothing about state.
OPEN_PATHS = frozenset({"/_emulator/health"})
MAX_CLOCK_SKEW = dt.timedelta(minutes=15)

_AUTHORIZATION = re.compile(
    r"^AWS4-HMAC-SHA256\s+Credential=(?P<credential>[^,\s]+),\s*"
    r"SignedHeaders=(?P<signed>[^,\s]+),\s*Signature=(?P<signature>[0-9a-f]+)\s*$"
)
_AMZ_DATE = "%Y%m%dT%H%M%SZ"


class SignatureRefused(Exception):
    def __init__(self, code: str, message: str, status: str = "403 Forbidden") -> None:
        super().__init__(message)
        self.code, self.message, self.status = code, message, status


@dataclass(frozen=True)
class Caller:
    """Who signed a request: the key's secret (to check the signature) and its principal."""

    access_key_id: str
    secret: str
    principal: Any


#: ``resolve(access key id, session token or None)``: the caller, or None for an unknown key.
#: It raises :class:`SignatureRefused` for a key it knows but refuses (an expired session).
Resolver = Callable[[str, "str | None"], "Caller | None"]


def _header(environ: dict[str, Any], name: str) -> str | None:
    key = name.upper().replace("-", "_")
    if key not in ("CONTENT_TYPE", "CONTENT_LENGTH"):
        key = f"HTTP_{key}"
    return environ.get(key)


def _raw_path_and_query(environ: dict[str, Any]) -> tuple[str, str]:
    raw = environ.get("REQUEST_URI") or environ.get("RAW_URI")
    if raw:
        path, _, query = raw.partition("?")
        return path, query
    from urllib.parse import quote

    return quote(environ.get("PATH_INFO", ""), safe="/~"), environ.get("QUERY_STRING", "")


def _parse_time(value: str, what: str) -> dt.datetime:
    try:
        return dt.datetime.strptime(value, _AMZ_DATE).replace(tzinfo=dt.UTC)
    except (TypeError, ValueError):
        raise SignatureRefused("IncompleteSignature", f"{what} is missing or malformed") from None


def _caller_for(
    credential: str, token: str | None, resolve: Resolver
) -> tuple[Caller, str, str, str]:
    """(caller, date, region, service) of a credential scope whose key the emulator knows."""
    parts = credential.split("/")
    if len(parts) != 5 or parts[4] != "aws4_request":
        raise SignatureRefused("IncompleteSignature", "malformed credential scope")
    key, date, region, service, _ = parts
    caller = resolve(key, token)
    if caller is None:
        raise SignatureRefused(
            "InvalidClientTokenId", "The security token included in the request is invalid."
        )
    return caller, date, region, service


def verify(environ: dict[str, Any], body: bytes, resolve: Resolver) -> Caller:
    """The caller of a signed request; :class:`SignatureRefused` unless the signature is
    valid for a key ``resolve`` knows."""
    path, query = _raw_path_and_query(environ)
    host = _header(environ, "host") or "localhost"
    authorization = _header(environ, "authorization")
    now = dt.datetime.now(dt.UTC)
    if authorization:
        match = _AUTHORIZATION.match(authorization)
        if match is None:
            raise SignatureRefused(
                "IncompleteSignature", "only AWS Signature Version 4 (AWS4-HMAC-SHA256) is accepted"
            )
        credential, signed, given = match["credential"], match["signed"], match["signature"]
        stamp = _header(environ, "x-amz-date") or ""
        when = _parse_time(stamp, "X-Amz-Date")
        if abs(now - when) > MAX_CLOCK_SKEW:
            raise SignatureRefused(
                "RequestTimeTooSkewed",
                "The difference between the request time and the current time is too large.",
            )
        kept_query = query
        presigned = False
        token = _header(environ, "x-amz-security-token")
    else:
        params = parse_qsl(query, keep_blank_values=True)
        values = dict(params)
        if "Signature" in values and "AWSAccessKeyId" in values:
            raise SignatureRefused(
                "InvalidRequest",
                "Signature Version 2 is not accepted (AWS retired it): presign with "
                "botocore.config.Config(signature_version='s3v4')",
                status="400 Bad Request",
            )
        if "X-Amz-Signature" not in values:
            raise SignatureRefused(
                "MissingAuthenticationToken",
                "Request is missing Authentication Token (the local emulator, like AWS, "
                "accepts only signed requests)",
            )
        credential = values.get("X-Amz-Credential", "")
        token = values.get("X-Amz-Security-Token")
        signed = values.get("X-Amz-SignedHeaders", "host")
        given = values["X-Amz-Signature"]
        stamp = values.get("X-Amz-Date", "")
        when = _parse_time(stamp, "X-Amz-Date")
        try:
            expires = int(values.get("X-Amz-Expires", "0"))
        except ValueError:
            expires = 0
        if now > when + dt.timedelta(seconds=expires):
            raise SignatureRefused("AccessDenied", "Request has expired")
        # the canonical query of a presigned URL is every parameter but the signature
        kept_query = "&".join(
            pair for pair in query.split("&") if not pair.startswith("X-Amz-Signature=")
        )
        presigned = True
    caller, date, region, service = _caller_for(credential, token, resolve)
    if date != stamp[:8]:
        raise SignatureRefused("SignatureDoesNotMatch", "credential date is not the request date")

    signed_names = set(signed.split(";"))
    unsigned = sorted(
        key[5:].lower().replace("_", "-")
        for key in environ
        if key.startswith("HTTP_X_AMZ_") and key[5:].lower().replace("_", "-") not in signed_names
    )
    if unsigned:
        # as S3 does: an x-amz-* header (copy source, metadata, ...) cannot ride along on
        # someone else's signature
        raise SignatureRefused(
            "AccessDenied",
            f"There were headers present in the request which were not signed: {unsigned}",
        )
    headers = {}
    for name in signed.split(";"):
        value = host if name == "host" else _header(environ, name)
        if value is None:
            raise SignatureRefused("SignatureDoesNotMatch", f"signed header {name!r} is missing")
        headers[name] = value
    request = AWSRequest(
        method=environ.get("REQUEST_METHOD", "GET"),
        url=f"http://{host}{path}" + (f"?{kept_query}" if kept_query else ""),
        headers=headers,
        data=body,
    )
    request.context["timestamp"] = stamp
    if presigned:
        signer_class = S3SigV4QueryAuth if service == "s3" else SigV4QueryAuth
    else:
        signer_class = S3SigV4Auth if service == "s3" else SigV4Auth
    signer = signer_class(Credentials(caller.access_key_id, caller.secret, token), service, region)
    canonical = signer.canonical_request(request)
    expected = signer.signature(signer.string_to_sign(request, canonical), request)
    if not hmac.compare_digest(expected, given):
        raise SignatureRefused(
            "SignatureDoesNotMatch",
            "The request signature we calculated does not match the signature you provided.",
        )
    declared = _header(environ, "x-amz-content-sha256")
    if (
        declared
        and re.fullmatch(r"[0-9a-f]{64}", declared)
        and hashlib.sha256(body).hexdigest() != declared
    ):
        raise SignatureRefused(
            "XAmzContentSHA256Mismatch",
            "The provided 'x-amz-content-sha256' header does not match what was computed.",
            status="400 Bad Request",
        )
    return caller


def _refusal(start_response: Callable[..., Any], refused: SignatureRefused, environ: dict):
    """The refusal in the request's wire protocol, as its service answers: S3's XML, a JSON
    service's ``__type``, a query service's ``<ErrorResponse>`` (STS, IAM, SNS,
    CloudFormation: botocore reads no code from any other shape)."""
    if (_header(environ, "authorization") or "").find("/s3/aws4_request") >= 0:
        protocol = "rest-xml"
    elif _header(environ, "x-amz-target"):
        protocol = "json"
    else:
        operation = operation_of(environ)
        protocol = operation.protocol if operation is not None and operation.protocol else "query"
    status = int(refused.status.split()[0])
    return error_response(start_response, protocol, status, refused.code, refused.message)


class RequireSignature:
    """WSGI layer: refuse what is not signed with a key ``resolve`` knows; put the caller's
    principal into the environ (:data:`PRINCIPAL`)."""

    def __init__(self, app: WsgiApp, resolve: Resolver) -> None:
        self.app = app
        self.resolve = resolve

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "OPTIONS":
            # no CORS: a browser's preflight gets no Access-Control-Allow-* headers
            start_response("403 Forbidden", [("Content-Length", "0")])
            return [b""]
        if not (method in ("GET", "HEAD") and environ.get("PATH_INFO") in OPEN_PATHS):
            body = buffered_body(environ)
            try:
                environ[PRINCIPAL] = verify(environ, body, self.resolve).principal
            except SignatureRefused as refused:
                log.warning("refused %s %s: %s", method, environ.get("PATH_INFO", ""), refused.code)
                return _refusal(start_response, refused, environ)

        def without_cors(status: str, headers: list[tuple[str, str]], exc_info: Any = None):
            kept = [(k, v) for k, v in headers if not k.lower().startswith("access-control-")]
            return start_response(status, kept, exc_info)

        return self.app(environ, without_cors)


def signed_request(
    url: str,
    *,
    method: str = "GET",
    data: bytes | None = None,
    credentials: tuple[str, str] | None = None,
) -> Any:
    """A ``urllib`` request to one of the emulator's own paths (``/_emulator/...``), signed
    with ``credentials`` (the stack's bootstrap key: only it may use those paths)."""
    import urllib.request

    if credentials is None:
        raise ValueError("the emulator's own paths need the stack's bootstrap key")
    request = AWSRequest(method=method, url=url, data=data or b"")
    SigV4Auth(Credentials(*credentials), "emulator", "us-east-1").add_auth(request)
    return urllib.request.Request(
        url, data=data, method=method, headers=dict(request.headers.items())
    )
