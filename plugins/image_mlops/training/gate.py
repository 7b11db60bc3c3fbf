"""The quality gate, and the artifact of the model serving in production (if any)."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

from image_mlops.config import Settings

log = logging.getLogger(__name__)


class QualityGateFailed(RuntimeError):
    """The candidate model is not good enough to register; the message says why."""


@dataclass
class GateResult:
    passed: bool
    accuracy: float
    min_accuracy: float
    production_accuracy: float | None
    max_regression: float
    reasons: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)


def decide(
    candidate: dict, production: dict | None, *, min_accuracy: float, max_regression: float
) -> GateResult:
    """Pass when accuracy ≥ minimum and ≥ production − tolerance (same test set)."""
    accuracy = float(candidate["accuracy"])
    result = GateResult(True, accuracy, min_accuracy, None, max_regression)
    if accuracy < min_accuracy:
        result.passed = False
        result.reasons.append(f"accuracy {accuracy:.4f} is below the minimum {min_accuracy:.4f}")
    if production is None:
        result.notes.append("no production model: comparison skipped")
    else:
        result.production_accuracy = float(production["accuracy"])
        if accuracy < result.production_accuracy - max_regression:
            result.passed = False
            result.reasons.append(
                f"accuracy {accuracy:.4f} is more than {max_regression:.4f} below production's "
                f"{result.production_accuracy:.4f} on the same test set"
            )
    return result


def production_artifact_uri(settings: Settings) -> str | None:
    """Production endpoint → endpoint config → model → PrimaryContainer ModelDataUrl."""
    from botocore.exceptions import ClientError

    from image_mlops.aws import aws_client

    sagemaker = aws_client("sagemaker", settings)
    name = settings.endpoint_name("production")
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=name)
        config = sagemaker.describe_endpoint_config(
            EndpointConfigName=endpoint["EndpointConfigName"]
        )
        model_name = config["ProductionVariants"][0]["ModelName"]
        model = sagemaker.describe_model(ModelName=model_name)
    except ClientError as exc:
        log.info("no production model found via endpoint %s: %s", name, exc)
        return None
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    return container.get("ModelDataUrl")
