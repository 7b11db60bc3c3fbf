"""Development option: the round-trip time AWS adds, per S3 request and per invocation.

On AWS an S3 request takes tens of milliseconds and an endpoint invocation more; the emulator
on the same machine answers in about one. Benchmarks add it back to measure what users meet
(``--s3-latency-ms``, ``--invoke-latency-ms``, or ``POST`` to :data:`LATENCY_PATH` while
running). The wait is outside the journal's lock: it delays each request, never the others.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from typing import Any

from image_mlops_dev.emulator.http.wsgi import WsgiApp, signed_service

log = logging.getLogger("image_mlops.emulator")

#: ``POST {"s3_ms": 20, "invoke_ms": 30}``: set the added latency of a running emulator.
LATENCY_PATH = "/_emulator/latency"


class AddedLatency:
    """The WSGI layer; ``is_invocation`` tells an endpoint invocation (the composition root
    gives it: this layer knows no service)."""

    def __init__(
        self,
        app: WsgiApp,
        *,
        s3_ms: float,
        invoke_ms: float,
        is_invocation: Callable[[dict[str, Any]], bool],
    ) -> None:
        self.app = app
        self.is_invocation = is_invocation
        self.set(s3_ms, invoke_ms)

    def set(self, s3_ms: float, invoke_ms: float) -> None:
        self.s3_seconds, self.invoke_seconds = max(0.0, s3_ms) / 1000, max(0.0, invoke_ms) / 1000
        if s3_ms or invoke_ms:
            log.warning(
                "added latency: %.0f ms per S3 request, %.0f ms per endpoint invocation",
                s3_ms,
                invoke_ms,
            )

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == LATENCY_PATH and environ.get("REQUEST_METHOD") == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            wanted = json.loads(environ["wsgi.input"].read(length) or b"{}")
            self.set(float(wanted.get("s3_ms", 0)), float(wanted.get("invoke_ms", 0)))
            start_response("200 OK", [("Content-Type", "application/json")])
            return [json.dumps(wanted).encode()]
        if self.invoke_seconds and self.is_invocation(environ):
            time.sleep(self.invoke_seconds)
        elif self.s3_seconds and signed_service(environ) == "s3":
            time.sleep(self.s3_seconds)
        return self.app(environ, start_response)
