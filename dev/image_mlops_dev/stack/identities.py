"""Who the local stack's processes are on the emulator.

* **Airflow's processes and the CLI** act as the worker role of the CloudFormation template,
  with the credentials the emulator hands out as an MWAA environment hands its execution
  role's: the container credentials endpoint (``AWS_CONTAINER_CREDENTIALS_FULL_URI``,
  ``AWS_CONTAINER_AUTHORIZATION_TOKEN``), read by the SDK's default credential chain. The AWS
  connection carries no key; it names the emulator and trusts its CA (``verify``).
* **The stack's setup** (deploying the template, the local notification inbox) uses the
  bootstrap key, and nothing else does: :func:`admin_client`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from image_mlops.config import Settings, get_settings
from image_mlops_dev.stack.settings import StackSettings, get_stack_settings

#: The bootstrap key's id; its secret is generated per installation (``.env``).
LOCAL_ACCESS_KEY_ID = "image-mlops-local"
BOOTSTRAP_SECRET = "IMAGE_MLOPS_LOCAL_AWS_SECRET"
#: The template's worker role (its ``WorkerRoleName`` parameter, left at its default).
WORKER_ROLE = "image-mlops-worker"
#: Environment variables that would take the place of the role's credentials.
STATIC_CREDENTIALS = ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN")


def bootstrap_secret() -> str:
    secret = os.environ.get(BOOTSTRAP_SECRET)
    if not secret:
        raise RuntimeError(
            f"{BOOTSTRAP_SECRET} is not set: `make up` generates it into .env (see .env.example)"
        )
    return secret


def tls_dir(settings: Settings) -> Path:
    return settings.state_dir / "emulator" / "tls"


def ca_bundle(settings: Settings) -> Path:
    """The local CA the emulator's certificate is signed by (the connection's ``verify``)."""
    return tls_dir(settings) / "ca.pem"


def worker_credentials_environment(stack: StackSettings, role: str = WORKER_ROLE) -> dict[str, str]:
    """What an MWAA environment gives Airflow's processes: the container credentials
    endpoint of its execution role (the worker role) and its token."""
    from image_mlops_dev.emulator.sts.credentials import container_token

    return {
        "AWS_CONTAINER_CREDENTIALS_FULL_URI": (
            f"{stack.emulator_plain_url}/_emulator/credentials/{role}"
        ),
        "AWS_CONTAINER_AUTHORIZATION_TOKEN": container_token(bootstrap_secret()),
    }


def admin_client(service: str, settings: Settings | None = None) -> Any:
    """A boto3 client with the bootstrap key: the stack's setup only."""
    import boto3

    settings = settings or get_settings()
    return boto3.client(
        service,
        endpoint_url=get_stack_settings().emulator_url,
        region_name=settings.region,
        verify=str(ca_bundle(settings)),
        aws_access_key_id=LOCAL_ACCESS_KEY_ID,
        aws_secret_access_key=bootstrap_secret(),
    )


def emulator_call(
    path: str,
    *,
    method: str = "GET",
    payload: Any = None,
    settings: Settings | None = None,
    url: str | None = None,
    credentials: tuple[str, str] | None = None,
    ca: Path | None = None,
) -> Any:
    """Call one of the emulator's own paths (``/_emulator/...``) with the bootstrap key over
    TLS; returns the decoded JSON answer. ``url``/``credentials``/``ca``: another emulator's."""
    import json
    import ssl
    import urllib.request

    from image_mlops_dev.emulator.http.signature import signed_request

    settings = settings or get_settings()
    data = json.dumps(payload).encode() if payload is not None else None
    request = signed_request(
        f"{url or get_stack_settings().emulator_url}{path}",
        method=method,
        data=data,
        credentials=credentials or (LOCAL_ACCESS_KEY_ID, bootstrap_secret()),
    )
    context = ssl.create_default_context(cafile=str(ca or ca_bundle(settings)))
    with urllib.request.urlopen(request, timeout=150, context=context) as response:
        return json.loads(response.read() or b"null")
