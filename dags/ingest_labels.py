"""
### ingest_labels — feedback and human review become labelled training data

Runs on `IMAGE_MLOPS_LABEL_INGEST_SCHEDULE` (every 15 minutes), one run at a time:

1. **collect_feedback** — every row of `s3://RAW/feedback/*.csv` (`key,label`) becomes a label
   event in the `label_events` table, once (a file is known by its key and ETag); a row that
   cannot be a label is recorded with its reason (`bad_key`, `empty_label`, `bad_header`).
   Review decisions from the **Review** page (Airflow UI → Image MLOps KPIs → Review) are
   label events already. **emit_feedback** emits the `feedback` Asset when new feedback rows
   were recorded (else *skipped*): `monitor_model` recomputes the KPIs with the new ground
   truth.
2. **ingest** — each pending label is checked (a class we train, an image classification has
   seen), weighed against the image's other labels (review beats feedback and upload; then the
   later label wins; the losers are recorded as `superseded`) and the image is copied, verified,
   into `s3://VALIDATED/labeled/<class>/` with its lineage (source, time, event id).
3. **emit_labeled** — the `validated_labeled_images` Asset, when images were labelled: it
   re-evaluates `retrain_on_drift`'s "waiting for labels" decision.
"""

from __future__ import annotations

import pendulum
from airflow.sdk import dag, task

from image_mlops.assets import FEEDBACK, VALIDATED_LABELED_IMAGES
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args

settings = get_settings()


@dag(
    schedule=settings.label_ingest_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "training", "labels"],
    default_args=default_args(settings),
    doc_md=__doc__,
)
def ingest_labels():
    @task
    def collect_feedback() -> int:
        from image_mlops.labels.feedback import collect

        return collect(get_settings())

    @task(outlets=[FEEDBACK])
    def emit_feedback(new_feedback_rows: int, outlet_events=None) -> int:
        from image_mlops.labels.feedback import emit_if_new

        return emit_if_new(new_feedback_rows, outlet_events[FEEDBACK])

    @task
    def ingest(_new_feedback_rows: int) -> dict:
        from image_mlops.labels.ingest import ingest

        return ingest(get_settings())

    @task(outlets=[VALIDATED_LABELED_IMAGES])
    def emit_labeled(summary: dict, outlet_events=None) -> int:
        from image_mlops.labels.ingest import emit_if_labelled

        return emit_if_labelled(summary, outlet_events[VALIDATED_LABELED_IMAGES])

    new_feedback_rows = collect_feedback()
    emit_feedback(new_feedback_rows)
    emit_labeled(ingest(new_feedback_rows))


ingest_labels()
