"""Temporary credentials of role sessions, self-contained as STS's are.

AWS STS's session token is an opaque blob that carries the session: the service that checks a
signature learns from it who signed. The emulator's tokens do the same. A token is the
session (account, role, session name, issue and expiry time) sealed with Fernet under a key
derived from the emulator's own secret; the secret access key of the session's access key id
is derived from that secret too. Nothing is stored, so credentials survive a restart of the
emulator, and the journal holds none.

Sessions are issued to whoever may assume the role (``sts:AssumeRole``, the trust policy
decides) and, by the emulator itself, to the services it plays: a job's container gets its
execution role's credentials as SageMaker hands them, a Lambda invocation its function
role's, an MWAA-like Airflow environment its execution role's.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass

from cryptography.fernet import Fernet, InvalidToken

from image_mlops_dev.emulator.iam.principals import ASSUMED_ROLE, Principal

#: AssumeRole's default duration, and the longest a role allows by default (its
#: MaxSessionDuration, 3600 s unless the role says more).
DEFAULT_SECONDS = 3600
#: The services the emulator plays take sessions this long (a training job, an endpoint).
SERVICE_SECONDS = 12 * 3600


class ExpiredToken(Exception):
    """The session's time is up: AWS answers ``ExpiredToken``."""


@dataclass(frozen=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str
    expiration: dt.datetime

    def environment(self) -> dict[str, str]:
        """As a container or process gets them (the SDKs' environment variables)."""
        return {
            "AWS_ACCESS_KEY_ID": self.access_key_id,
            "AWS_SECRET_ACCESS_KEY": self.secret_access_key,
            "AWS_SESSION_TOKEN": self.session_token,
        }

    def client_arguments(self) -> dict[str, str]:
        return {
            "aws_access_key_id": self.access_key_id,
            "aws_secret_access_key": self.secret_access_key,
            "aws_session_token": self.session_token,
        }

    def container_document(self, role_arn: str) -> dict[str, str]:
        """The container credentials endpoint's answer (ECS/Fargate, which MWAA runs on)."""
        return {
            "AccessKeyId": self.access_key_id,
            "SecretAccessKey": self.secret_access_key,
            "Token": self.session_token,
            "Expiration": self.expiration.strftime("%Y-%m-%dT%H:%M:%SZ"),
            "RoleArn": role_arn,
        }


class Sessions:
    """Issues and reads role sessions (see the module docstring)."""

    def __init__(self, secret: str) -> None:
        root = secret.encode()
        self._fernet = Fernet(
            base64.urlsafe_b64encode(hmac.new(root, b"session-token", hashlib.sha256).digest())
        )
        self._key_secret = hmac.new(root, b"session-secret", hashlib.sha256).digest()

    def _secret_of(self, access_key_id: str) -> str:
        digest = hmac.new(self._key_secret, access_key_id.encode(), hashlib.sha256).digest()
        return base64.b64encode(digest).decode()[:40]

    def issue(
        self, account: str, role_name: str, session_name: str, seconds: int = DEFAULT_SECONDS
    ) -> Credentials:
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        expiration = now + dt.timedelta(seconds=seconds)
        access_key_id = "ASIA" + base64.b32encode(secrets.token_bytes(10)).decode()[:16]
        session = {
            "k": access_key_id,
            "a": account,
            "r": role_name,
            "s": session_name,
            "i": now.isoformat(),
            "e": expiration.isoformat(),
        }
        token = self._fernet.encrypt(json.dumps(session).encode()).decode()
        return Credentials(access_key_id, self._secret_of(access_key_id), token, expiration)

    def read(self, access_key_id: str, token: str) -> tuple[Principal, str] | None:
        """(principal, secret access key) of a session; None when the token is not one of
        ours or not this key's; :class:`ExpiredToken` when it has expired."""
        try:
            session = json.loads(self._fernet.decrypt(token.encode()))
        except (InvalidToken, ValueError):
            return None
        if session.get("k") != access_key_id:
            return None
        if dt.datetime.fromisoformat(session["e"]) <= dt.datetime.now(dt.UTC):
            raise ExpiredToken(access_key_id)
        principal = Principal(
            ASSUMED_ROLE,
            session["a"],
            session["r"],
            session["s"],
            dt.datetime.fromisoformat(session["i"]),
        )
        return principal, self._secret_of(access_key_id)
