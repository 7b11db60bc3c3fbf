"""Fault injection for the fault suite: the emulator makes chosen requests hang, fail or crash.

Development tooling only, off unless the emulator starts with ``--faults`` (the test stack
does; ``make up`` and the demo do not). It lets a test break things from outside the package,
at a point it chooses, without hooks in production code:

* ``hang``  — the matching request waits (no state changes) until the rules are cleared, then
  fails with ``503 SlowDown``: the test SIGKILLs the client while it waits, or changes the
  object meanwhile (a re-upload during a move);
* ``error`` — the matching request fails with ``500 InternalError`` without being applied;
* ``crash`` — the emulator SIGKILLs itself before applying the matching request.

A rule matches a method, a bucket and a key prefix, and fires from its ``nth`` match on, at
most ``times`` times. ``POST /_emulator/faults`` adds a rule (JSON), ``GET`` lists the rules
with their ``matched`` and ``fired`` counts, ``DELETE`` clears them (releasing every hung
request). The middleware sits in front of the journal: none of this is journaled.
"""

from __future__ import annotations

import json
import os
import signal
import threading
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from image_mlops_dev.emulator.http.wsgi import path_bucket_and_key

PATH = "/_emulator/faults"
ACTIONS = ("hang", "error", "crash")
HANG_LIMIT_SECONDS = 120

StartResponse = Callable[..., Any]
WsgiApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]


@dataclass
class Rule:
    action: str
    method: str
    bucket: str
    key_prefix: str = ""
    nth: int = 1
    times: int = 1
    matched: int = 0
    fired: int = 0
    released: threading.Event = field(default_factory=threading.Event, repr=False)

    def matches(self, method: str, bucket: str, key: str) -> bool:
        return (
            method == self.method.upper()
            and bucket == self.bucket
            and bool(key)
            and key.startswith(self.key_prefix)
        )

    def public(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in PUBLIC_FIELDS}


PUBLIC_FIELDS = ("action", "method", "bucket", "key_prefix", "nth", "times", "matched", "fired")


def _json(start_response: StartResponse, status: str, payload: Any) -> list[bytes]:
    body = json.dumps(payload).encode()
    start_response(
        status, [("Content-Type", "application/json"), ("Content-Length", str(len(body)))]
    )
    return [body]


def _s3_error(start_response: StartResponse, status: str, code: str) -> list[bytes]:
    body = (
        f'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>{code}</Code>'
        f"<Message>injected by the fault suite</Message></Error>"
    ).encode()
    start_response(
        status, [("Content-Type", "application/xml"), ("Content-Length", str(len(body)))]
    )
    return [body]


class FaultInjector:
    """The middleware (see the module docstring)."""

    def __init__(self, app: WsgiApp) -> None:
        self.app = app
        self.rules: list[Rule] = []
        self._lock = threading.Lock()

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        if environ.get("PATH_INFO") == PATH:
            return self._admin(environ, start_response)
        rule = self._firing(environ)
        if rule is None:
            return self.app(environ, start_response)
        if rule.action == "crash":
            os.kill(os.getpid(), signal.SIGKILL)
        if rule.action == "hang":
            rule.released.wait(HANG_LIMIT_SECONDS)
            return _s3_error(start_response, "503 Slow Down", "SlowDown")
        return _s3_error(start_response, "500 Internal Server Error", "InternalError")

    def _firing(self, environ: dict[str, Any]) -> Rule | None:
        if not self.rules:
            return None
        bucket, key = path_bucket_and_key(environ.get("PATH_INFO", ""))
        method = environ.get("REQUEST_METHOD", "GET").upper()
        with self._lock:
            for rule in self.rules:
                if rule.matches(method, bucket, key):
                    rule.matched += 1
                    if rule.matched >= rule.nth and rule.fired < rule.times:
                        rule.fired += 1
                        return rule
        return None

    def _admin(self, environ: dict[str, Any], start_response: StartResponse) -> list[bytes]:
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if method == "POST":
            length = int(environ.get("CONTENT_LENGTH") or 0)
            spec = json.loads(environ["wsgi.input"].read(length) or b"{}")
            if spec.get("action") not in ACTIONS:
                return _json(start_response, "400 Bad Request", {"error": f"action: {ACTIONS}"})
            rule = Rule(**{k: spec[k] for k in PUBLIC_FIELDS[:6] if k in spec})
            with self._lock:
                self.rules.append(rule)
            return _json(start_response, "200 OK", rule.public())
        if method == "DELETE":
            with self._lock:
                rules, self.rules = self.rules, []
            for rule in rules:
                rule.released.set()
            return _json(start_response, "200 OK", {"cleared": len(rules)})
        with self._lock:
            return _json(start_response, "200 OK", {"rules": [r.public() for r in self.rules]})
