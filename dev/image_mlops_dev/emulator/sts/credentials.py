"""Every key the emulator knows, and whose it is.

* **The bootstrap key**: the stack's one long-term key (``IMAGE_MLOPS_LOCAL_AWS_SECRET``),
  an IAM user of the emulator's account with an administrator's inline policy. Only the
  stack's setup uses it: it deploys the CloudFormation template, as the person or pipeline
  that deploys the stack on AWS.
* **Role sessions** (:mod:`.sessions`): everyone else acts as a role. Airflow's processes
  take the worker role's credentials from the emulator's container credentials endpoint, as
  an MWAA environment hands its execution role's to Airflow; a self-hosted worker assumes
  the role (``role_arn``); jobs, model servers and Lambda invocations get their role's
  credentials from the service that starts them.
* **Service keys**: the emulator acting as an AWS service on its own behalf (CloudWatch
  evaluating an alarm, SageMaker publishing endpoint metrics) signs with an in-memory key of
  that service; IAM does not evaluate customer policies for those.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading

from image_mlops_dev.emulator.http.signature import Caller, SignatureRefused
from image_mlops_dev.emulator.iam.principals import SERVICE, USER, Principal, iam_backend
from image_mlops_dev.emulator.sts.sessions import ExpiredToken, Sessions

#: The IAM user behind the bootstrap key.
BOOTSTRAP_USER = "image-mlops-bootstrap"
ADMINISTRATOR = {
    "Version": "2012-10-17",
    "Statement": [{"Sid": "Administrator", "Effect": "Allow", "Action": "*", "Resource": "*"}],
}


def container_token(bootstrap_secret: str) -> str:
    """The authorization token of the container credentials endpoint (what ECS/Fargate puts
    into ``AWS_CONTAINER_AUTHORIZATION_TOKEN``), derived from the stack's secret: the stack
    gives it to Airflow's processes, the emulator checks it."""
    digest = hmac.new(bootstrap_secret.encode(), b"container-credentials", hashlib.sha256)
    return digest.hexdigest()


class CredentialStore:
    def __init__(self, bootstrap_key: str, bootstrap_secret: str, account: str) -> None:
        self.account = account
        self.bootstrap_key = bootstrap_key
        self.sessions = Sessions(bootstrap_secret)
        self.container_token = container_token(bootstrap_secret)
        self.bootstrap = Principal(USER, account, BOOTSTRAP_USER)
        self._long_term = {bootstrap_key: (bootstrap_secret, self.bootstrap)}
        self._services: dict[str, tuple[str, str]] = {}
        self._lock = threading.Lock()

    def create_bootstrap_user(self) -> None:
        """The bootstrap key's IAM user, in moto's IAM (before replay; not journaled)."""
        backend = iam_backend(self.account)
        if BOOTSTRAP_USER not in backend.users:
            backend.create_user(region_name="us-east-1", user_name=BOOTSTRAP_USER, path="/")
        backend.put_user_policy(BOOTSTRAP_USER, "administrator", json.dumps(ADMINISTRATOR))

    def service_key(self, service: str) -> dict[str, str]:
        """boto3 client arguments of the service principal ``service`` (in-memory key)."""
        with self._lock:
            if service not in self._services:
                key = "AKIASERVICE" + secrets.token_hex(5).upper()
                self._services[service] = (key, secrets.token_urlsafe(30))
                self._long_term[key] = (
                    self._services[service][1],
                    Principal(SERVICE, self.account, service),
                )
            key, secret = self._services[service]
        return {"aws_access_key_id": key, "aws_secret_access_key": secret}

    def resolve(self, access_key_id: str, token: str | None) -> Caller | None:
        """The signature layer's resolver."""
        if token:
            try:
                found = self.sessions.read(access_key_id, token)
            except ExpiredToken:
                raise SignatureRefused(
                    "ExpiredToken", "The security token included in the request is expired"
                ) from None
            if found is None:
                return None
            principal, secret = found
            return Caller(access_key_id, secret, principal)
        entry = self._long_term.get(access_key_id)
        return Caller(access_key_id, entry[0], entry[1]) if entry else None

    def is_bootstrap(self, principal: object) -> bool:
        return principal == self.bootstrap
