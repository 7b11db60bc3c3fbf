"""Alarm and metric conditions shared by the sensors and their triggers (neither imports the
other), and CloudWatch's rule for N periods of a metric against a threshold.

The alarm sensor reads each alarm's own ``StateValue`` — CloudWatch evaluates alarms on AWS,
the local emulator evaluates them when metric data arrives (with :func:`evaluate`). The
metric sensor applies :func:`evaluate` to a metric or metric-math query itself: the
condition of a sensor that is not an alarm.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook

OK, ALARM, INSUFFICIENT_DATA = "OK", "ALARM", "INSUFFICIENT_DATA"
STATES = (OK, ALARM, INSUFFICIENT_DATA)

COMPARISONS: dict[str, Callable[[float, float], bool]] = {
    "GreaterThanOrEqualToThreshold": operator.ge,
    "GreaterThanThreshold": operator.gt,
    "LessThanThreshold": operator.lt,
    "LessThanOrEqualToThreshold": operator.le,
}
#: Short operator names accepted by CloudWatchMetricSensor.
SHORT_COMPARISONS = {
    ">=": "GreaterThanOrEqualToThreshold",
    ">": "GreaterThanThreshold",
    "<": "LessThanThreshold",
    "<=": "LessThanOrEqualToThreshold",
}
MISSING_RULES = ("missing", "ignore", "breaching", "notBreaching")


@dataclass(frozen=True)
class Evaluation:
    state: str
    reason: str
    values: list[float | None] = field(default_factory=list)


def comparison(name: str) -> Callable[[float, float], bool]:
    name = SHORT_COMPARISONS.get(name, name)
    try:
        return COMPARISONS[name]
    except KeyError:
        raise ValueError(
            f"comparison {name!r} is not supported here; use one of "
            f"{', '.join(COMPARISONS)} (anomaly-detection bands need real CloudWatch)"
        ) from None


def evaluate(
    values: Sequence[float | None],
    *,
    comparison_operator: str,
    threshold: float,
    datapoints_to_alarm: int | None = None,
    treat_missing_data: str = "missing",
    current_state: str = INSUFFICIENT_DATA,
) -> Evaluation:
    """CloudWatch's rule over the last N periods (``values`` oldest → newest, None = missing)."""
    if treat_missing_data not in MISSING_RULES:
        raise ValueError(f"TreatMissingData {treat_missing_data!r} not in {MISSING_RULES}")
    compare = comparison(comparison_operator)
    n = len(values)
    m = datapoints_to_alarm or n
    if m > n or m < 1:
        raise ValueError(f"DatapointsToAlarm {m} must be between 1 and EvaluationPeriods {n}")
    present = [v for v in values if v is not None]
    if treat_missing_data == "breaching":
        flags = [True if v is None else compare(v, threshold) for v in values]
    elif treat_missing_data == "notBreaching":
        flags = [False if v is None else compare(v, threshold) for v in values]
    else:
        if not present:
            state = INSUFFICIENT_DATA if treat_missing_data == "missing" else current_state
            return Evaluation(
                state, f"no datapoints in {n} period(s) ({treat_missing_data})", list(values)
            )
        flags = [compare(v, threshold) for v in present]
    breaching = sum(flags)
    detail = (
        f"{breaching} of {n} period(s) breaching {comparison_operator} {threshold:g} "
        f"(needs {m}; missing={treat_missing_data}); values {_fmt(values)}"
    )
    return Evaluation(ALARM if breaching >= m else OK, detail, list(values))


def _fmt(values: Sequence[float | None]) -> str:
    return "[" + ", ".join("-" if v is None else f"{v:g}" for v in values) + "]"


