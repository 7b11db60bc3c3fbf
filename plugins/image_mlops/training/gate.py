"""The quality gate: the candidate against the minimum and against production."""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field

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
    #: the recent window: held-out labels recorded since the drift alarm moved to ALARM
    recent_accuracy: float | None = None
    production_recent_accuracy: float | None = None
    n_recent: int = 0

    def as_dict(self) -> dict:
        return asdict(self)


def decide(
    candidate: dict,
    production: dict | None,
    *,
    min_accuracy: float,
    max_regression: float,
    recent: dict | None = None,
) -> GateResult:
    """Pass when accuracy ≥ minimum, and ≥ production − tolerance on the same test split and
    on the recent window (``recent``: ``{"candidate": {...}, "production": {...}, "n": n}``)."""
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
    recent = recent or {}
    if recent.get("note"):
        result.notes.append(recent["note"])
    mine, theirs = recent.get("candidate"), recent.get("production")
    if mine:
        result.recent_accuracy = float(mine["accuracy"])
        result.n_recent = int(mine["n"])
    if mine and theirs:
        result.production_recent_accuracy = float(theirs["accuracy"])
        if result.recent_accuracy < result.production_recent_accuracy - max_regression:
            result.passed = False
            result.reasons.append(
                f"accuracy {result.recent_accuracy:.4f} on the {result.n_recent} labels since "
                f"{recent.get('since')} is more than {max_regression:.4f} below production's "
                f"{result.production_recent_accuracy:.4f} on the same images"
            )
    elif mine:
        result.notes.append("no production model on the recent window: comparison skipped")
    return result
