"""What the emulator's service layers share: where their "containers" run, how those reach
the emulator, and how a layer records an outcome (a job's end) so that replay restores it.

A container is a process (``python -m image_mlops_dev.emulator.containers <kind> <workdir>``)
in the emulator's process group: stopping the emulator ends it too. Its environment has the
emulator as its AWS endpoint; the credentials it acts with are the caller's business (a
service layer passes those of the role the container runs as).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from image_mlops_dev.emulator.http.wsgi import InternalRequests
from image_mlops_dev.emulator.images import VENVS_ENV

log = logging.getLogger("image_mlops.emulator")

#: ``POST /_emulator/outcomes/<kind>/<name>``: a job, execution or endpoint settled.
OUTCOME_PATH = "/_emulator/outcomes/"
#: Environment variables a container never inherits from the emulator (credentials, above all).
_NOT_INHERITED = ("AWS_", "AIRFLOW_CONN_", "MOTO_")


@dataclass
class Platform:
    workdir: Path
    endpoint_url: str
    internal: InternalRequests = field(default_factory=InternalRequests)
    #: True while the journal is replayed: replayed creations run nothing again.
    replaying: bool = False
    #: The CA bundle containers trust for the emulator's TLS (None: plain HTTP).
    ca_bundle: Path | None = None
    #: Where the container profiles' virtualenvs are cached (:mod:`.images`).
    container_venvs: Path | None = None
    #: ``assume(role ARN, service principal, session name)``: the environment variables of a
    #: session of the role for that service (the trust policy decides); PermissionError.
    assume: Callable[[str, str, str], dict[str, str]] | None = None
    #: ``as_service(service principal)``: boto3 client arguments of the emulator acting as
    #: that AWS service on its own behalf.
    as_service: Callable[[str], dict[str, str]] | None = None

    def role_environment(self, role_arn: str, service: str, session: str) -> dict[str, str]:
        """A role session's credentials as a container's environment variables."""
        if self.assume is None:
            raise RuntimeError("the emulator's credentials are not assembled yet")
        return self.assume(role_arn, service, session)

    def client(
        self, service: str, region: str, *, as_service: str | None = None, role: Any = None
    ) -> Any:
        """A boto3 client on the emulator, acting as an AWS service (``as_service``) or
        with a role session's credentials (``role``: ``(role ARN, service, session)``)."""
        import boto3

        if as_service is not None:
            if self.as_service is None:
                raise RuntimeError("the emulator's credentials are not assembled yet")
            credentials = self.as_service(as_service)
        else:
            env = self.role_environment(*role)
            credentials = {
                "aws_access_key_id": env["AWS_ACCESS_KEY_ID"],
                "aws_secret_access_key": env["AWS_SECRET_ACCESS_KEY"],
                "aws_session_token": env["AWS_SESSION_TOKEN"],
            }
        return boto3.client(
            service,
            endpoint_url=self.endpoint_url,
            region_name=region,
            verify=str(self.ca_bundle) if self.ca_bundle else None,
            **credentials,
        )

    def container_environment(
        self, region: str | None, credentials: dict[str, str] | None = None
    ) -> dict[str, str]:
        """A container's environment: the emulator as its AWS endpoint, ``credentials``
        (``AWS_ACCESS_KEY_ID``/``AWS_SECRET_ACCESS_KEY``/``AWS_SESSION_TOKEN``) as its role's."""
        env = {k: v for k, v in os.environ.items() if not k.startswith(_NOT_INHERITED)}
        region = region or os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
        env.update(
            {
                "AWS_ENDPOINT_URL": self.endpoint_url,
                "AWS_DEFAULT_REGION": region,
                "AWS_REGION": region,
            }
        )
        if self.ca_bundle is not None:
            env["AWS_CA_BUNDLE"] = str(self.ca_bundle)
        if self.container_venvs is not None:
            env[VENVS_ENV] = str(self.container_venvs)
        env.update(credentials or {})
        return env

    def start_container(
        self, kind: str, workdir: Path, spec: dict[str, Any], env: dict[str, str]
    ) -> subprocess.Popen:
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "result.json").unlink(missing_ok=True)
        (workdir / "spec.json").write_text(json.dumps(spec, default=str))
        with open(workdir / "container.log", "ab") as output:  # the child keeps it open
            return subprocess.Popen(
                [sys.executable, "-m", "image_mlops_dev.emulator.containers", kind, str(workdir)],
                cwd=workdir,
                env=env,
                stdout=output,
                stderr=subprocess.STDOUT,
            )

    def record_outcome(
        self,
        kind: str,
        name: str,
        status: str,
        reason: str | None = None,
        secondary: str | None = None,
        extra: dict[str, Any] | None = None,
    ) -> None:
        """Send the end of a job, execution or endpoint update through the journaling app."""
        self.internal.post_json(
            f"{OUTCOME_PATH}{kind}/{name}",
            {
                "status": status,
                "reason": reason,
                "secondary": secondary,
                "time": dt.datetime.now(dt.UTC).isoformat(),
                **(extra or {}),
            },
        )
        log.info("%s %s: %s %s", kind, name, status, reason or "")
