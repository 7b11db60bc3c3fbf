"""Monitoring logic without services: alarm evaluation, KPIs, drift, retraining guards."""

from __future__ import annotations

import datetime as dt

import pytest

from image_mlops.cloudwatch.conditions import (
    ALARM,
    INSUFFICIENT_DATA,
    OK,
    evaluate,
    period_values,
)
from image_mlops.monitoring import metrics as m
from image_mlops.monitoring.drift import input_drift, psi
from image_mlops.monitoring.kpis import compute_kpis, parse_feedback
from image_mlops.monitoring.retrain import cooldown_run_id, decide
from image_mlops_dev.emulator.cloudwatch.alarms import alarm_queries

NOW = dt.datetime(2026, 3, 1, 12, 0, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("op", "value", "state"),
    [
        ("LessThanThreshold", 2.9, ALARM),
        ("LessThanThreshold", 3.0, OK),
        ("LessThanOrEqualToThreshold", 3.0, ALARM),
        ("LessThanOrEqualToThreshold", 3.1, OK),
        ("GreaterThanThreshold", 3.1, ALARM),
        ("GreaterThanThreshold", 3.0, OK),
        ("GreaterThanOrEqualToThreshold", 3.0, ALARM),
        ("GreaterThanOrEqualToThreshold", 2.9, OK),
        ("<", 1.0, ALARM),
        (">=", 1.0, OK),
    ],
)
def test_each_comparison_operator(op, value, state):
    assert evaluate([value], comparison_operator=op, threshold=3.0).state == state


def test_unsupported_comparison_is_a_clear_error():
    with pytest.raises(ValueError, match="anomaly"):
        evaluate([1.0], comparison_operator="LessThanLowerThreshold", threshold=1)


@pytest.mark.parametrize(
    ("values", "m_of_n", "state"),
    [
        ([1, 1, 5], 2, ALARM),  # 2 of 3 breaching
        ([1, 5, 5], 2, OK),  # 1 of 3
        ([1, 1, 1], 3, ALARM),
        ([1, 1, 5], 3, OK),
        ([5, 5, 1], 1, ALARM),
    ],
)
def test_m_out_of_n(values, m_of_n, state):
    result = evaluate(values, comparison_operator="<", threshold=3, datapoints_to_alarm=m_of_n)
    assert result.state == state


@pytest.mark.parametrize(
    ("rule", "values", "needed", "state"),
    [
        ("missing", [None, None], 2, INSUFFICIENT_DATA),
        ("ignore", [None, None], 2, OK),  # keeps the current state (given as OK)
        ("breaching", [None, None], 2, ALARM),
        ("notBreaching", [None, None], 2, OK),
        ("missing", [None, 1.0], 1, ALARM),  # the present point decides
        ("notBreaching", [None, 1.0], 2, OK),  # missing counts as good: 1 of 2
        ("breaching", [None, 5.0], 2, OK),  # 1 of 2 breaching
        ("breaching", [None, 1.0], 2, ALARM),
    ],
)
def test_missing_data_rules(rule, values, needed, state):
    result = evaluate(
        values,
        comparison_operator="<",
        threshold=3,
        datapoints_to_alarm=needed,
        treat_missing_data=rule,
        current_state=OK,
    )
    assert result.state == state, result.reason


def test_invalid_datapoints_to_alarm():
    with pytest.raises(ValueError, match="DatapointsToAlarm"):
        evaluate([1.0], comparison_operator="<", threshold=3, datapoints_to_alarm=2)


def test_period_values_places_points_and_drops_outsiders():
    start = NOW - dt.timedelta(hours=3)
    points = [
        (start + dt.timedelta(minutes=10), 1.0),
        (start + dt.timedelta(hours=2, minutes=5), 2.0),
        (start + dt.timedelta(hours=3, minutes=1), 9.0),  # after the window
        (start - dt.timedelta(minutes=1), 9.0),  # before
    ]
    assert period_values(points, start, 3600, 3) == [1.0, None, 2.0]


def test_alarm_queries_from_a_plain_alarm_definition():
    alarm = {
        "AlarmName": "a",
        "Namespace": "NS",
        "MetricName": "Recall",
        "Dimensions": [{"Name": "Model", "Value": "x"}],
        "Statistic": "Minimum",
        "Period": 3600,
    }
    queries, value_id, period = alarm_queries(alarm)
    assert period == 3600 and value_id == "m"
    assert queries[0]["MetricStat"]["Stat"] == "Minimum"
    assert queries[0]["MetricStat"]["Metric"]["MetricName"] == "Recall"


