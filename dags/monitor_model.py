"""
### monitor_model — KPIs and drift of the production model in CloudWatch

Runs **hourly and whenever new predictions or feedback land** (Assets `predictions` from
`classify_images`, `feedback` from `ingest_labels` when it recorded new feedback rows). For
the model version serving production (or the `model_version` Param):

1. **compute_and_publish** — joins the `predictions` table with ground truth from
   `s3://<raw>/feedback/*.csv` over the last `window_hours`: per-class true/false positives,
   false negatives, precision, recall, accuracy; plus label-free drift signals (PSI of the
   predicted class mix against the training distribution, KS tests of input statistics
   against the training baseline, mean confidence, uncertain share, validation error rate).
   Publishes them to CloudWatch (namespace `IMAGE_MLOPS_CLOUDWATCH_NAMESPACE`, dimensions
   `Model`, `Class`, `Stat`) with the window end as explicit timestamp.
2. **dashboard_and_alarms** — PutMetricAlarm (TP below `IMAGE_MLOPS_TP_ALARM_THRESHOLD`,
   recall below `IMAGE_MLOPS_RECALL_ALARM_THRESHOLD`, PSI above
   `IMAGE_MLOPS_PSI_ALARM_THRESHOLD`, and the artifact integrity alarm), each with the
   notification topic as its alarm action, and PutDashboard, idempotently; returns the alarms
   in ALARM. CloudWatch evaluates the alarms (locally the emulator does, as CloudWatch does,
   when metric data arrives): this task only reads their state.
3. **write_report** — a self-contained HTML report at
   `s3://<output>/monitoring/reports/<run>.html`.

Nothing to monitor (no production model) → the run is skipped, not failed.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from image_mlops.assets import FEEDBACK, PREDICTIONS
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args

settings = get_settings()


@dag(
    dag_id="monitor_model",
    schedule=AssetOrTimeSchedule(
        timetable=CronTriggerTimetable("@hourly", timezone="UTC"), assets=(PREDICTIONS | FEEDBACK)
    ),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "monitoring"],
    default_args=default_args(settings),
    params={
        "window_hours": Param(24, type="number", minimum=0.01, description="KPI window (hours)."),
        "model_version": Param(
            0, type="integer", minimum=0, description="Version to monitor (0 = production)."
        ),
    },
    doc_md=__doc__,
)
def monitor_model():
    @task
    def compute_and_publish(params=None, run_id=None) -> dict:
        from airflow.sdk.exceptions import AirflowSkipException

        from image_mlops.monitoring.publish import compute_and_publish as run
        from image_mlops.monitoring.sources import NoModelError

        try:
            return run(
                get_settings(),
                window_hours=float(params["window_hours"]),
                model_version=int(params["model_version"]) or None,
                run_id=run_id,
            )
        except NoModelError as exc:
            raise AirflowSkipException(str(exc)) from exc

    @task
    def dashboard_and_alarms(summary: dict) -> dict:
        from image_mlops.monitoring.publish import update_dashboard_and_alarms

        return update_dashboard_and_alarms(get_settings(), summary["classes"])

    @task
    def write_report(summary: dict, alarms: dict, run_id=None) -> str:
        from image_mlops.monitoring.report import write_report as write

        return write(get_settings(), summary, alarms, run_id)

    summary = compute_and_publish()
    write_report(summary, dashboard_and_alarms(summary))


monitor_model()
