"""The production model and the runtime that invokes it — what stage 5 needs from stage 4.

:func:`production_model` answers "which model version serves production right now?" as a
small dict (safe for XCom), from the deployment stage's ``production_model`` (the production
endpoint's record: endpoint → config → model, version and package ARN from the model's
environment).
"""

from __future__ import annotations

import re
from typing import Any

from image_mlops.config import Settings
from image_mlops.serving.container import ENV_PACKAGE_VERSION

FIELDS = (
    "endpoint_name",
    "endpoint_config_name",
    "model_name",
    "model_data_url",
    "package_arn",
    "package_version",
    "environment",
)


class ProductionModelError(RuntimeError):
    """The production endpoint serves a model we cannot key predictions by."""


def _version_of(package_arn: str) -> str | None:
    match = re.search(r"/(\d+)$", package_arn or "")
    return match.group(1) if match else None


def production_model(settings: Settings) -> dict[str, Any] | None:
    """The model serving production as a dict of :data:`FIELDS`, or None when none serves."""
    from image_mlops.deployment import production_model as serving_production_model

    found = serving_production_model(settings)
    if found is None:
        return None
    model = dict(found) if isinstance(found, dict) else {f: getattr(found, f) for f in FIELDS}
    version = model.get("package_version") or _version_of(model.get("package_arn") or "")
    if version in (None, ""):
        raise ProductionModelError(
            f"the production endpoint {model['endpoint_name']!r} serves model "
            f"{model['model_name']!r} with no model package version ({ENV_PACKAGE_VERSION}): "
            "redeploy it with the deploy_model DAG"
        )
    model["package_version"] = int(version)
    model["package_arn"] = model.get("package_arn") or ""
    return {f: model.get(f) for f in FIELDS}


def get_runtime(settings: Settings | None = None):
    """The endpoint runtime of the configured target (serving room)."""
    from image_mlops.serving.runtime import get_runtime as serving_runtime

    return serving_runtime(settings)
