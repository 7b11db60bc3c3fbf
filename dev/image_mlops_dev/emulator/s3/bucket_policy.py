"""S3 bucket policies are the emulator's authorization layer's, not moto's.

moto evaluates a bucket policy on some requests, partly: it ignores every ``Condition`` and
matches no principal but ``*`` (a ``Deny`` of ``s3:PutObject`` unless ``If-None-Match``
denied every PUT, a TLS-only statement every request). The authorization layer
(:mod:`image_mlops_dev.emulator.iam.authorizer`) evaluates every statement of a bucket's
policy, conditions and principals included, on every request; moto's own check is turned off
so that one evaluation decides.
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.moto_patches import patch


def _neutral(self: Any, action: str, resource: str) -> Any:
    from moto.iam.access_control import PermissionResult

    return PermissionResult.NEUTRAL


def apply() -> None:
    from moto.s3.models import FakeBucket

    patch(FakeBucket, "get_permission", _neutral)
