"""Alarm conditions shared by the sensors and their triggers (neither imports the other)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook


def alarms_matching(
    hook: CloudWatchMetricsHook,
    *,
    alarm_names: Sequence[str] | None,
    alarm_name_prefix: str | None,
    target_state: str,
    require_all: bool,
    evaluate_locally: bool,
) -> dict | None:
    """``{"alarms": [...], "states": [...]}`` when the condition holds, else None."""
    from image_mlops.cloudwatch.alarm_eval import alarm_states

    states = alarm_states(
        hook,
        alarm_names=alarm_names,
        alarm_name_prefix=alarm_name_prefix,
        evaluate_locally=evaluate_locally,
    )
    matching = [s for s in states if s["state"] == target_state]
    hook.log.info(
        "Alarms %s: %s",
        "evaluated locally" if evaluate_locally else "from CloudWatch",
        ", ".join(f"{s['name']}={s['state']}" for s in states) or "none found",
    )
    if not states or not matching or (require_all and len(matching) < len(states)):
        return None
    return {"alarms": [s["name"] for s in matching], "states": matching}


def resolve_local(evaluate_locally: bool | None) -> bool:
    if evaluate_locally is not None:
        return evaluate_locally
    from image_mlops.config import get_settings

    return get_settings().is_local