def test_kpis_per_class_from_predictions_and_feedback():
    rows = [
        {
            "source_key": "incoming/a",
            "predicted_class": "mug",
            "confidence": 0.9,
            "uncertain": False,
        },
        {
            "source_key": "incoming/b",
            "predicted_class": "mug",
            "confidence": 0.5,
            "uncertain": True,
        },
        {
            "source_key": "incoming/c",
            "predicted_class": "book",
            "confidence": 0.8,
            "uncertain": False,
        },
        {"source_key": "incoming/d", "predicted_class": None, "error_reason": "timeout"},
        {
            "source_key": "incoming/e",
            "predicted_class": "book",
            "confidence": 0.7,
            "uncertain": False,
        },
    ]
    labels = {"incoming/a": "mug", "incoming/b": "book", "incoming/c": "book", "incoming/d": "mug"}
    kpis = compute_kpis(rows, labels, classes=["mug", "book", "shoe"])
    assert (kpis.per_class["mug"].tp, kpis.per_class["mug"].fp, kpis.per_class["mug"].fn) == (
        1,
        1,
        0,
    )
    assert (kpis.per_class["book"].tp, kpis.per_class["book"].fp, kpis.per_class["book"].fn) == (
        1,
        0,
        1,
    )
    assert kpis.per_class["shoe"].tp == 0 and kpis.per_class["shoe"].recall == 0.0
    assert kpis.predictions == 4 and kpis.errors == 1 and kpis.labeled == 3
    assert kpis.accuracy == pytest.approx(2 / 3)
    assert kpis.per_class["mug"].precision == 0.5 and kpis.per_class["book"].recall == 0.5
    assert kpis.uncertain_share == 0.25
    assert kpis.mean_confidence == pytest.approx((0.9 + 0.5 + 0.8 + 0.7) / 4)


def test_feedback_parsing_later_files_win_and_bad_rows_are_counted():
    labels, skipped = parse_feedback(
        [
            ("feedback/2.csv", "key,label\nincoming/a,book\n"),
            ("feedback/1.csv", "key,label\nincoming/a,mug\nincoming/b,\nlabeled/x,mug\n"),
            ("feedback/3.csv", "name,class\nincoming/z,mug\n"),
        ]
    )
    assert labels == {"incoming/a": "book"}
    assert skipped == {"empty_label": 1, "bad_key": 1, "bad_header": 1}


def test_psi_is_zero_for_the_same_mix_and_grows_with_shift():
    expected = {"mug": 0.5, "book": 0.5}
    assert psi(expected, {"mug": 50, "book": 50}) == pytest.approx(0.0)
    mild = psi(expected, {"mug": 55, "book": 45})
    strong = psi(expected, {"mug": 90, "book": 10})
    assert 0 < mild < 0.1 < 0.2 < strong
    assert psi(expected, {}) == 0.0


def test_ks_detects_a_shifted_input_statistic():
    baseline = {"brightness": [100 + i % 20 for i in range(60)], "width": [256.0] * 60}
    same = [{"brightness": 100 + (i * 7) % 20, "width": 256.0} for i in range(40)]
    dark = [{"brightness": 40 + i % 10, "width": 256.0} for i in range(40)]
    same_result = {r.stat: r for r in input_drift(same, baseline)}
    dark_result = {r.stat: r for r in input_drift(dark, baseline)}
    assert same_result["brightness"].pvalue > 0.05
    assert dark_result["brightness"].pvalue < 1e-6 and dark_result["brightness"].statistic > 0.9


def test_metric_names_are_unique_and_datum_has_explicit_timestamp():
    names = [s.name for s in m.SPECS]
    assert len(names) == len(set(names))
    d = m.datum(m.RECALL, 0.5, NOW, model="clf", cls="mug")
    assert d["Timestamp"] == NOW and d["Dimensions"][1] == {"Name": "Class", "Value": "mug"}


