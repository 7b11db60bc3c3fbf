"""The emulator evaluates CloudWatch metric alarms, as CloudWatch does; moto never does.

moto stores an alarm's definition and whatever ``SetAlarmState`` says, but never evaluates
the alarm against its metric. :class:`AlarmEvaluation` (a WSGI layer) notices
``PutMetricData`` and ``PutMetricAlarm``; an evaluator thread then evaluates every metric
alarm of the emulator: the alarm's metric (or metric-math ``Metrics``) over its last
``EvaluationPeriods`` periods, with CloudWatch's rules (``DatapointsToAlarm`` of N breaching
→ ``ALARM``; ``TreatMissingData`` missing | ignore | breaching | notBreaching:
:func:`image_mlops.cloudwatch.conditions.evaluate`). A state that changes is written with
``SetAlarmState`` through the emulator's own API, so it is journaled and its history kept,
and every reader (sensors, dashboards, ``DescribeAlarms``) sees it as on AWS; then the
alarm's actions for the new state run (:mod:`.alarm_actions`: SNS topics, as CloudWatch
publishes to them). The thread also evaluates once a minute without new data (missing data
moves alarms too), and once after a restart.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from image_mlops.cloudwatch.conditions import INSUFFICIENT_DATA, evaluate, period_values
from image_mlops_dev.emulator.cloudwatch.alarm_actions import CLOUDWATCH, run_actions
from image_mlops_dev.emulator.http.wsgi import request_action
from image_mlops_dev.emulator.platform import Platform

log = logging.getLogger("image_mlops.emulator.alarms")
WsgiApp = Callable[..., Iterable[bytes]]

#: Actions after which alarms are evaluated.
EVALUATED_AFTER = ("PutMetricData", "PutMetricAlarm")
#: CloudWatch evaluates standard-resolution alarms every minute.
EVALUATION_INTERVAL_SECONDS = 60.0
#: Requests arriving together are evaluated together.
SETTLE_SECONDS = 0.2
#: ``GET``: when the last completed evaluation round started and when metric data or an alarm
#: last arrived (``{"evaluated_at": ..., "notified_at": ...}``, ISO-8601 or null): every
#: arrival is evaluated once ``evaluated_at`` is later than ``notified_at``.
EVALUATED_PATH = "/_emulator/alarms/evaluated"


def alarm_queries(alarm: dict) -> tuple[list[dict], str, int]:
    """The GetMetricData queries of an alarm, the id that carries its value, and its period."""
    if alarm.get("Metrics"):
        queries = [{k: v for k, v in q.items() if k != "AccountId"} for q in alarm["Metrics"]]
        returned = [q["Id"] for q in queries if q.get("ReturnData", True)]
        periods = [q["MetricStat"]["Period"] for q in queries if "MetricStat" in q]
        period = alarm.get("Period") or (periods[0] if periods else 60)
        return queries, returned[-1], int(period)
    if alarm.get("ExtendedStatistic"):
        raise ValueError(f"alarm {alarm['AlarmName']}: extended statistics are not evaluated")
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


def metric_points(
    cloudwatch: Any, queries: list[dict], start: dt.datetime, end: dt.datetime
) -> dict[str, list[tuple[dt.datetime, float]]]:
    """GetMetricData (all pages) as ``{query id: [(timestamp, value), ...]}``."""
    out: dict[str, list[tuple[dt.datetime, float]]] = {}
    kwargs: dict[str, Any] = {"MetricDataQueries": queries, "StartTime": start, "EndTime": end}
    while True:
        response = cloudwatch.get_metric_data(**kwargs)
        for result in response.get("MetricDataResults", []):
            points = out.setdefault(result["Id"], [])
            points.extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=True))
        if not response.get("NextToken"):
            return out
        kwargs["NextToken"] = response["NextToken"]


def evaluate_alarm(cloudwatch: Any, alarm: dict, now: dt.datetime | None = None):
    """Evaluate one alarm (a DescribeAlarms record) from its metric data."""
    # Data points carry whole-second timestamps; one stamped in this very second is part of
    # the window, so the window ends at the start of the next second.
    end = (now or dt.datetime.now(dt.UTC)).replace(microsecond=0) + dt.timedelta(seconds=1)
    queries, value_id, period = alarm_queries(alarm)
    n = int(alarm["EvaluationPeriods"])
    start = end - dt.timedelta(seconds=period * n)
    data = metric_points(cloudwatch, queries, start, end)
    values = period_values(data.get(value_id, []), start, period, n)
    return evaluate(
        values,
        comparison_operator=alarm["ComparisonOperator"],
        threshold=float(alarm["Threshold"]),
        datapoints_to_alarm=alarm.get("DatapointsToAlarm"),
        treat_missing_data=alarm.get("TreatMissingData", "missing"),
        current_state=alarm.get("StateValue", INSUFFICIENT_DATA),
    )


class AlarmEvaluator:
    """The evaluator thread (see the module docstring)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None
        #: start of the last completed round, and the last arrival that wakes one
        self.evaluated_at: dt.datetime | None = None
        self.notified_at: dt.datetime | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="alarms", daemon=True)
            self._thread.start()
            self._wake.set()  # once after a (re)start

    def notify(self) -> None:
        self.notified_at = dt.datetime.now(dt.UTC)
        self._wake.set()

    def _loop(self) -> None:
        while True:
            if self._wake.wait(EVALUATION_INTERVAL_SECONDS):
                time.sleep(SETTLE_SECONDS)
            self._wake.clear()  # what arrives during this round wakes the next one
            started = dt.datetime.now(dt.UTC)
            try:
                self.evaluate_all(started)
            except Exception:  # the next round tries again; the emulator keeps serving
                log.exception("alarm evaluation failed")
            else:
                self.evaluated_at = started

    def _client(self, region: str) -> Any:
        # CloudWatch evaluates its alarms itself: the emulator acts as the service
        return self.platform.client("cloudwatch", region, as_service=CLOUDWATCH)

    def evaluate_all(self, now: dt.datetime | None = None) -> int:
        """Evaluate every metric alarm; returns how many changed state."""
        from moto.cloudwatch.models import cloudwatch_backends

        changed = 0
        regions = {
            region
            for per_region in cloudwatch_backends.values()
            for region, backend in per_region.items()
            if backend.alarms
        }
        for region in sorted(regions):
            cloudwatch = self._client(region)
            for page in cloudwatch.get_paginator("describe_alarms").paginate(
                AlarmTypes=["MetricAlarm"]
            ):
                for alarm in page.get("MetricAlarms", []):
                    try:
                        result = evaluate_alarm(cloudwatch, alarm, now)
                    except ValueError as exc:
                        log.warning("alarm %s is not evaluated: %s", alarm["AlarmName"], exc)
                        continue
                    if result.state != alarm["StateValue"]:
                        reason = f"Threshold evaluated: {result.reason}"[:1023]
                        cloudwatch.set_alarm_state(
                            AlarmName=alarm["AlarmName"],
                            StateValue=result.state,
                            StateReason=reason,
                        )
                        run_actions(
                            lambda service, region=region: self.platform.client(
                                service, region, as_service=CLOUDWATCH
                            ),
                            alarm,
                            result.state,
                            reason,
                        )
                        log.info(
                            "alarm %s: %s → %s",
                            alarm["AlarmName"],
                            alarm["StateValue"],
                            result.state,
                        )
                        changed += 1
        return changed


class AlarmEvaluation:
    """WSGI layer: metric data and alarm definitions wake the evaluator after they are stored."""

    def __init__(self, app: WsgiApp, evaluator: AlarmEvaluator) -> None:
        self.app = app
        self.evaluator = evaluator

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Any:
        if environ.get("PATH_INFO") == EVALUATED_PATH:
            times = {
                "evaluated_at": self.evaluator.evaluated_at,
                "notified_at": self.evaluator.notified_at,
            }
            body = json.dumps({k: v.isoformat() if v else None for k, v in times.items()}).encode()
            start_response("200 OK", [("Content-Type", "application/json")])
            return [body]
        result = self.app(environ, start_response)
        if request_action(environ) in EVALUATED_AFTER:
            self.evaluator.notify()
        return result
