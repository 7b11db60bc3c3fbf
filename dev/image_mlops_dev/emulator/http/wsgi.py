"""WSGI helpers every layer of the emulator shares: bodies, actions, internal requests.

Nothing here knows a service: these are the pieces of HTTP and of AWS's wire protocols
(SigV4 credential scope, ``X-Amz-Target``, ``Action=``, Smithy RPC v2 paths) that the layers
above moto read.
"""

from __future__ import annotations

import io
import json
import re
import sys
from collections.abc import Callable, Iterable
from typing import Any
from urllib.parse import parse_qs, unquote

WsgiApp = Callable[..., Iterable[bytes]]
StartResponse = Callable[..., Any]

#: The environ key the authentication layer puts the caller's principal under.
PRINCIPAL = "image_mlops.principal"

_RPC_V2_OPERATION = re.compile(r"^/service/[^/]+/operation/(?P<action>[A-Za-z0-9]+)$")
_SCOPE = re.compile(r"Credential=[^/,&]+/(\d{8})/([^/,&]+)/([^/,&]+)/aws4_request")


def buffered_body(environ: dict[str, Any]) -> bytes:
    """Read the whole body once (de-chunked by werkzeug) and leave it readable downstream."""
    stream = environ.get("wsgi.input")
    if isinstance(stream, io.BytesIO) and environ.get("image_mlops.buffered"):
        return stream.getvalue()
    if environ.get("wsgi.input_terminated") and not environ.get("CONTENT_LENGTH"):
        body = stream.read() if stream is not None else b""
        environ.pop("HTTP_TRANSFER_ENCODING", None)
    else:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = stream.read(length) if length and stream is not None else b""
    environ["wsgi.input"] = io.BytesIO(body)
    environ["CONTENT_LENGTH"] = str(len(body))
    environ["image_mlops.buffered"] = True
    return body


def action_of(environ: dict[str, Any], body: bytes) -> str | None:
    """The API action of a JSON (``X-Amz-Target``), Smithy RPC v2 or query request."""
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target:
        return target.rsplit(".", 1)[-1]
    operation = _RPC_V2_OPERATION.match(environ.get("PATH_INFO", ""))
    if operation:
        return operation.group("action")
    query = parse_qs(environ.get("QUERY_STRING", ""))
    if "Action" in query:
        return query["Action"][0]
    content_type = environ.get("CONTENT_TYPE", "")
    if content_type.startswith("application/x-www-form-urlencoded") and body:
        form = parse_qs(body.decode("utf-8", "replace"))
        if "Action" in form:
            return form["Action"][0]
    return None


def request_action(environ: dict[str, Any]) -> str | None:
    """The API action of a request whose body an outer layer has buffered."""
    stream = environ.get("wsgi.input")
    body = stream.getvalue() if isinstance(stream, io.BytesIO) else b""
    return action_of(environ, body)


def credential_scope(headers: dict[str, Any], query: str = "") -> dict[str, str] | None:
    """The date, region and service a request was signed for (header or presigned query),
    without the key or the signature."""
    match = _SCOPE.search(str(headers.get("HTTP_AUTHORIZATION", ""))) or _SCOPE.search(
        unquote(query)
    )
    if match is None:
        return None
    return {"date": match.group(1), "region": match.group(2), "service": match.group(3)}


def signed_service(environ: dict[str, Any]) -> str | None:
    """The service of a request's SigV4 credential scope (header or presigned query)."""
    scope = credential_scope(environ, environ.get("QUERY_STRING", ""))
    return scope["service"] if scope else None


def path_bucket_and_key(path_info: str) -> tuple[str, str]:
    """Path-style ``/bucket/key`` of a WSGI ``PATH_INFO`` (the decoded path, as latin-1)."""
    path = path_info.encode("latin-1").decode("utf-8", "replace")
    bucket, _, key = path.lstrip("/").partition("/")
    return bucket, key


def json_response(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload, default=str).encode()
    start_response(
        status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(body)))]
    )
    return [body]


def environ_for(header: dict[str, Any], body: bytes) -> dict[str, Any]:
    """A WSGI environ for a request given as a journal-style header and a body."""
    environ: dict[str, Any] = {
        "REQUEST_METHOD": header["method"],
        "PATH_INFO": header["path"],
        "QUERY_STRING": header.get("query", ""),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "0",
        "SERVER_PROTOCOL": "HTTP/1.1",
        "wsgi.version": (1, 0),
        "wsgi.url_scheme": "https",
        "wsgi.input": io.BytesIO(body),
        "wsgi.errors": sys.stderr,
        "wsgi.multithread": False,
        "wsgi.multiprocess": False,
        "wsgi.run_once": False,
        "CONTENT_LENGTH": str(len(body)),
        "image_mlops.buffered": True,
    }
    environ.update(header.get("headers", {}))
    return environ


def call(app: WsgiApp, environ: dict[str, Any]) -> tuple[int, list[tuple[str, str]], bytes]:
    """Call ``app`` with ``environ``; its (status, headers, body)."""
    captured: dict[str, Any] = {}

    def start(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> None:
        captured["status"] = int(status.split()[0])
        captured["headers"] = headers

    result = app(environ, start)
    try:
        body = b"".join(result)
    finally:
        if hasattr(result, "close"):
            result.close()
    return captured.get("status", 500), captured.get("headers", []), body


def passing(app: WsgiApp, environ: dict[str, Any], start_response: StartResponse):
    """``app``'s answer to ``environ``, passed on, and whether it succeeded."""
    captured: dict[str, str] = {}

    def capture(status: str, headers: list, exc_info: Any = None) -> Any:
        captured["status"] = status
        return start_response(status, headers, exc_info)

    chunks = list(app(environ, capture))
    return chunks, int(captured.get("status", "500").split()[0]) < 400


class InternalRequests:
    """Requests the emulator sends itself, below authentication (a job's end, an endpoint
    settling): through the journaling app, so they are journaled and replayed as any other.

    ``outer`` is set by the composition root once the layers are built.
    """

    def __init__(self) -> None:
        self.outer: WsgiApp | None = None

    def post_json(self, path: str, payload: dict[str, Any]) -> int:
        if self.outer is None:
            raise RuntimeError("the emulator's layers are not assembled yet")
        body = json.dumps(payload, default=str).encode()
        header = {
            "method": "POST",
            "path": path,
            "query": "",
            "headers": {"CONTENT_TYPE": "application/json"},
        }
        status, _headers, _body = call(self.outer, environ_for(header, body))
        return status
