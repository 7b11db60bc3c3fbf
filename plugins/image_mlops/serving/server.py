"""HTTP serving with the SageMaker container contract: ``GET /ping``, ``POST /invocations``.

``make_server(invoker, port)`` wraps any :class:`Invoker`; two are provided:

* :class:`ArtifactInvoker` — one ``model.tar.gz`` from disk (``image-mlops serve --model``);
* :class:`EndpointInvoker` — a proxy to an endpoint (``InvokeEndpoint``, on AWS or on the
  emulator: ``image-mlops serve --endpoint``), so an endpoint update is picked up.

``/invocations`` takes ``Content-Type: image/jpeg | image/png | application/json`` and
returns the artifact's ``output_fn`` response (``{"predictions": [...]}``); bad requests get
400/415 and an error raised by the model's own code 500, as the SageMaker inference toolkit
answers, each with a JSON ``{"error": ...}``.
"""

from __future__ import annotations

import json
import logging
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Protocol

log = logging.getLogger(__name__)

CONTENT_TYPES = ("image/jpeg", "image/png", "application/json")
MAX_BODY_BYTES = 64 * 1024 * 1024


class Invoker(Protocol):
    def ready(self) -> bool: ...

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes: ...


class ArtifactInvoker:
    """Serve one artifact file."""

    def __init__(self, archive: Path, cache_dir: Path) -> None:
        from image_mlops.serving.artifact import load_archive

        self.model = load_archive(archive, cache_dir)

    def ready(self) -> bool:
        return True

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        return self.model.invoke(body, content_type, accept)


class EndpointInvoker:
    """Serve what an endpoint serves (each request is an ``InvokeEndpoint``)."""

    def __init__(self, settings, endpoint_name: str, runtime) -> None:
        self.endpoint_name = endpoint_name
        self.runtime = runtime
        self.settings = settings

    def ready(self) -> bool:
        from image_mlops.deployment.endpoints import describe_endpoint

        endpoint = describe_endpoint(self.settings, self.endpoint_name)
        return endpoint is not None and endpoint["EndpointStatus"] in ("InService", "Updating")

    def invoke(self, body: bytes, content_type: str, accept: str) -> bytes:
        return self.runtime.invoke(self.endpoint_name, body, content_type, accept)


def _handler(invoker: Invoker) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        server_version = "image-mlops-serve/1"

        def log_message(self, fmt: str, *args) -> None:
            log.info("%s " + fmt, self.address_string(), *args)

        def _send(self, status: int, body: bytes, content_type="application/json") -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def _error(self, status: int, message: str) -> None:
            self._send(status, json.dumps({"error": message}).encode())

        def do_GET(self) -> None:
            if self.path.split("?")[0] != "/ping":
                return self._error(404, "use GET /ping or POST /invocations")
            try:
                ok = invoker.ready()
            except Exception as exc:
                return self._error(503, f"model not loaded: {exc}")
            self._send(200 if ok else 503, b"{}" if ok else b'{"error": "not ready"}')

        def do_POST(self) -> None:
            if self.path.split("?")[0] != "/invocations":
                return self._error(404, "use GET /ping or POST /invocations")
            content_type = (self.headers.get("Content-Type") or "").split(";")[0].strip().lower()
            if content_type not in CONTENT_TYPES:
                return self._error(
                    415,
                    f"Content-Type {content_type!r} not supported: use {', '.join(CONTENT_TYPES)}",
                )
            length = int(self.headers.get("Content-Length") or 0)
            if length <= 0 or length > MAX_BODY_BYTES:
                return self._error(400, f"body must be 1..{MAX_BODY_BYTES} bytes")
            body = self.rfile.read(length)
            accept = self.headers.get("Accept") or "application/json"
            if accept == "*/*":
                accept = "application/json"
            try:
                result = invoker.invoke(body, content_type, accept)
            except Exception as exc:  # the model's own error, reported like the container does
                log.warning("invocation failed: %r", exc)
                return self._error(500, f"invocation failed: {exc}")
            self._send(200, result)

    return Handler


def make_server(invoker: Invoker, port: int = 8081, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    server = ThreadingHTTPServer((host, port), _handler(invoker))
    server.daemon_threads = True
    return server
