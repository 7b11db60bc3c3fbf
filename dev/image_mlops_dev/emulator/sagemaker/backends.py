"""moto's SageMaker backends, as the emulator's SageMaker layers find their records."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

TRAINING, TRANSFORM = "training", "transform"


def sagemaker_backends() -> Iterator[Any]:
    from moto.sagemaker.models import sagemaker_backends as backends

    for per_region in backends.values():
        yield from per_region.values()


def find_job(kind: str, name: str) -> tuple[Any, Any]:
    """(backend, job) of the ``training`` or ``transform`` job ``name``; (None, None)."""
    for backend in sagemaker_backends():
        jobs = backend.training_jobs if kind == TRAINING else backend.transform_jobs
        if name in jobs:
            return backend, jobs[name]
    return None, None