def period_values(
    points: Sequence[tuple[dt.datetime, float]], start: dt.datetime, period: int, n: int
) -> list[float | None]:
    """Place points into ``n`` periods of ``period`` seconds starting at ``start``."""
    values: list[float | None] = [None] * n
    for ts, value in points:
        index = int((ts - start).total_seconds() // period)
        if 0 <= index < n:
            values[index] = value
    return values


def states_of(alarms: Iterable[dict]) -> list[dict]:
    """``[{name, state, reason}]`` of ``DescribeAlarms``' metric alarms, by name."""
    return sorted(
        (
            {
                "name": alarm["AlarmName"],
                "state": alarm["StateValue"],
                "reason": alarm.get("StateReason", ""),
            }
            for alarm in alarms
        ),
        key=lambda a: a["name"],
    )


def alarm_states(
    hook: CloudWatchMetricsHook,
    *,
    alarm_names: Sequence[str] | None = None,
    alarm_name_prefix: str | None = None,
) -> list[dict]:
    """``[{name, state, reason}]`` of the selected alarms, as CloudWatch evaluated them."""
    return states_of(
        hook.describe_alarms(alarm_names=alarm_names, alarm_name_prefix=alarm_name_prefix)
    )


def states_matching(states: list[dict], *, target_state: str, require_all: bool) -> dict | None:
    """``{"alarms": [...], "states": [...]}`` when ``states`` meet the condition, else None."""
    matching = [s for s in states if s["state"] == target_state]
    if not states or not matching or (require_all and len(matching) < len(states)):
        return None
    return {"alarms": [s["name"] for s in matching], "states": matching}


def describe_states(states: list[dict]) -> str:
    return ", ".join(f"{s['name']}={s['state']}" for s in states) or "none found"


def alarms_matching(
    hook: CloudWatchMetricsHook,
    *,
    alarm_names: Sequence[str] | None,
    alarm_name_prefix: str | None,
    target_state: str,
    require_all: bool,
) -> dict | None:
    """``{"alarms": [...], "states": [...]}`` when the condition holds, else None."""
    states = alarm_states(hook, alarm_names=alarm_names, alarm_name_prefix=alarm_name_prefix)
    hook.log.info("Alarms: %s", describe_states(states))
    return states_matching(states, target_state=target_state, require_all=require_all)


def metric_window(
    period: int, evaluation_periods: int, now: dt.datetime | None = None
) -> tuple[dt.datetime, dt.datetime]:
    """The last ``evaluation_periods`` periods of ``period`` seconds up to ``now``."""
    end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    return end - dt.timedelta(seconds=period * evaluation_periods), end


def metric_evaluation(
    data: dict[str, list[tuple[dt.datetime, float]]],
    start: dt.datetime,
    *,
    value_id: str,
    comparison_operator: str,
    threshold: float,
    period: int,
    evaluation_periods: int,
    datapoints_to_alarm: int | None = None,
    treat_missing_data: str = "missing",
) -> Evaluation:
    """The query ``value_id``'s points from ``start`` on, against the threshold."""
    values = period_values(data.get(value_id, []), start, period, evaluation_periods)
    return evaluate(
        values,
        comparison_operator=comparison_operator,
        threshold=threshold,
        datapoints_to_alarm=datapoints_to_alarm,
        treat_missing_data=treat_missing_data,
    )


def metric_condition(
    hook: CloudWatchMetricsHook,
    *,
    queries: Sequence[dict],
    value_id: str,
    comparison_operator: str,
    threshold: float,
    period: int,
    evaluation_periods: int,
    datapoints_to_alarm: int | None = None,
    treat_missing_data: str = "missing",
    now: dt.datetime | None = None,
) -> Evaluation:
    """A metric or metric-math query compared with a threshold over the last N periods."""
    start, end = metric_window(period, evaluation_periods, now)
    return metric_evaluation(
        hook.get_metric_data(list(queries), start, end),
        start,
        value_id=value_id,
        comparison_operator=comparison_operator,
        threshold=threshold,
        period=period,
        evaluation_periods=evaluation_periods,
        datapoints_to_alarm=datapoints_to_alarm,
        treat_missing_data=treat_missing_data,
    )
