"""The AWS clients of a classification batch: the process's (:func:`image_mlops.aws.aws_client`),
with a connection pool for every thread of a batch."""

from __future__ import annotations

from typing import Any

from image_mlops.config import Settings, get_settings


def client(service: str, settings: Settings | None = None) -> Any:
    """The process's client for ``service`` on the AWS connection of ``settings``."""
    from image_mlops.aws import aws_client

    settings = settings or get_settings()
    # one connection per thread of a batch (and a few for the task's own calls)
    return aws_client(
        service, settings, max_pool_connections=max(10, settings.classify_s3_threads + 4)
    )
