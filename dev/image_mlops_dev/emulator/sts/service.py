"""STS as the emulator's sessions need it, and the container credentials endpoint.

* ``AssumeRole`` (authorized before it gets here: the caller's policies and the role's trust
  policy, :func:`image_mlops_dev.emulator.iam.authorizer.may_assume`) answers a session of
  the role (:mod:`.sessions`), for ``DurationSeconds`` (900 s to the role's
  ``MaxSessionDuration``; default 3600 s), as STS does.
* ``GetCallerIdentity`` answers who signed the request (no permission needed, as on AWS).
* ``GET /_emulator/credentials/<role name>`` is the container credentials endpoint an MWAA
  environment's Airflow reads (``AWS_CONTAINER_CREDENTIALS_FULL_URI`` with
  ``AWS_CONTAINER_AUTHORIZATION_TOKEN``, botocore's container provider): the emulator plays
  the MWAA service (``airflow-env.amazonaws.com``) assuming its execution role, which the
  role's trust policy must allow. Unsigned, like the ECS endpoint, but it needs the token.
"""

from __future__ import annotations

import datetime as dt
import hmac
import json
import logging
import uuid
from collections.abc import Callable
from typing import Any
from xml.sax.saxutils import escape

from image_mlops_dev.emulator.http.errors import error_response
from image_mlops_dev.emulator.http.operations import operation_of
from image_mlops_dev.emulator.http.wsgi import PRINCIPAL, WsgiApp, json_response
from image_mlops_dev.emulator.iam.authorizer import may_assume
from image_mlops_dev.emulator.iam.principals import SERVICE, Principal, iam_backend
from image_mlops_dev.emulator.sts.credentials import CredentialStore
from image_mlops_dev.emulator.sts.sessions import DEFAULT_SECONDS, Credentials

log = logging.getLogger("image_mlops.emulator.sts")

CREDENTIALS_PATH = "/_emulator/credentials/"
#: The service principal an MWAA environment assumes its execution role as.
MWAA_SERVICE = "airflow-env.amazonaws.com"
#: The session name Airflow's credentials carry (MWAA's own are "AmazonMWAA-<environment>").
MWAA_SESSION = "AmazonMWAA-image-mlops-local"
_NAMESPACE = "https://sts.amazonaws.com/doc/2011-06-15/"


def _iso(when: dt.datetime) -> str:
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


def _xml(start_response: Callable[..., Any], operation: str, result: str) -> list[bytes]:
    body = (
        f'<{operation}Response xmlns="{_NAMESPACE}"><{operation}Result>{result}'
        f"</{operation}Result><ResponseMetadata><RequestId>{uuid.uuid4()}</RequestId>"
        f"</ResponseMetadata></{operation}Response>"
    ).encode()
    start_response("200 OK", [("Content-Type", "text/xml"), ("Content-Length", str(len(body)))])
    return [body]


def role_session(
    store: CredentialStore, role_arn: str, service: str, session: str, seconds: int
) -> Credentials:
    """A session of ``role_arn`` for the AWS service the emulator plays (its trust policy
    must allow ``service``); :class:`PermissionError` with AWS's reason otherwise."""
    caller = Principal(SERVICE, store.account, service)
    decision = may_assume(caller, role_arn)
    if not decision.allowed:
        raise PermissionError(f"{service} cannot assume {role_arn} {decision.reason}")
    return store.sessions.issue(store.account, role_arn.rsplit("/", 1)[-1], session, seconds)


class ContainerCredentials:
    """``GET /_emulator/credentials/<role name>`` (see the module docstring)."""

    def __init__(self, app: WsgiApp, store: CredentialStore) -> None:
        self.app = app
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        path = environ.get("PATH_INFO", "")
        if not (path.startswith(CREDENTIALS_PATH) and environ.get("REQUEST_METHOD") == "GET"):
            return self.app(environ, start_response)
        given = environ.get("HTTP_AUTHORIZATION", "")
        if not hmac.compare_digest(given.encode(), self.store.container_token.encode()):
            return json_response(
                start_response, "403 Forbidden", {"message": "a wrong or missing authorization"}
            )
        role_arn = f"arn:aws:iam::{self.store.account}:role/{path[len(CREDENTIALS_PATH) :]}"
        try:
            credentials = role_session(
                self.store, role_arn, MWAA_SERVICE, MWAA_SESSION, DEFAULT_SECONDS
            )
        except PermissionError as exc:
            log.warning("container credentials refused: %s", exc)
            return json_response(start_response, "403 Forbidden", {"message": str(exc)})
        return json_response(start_response, "200 OK", credentials.container_document(role_arn))


class SecurityTokenService:
    """``AssumeRole`` and ``GetCallerIdentity`` (see the module docstring)."""

    def __init__(self, app: WsgiApp, store: CredentialStore) -> None:
        self.app = app
        self.store = store

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        operation = operation_of(environ)
        if operation is None or operation.service != "sts":
            return self.app(environ, start_response)
        principal = environ.get(PRINCIPAL)
        if operation.name == "GetCallerIdentity" and isinstance(principal, Principal):
            user_id = f"AIDA{principal.name.upper()[:16]}"
            if principal.session:
                user_id = f"AROA{principal.name.upper()[:16]}:{principal.session}"
            return _xml(
                start_response,
                "GetCallerIdentity",
                f"<UserId>{escape(user_id)}</UserId><Account>{principal.account}</Account>"
                f"<Arn>{escape(principal.arn)}</Arn>",
            )
        if operation.name == "AssumeRole":
            return self._assume_role(operation.params, start_response, operation.protocol)
        return self.app(environ, start_response)

    def _assume_role(self, params: dict[str, Any], start_response: Callable[..., Any], protocol):
        from moto.iam.exceptions import NotFoundException

        role_arn, session = params["RoleArn"], params["RoleSessionName"]
        try:
            role = iam_backend(self.store.account).get_role_by_arn(role_arn)
        except NotFoundException:
            return error_response(
                start_response, protocol, 403, "AccessDenied", f"Role {role_arn} does not exist"
            )
        seconds = int(params.get("DurationSeconds") or DEFAULT_SECONDS)
        longest = int(getattr(role, "max_session_duration", None) or DEFAULT_SECONDS)
        if seconds > longest:
            return error_response(
                start_response,
                protocol,
                400,
                "ValidationError",
                f"The requested DurationSeconds exceeds the MaxSessionDuration set for this "
                f"role ({longest} s).",
            )
        credentials = self.store.sessions.issue(self.store.account, role.name, session, seconds)
        assumed = f"arn:aws:sts::{self.store.account}:assumed-role/{role.name}/{session}"
        result = (
            f"<Credentials><AccessKeyId>{credentials.access_key_id}</AccessKeyId>"
            f"<SecretAccessKey>{credentials.secret_access_key}</SecretAccessKey>"
            f"<SessionToken>{escape(credentials.session_token)}</SessionToken>"
            f"<Expiration>{_iso(credentials.expiration)}</Expiration></Credentials>"
            f"<AssumedRoleUser><AssumedRoleId>AROA{role.id[4:] if len(role.id) > 4 else role.id}"
            f":{escape(session)}</AssumedRoleId><Arn>{escape(assumed)}</Arn></AssumedRoleUser>"
        )
        log.info("%s assumed as session %s", role_arn, session)
        return _xml(start_response, "AssumeRole", result)


def session_json(credentials: Credentials) -> str:
    return json.dumps(credentials.environment())
