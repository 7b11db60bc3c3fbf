"""AWS clients for every process (tasks, CLI, tests), always through the Airflow connection.

Credentials and the endpoint (the local emulator or real AWS) come from the connection named
by ``IMAGE_MLOPS_AWS_CONN_ID`` (``aws_default``), so the same code talks to both targets.
Imports of the provider happen inside the functions: DAG files import this module at parse
time and must stay cheap.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from image_mlops.config import Settings, SettingsError, get_settings

if TYPE_CHECKING:
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

#: Clients already built in this process, by what they were built from (:func:`_client_key`).
_clients: dict[tuple, Any] = {}
_clients_lock = threading.Lock()
#: Past this many, the oldest client is dropped (tests switch connections; a task has a few).
_MAX_CLIENTS = 64


def aws_client(
    service: str, settings: Settings | None = None, *, max_pool_connections: int | None = None
) -> Any:
    """A boto3 client for ``service`` built from the AWS connection, one per process.

    Building one costs 130-200 ms of CPU (``bench/aws_client_cost.py``: botocore parses its
    endpoint rules and the service's model from JSON, the provider's hook walks the call
    stack for its user agent), and a new session fetches its credentials again. boto3
    clients are thread-safe, so the process keeps each one (as the provider's hooks keep
    theirs), keyed by everything it was built from: the service, the connection's fields,
    the region, the pool size, the ``AWS_*`` environment (credentials, the container
    credentials endpoint) and the process id (a forked child builds its own; it must not
    share the parent's sockets). A changed connection or environment gets a new client.

    ``max_pool_connections``: for a client shared by that many threads (botocore keeps 10
    connections; more threads would open and discard a connection per request).
    """
    settings = settings or get_settings()
    key = _client_key(service, settings, max_pool_connections)
    with _clients_lock:
        client = _clients.get(key)
        if client is None:
            client = _clients[key] = _new_client(service, settings, max_pool_connections)
            while len(_clients) > _MAX_CLIENTS:
                del _clients[next(iter(_clients))]
    return client


#: Hosts of AWS's own endpoints (regional, FIPS, dual-stack, and the DNS names of VPC interface
#: endpoints, ``vpce-….<service>.<region>.vpce.amazonaws.com``).
AWS_ENDPOINT_DOMAINS = (".amazonaws.com", ".amazonaws.com.cn", ".api.aws")


def _connection(settings: Settings) -> Any:
    """The AWS connection (``None`` if there is none: the provider's hook then uses boto3's
    own credential chain), checked against the target: with ``aws``, a connection that sends
    calls anywhere but AWS (a local emulator's ``endpoint_url``, left over from the local
    stack's ``.env``) is refused before any call, with the fix."""
    from airflow.sdk import BaseHook
    from airflow.sdk.exceptions import AirflowNotFoundException

    try:
        conn = BaseHook.get_connection(settings.aws_conn_id)
    except AirflowNotFoundException:
        return None
    if not settings.is_local:
        _refuse_non_aws_endpoints(settings, conn.extra_dejson)
    return conn


def _refuse_non_aws_endpoints(settings: Settings, extra: dict) -> None:
    """On AWS the connection has no ``endpoint_url`` (docs/aws.md); one per service in
    ``service_config`` may name an AWS endpoint (a VPC interface endpoint's DNS name, FIPS).
    Any other endpoint (loopback, a private address, a compose service's name) is refused."""
    urls = [("endpoint_url", extra.get("endpoint_url"))]
    service_config = extra.get("service_config")
    if isinstance(service_config, dict):
        urls += [
            (f"service_config.{service}.endpoint_url", config.get("endpoint_url"))
            for service, config in sorted(service_config.items())
            if isinstance(config, dict)
        ]
    for where, url in urls:
        if not url:
            continue
        parts = urlsplit(str(url))
        host = (parts.hostname or "").rstrip(".")
        if host.endswith(AWS_ENDPOINT_DOMAINS):
            continue
        try:
            port = f":{parts.port}" if parts.port else ""
        except ValueError:  # not a port number
            port = ""
        variable = f"AIRFLOW_CONN_{settings.aws_conn_id.upper()}"
        raise SettingsError(
            f"IMAGE_MLOPS_TARGET=aws, but the AWS connection {settings.aws_conn_id!r} sends "
            f"its calls to {parts.scheme}://{host}{port} ({where} in its extra), not to AWS "
            "(the local stack's emulator?): on AWS the connection has no endpoint_url "
            f"(docs/aws.md). Remove it from the connection ({variable} or your secrets "
            "backend), or set IMAGE_MLOPS_TARGET=local for the local stack"
            # scheme, host and port only: never a user or password the URL may carry
        )


def _client_key(service: str, settings: Settings, max_pool_connections: int | None) -> tuple:
    conn = _connection(settings)
    if conn is not None:
        fields = [conn.conn_type, conn.host, conn.login, conn.password, conn.port, conn.extra]
    else:  # the hook then uses boto3's own chain, as does the key
        fields = []
    fields += sorted((k, v) for k, v in os.environ.items() if k.startswith("AWS_"))
    # a digest: the key holds no secret in the clear
    digest = hashlib.sha256(json.dumps(fields, default=str).encode()).hexdigest()
    pid = os.getpid()
    return (service, settings.aws_conn_id, settings.region, max_pool_connections, digest, pid)


def _new_client(service: str, settings: Settings, max_pool_connections: int | None) -> Any:
    from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

    config = None
    if max_pool_connections:
        from botocore.config import Config

        config = Config(max_pool_connections=max_pool_connections)
    hook = AwsBaseHook(
        aws_conn_id=settings.aws_conn_id,
        client_type=service,
        region_name=settings.region,
        config=config,
    )
    return hook.get_conn()


def s3_hook(settings: Settings | None = None) -> S3Hook:
    """The provider's S3 hook on the AWS connection (we do not use s3fs)."""
    from airflow.providers.amazon.aws.hooks.s3 import S3Hook

    settings = settings or get_settings()
    _connection(settings)  # refused as aws_client refuses it
    return S3Hook(aws_conn_id=settings.aws_conn_id, region_name=settings.region)


#: S3's answers to a conditional request whose condition did not hold (If-Match, If-None-Match).
PRECONDITION_CODES = ("PreconditionFailed", "412", "ConditionalRequestConflict")


def is_precondition_failed(exc: Exception) -> bool:
    """A botocore ``ClientError`` saying a conditional S3 request's condition did not hold."""
    return getattr(exc, "response", {}).get("Error", {}).get("Code", "") in PRECONDITION_CODES


def waiter_config(timeout: float, poll: float) -> dict[str, float]:
    """A botocore waiter's ``WaiterConfig``: check every ``poll`` seconds, at most ``timeout``
    seconds in all (at least once)."""
    return {"Delay": poll, "MaxAttempts": max(1, math.ceil(timeout / poll))}


def put_json(s3: Any, bucket: str, key: str, value: Any, indent: int | None = None) -> str:
    """Write ``value`` as a JSON object (UTF-8, ``application/json``); returns its ``s3://`` URI."""
    body = json.dumps(value, ensure_ascii=False, indent=indent).encode()
    s3.put_object(Bucket=bucket, Key=key, Body=body, ContentType="application/json")
    return f"s3://{bucket}/{key}"


def read_json(s3: Any, bucket: str, key: str) -> Any:
    """The JSON object at ``s3://bucket/key``."""
    return json.loads(s3.get_object(Bucket=bucket, Key=key)["Body"].read())


def upload_tree(settings: Settings, local_dir: Path, prefix: str, bucket: str | None = None) -> int:
    """Upload every file under ``local_dir`` to ``prefix`` + its relative path."""
    s3 = aws_client("s3", settings)
    bucket = bucket or settings.raw_bucket
    count = 0
    for path in sorted(p for p in local_dir.rglob("*") if p.is_file()):
        key = prefix + path.relative_to(local_dir).as_posix()
        s3.upload_file(str(path), bucket, key)
        count += 1
    return count
