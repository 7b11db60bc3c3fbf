"""CloudWatch ``GetMetricData`` as AWS answers it.

moto ignored the namespace of a ``MetricStat`` that has dimensions (metrics of the same name
and dimensions in another namespace were mixed in); each query now sees only its own
namespace, as on AWS. moto also walked the window one period at a time, scanning every datum
in each: a 1 s period over two days was 173 000 scans per query (a minute and more for the
demo's summary, which then timed out). The data points are now grouped by period in one
pass, with moto's own statistics.
"""

from __future__ import annotations

from typing import Any

from image_mlops_dev.emulator.moto_patches import original, patch


class NamespaceView:
    """A CloudWatch backend seen through one namespace (for moto's GetMetricData)."""

    def __init__(self, backend: Any, namespace: str) -> None:
        self._backend = backend
        self._namespace = namespace

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def get_all_metrics(self) -> list[Any]:
        return [md for md in self._backend.get_all_metrics() if md.namespace == self._namespace]


def metric_stat(
    view: NamespaceView, query: dict[str, Any], start_time: Any, end_time: Any, scan_by: str
) -> dict[str, Any]:
    """moto's result for one ``MetricStat`` query, in one pass over the data points.

    Same selection as moto (with dimensions: same name and dimensions; without: same
    namespace and name; then the unit), same periods (from ``start_time``, every
    ``Period`` seconds), same statistics (moto's ``Statistics``) and order.
    """
    from datetime import timedelta

    from moto.cloudwatch.models import Dimension, Statistics

    start_time, end_time = start_time.replace(microsecond=0), end_time.replace(microsecond=0)
    stat_query = query["MetricStat"]
    metric = stat_query["Metric"]
    name, stat, unit = metric["MetricName"], stat_query["Stat"], stat_query.get("Unit")
    delta = timedelta(seconds=int(stat_query["Period"]))
    dimensions = sorted(
        Dimension(name=d["Name"], value=d["Value"]) for d in metric.get("Dimensions", [])
    )
    periods: dict[int, list[Any]] = {}
    for datum in view.get_all_metrics():
        if not start_time <= datum.timestamp < end_time or datum.name != name:
            continue
        if dimensions:
            if sorted(datum.dimensions) != dimensions:
                continue
        elif datum.namespace != metric["Namespace"]:
            continue
        if unit and datum.unit != unit:
            continue
        periods.setdefault((datum.timestamp - start_time) // delta, []).append(datum)
    values, timestamps = [], []
    for index in sorted(periods):
        stats = Statistics([stat], start_time + index * delta)
        stats.metric_data = periods[index]
        values.append(stats.get_statistics_for_type(stat))
        timestamps.append(stats.timestamp)
    if scan_by == "TimestampDescending":
        values.reverse()
        timestamps.reverse()
    return {
        "id": query["Id"],
        "label": query.get("Label") or f"{name} {stat}",
        "values": values,
        "timestamps": timestamps,
        "status_code": "Complete",
    }


def _namespaced_get_metric_data(original: Any) -> Any:
    def get_metric_data(
        self: Any,
        queries: list[dict[str, Any]],
        start_time: Any,
        end_time: Any,
        scan_by: str = "TimestampAscending",
    ) -> list[dict[str, Any]]:
        from moto.cloudwatch.metric_data_expression_parser import parse_expression

        if start_time.replace(microsecond=0) >= end_time.replace(microsecond=0):
            return original(self, [], start_time, end_time, scan_by)  # moto's validation
        stats: dict[str, dict[str, Any]] = {}
        for query in queries:
            if "MetricStat" in query:
                view = NamespaceView(self, query["MetricStat"]["Metric"]["Namespace"])
                stats[query["Id"]] = metric_stat(view, query, start_time, end_time, scan_by)
        returned: list[dict[str, Any]] = []
        for query in queries:
            if "MetricStat" in query:
                if query.get("ReturnData", True):
                    returned.append(stats[query["Id"]])
            elif query["Expression"].startswith("SELECT"):
                returned.extend(original(self, [query], start_time, end_time, scan_by))
            else:
                values, timestamps = parse_expression(query["Expression"], list(stats.values()))
                returned.append(
                    {
                        "id": query["Id"],
                        "label": query.get("Label") or query["Id"],
                        "values": values,
                        "timestamps": timestamps,
                        "status_code": "Complete",
                    }
                )
        return returned

    return get_metric_data


def moto_get_metric_data() -> Any:
    """moto's own ``GetMetricData`` (the tests compare the two)."""
    from moto.cloudwatch.models import CloudWatchBackend

    return original(CloudWatchBackend, "get_metric_data")


def apply() -> None:
    from moto.cloudwatch.models import CloudWatchBackend

    patch(
        CloudWatchBackend,
        "get_metric_data",
        _namespaced_get_metric_data(original(CloudWatchBackend, "get_metric_data")),
    )
