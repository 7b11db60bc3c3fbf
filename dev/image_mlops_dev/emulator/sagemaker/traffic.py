"""Traffic shifting of a blue/green endpoint update: SageMaker's steps, as pure functions."""

from __future__ import annotations

import math
from typing import Any


def instance_count(variants: list[dict[str, Any]]) -> int:
    """The instances of a configuration's fleet (all its variants)."""
    return sum(int(v.get("InitialInstanceCount", 1)) for v in variants) or 1


def size_share(size: dict[str, Any], instances: int) -> float:
    """A ``CanarySize`` / ``LinearStepSize`` as a share of the fleet's capacity."""
    if size.get("Type") == "INSTANCE_COUNT":
        return min(1.0, float(size["Value"]) / instances)
    return min(1.0, float(size["Value"]) / 100.0)


def traffic_steps(routing: dict[str, Any], instances: int) -> list[float]:
    """The shares of traffic on the new fleet after each shift (the last is 1.0)."""
    kind = routing.get("Type", "ALL_AT_ONCE")
    if kind == "CANARY":
        return [size_share(routing["CanarySize"], instances), 1.0]
    if kind == "LINEAR":
        step = size_share(routing["LinearStepSize"], instances)
        count = math.ceil(round(1.0 / step, 6))
        return [min(1.0, step * number) for number in range(1, count + 1)]
    return [1.0]
