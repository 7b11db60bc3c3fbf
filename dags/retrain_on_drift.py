"""
### retrain_on_drift — drift alarm → retraining, at most once per cool-down

Every 10 minutes, and whenever labelled images are added (the `validated_labeled_images`
Asset: `ingest_labels` or `validate_images`), one run at a time:

1. **wait_for_drift_alarm** — deferrable `CloudWatchAlarmSensor` on the model's alarms
   (`image-mlops-<model>-*`: true positives low, recall low, PSI high) in state ALARM.
   On AWS the alarms' real state is read; locally the sensor evaluates each alarm's own
   definition against the metric data. A quiet period ends the run as *skipped* after
   `wait_minutes` (soft fail), not as an error.
2. **decide** — the guards, each decision logged and stored with its reason in the
   `retrain_decisions` table: at most one `train_and_register` run queued/running, a
   cool-down of `IMAGE_MLOPS_RETRAIN_COOLDOWN_MINUTES` since the last drift retraining
   (this also prevents a retrain storm while an alarm stays in ALARM), and at least
   `IMAGE_MLOPS_DRIFT_RETRAIN_MIN_NEW_LABELS` labels recorded after the latest registered
   model's data snapshot — otherwise the decision is **wait** ("waiting for labels", shown on
   the KPI page) and the next labels Asset event takes it again.
3. **trigger_retraining** — `TriggerDagRunOperator` → `train_and_register` with
   `conf={"reason": ..., "drift_since": ...}` (when the drift episode began: the retraining
   is compared on the labels recorded since then) and a deterministic run id per cool-down slot
   (`drift_retrain__<slot start>`), so a repeated trigger in the same slot is a no-op.
"""

from __future__ import annotations

import datetime as dt

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import Param, dag, get_current_context, task
from airflow.timetables.assets import AssetOrTimeSchedule
from airflow.timetables.trigger import CronTriggerTimetable

from image_mlops.assets import VALIDATED_LABELED_IMAGES
from image_mlops.cloudwatch.sensors import CloudWatchAlarmSensor
from image_mlops.config import get_settings
from image_mlops.monitoring.metrics import alarm_prefix
from image_mlops.monitoring.retrain import ACTIVE_STATES, TARGET_DAG_ID

_settings = get_settings()


@dag(
    dag_id="retrain_on_drift",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("*/10 * * * *", timezone="UTC"),
        assets=VALIDATED_LABELED_IMAGES,
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "monitoring", "training"],
    default_args={"owner": "image-mlops", "retries": 1, "retry_delay": dt.timedelta(minutes=1)},
    params={
        "poke_seconds": Param(60, type="integer", minimum=1, description="Alarm check interval."),
        "wait_minutes": Param(
            9, type="number", minimum=0, description="Give up (skip) after this long without alarm."
        ),
    },
    render_template_as_native_obj=True,
    doc_md=__doc__,
)
def retrain_on_drift():
    wait_for_drift_alarm = CloudWatchAlarmSensor(
        task_id="wait_for_drift_alarm",
        alarm_name_prefix=alarm_prefix(_settings.model_name),
        target_state="ALARM",
        aws_conn_id=_settings.aws_conn_id,
        region_name=_settings.region,
        deferrable=True,
        check_interval="{{ params.poke_seconds }}",
        max_wait="{{ params.wait_minutes * 60 }}",
        soft_fail=True,
        retries=0,
    )

    @task
    def decide(alarm_event: dict) -> dict:
        from image_mlops.monitoring.retrain import decide_and_record

        context = get_current_context()
        active = context["ti"].get_dr_count(dag_id=TARGET_DAG_ID, states=list(ACTIVE_STATES))
        return decide_and_record(
            get_settings(),
            alarms=(alarm_event or {}).get("alarms", []),
            active_runs=active,
            dag_run_id=context["run_id"],
        ).as_dict()

    @task.short_circuit
    def should_trigger(decision: dict) -> bool:
        return bool(decision["trigger"])

    trigger_retraining = TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id=TARGET_DAG_ID,
        trigger_run_id="{{ ti.xcom_pull(task_ids='decide')['trigger_run_id'] }}",
        conf={
            "reason": "{{ ti.xcom_pull(task_ids='decide')['reason'] }}",
            "drift_since": "{{ ti.xcom_pull(task_ids='decide')['drift_since'] }}",
        },
        skip_when_already_exists=True,
        wait_for_completion=False,
    )

    decision = decide(wait_for_drift_alarm.output)
    should_trigger(decision) >> trigger_retraining


retrain_on_drift()
