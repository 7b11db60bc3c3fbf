"""Evaluate an alarm's own definition against metric data (the emulator never evaluates alarms).

One alarm definition (PutMetricAlarm) drives both targets: on AWS the sensor reads the real
``StateValue``; locally (``evaluate_locally``) it fetches the alarm's metric for its last
``EvaluationPeriods`` periods and applies CloudWatch's rules: ``DatapointsToAlarm`` of N
breaching → ALARM; ``TreatMissingData`` = missing | ignore | breaching | notBreaching.
:func:`alarm_states` is the one place where that choice is made.
"""

from __future__ import annotations

import datetime as dt
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
            f"comparison {name!r} cannot be evaluated locally; use one of "
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


def alarm_queries(alarm: dict) -> tuple[list[dict], str, int]:
    """The GetMetricData queries of an alarm, the id that carries its value, and its period."""
    if alarm.get("Metrics"):
        queries = [{k: v for k, v in q.items() if k != "AccountId"} for q in alarm["Metrics"]]
        returned = [q["Id"] for q in queries if q.get("ReturnData", True)]
        periods = [q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
        period = alarm.get("Period") or (periods[0] if periods else 60)
        return queries, returned[-1], int(period)
    if alarm.get("ExtendedStatistic"):
        raise ValueError(
            f"alarm {alarm['AlarmName']}: extended statistics are not evaluated locally"
        )
    stat: dict[str, Any] = {
        "Metric": {
            "Namespace": alarm["Namespace"],
            "MetricName": alarm["MetricName"],
            "Dimensions": alarm.get("Dimensions", []),
        },
        "Period": int(alarm["Period"]),
        "Stat": alarm["Statistic"],
    }
    if alarm.get("Unit"):
        stat["Unit"] = alarm["Unit"]
    return [{"Id": "m", "MetricStat": stat, "ReturnData": True}], "m", int(alarm["Period"])


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


def evaluate_alarm(
    hook: CloudWatchMetricsHook, alarm: dict, now: dt.datetime | None = None
) -> Evaluation:
    """Evaluate one alarm (a DescribeAlarms record) from its metric data."""
    # Our data points carry whole-second timestamps; one stamped in this very second is part
    # of the window (an evaluation in the same second as the publish must see it), so the
    # window ends at the start of the next second.
    end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) + dt.timedelta(seconds=1)
    queries, value_id, period = alarm_queries(alarm)
    n = int(alarm["EvaluationPeriods"])
    start = end - dt.timedelta(seconds=period * n)
    data = hook.get_metric_data(queries, start, end)
    values = period_values(data.get(value_id, []), start, period, n)
    return evaluate(
        values,
        comparison_operator=alarm["ComparisonOperator"],
        threshold=float(alarm["Threshold"]),
        datapoints_to_alarm=alarm.get("DatapointsToAlarm"),
        treat_missing_data=alarm.get("TreatMissingData", "missing"),
        current_state=alarm.get("StateValue", INSUFFICIENT_DATA),
    )


def alarm_states(
    hook: CloudWatchMetricsHook,
    *,
    alarm_names: Sequence[str] | None = None,
    alarm_name_prefix: str | None = None,
    evaluate_locally: bool,
    now: dt.datetime | None = None,
) -> list[dict]:
    """``[{name, state, reason}]`` of the selected alarms.

    ``evaluate_locally=False`` (AWS) reads CloudWatch's own state; ``True`` (the emulator)
    evaluates each alarm's definition against its metric data.
    """
    alarms = hook.describe_alarms(alarm_names=alarm_names, alarm_name_prefix=alarm_name_prefix)
    out = []
    for alarm in alarms:
        if evaluate_locally:
            result = evaluate_alarm(hook, alarm, now)
            out.append({"name": alarm["AlarmName"], "state": result.state, "reason": result.reason})
        else:
            out.append(
                {
                    "name": alarm["AlarmName"],
                    "state": alarm["StateValue"],
                    "reason": alarm.get("StateReason", ""),
                }
            )
    return sorted(out, key=lambda a: a["name"])


def sync_local_alarm_states(
    hook: CloudWatchMetricsHook, *, alarm_name_prefix: str, now: dt.datetime | None = None
) -> list[dict]:
    """Write locally evaluated states back with SetAlarmState (emulator only), so the
    dashboard, DescribeAlarms and the KPI page show them as on AWS."""
    states = alarm_states(hook, alarm_name_prefix=alarm_name_prefix, evaluate_locally=True, now=now)
    for item in states:
        hook.set_alarm_state(item["name"], item["state"], item["reason"][:1000])
    return states


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
    now = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0)
    start = now - dt.timedelta(seconds=period * evaluation_periods)
    data = hook.get_metric_data(list(queries), start, now)
    values = period_values(data.get(value_id, []), start, period, evaluation_periods)
    return evaluate(
        values,
        comparison_operator=comparison_operator,
        threshold=threshold,
        datapoints_to_alarm=datapoints_to_alarm,
        treat_missing_data=treat_missing_data,
    )
