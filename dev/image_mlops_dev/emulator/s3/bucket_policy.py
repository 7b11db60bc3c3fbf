"""S3 bucket policies: moto's own evaluation, without the statements it cannot evaluate.

moto evaluates a bucket policy's statements but ignores their ``Condition`` (a ``Deny`` of
``s3:PutObject`` unless ``If-None-Match`` denied every PUT). Statements with a condition are
left out of moto's evaluation; the emulator's S3 rules
(:mod:`image_mlops_dev.emulator.s3.rules`) evaluate the conditional-writes form.
"""

from __future__ import annotations

import json
from typing import Any

from image_mlops_dev.emulator.moto_patches import patch


def unconditional_policy(policy: bytes | str) -> str | None:
    """The statements of a bucket policy that have no ``Condition`` (None if there are none)."""
    document = json.loads(policy)
    statements = document.get("Statement", [])
    statements = statements if isinstance(statements, list) else [statements]
    kept = [s for s in statements if "Condition" not in s]
    return json.dumps({**document, "Statement": kept}) if kept else None


def _bucket_permission(self: Any, action: str, resource: str) -> Any:
    from moto.iam.access_control import IAMPolicy, PermissionResult

    if self.policy is None:
        return PermissionResult.NEUTRAL
    policy = unconditional_policy(self.policy)
    if policy is None:
        return PermissionResult.NEUTRAL
    return IAMPolicy(policy).is_action_permitted(action, resource)


def apply() -> None:
    from moto.s3.models import FakeBucket

    patch(FakeBucket, "get_permission", _bucket_permission)
