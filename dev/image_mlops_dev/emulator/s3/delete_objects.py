"""``DeleteObjects`` is authorized key by key, as S3 does.

S3 checks ``s3:DeleteObject`` (``s3:DeleteObjectVersion`` with a version id) for each key of
a multi-object delete on its own: the request succeeds, the keys the caller may delete are
deleted, and each refused key comes back in the result as an ``<Error>`` with code
``AccessDenied`` (Amazon S3 API Reference, ``DeleteObjects``). This layer asks the
authorizer (given by the composition root) about each key, forwards only the allowed ones to
moto and adds the refused ones to its answer.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from image_mlops_dev.emulator.http.operations import operation_of
from image_mlops_dev.emulator.http.wsgi import PRINCIPAL, StartResponse, WsgiApp, call

log = logging.getLogger("image_mlops.emulator.s3")

#: ``allowed(environ, principal, bucket, key, version id or None)``
AllowedToDelete = Callable[[dict[str, Any], Any, str, str, "str | None"], bool]
#: Headers that describe the body as sent: stale once the body is rewritten.
_BODY_HEADERS = ("HTTP_CONTENT_MD5", "HTTP_X_AMZ_SDK_CHECKSUM_ALGORITHM")


def _objects_xml(objects: list[dict[str, Any]], quiet: bool) -> bytes:
    parts = ['<?xml version="1.0" encoding="UTF-8"?><Delete>']
    if quiet:
        parts.append("<Quiet>true</Quiet>")
    for item in objects:
        parts.append(f"<Object><Key>{escape(item['Key'])}</Key>")
        if item.get("VersionId"):
            parts.append(f"<VersionId>{escape(item['VersionId'])}</VersionId>")
        parts.append("</Object>")
    parts.append("</Delete>")
    return "".join(parts).encode()


def _errors_xml(refused: list[dict[str, Any]]) -> bytes:
    return "".join(
        f"<Error><Key>{escape(item['Key'])}</Key>"
        + (f"<VersionId>{escape(item['VersionId'])}</VersionId>" if item.get("VersionId") else "")
        + "<Code>AccessDenied</Code><Message>Access Denied</Message></Error>"
        for item in refused
    ).encode()


class DeleteObjectsPerKey:
    def __init__(self, app: WsgiApp, allowed: AllowedToDelete) -> None:
        self.app = app
        self.allowed = allowed

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        operation = operation_of(environ)
        if operation is None or operation.service != "s3" or operation.name != "DeleteObjects":
            return self.app(environ, start_response)
        principal = environ.get(PRINCIPAL)
        bucket = operation.params.get("Bucket", "")
        delete = operation.params.get("Delete") or {}
        objects = list(delete.get("Objects") or [])
        allowed, refused = [], []
        for item in objects:
            ok = self.allowed(environ, principal, bucket, item["Key"], item.get("VersionId"))
            (allowed if ok else refused).append(item)
        if not refused:
            return self.app(environ, start_response)
        log.warning("DeleteObjects in %s: %d key(s) refused", bucket, len(refused))
        if allowed:
            body = _objects_xml(allowed, bool(delete.get("Quiet")))
            inner = {
                k: v
                for k, v in environ.items()
                if k not in _BODY_HEADERS and not k.startswith("HTTP_X_AMZ_CHECKSUM_")
            }
            inner.update({"wsgi.input": io.BytesIO(body), "CONTENT_LENGTH": str(len(body))})
            status, headers, answer = call(self.app, inner)
            if status >= 300:
                start_response(f"{status} Error", headers)
                return [answer]
        else:
            headers = [("Content-Type", "application/xml")]
            answer = (
                b'<?xml version="1.0" encoding="UTF-8"?>'
                b'<DeleteResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/"></DeleteResult>'
            )
        answer = answer.replace(b"</DeleteResult>", _errors_xml(refused) + b"</DeleteResult>")
        headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        start_response("200 OK", [*headers, ("Content-Length", str(len(answer)))])
        return [answer]
