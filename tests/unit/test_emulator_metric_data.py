"""The emulator's one-pass GetMetricData gives moto's own answer for every MetricStat query.

moto walks the window one period at a time and scans every datum in each period (a 1 s
period over two days: 173 000 scans per query); the emulator groups the data points by
period in one pass. Both run here, in process, on the same random data points.
"""

from __future__ import annotations

import datetime as dt
import random

import boto3
import pytest
from moto import mock_aws

from image_mlops_dev.emulator.cloudwatch import metric_data

ACCOUNT = "123456789012"


@pytest.fixture(scope="module")
def backend():
    from moto.cloudwatch.models import cloudwatch_backends

    metric_data.apply()
    with mock_aws():
        cloudwatch = boto3.client(
            "cloudwatch",
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        rng = random.Random(11)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        data = []
        for _ in range(400):
            dimensions = [{"Name": "Model", "Value": rng.choice(["m1", "m2"])}]
            if rng.random() < 0.5:
                dimensions.append({"Name": "Class", "Value": rng.choice(["mug", "shoe"])})
            data.append(
                (
                    rng.choice(["ImageMLOps", "Other"]),
                    {
                        "MetricName": rng.choice(["Recall", "TruePositives"]),
                        "Dimensions": dimensions,
                        "Timestamp": now - dt.timedelta(seconds=rng.randint(0, 3 * 3600)),
                        "Value": round(rng.uniform(0, 100), 3),
                        "Unit": rng.choice(["Count", "None"]),
                    },
                )
            )
        for namespace, datum in data:
            cloudwatch.put_metric_data(Namespace=namespace, MetricData=[datum])
        yield cloudwatch_backends[ACCOUNT]["us-east-1"], now


QUERIES = [
    ("ImageMLOps", "Recall", [("Model", "m1")], 1, "Maximum", None),
    ("ImageMLOps", "Recall", [("Model", "m1"), ("Class", "mug")], 60, "Average", None),
    # (moto matches dimensions in the order they were put, Model then Class; kept as is)
    ("ImageMLOps", "TruePositives", [("Model", "m2"), ("Class", "shoe")], 300, "Sum", None),
    ("ImageMLOps", "TruePositives", [], 600, "SampleCount", None),
    ("Other", "Recall", [("Model", "m2")], 60, "Minimum", "Count"),
    ("ImageMLOps", "Recall", [], 3600, "Maximum", "None"),
]


@pytest.mark.parametrize("scan_by", ["TimestampAscending", "TimestampDescending"])
@pytest.mark.parametrize("query", QUERIES, ids=[f"{q[1]}-{q[3]}s-{q[4]}" for q in QUERIES])
def test_one_pass_matches_motos_period_walk(backend, query, scan_by):
    cloudwatch, now = backend
    namespace, name, dimensions, period, stat, unit = query
    stat_query = {
        "Metric": {
            "Namespace": namespace,
            "MetricName": name,
            "Dimensions": [{"Name": n, "Value": v} for n, v in dimensions],
        },
        "Period": period,
        "Stat": stat,
    }
    if unit:
        stat_query["Unit"] = unit
    request = {"Id": "q1", "MetricStat": stat_query, "ReturnData": True}
    # a window that cuts the data (starts mid-way, odd microseconds) and ends after it;
    # naive UTC, as moto's request parser hands the times to the backend
    now = now.replace(tzinfo=None)
    start = now - dt.timedelta(hours=2, minutes=17, microseconds=4321)
    end = now + dt.timedelta(minutes=5, microseconds=999)
    view = metric_data.NamespaceView(cloudwatch, namespace)
    ours = metric_data.metric_stat(view, request, start, end, scan_by)
    moto = metric_data.moto_get_metric_data()(view, [request], start, end, scan_by)[0]
    assert ours == moto
    assert ours["values"], "the query selects data points (the comparison is not empty)"


def test_the_patched_call_still_validates_the_window(backend):
    from moto.cloudwatch.exceptions import ValidationError

    cloudwatch, now = backend
    now = now.replace(tzinfo=None)
    with pytest.raises(ValidationError):
        cloudwatch.get_metric_data([], now, now)
