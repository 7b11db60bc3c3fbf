"""The CloudWatch hook, sensors and triggers against the emulator.

Each test writes metrics and alarms of a namespace of its own, which the worker role may not
(its policy names the stack's namespace and alarms): they connect with the bootstrap key
(``ADMIN_CONN``); what the worker may do is test_monitoring_scenario's and the DAG tests'."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
import time
import uuid

import pytest
from conftest import ADMIN_CONN, wait_for_alarm_states

from image_mlops.cloudwatch.conditions import ALARM, INSUFFICIENT_DATA, OK, alarm_states
from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook
from image_mlops.cloudwatch.sensors import CloudWatchAlarmSensor, CloudWatchMetricSensor
from image_mlops.cloudwatch.triggers import CloudWatchAlarmTrigger, CloudWatchMetricTrigger

pytestmark = pytest.mark.stack


@pytest.fixture
def ns(local_stack):
    return f"Test{uuid.uuid4().hex[:8]}"


@pytest.fixture
def hook(local_stack):
    return CloudWatchMetricsHook(aws_conn_id=ADMIN_CONN, region_name="us-east-1")


def _put(hook, ns, name, values, *, minutes_ago=1):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    hook.put_metric_data(
        ns,
        [
            {"MetricName": name, "Value": v, "Timestamp": now - dt.timedelta(minutes=minutes_ago)}
            for v in values
        ],
    )


def test_put_metric_data_batches_by_1000_and_reads_back(hook, ns):
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    data = [
        {"MetricName": "Load", "Value": 1.0, "Timestamp": now - dt.timedelta(seconds=i % 600)}
        for i in range(2100)
    ]
    assert hook.put_metric_data(ns, data) == 3
    query = {
        "Id": "load",
        "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": "Load"},
            "Period": 3600,
            "Stat": "SampleCount",
        },
    }
    result = hook.get_metric_data(
        [query], now - dt.timedelta(minutes=30), now + dt.timedelta(minutes=1)
    )
    assert sum(v for _, v in result["load"]) == 2100


def _alarm(hook, ns, name, threshold, op="LessThanThreshold", missing="missing"):
    hook.put_metric_alarm(
        AlarmName=name,
        Namespace=ns,
        MetricName="Recall",
        Statistic="Minimum",
        Period=600,
        EvaluationPeriods=1,
        DatapointsToAlarm=1,
        ComparisonOperator=op,
        Threshold=threshold,
        TreatMissingData=missing,
    )


def test_alarm_definition_is_evaluated_against_metric_data(hook, ns):
    _put(hook, ns, "Recall", [0.9, 0.4])
    _alarm(hook, ns, f"{ns}-low", 0.5)
    _alarm(hook, ns, f"{ns}-very-low", 0.1)
    _alarm(hook, ns, f"{ns}-empty", 0.5, missing="breaching")
    hook.put_metric_alarm(  # a metric that never got data
        AlarmName=f"{ns}-empty",
        Namespace=ns,
        MetricName="Nothing",
        Statistic="Minimum",
        Period=600,
        EvaluationPeriods=1,
        ComparisonOperator="LessThanThreshold",
        Threshold=0.5,
        TreatMissingData="breaching",
    )
    # the emulator evaluates each alarm's definition against its data, as CloudWatch does
    expected = {f"{ns}-low": ALARM, f"{ns}-very-low": OK, f"{ns}-empty": ALARM}
    alarms = wait_for_alarm_states(hook, expected)
    assert "values [0.4]" in alarms[f"{ns}-low"]["StateReason"]
    assert {s["name"]: s["state"] for s in alarm_states(hook, alarm_name_prefix=ns)} == expected


def test_new_data_moves_an_alarm_back(hook, ns):
    _alarm(hook, ns, f"{ns}-back", 0.5)
    wait_for_alarm_states(hook, {f"{ns}-back": INSUFFICIENT_DATA})
    _put(hook, ns, "Recall", [0.2], minutes_ago=0)
    wait_for_alarm_states(hook, {f"{ns}-back": ALARM})
    hook.conn.put_metric_alarm(  # a redefined alarm is evaluated again at once
        AlarmName=f"{ns}-back",
        Namespace=ns,
        MetricName="Recall",
        Statistic="Minimum",
        Period=600,
        EvaluationPeriods=1,
        ComparisonOperator="LessThanThreshold",
        Threshold=0.1,
    )
    wait_for_alarm_states(hook, {f"{ns}-back": OK})


def test_a_point_published_in_the_same_second_is_evaluated(hook, ns):
    from image_mlops_dev.emulator.cloudwatch.alarms import evaluate_alarm

    stamp = dt.datetime.now(dt.UTC).replace(microsecond=0)
    hook.put_metric_data(ns, [{"MetricName": "Recall", "Value": 0.2, "Timestamp": stamp}])
    _alarm(hook, ns, f"{ns}-low", 0.5)
    alarm = hook.describe_alarms(alarm_names=[f"{ns}-low"])[0]
    evaluation = evaluate_alarm(hook.conn, alarm, now=stamp + dt.timedelta(milliseconds=400))
    assert evaluation.state == ALARM, evaluation.reason


def test_alarm_sensor_poke_and_trigger(hook, ns):
    _put(hook, ns, "Recall", [0.3])
    _alarm(hook, ns, f"{ns}-a", 0.5)
    wait_for_alarm_states(hook, {f"{ns}-a": ALARM})
    sensor = CloudWatchAlarmSensor(task_id="s", alarm_name_prefix=ns)
    assert sensor.poke({}) is True
    quiet = CloudWatchAlarmSensor(task_id="q", alarm_names=[f"{ns}-a"], target_state="OK")
    assert quiet.poke({}) is False

    def trigger(state, deadline):
        return CloudWatchAlarmTrigger(
            alarm_names=None,
            alarm_name_prefix=ns,
            target_state=state,
            require_all=False,
            poke_interval=0.2,
            deadline=deadline,
            aws_conn_id=ADMIN_CONN,
            region_name="us-east-1",
        )

    async def first_event(t):
        async for event in t.run():
            return event.payload

    fired = asyncio.run(first_event(trigger("ALARM", time.time() + 30)))
    assert fired["status"] == "success" and fired["alarms"] == [f"{ns}-a"]
    timed_out = asyncio.run(first_event(trigger("OK", time.time() + 0.5)))
    assert timed_out["status"] == "timeout" and timed_out["attempts"] >= 1
    # the trigger survives serialisation (the triggerer rebuilds it from these kwargs)
    path, kwargs = trigger("ALARM", 0).serialize()
    assert path == "image_mlops.cloudwatch.triggers.CloudWatchAlarmTrigger"
    assert CloudWatchAlarmTrigger(**kwargs).serialize() == (path, kwargs)


def test_metric_sensor_with_metric_and_expression(hook, ns):
    _put(hook, ns, "Errors", [7.0])
    sensor = CloudWatchMetricSensor(
        task_id="m",
        namespace=ns,
        metric_name="Errors",
        statistic="Sum",
        comparison_operator=">=",
        threshold=5,
        period=600,
        evaluation_periods=1,
    )
    assert sensor.poke({}) is True
    high = CloudWatchMetricSensor(
        task_id="h",
        namespace=ns,
        metric_name="Errors",
        statistic="Sum",
        comparison_operator=">=",
        threshold=50,
        period=600,
        evaluation_periods=1,
    )
    assert high.poke({}) is False
    # a metric-math query (the emulator evaluates id references only; AWS evaluates all)
    expr = CloudWatchMetricSensor(
        task_id="e",
        expression="errors",
        metric_queries=[
            {
                "Id": "errors",
                "MetricStat": {
                    "Metric": {"Namespace": ns, "MetricName": "Errors"},
                    "Period": 600,
                    "Stat": "Sum",
                },
            }
        ],
        comparison_operator=">",
        threshold=1,
        period=600,
    )
    assert expr.poke({}) is True
    trigger = CloudWatchMetricTrigger(
        condition=sensor.condition(),
        poke_interval=0.2,
        deadline=time.time() + 10,
        aws_conn_id=ADMIN_CONN,
        region_name="us-east-1",
    )

    async def first_event():
        async for event in trigger.run():
            return event.payload

    assert asyncio.run(first_event())["status"] == "success"


def test_deferrable_alarm_sensor_defers_and_soft_fails_on_timeout(hook, ns):
    from airflow.providers.common.compat.sdk import AirflowSkipException, TaskDeferred

    _put(hook, ns, "Recall", [0.9])
    _alarm(hook, ns, f"{ns}-ok", 0.5)
    wait_for_alarm_states(hook, {f"{ns}-ok": OK})
    sensor = CloudWatchAlarmSensor(
        task_id="d",
        alarm_name_prefix=ns,
        deferrable=True,
        check_interval="2",
        max_wait="30",
        soft_fail=True,
    )
    assert {"alarm_name_prefix", "check_interval", "max_wait"} <= set(sensor.template_fields)
    with pytest.raises(TaskDeferred) as deferred:
        sensor.execute({})
    trigger = deferred.value.trigger
    assert isinstance(trigger, CloudWatchAlarmTrigger) and trigger.poke_interval == 2.0
    assert deferred.value.method_name == "execute_complete"
    with pytest.raises(AirflowSkipException, match="not met within 30s"):
        sensor.execute_complete({}, {"status": "timeout", "attempts": 3})
    assert sensor.execute_complete({}, {"status": "success", "alarms": ["x"]}) == {"alarms": ["x"]}


def test_validation_error_rate_from_validation_results(hook, settings, ns):
    import dataclasses

    settings = dataclasses.replace(settings, cloudwatch_namespace=ns, aws_conn_id=ADMIN_CONN)
    from image_mlops.monitoring.publish import validation_error_rate

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    start = now - dt.timedelta(hours=1)
    assert validation_error_rate(hook, settings, start, now) is None
    # Exactly what validate_images publishes (its own function): 90 validated, 10 quarantined.
    from image_mlops.validation.pipeline import metric_data

    summary = {"validated": 90, "by_reason": {"corrupt": 6, "too_small": 4}}
    hook.put_metric_data(
        settings.cloudwatch_namespace, metric_data(summary, now - dt.timedelta(minutes=5))
    )
    assert validation_error_rate(hook, settings, start, now) == pytest.approx(0.1)


def test_cli_alarms_shows_evaluated_states(hook, ns, settings, capsys):
    from image_mlops.cli import main
    from image_mlops.monitoring.metrics import alarm_prefix

    _put(hook, ns, "Recall", [0.2])
    _alarm(hook, ns, f"{alarm_prefix(settings.model_name)}cli-{ns}", 0.5)
    wait_for_alarm_states(hook, {f"{alarm_prefix(settings.model_name)}cli-{ns}": ALARM})
    assert main(["alarms", "--json"]) == 3
    lines = [line for line in capsys.readouterr().out.splitlines() if line.startswith("{")]
    rows = {r["name"]: r for r in map(json.loads, lines)}
    assert rows[f"{alarm_prefix(settings.model_name)}cli-{ns}"]["state"] == "ALARM"
    hook.conn.delete_alarms(AlarmNames=[f"{alarm_prefix(settings.model_name)}cli-{ns}"])


def test_get_metric_data_keeps_namespaces_apart(hook, ns):
    """Same metric name and dimensions in two namespaces (the emulator used to mix them)."""
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    dims = [{"Name": "Model", "Value": "m"}]
    for namespace, value in ((ns, 1.0), (f"{ns}Other", 100.0)):
        hook.put_metric_data(
            namespace,
            [
                {
                    "MetricName": "Recall",
                    "Dimensions": dims,
                    "Value": value,
                    "Timestamp": now - dt.timedelta(minutes=1),
                }
            ],
        )
    query = {
        "Id": "r",
        "MetricStat": {
            "Metric": {"Namespace": ns, "MetricName": "Recall", "Dimensions": dims},
            "Period": 600,
            "Stat": "Maximum",
        },
    }
    data = hook.get_metric_data([query], now - dt.timedelta(minutes=10), now)
    assert [v for _, v in data["r"]] == [1.0]


def test_alarm_sensor_in_poke_mode_returns_the_matching_alarms(hook, ns):
    _put(hook, ns, "Recall", [0.1])
    _alarm(hook, ns, f"{ns}-p", 0.5)
    sensor = CloudWatchAlarmSensor(  # pokes until the emulator has evaluated the alarm
        task_id="p",
        alarm_names=[f"{ns}-p"],
        deferrable=False,
        poke_interval=1,
        timeout=20,
    )
    result = sensor.execute({})
    assert result["alarms"] == [f"{ns}-p"] and result["states"][0]["state"] == ALARM
