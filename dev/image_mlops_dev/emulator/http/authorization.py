"""The authorization layer: every signed request is authorized before it reaches a service.

What is checked, and how, is the IAM package's (:mod:`image_mlops_dev.emulator.iam`): the
composition root gives this layer an ``authorize(environ, principal, operation)`` that
answers ``None`` (allowed) or a :class:`Refusal`; this layer reads the request's operation,
asks, answers a refusal in the service's own protocol and logs it. Requests to the emulator's
own paths (``/_emulator/...``) need the stack's bootstrap principal (:class:`EmulatorPaths`,
which the composition root puts in front of every layer that serves one).

``POST /_emulator/enforcement`` ``{"on": false}`` sends every request past authorisation and
validation (to ``unenforced``) until ``{"on": true}``: for ``bench/emulator_request_cost.py``
only, which measures what they cost per request against the same emulator without them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from image_mlops_dev.emulator.http.errors import error_response
from image_mlops_dev.emulator.http.operations import Operation, operation_of
from image_mlops_dev.emulator.http.wsgi import PRINCIPAL, StartResponse, WsgiApp

log = logging.getLogger("image_mlops.emulator.iam")

EMULATOR_PATHS = "/_emulator/"
ENFORCEMENT_PATH = "/_emulator/enforcement"


@dataclass(frozen=True)
class Refusal:
    status: int
    code: str
    message: str
    protocol: str = "json"
    query_compatible: bool = False


Authorize = Callable[[dict[str, Any], Any, Operation | None], Refusal | None]


class Authorization:
    def __init__(
        self,
        app: WsgiApp,
        authorize: Authorize,
        *,
        unenforced: WsgiApp | None = None,
    ) -> None:
        self.app = app
        self.authorize = authorize
        self.unenforced = unenforced
        self.enforcing = True

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        principal = environ.get(PRINCIPAL)
        if environ.get("PATH_INFO", "").startswith(EMULATOR_PATHS):
            # who may use these paths is EmulatorPaths' to decide, before any layer serves one
            if environ["PATH_INFO"] == ENFORCEMENT_PATH and self.unenforced is not None:
                return self._switch(environ, start_response)
            return self.app(environ, start_response)
        if not self.enforcing and self.unenforced is not None:
            return self.unenforced(environ, start_response)
        refusal = self.authorize(environ, principal, operation_of(environ))
        if refusal is None:
            return self.app(environ, start_response)
        log.warning(
            "refused %s %s: %s",
            environ.get("REQUEST_METHOD"),
            environ.get("PATH_INFO"),
            refusal.message,
        )
        return error_response(
            start_response,
            refusal.protocol,
            refusal.status,
            refusal.code,
            refusal.message,
            query_compatible=refusal.query_compatible,
        )

    def _switch(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        import json

        length = int(environ.get("CONTENT_LENGTH") or 0)
        wanted = json.loads(environ["wsgi.input"].read(length) or b"{}")
        self.enforcing = bool(wanted.get("on", True))
        log.warning("authorisation and validation are %s", "on" if self.enforcing else "OFF")
        body = json.dumps({"on": self.enforcing}).encode()
        start_response("200 OK", [("Content-Type", "application/json")])
        return [body]


class EmulatorPaths:
    """The emulator's own paths (``/_emulator/...``: faults, latency, outcomes, enforcement)
    for the stack's bootstrap principal only, checked before any layer that serves one. (The
    health probe and the container credentials endpoint answer before the signature check.)"""

    def __init__(self, app: WsgiApp, *, may_administer: Callable[[Any], bool]) -> None:
        self.app = app
        self.may_administer = may_administer

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Any:
        principal = environ.get(PRINCIPAL)
        if environ.get("PATH_INFO", "").startswith(EMULATOR_PATHS) and not self.may_administer(
            principal
        ):
            log.warning("refused %s to %s", environ.get("PATH_INFO"), _arn(principal))
            return error_response(
                start_response,
                "json",
                403,
                "AccessDeniedException",
                f"{_arn(principal)} may not use the emulator's own paths "
                "(only the stack's bootstrap key may)",
            )
        return self.app(environ, start_response)


def _arn(principal: Any) -> str:
    return getattr(principal, "arn", "an unknown caller")
