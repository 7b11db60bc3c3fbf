"""
### retrain_on_drift — drift alarm → retraining, at most once per cool-down

Every 10 minutes, and whenever labelled images are added (the `validated_labeled_images`
Asset: `ingest_labels` or `validate_images`), one run at a time:

1. **wait_for_drift_alarm** — deferrable `CloudWatchAlarmSensor` on the model's alarms
   (`image-mlops-<model>-*`: true positives low, recall low, PSI high) in state ALARM. It
   reads their state (DescribeAlarms) every `poke_seconds`; CloudWatch evaluates the alarms
   that `monitor_model` defines (locally the emulator does, as CloudWatch does, when metric
   data arrives). A quiet period ends the run as *skipped* after `wait_minutes` (soft fail),
   not as an error.
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

import pendulum
from airflow.providers.standard.operators.trigger_dagrun import TriggerDagRunOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from image_mlops.assets import VALIDATED_LABELED_IMAGES
from image_mlops.cloudwatch.sensors import CloudWatchAlarmSensor
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args
from image_mlops.monitoring.metrics import alarm_prefix
from image_mlops.monitoring.retrain import ACTIVE_STATES, TARGET_DAG_ID

settings = get_settings()


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
    # one retry, not two: the DAG runs every 10 minutes, and the next run decides again
    default_args=default_args(settings, retries=1),
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
        alarm_name_prefix=alarm_prefix(settings.model_name),
        target_state="ALARM",
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.region,
        deferrable=True,
        check_interval="{{ params.poke_seconds }}",
        max_wait="{{ params.wait_minutes * 60 }}",
        soft_fail=True,
        retries=0,  # a retry would only wait again: the next run does
    )

    @task
    def decide(alarm_event: dict, ti=None, run_id=None) -> dict:
        from image_mlops.monitoring.retrain import decide_and_record

        active = ti.get_dr_count(dag_id=TARGET_DAG_ID, states=list(ACTIVE_STATES))
        return decide_and_record(
            get_settings(),
            alarms=(alarm_event or {}).get("alarms", []),
            active_runs=active,
            dag_run_id=run_id,
        ).as_dict()

    @task.short_circuit
    def should_trigger(decision: dict) -> bool:
        return bool(decision["trigger"])

    decision = decide(wait_for_drift_alarm.output)
    trigger_retraining = TriggerDagRunOperator(
        task_id="trigger_retraining",
        trigger_dag_id=TARGET_DAG_ID,
        trigger_run_id=decision["trigger_run_id"],
        conf={"reason": decision["reason"], "drift_since": decision["drift_since"]},
        skip_when_already_exists=True,
        wait_for_completion=False,
    )
    should_trigger(decision) >> trigger_retraining


retrain_on_drift()
