"""AWS clients reused within a process (a boto3 client costs ~0.5 s of model loading to build).

boto3 clients are thread-safe; one per service and settings serves every batch a worker runs.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from image_mlops.config import Settings, get_settings


@lru_cache(maxsize=16)
def _client(service: str, settings: Settings) -> Any:
    from image_mlops.aws import aws_client

    # one connection per thread of a batch (and a few for the task's own calls)
    return aws_client(
        service, settings, max_pool_connections=max(10, settings.classify_s3_threads + 4)
    )


def client(service: str, settings: Settings | None = None) -> Any:
    """The process's client for ``service`` on the AWS connection of ``settings``."""
    return _client(service, settings or get_settings())
