"""Stage 6 on the local stack: healthy model → drift → alarm → exactly one retraining.

Predictions rows are inserted directly (the classification room's table contract) with the
input statistics of real demo images (normal, then ``shifted=True``); feedback CSVs go to
S3; the real DAGs ``monitor_model`` and ``retrain_on_drift`` run with ``dag.test()``.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import random

import pytest
from conftest import ADMIN_CONN, ROOT, delete_labelled, run_dag, wait_for_alarm_evaluation

from image_mlops.cloudwatch.conditions import ALARM, alarm_states
from image_mlops.monitoring import metrics as m
from image_mlops.monitoring.publish import metrics_hook

pytestmark = pytest.mark.stack

VERSION = 4242  # a version of its own: other tests' rows are left alone
PER_CLASS = 6
TARGET = "train_and_register"


def _stats(label: str, rng: random.Random, shifted: bool) -> dict:
    from image_mlops.image_stats import input_stats
    from image_mlops_dev.demo_data import draw_image

    return input_stats(draw_image(label, rng, shifted=shifted))


def _pg(settings):
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=settings.mlops_conn_id)


@pytest.fixture(scope="module")
def world(local_stack, airflow_db):
    """Predictions table, training baseline for VERSION, a namespace of its own."""
    import uuid

    from image_mlops.config import get_settings
    from image_mlops.monitoring.sources import baseline_uri_for
    from image_mlops_dev.demo_data import CLASSES

    patch = pytest.MonkeyPatch()
    # metrics of other tests in the same session must not move these alarms
    patch.setenv("IMAGE_MLOPS_CLOUDWATCH_NAMESPACE", f"ScenarioTest{uuid.uuid4().hex[:6]}")
    # which the worker role may not write to (its policy names the stack's namespace): these
    # runs connect with the bootstrap key; the worker's own monitoring runs are the e2e test's
    patch.setenv("AIRFLOW_CONN_AWS_DEFAULT", os.environ[f"AIRFLOW_CONN_{ADMIN_CONN.upper()}"])
    # input drift from these predictions' statistics, not from what other tests' invocations
    # of the production endpoint captured (that path: test_emulator_guardrails)
    patch.setenv("IMAGE_MLOPS_DATA_CAPTURE_PERCENT", "0")
    settings = get_settings()
    hook = _pg(settings)
    hook.run((ROOT / "plugins/image_mlops/include/sql/mlops/predictions.sql").read_text())
    hook.run("DELETE FROM predictions WHERE model_version = %s", parameters=(VERSION,))
    hook.run("DROP TABLE IF EXISTS retrain_decisions")
    # this model's alarms, as other modules left them: CloudWatch's alarms stay, and putting
    # one again keeps its state (as on AWS), so one left in ALARM would still be in ALARM when
    # the healthy run reports; the story starts from none
    cloudwatch = metrics_hook(settings).conn
    left = [
        alarm["AlarmName"]
        for page in cloudwatch.get_paginator("describe_alarms").paginate(
            AlarmNamePrefix=m.alarm_prefix(settings.model_name)
        )
        for alarm in page["MetricAlarms"] + page.get("CompositeAlarms", [])
    ]
    for start in range(0, len(left), 100):  # DeleteAlarms takes 100 names at most
        cloudwatch.delete_alarms(AlarmNames=left[start : start + 100])
    rng = random.Random("baseline")
    stats = [_stats(c, rng, False) for c in CLASSES for _ in range(PER_CLASS)]
    baseline = {
        "classes": list(CLASSES),
        "class_distribution": {c: 1 / len(CLASSES) for c in CLASSES},
        "input_stats": {k: [s[k] for s in stats] for k in stats[0]},
    }
    uri = baseline_uri_for(settings, VERSION)
    bucket, key = uri.removeprefix("s3://").split("/", 1)
    from image_mlops.aws import aws_client

    # registered version folders are write-once: the fixture replaces its file as an admin
    s3 = aws_client("s3", settings)
    s3.delete_object(Bucket=bucket, Key=key)
    s3.put_object(Bucket=bucket, Key=key, Body=json.dumps(baseline).encode(), IfNoneMatch="*")
    yield settings, list(CLASSES)
    patch.undo()


def _no_decisions(settings) -> None:
    """An empty ``retrain_decisions`` table, whether or not an earlier test of the module got
    as far as creating it (the first retrain_on_drift run does)."""
    from image_mlops.monitoring.sources import sql

    _pg(settings).run(sql("retrain_decisions"))
    _pg(settings).run("DELETE FROM retrain_decisions")


def _insert(settings, classes, *, shifted: bool, at: dt.datetime, tag: str) -> None:
    """PER_CLASS predictions per class; when shifted, every mug is predicted as a bottle."""
    rng = random.Random(tag)
    rows, feedback = [], ["key,label"]
    for cls in classes:
        for i in range(PER_CLASS):
            key = f"incoming/{tag}-{cls}-{i}.jpg"
            predicted = "bottle" if shifted and cls == "mug" else cls
            rows.append(
                (
                    hashlib.sha256(key.encode()).hexdigest(),
                    VERSION,
                    "arn:aws:sagemaker:us-east-1:123456789012:model-package/x/1",
                    settings.endpoint_name("production"),
                    key,
                    predicted,
                    0.55 if shifted else 0.93,
                    shifted,
                    "test-run",
                    at,
                    json.dumps(_stats(cls, rng, shifted)),
                )
            )
            feedback.append(f"{key},{cls}")
    _pg(settings).insert_rows(
        "predictions",
        rows,
        target_fields=[
            "image_sha256",
            "model_version",
            "model_package_arn",
            "endpoint_name",
            "source_key",
            "predicted_class",
            "confidence",
            "uncertain",
            "run_id",
            "predicted_at",
            "input_stats",
        ],
    )
    from image_mlops.aws import s3_hook

    s3_hook(settings).load_string(
        "\n".join(feedback) + "\n", f"feedback/{tag}.csv", settings.raw_bucket, replace=True
    )


def _target_runs(prefix: str = "drift_retrain__"):
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        return [
            (r.run_id, r.state, r.conf)
            for r in session.query(DagRun).filter(DagRun.dag_id == TARGET)
            if r.run_id.startswith(prefix)
        ]


def _finish_target_runs() -> None:
    from airflow.models.dagrun import DagRun
    from airflow.utils.session import create_session

    with create_session() as session:
        session.query(DagRun).filter(
            DagRun.dag_id == TARGET, DagRun.state.in_(["queued", "running"])
        ).update({"state": "failed"}, synchronize_session=False)


def uuid4_hex() -> str:
    import uuid

    return uuid.uuid4().hex[:8]


def _png(seed: int) -> bytes:
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (40, 40), (seed * 40, 90, 200)).save(out, "PNG")
    return out.getvalue()


def _retrain(dag_bag):
    return run_dag(dag_bag, "retrain_on_drift", conf={"poke_seconds": 1, "wait_minutes": 0.05})


def test_healthy_then_drift_triggers_exactly_one_retraining(
    world, dag_bag, aws, test_output, notification_inbox
):
    settings, classes = world
    hook = metrics_hook(settings)
    prefix = m.alarm_prefix(settings.model_name)
    now = dt.datetime.now(dt.UTC)

    # --- a healthy model: metrics published, alarms created, none in ALARM -------------------
    _insert(settings, classes, shifted=False, at=now - dt.timedelta(hours=2), tag="healthy")
    run = run_dag(dag_bag, "monitor_model", conf={"model_version": VERSION, "window_hours": 24})
    assert run.state == "success"
    summary = run.get_task_instance("compute_and_publish").xcom_pull(task_ids="compute_and_publish")
    assert summary["kpis"]["labeled"] == PER_CLASS * len(classes)
    assert summary["kpis"]["accuracy"] == 1.0
    assert summary["psi"] < settings.psi_alarm_threshold
    tp = hook.get_metric_data(
        [
            {
                "Id": "tp",
                "MetricStat": {
                    "Metric": {
                        "Namespace": settings.cloudwatch_namespace,
                        "MetricName": m.TRUE_POSITIVES,
                        "Dimensions": m.dimensions(settings.model_name, "mug"),
                    },
                    "Period": 3600,
                    "Stat": "Minimum",
                },
            }
        ],
        now - dt.timedelta(hours=1),
        now + dt.timedelta(minutes=5),
    )
    assert [v for _, v in tp["tp"]] == [float(PER_CLASS)]
    alarms = hook.describe_alarms(alarm_name_prefix=prefix)
    assert len(alarms) == 2 * len(classes) + 1
    wait_for_alarm_evaluation()  # the emulator evaluates, as CloudWatch does
    healthy_states = alarm_states(hook, alarm_name_prefix=prefix)
    assert [s for s in healthy_states if s["state"] == ALARM] == []
    assert hook.get_dashboard(m.dashboard_name(settings.model_name))["widgets"]
    report_uri = run.get_task_instance("write_report").xcom_pull(task_ids="write_report")
    report_key = report_uri.split("/", 3)[3]
    html = aws.s3.get_object(Bucket=settings.output_bucket, Key=report_key)["Body"].read().decode()
    assert 'data-class="mug"' in html and "No alarm in ALARM state" in html
    (test_output / "monitoring_report_healthy.html").write_text(html)

    assert TARGET in dag_bag.dags, f"the trigger target {TARGET} must be in dags/"
    quiet = _retrain(dag_bag)
    assert quiet.get_task_instance("wait_for_drift_alarm").state == "skipped"
    assert _target_runs() == []

    # --- drift: darker images, mugs predicted as bottles --------------------------------------
    _insert(settings, classes, shifted=True, at=dt.datetime.now(dt.UTC), tag="drift")
    run = run_dag(dag_bag, "monitor_model", conf={"model_version": VERSION, "window_hours": 1})
    assert run.state == "success"
    summary = run.get_task_instance("compute_and_publish").xcom_pull(task_ids="compute_and_publish")
    mug = summary["kpis"]["per_class"]["mug"]
    assert mug["tp"] == 0 and mug["recall"] == 0.0
    assert summary["psi"] > settings.psi_alarm_threshold
    brightness = next(d for d in summary["input_drift"] if d["stat"] == "brightness")
    assert brightness["pvalue"] < 0.01
    wait_for_alarm_evaluation()
    in_alarm = {
        s["name"] for s in alarm_states(hook, alarm_name_prefix=prefix) if s["state"] == ALARM
    }
    assert m.alarm_name(settings.model_name, "tp-low", "mug") in in_alarm
    assert m.alarm_name(settings.model_name, "recall-low", "mug") in in_alarm
    assert m.alarm_name(settings.model_name, "tp-low", "book") not in in_alarm
    # the state is the alarm's own (DescribeAlarms), as on AWS
    described = {
        a["AlarmName"]: a["StateValue"] for a in hook.describe_alarms(alarm_name_prefix=prefix)
    }
    assert described[m.alarm_name(settings.model_name, "tp-low", "mug")] == ALARM

    # runs of train_and_register left queued by other tests would (rightly) block retraining
    _finish_target_runs()

    # --- the alarm is real, but no new label yet: the decision waits -------------------------
    from image_mlops.training.steps import new_labels

    have = new_labels(settings)["total"]  # labelled images other tests left behind
    patch = pytest.MonkeyPatch()
    patch.setenv("IMAGE_MLOPS_DRIFT_RETRAIN_MIN_NEW_LABELS", str(have + 3))
    try:
        waiting = _retrain(dag_bag)
        assert waiting.get_task_instance("trigger_retraining").state == "skipped"
        decision = waiting.get_task_instance("decide").xcom_pull(task_ids="decide")
        assert decision["waiting"] is True and decision["trigger"] is False
        assert f"waiting for labels: {have} of {have + 3}" in decision["reason"]
        # the drift episode began when the alarms moved to ALARM
        from image_mlops.monitoring.alarms import drift_alarm_since

        episode = decision["drift_since"]
        assert episode == drift_alarm_since(settings).isoformat()
        assert _target_runs() == []
        from image_mlops.monitoring.retrain import recent_decisions

        assert recent_decisions(settings, limit=1)[0]["decision"] == "wait"
        # people are told: the alarm fired (CloudWatch's alarm action), the episode began,
        # and the retraining waits for labels
        notes = notification_inbox()
        events = [n["event"] for n in notes if n["event"]]
        assert events == ["drift_alarm", "waiting_for_labels"], events
        fired = {n["alarm"] for n in notes if n["alarm"]}
        assert any(name.endswith("tp-low-mug") for name in fired), fired
        _retrain(dag_bag)  # the same wait again tells nobody again
        assert _pipeline_events(notification_inbox()) == []

        # --- three labels of the drifted mugs arrive: the same alarm now retrains ------------
        for i in range(3):
            aws.s3.put_object(
                Bucket=settings.validated_bucket,
                Key=f"labeled/mug/scenario-drift-{uuid4_hex()}-{i}.png",
                Body=_png(i),
            )
        first = _retrain(dag_bag)
    finally:
        patch.undo()
        delete_labelled(settings, "scenario-drift-")
    assert first.get_task_instance("trigger_retraining").state == "success"
    runs = _target_runs()
    assert len(runs) == 1
    assert "tp-low-mug" in runs[0][2]["reason"]
    assert f"{have + 3} new labels (" in runs[0][2]["reason"]
    assert runs[0][2]["drift_since"] == episode  # the retraining's recent window starts there
    [started] = _pipeline_events(notification_inbox())
    assert started["event"] == "retraining_started"
    assert runs[0][0] in started["subject"] and "tp-low-mug" in started["message"]

    # --- a second evaluation inside the cool-down starts none ---------------------------------
    # (the first retraining is made finished so the cool-down, not the active-run guard, decides)
    _finish_target_runs()
    second = _retrain(dag_bag)
    assert second.get_task_instance("trigger_retraining").state == "skipped"
    decision = second.get_task_instance("decide").xcom_pull(task_ids="decide")
    assert decision["trigger"] is False and "cool-down" in decision["reason"]
    assert len(_target_runs()) == 1
    assert _pipeline_events(notification_inbox()) == []  # a skip in the same episode: no news


def _pipeline_events(notes: list[dict]) -> list[dict]:
    """The pipeline's notifications (CloudWatch's alarm messages left out: another alarm of
    the model may fire meanwhile)."""
    return [n for n in notes if n["event"]]


def test_a_retried_monitoring_pass_publishes_once(world):
    """CloudWatch has no idempotency token: a retry of the same run must not add its data."""
    import dataclasses
    import uuid

    from image_mlops.monitoring.publish import compute_and_publish

    settings, _classes = world
    # a namespace of its own: the scenario's monitor_model runs published there already
    settings = dataclasses.replace(settings, cloudwatch_namespace=f"Once{uuid.uuid4().hex[:8]}")
    hook = metrics_hook(settings)
    start = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)
    first = compute_and_publish(
        settings, window_hours=24, model_version=VERSION, run_id="manual__retried-pass"
    )
    retry = compute_and_publish(
        settings, window_hours=24, model_version=VERSION, run_id="manual__retried-pass"
    )
    assert first["published"] is True and retry["published"] is False
    query = {
        "Id": "n",
        "MetricStat": {
            "Metric": {
                "Namespace": settings.cloudwatch_namespace,
                "MetricName": m.MODEL_VERSION,
                "Dimensions": m.dimensions(settings.model_name),
            },
            "Period": 3600,
            "Stat": "SampleCount",
        },
    }
    counted = hook.get_metric_data(
        [query], start, dt.datetime.now(dt.UTC) + dt.timedelta(minutes=1)
    )
    assert sum(v for _, v in counted["n"]) == 1.0


def test_a_cleared_decision_carries_out_its_retraining(world):
    """A retried decide of a run that chose to retrain returns that choice (its own row is
    not a cool-down), and the next run is held by the cool-down as before."""
    import dataclasses

    from image_mlops.monitoring.retrain import decide_and_record

    settings, _classes = world
    # this is about the decision's own row, not the labels: do not wait for them
    settings = dataclasses.replace(settings, drift_retrain_min_new_labels=0)
    _no_decisions(settings)
    alarms = [m.alarm_name(settings.model_name, "tp-low", "mug")]
    first = decide_and_record(settings, alarms=alarms, active_runs=0, dag_run_id="run-x")
    again = decide_and_record(settings, alarms=alarms, active_runs=0, dag_run_id="run-x")
    other = decide_and_record(settings, alarms=alarms, active_runs=0, dag_run_id="run-y")
    assert first.trigger and again.trigger
    assert again.trigger_run_id == first.trigger_run_id and again.reason == first.reason
    assert not other.trigger and other.reason.startswith("cool-down")
    rows = _pg(settings).get_records(
        "SELECT dag_run_id, decision FROM retrain_decisions ORDER BY id"
    )
    assert [tuple(r) for r in rows] == [("run-x", "trigger"), ("run-y", "skip")]


def test_a_retraining_is_compared_from_where_its_drift_episode_began(world):
    """The alarms in ALARM may change while a drift waits (input drift clears, the recall
    alarms that the new labels reveal fire): the retraining's window still starts where its
    episode began, and the next episode begins after that retraining."""
    import dataclasses
    import time
    import uuid

    from image_mlops.monitoring.alarms import drift_alarm_since
    from image_mlops.monitoring.retrain import decide_and_record

    settings, _classes = world
    # alarms of a model of their own, on a metric without data and ignoring missing data: the
    # emulator's evaluator keeps whatever state they are set to
    settings = dataclasses.replace(
        settings, model_name=f"episode-{uuid.uuid4().hex[:6]}", drift_retrain_min_new_labels=0
    )
    hook = metrics_hook(settings)
    psi, recall = (m.alarm_name(settings.model_name, k) for k in ("psi-high", "recall-low-mug"))
    for name in (psi, recall):
        hook.put_metric_alarm(
            AlarmName=name,
            Namespace=settings.cloudwatch_namespace,
            MetricName="NoDataHere",
            Statistic="Maximum",
            Period=60,
            EvaluationPeriods=1,
            Threshold=1.0,
            ComparisonOperator="GreaterThanThreshold",
            TreatMissingData="ignore",
        )

    def move(name: str, state: str) -> dt.datetime:
        hook.set_alarm_state(name, state, "test")
        time.sleep(1.1)  # the next state change is in a later second
        return drift_alarm_since(settings)

    _no_decisions(settings)
    try:
        began = move(psi, ALARM)
        held = decide_and_record(settings, alarms=[psi], active_runs=1, dag_run_id="run-held")
        assert held.outcome == "skip" and held.drift_since == began.isoformat()
        move(recall, ALARM)
        moved = move(psi, "OK")  # only the recall alarm, which moved after the decision
        assert moved > began
        go = decide_and_record(settings, alarms=[recall], active_runs=0, dag_run_id="run-go")
        assert go.trigger and go.drift_since == began.isoformat()
        # a retried decide carries out its own retraining, with its own episode
        again = decide_and_record(settings, alarms=[recall], active_runs=0, dag_run_id="run-go")
        assert again.trigger_run_id == go.trigger_run_id and again.drift_since == go.drift_since
        # after the retraining a new episode begins, at the alarms in ALARM then
        after = decide_and_record(settings, alarms=[recall], active_runs=0, dag_run_id="run-after")
        assert after.outcome == "skip" and "cool-down" in after.reason
        assert after.drift_since == moved.isoformat()
    finally:
        hook.conn.delete_alarms(AlarmNames=[psi, recall])
        _pg(settings).run("DELETE FROM retrain_decisions")
