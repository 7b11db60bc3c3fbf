"""CloudWatchMetricsHook: metrics, metric math, alarms and dashboards on ``AwsBaseHook``.

The Amazon provider has hooks for CloudWatch *Logs* only; this one covers metrics. Same
shape as the provider's hooks: the boto3 client comes from the Airflow AWS connection, so
the hook talks to the local emulator or real AWS unchanged.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Sequence
from typing import Any

from airflow.providers.amazon.aws.hooks.base_aws import AwsBaseHook

#: PutMetricData accepts at most 1000 data points per call.
MAX_DATUMS_PER_CALL = 1000
#: GetMetricData accepts at most 500 queries per call.
MAX_QUERIES_PER_CALL = 500


def describe_alarms_request(
    alarm_names: Iterable[str] | None = None,
    alarm_name_prefix: str | None = None,
    state_value: str | None = None,
) -> dict[str, Any]:
    """The ``DescribeAlarms`` arguments selecting metric alarms by names or prefix."""
    kwargs: dict[str, Any] = {"AlarmTypes": ["MetricAlarm"]}
    if alarm_names:
        kwargs["AlarmNames"] = list(alarm_names)
    if alarm_name_prefix:
        kwargs["AlarmNamePrefix"] = alarm_name_prefix
    if state_value:
        kwargs["StateValue"] = state_value
    return kwargs


def get_metric_data_requests(
    queries: Sequence[dict],
    start_time: dt.datetime,
    end_time: dt.datetime,
    scan_by: str = "TimestampAscending",
) -> list[dict[str, Any]]:
    """The ``GetMetricData`` arguments for ``queries``, at most 500 queries each (the sync
    hook and the async triggers page through the same requests)."""
    return [
        {
            "MetricDataQueries": list(queries[first : first + MAX_QUERIES_PER_CALL]),
            "StartTime": start_time,
            "EndTime": end_time,
            "ScanBy": scan_by,
        }
        for first in range(0, len(queries), MAX_QUERIES_PER_CALL)
    ]


def add_metric_results(
    found: dict[str, list[tuple[dt.datetime, float]]], response: dict[str, Any]
) -> None:
    """Add one ``GetMetricData`` page's ``(timestamp, value)`` points to ``found`` by query id."""
    for result in response.get("MetricDataResults", []):
        points = found.setdefault(result["Id"], [])
        points.extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))


def oldest_first(
    found: dict[str, list[tuple[dt.datetime, float]]],
) -> dict[str, list[tuple[dt.datetime, float]]]:
    """``found`` with each query's points sorted oldest first (pages may interleave)."""
    for points in found.values():
        points.sort(key=lambda p: p[0])
    return found


class CloudWatchMetricsHook(AwsBaseHook):
    """Interact with Amazon CloudWatch metrics, alarms and dashboards.

    Additional arguments (like ``aws_conn_id``) are passed to ``AwsBaseHook``.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs["client_type"] = "cloudwatch"
        super().__init__(*args, **kwargs)

    # --- metrics ------------------------------------------------------------------------------
    def put_metric_data(self, namespace: str, metric_data: Sequence[dict]) -> int:
        """Publish ``metric_data`` in batches of at most 1000; returns the calls made."""
        calls = 0
        for start in range(0, len(metric_data), MAX_DATUMS_PER_CALL):
            self.conn.put_metric_data(
                Namespace=namespace,
                MetricData=list(metric_data[start : start + MAX_DATUMS_PER_CALL]),
            )
            calls += 1
        self.log.info(
            "Published %s data points to %s in %s call(s)", len(metric_data), namespace, calls
        )
        return calls

    def get_metric_data(
        self,
        queries: Sequence[dict],
        start_time: dt.datetime,
        end_time: dt.datetime,
        scan_by: str = "TimestampAscending",
    ) -> dict[str, list[tuple[dt.datetime, float]]]:
        """Run ``MetricDataQueries`` (metrics and metric-math expressions).

        Returns ``{query id: [(timestamp, value), ...]}`` for the queries that return data,
        oldest first, following ``NextToken`` pages.
        """
        out: dict[str, list[tuple[dt.datetime, float]]] = {}
        paginator = self.conn.get_paginator("get_metric_data")
        for request in get_metric_data_requests(queries, start_time, end_time, scan_by):
            for page in paginator.paginate(**request):
                add_metric_results(out, page)
        return oldest_first(out)

    def list_metrics(self, namespace: str, metric_name: str) -> list[dict]:
        """Every metric (name + full dimension set) under ``metric_name`` (from ListMetrics)."""
        paginator = self.conn.get_paginator("list_metrics")
        return [
            {
                "Namespace": namespace,
                "MetricName": metric["MetricName"],
                "Dimensions": metric.get("Dimensions", []),
            }
            for page in paginator.paginate(Namespace=namespace, MetricName=metric_name)
            for metric in page.get("Metrics", [])
        ]

    def list_dimension_values(self, namespace: str, metric_name: str, dimension: str) -> list[str]:
        """Values of ``dimension`` seen on ``metric_name`` (from ListMetrics)."""
        values: set[str] = set()
        paginator = self.conn.get_paginator("list_metrics")
        for page in paginator.paginate(Namespace=namespace, MetricName=metric_name):
            for metric in page.get("Metrics", []):
                for dim in metric.get("Dimensions", []):
                    if dim["Name"] == dimension:
                        values.add(dim["Value"])
        return sorted(values)

    # --- alarms -------------------------------------------------------------------------------
    def describe_alarms(
        self,
        alarm_names: Iterable[str] | None = None,
        alarm_name_prefix: str | None = None,
        state_value: str | None = None,
    ) -> list[dict]:
        """Metric alarms by names or prefix (all pages)."""
        request = describe_alarms_request(alarm_names, alarm_name_prefix, state_value)
        paginator = self.conn.get_paginator("describe_alarms")
        return [
            alarm
            for page in paginator.paginate(**request)
            for alarm in page.get("MetricAlarms", [])
        ]

    def put_metric_alarm(self, **definition: Any) -> None:
        """Create or update an alarm (PutMetricAlarm is an upsert: idempotent)."""
        self.conn.put_metric_alarm(**definition)

    def set_alarm_state(self, alarm_name: str, state_value: str, reason: str) -> None:
        self.conn.set_alarm_state(AlarmName=alarm_name, StateValue=state_value, StateReason=reason)

    # --- dashboards ---------------------------------------------------------------------------
    def put_dashboard(self, name: str, body: dict) -> list[dict]:
        """Create or update a dashboard; returns CloudWatch's validation messages."""
        response = self.conn.put_dashboard(DashboardName=name, DashboardBody=json.dumps(body))
        return response.get("DashboardValidationMessages", [])

    def get_dashboard(self, name: str) -> dict:
        return json.loads(self.conn.get_dashboard(DashboardName=name)["DashboardBody"])