def test_retrain_guards():
    base = {"now": NOW, "cooldown_minutes": 60}
    assert not decide(alarms=[], active_runs=0, last_trigger_at=None, **base).trigger
    busy = decide(alarms=["a"], active_runs=1, last_trigger_at=None, **base)
    assert not busy.trigger and "already queued or running" in busy.reason
    cool = decide(
        alarms=["a"], active_runs=0, last_trigger_at=NOW - dt.timedelta(minutes=59), **base
    )
    assert not cool.trigger and "cool-down" in cool.reason
    go = decide(
        alarms=["b", "a"], active_runs=0, last_trigger_at=NOW - dt.timedelta(minutes=61), **base
    )
    assert go.trigger and go.reason == "drift alarms in ALARM: a, b"
    assert go.trigger_run_id == cooldown_run_id(NOW, 60) == "drift_retrain__20260301T120000Z"


def test_cooldown_run_id_is_stable_inside_a_slot_and_changes_after():
    a = cooldown_run_id(NOW + dt.timedelta(minutes=5), 60)
    b = cooldown_run_id(NOW + dt.timedelta(minutes=55), 60)
    c = cooldown_run_id(NOW + dt.timedelta(minutes=65), 60)
    assert a == b != c


def test_chart_markers_carry_their_series_time_and_value_on_hover():
    import xml.etree.ElementTree as ET

    from image_mlops.monitoring.charts import SVG_NS, line_chart

    hour = dt.timedelta(hours=1)
    # given out of order: the chart sorts by time, and each title must follow its own point
    series = {
        "mug": [(NOW + hour, 0.25), (NOW, 0.75), (NOW + 2 * hour, 0.5)],
        "book": [(NOW, 1.0)],
        "bottle": [],
    }
    svg = line_chart(series, title="recall per class", threshold=0.6)
    root = ET.fromstring(svg)
    ns = {"svg": SVG_NS}
    markers = [u for u in root.iterfind(".//svg:use", ns) if u.find("svg:title", ns) is not None]
    titles = [u.find("svg:title", ns).text for u in markers]
    assert titles == [
        "book · 2026-03-01 12:00 UTC · 1",
        "mug · 2026-03-01 12:00 UTC · 0.75",
        "mug · 2026-03-01 13:00 UTC · 0.25",
        "mug · 2026-03-01 14:00 UTC · 0.5",
    ]
    # each titled marker sits where its value is drawn: a lower value is lower on the chart
    mug_y = [float(u.get("y")) for u in markers[1:]]
    assert mug_y[0] < mug_y[2] < mug_y[1]
    group_titles = [
        g.find("svg:title", ns).text
        for g in root.iterfind(".//svg:g", ns)
        if g.find("svg:title", ns) is not None
    ]
    assert group_titles == ["alarm threshold · 0.6"]
    # inline-ready and the same for the same data: no declaration, metadata, date or tag ids
    assert svg.startswith("<svg") and "<metadata" not in svg and 'id="series-' not in svg
    assert "ns0:" not in svg and "ns1:" not in svg
    assert line_chart(series, title="recall per class", threshold=0.6) == svg
    # no data: a sentence and no titles
    empty = line_chart({"mug": []}, title="recall per class")
    assert "no data yet" in empty and "<title>" not in empty


def test_the_drift_and_integrity_alarms_tell_the_notification_topic():
    from image_mlops.config import Settings
    from image_mlops.monitoring.alarms import alarm_definitions, integrity_alarm
    from image_mlops.notifications import topic_arn

    settings = Settings(notification_topic="image-mlops-notifications")
    alarms = [*alarm_definitions(settings, ["mug", "lamp"]), integrity_alarm(settings)]
    assert len(alarms) == 2 * 2 + 1 + 1  # tp-low and recall-low per class, PSI, integrity
    topic = topic_arn(settings)
    assert topic == (
        f"arn:aws:sns:{settings.region}:{settings.account_id}:image-mlops-notifications"
    )
    for alarm in alarms:
        assert alarm["ActionsEnabled"] is True, alarm["AlarmName"]
        assert alarm["AlarmActions"] == [topic], alarm["AlarmName"]
    # notifications off: no action, none enabled (PutMetricAlarm refuses an empty ARN)
    off = Settings(notification_topic="")
    for alarm in [*alarm_definitions(off, ["mug"]), integrity_alarm(off)]:
        assert alarm["ActionsEnabled"] is False and alarm["AlarmActions"] == []
