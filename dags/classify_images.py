"""
### classify_images — put every new product image into its class folder

Runs when validated incoming images arrive (`validated_incoming_images`), when a new model
goes to production (`production_model`), or on demand.

1. **find_production_model** — the model version on the production endpoint. None yet →
   the run stops here with a clear message and classifies nothing (tasks *skipped*).
2. **plan_batches** — validated incoming images this model version has not classified
   (the listing's key and ETag against the object versions it read, `prediction_sources`;
   no request per image), written as batch manifests to S3
   (`IMAGE_MLOPS_CLASSIFY_BATCH_SIZE` images each, or the `batch_size` Param).
3. **choose_route** — the batches call the endpoint; runs larger than
   `IMAGE_MLOPS_BATCH_TRANSFORM_THRESHOLD` use one Batch Transform job instead:
   **transform_request** writes the batches as JSON-lines requests and checks the model's
   artifact, and **batch_transform** (the Amazon provider's `SageMakerTransformOperator`,
   deferrable) runs the job — on AWS, and locally on the emulator. On the endpoint route
   both are *skipped*.
4. **classify_batch** (one mapped task per batch) — read, input statistics, predict, copy to
   `s3://OUTPUT/predictions/<class>/<name>` or `predictions/_uncertain/<name>` (top
   confidence below `IMAGE_MLOPS_CONFIDENCE_THRESHOLD`), upsert rows in `predictions`.
   Content is known by its sha256: bytes this model version classified under another key
   are not classified again. Unreadable images are recorded with a reason.
5. **write_run_manifest** — `predictions/_manifests/<run>.jsonl`; emits `predictions`.

Idempotent: a rerun creates no duplicate file or row; a new model version adds rows and
moves images whose class changed (copy → verify → delete).
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTransformOperator
from airflow.sdk import Param, dag, task

from image_mlops.assets import PREDICTIONS, PRODUCTION_MODEL, VALIDATED_INCOMING_IMAGES
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args

settings = get_settings()


@dag(
    schedule=(VALIDATED_INCOMING_IMAGES | PRODUCTION_MODEL),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "classification"],
    default_args=default_args(settings),
    params={
        "batch_size": Param(
            None,
            type=["null", "integer"],
            minimum=1,
            description="Images per batch (empty: IMAGE_MLOPS_CLASSIFY_BATCH_SIZE).",
        )
    },
    doc_md=__doc__,
)
def classify_images():
    @task.short_circuit
    def find_production_model():
        from image_mlops.classification import run

        return run.find_model(get_settings())

    @task
    def plan_batches(model: dict, run_id=None, params=None) -> list[dict]:
        from image_mlops.classification import run

        return run.plan(get_settings(), model, run_id, params.get("batch_size"))

    @task
    def choose_route(model: dict, batch_list: list[dict], run_id=None) -> str:
        from image_mlops.classification import run

        return run.prepare(get_settings(), model, run_id, list(batch_list))

    @task.short_circuit(ignore_downstream_trigger_rules=False)
    def transform_request(model: dict, batch_list: list[dict], route: str, run_id=None):
        from image_mlops.classification import run

        return run.transform_request(get_settings(), model, run_id, list(batch_list), route)

    @task(
        map_index_template="{{ task.op_kwargs['batch']['index'] }}",
        trigger_rule="none_failed",  # runs when the transform job is skipped (endpoint route)
    )
    def classify_batch(batch: dict, model: dict, route: str, run_id=None) -> dict:
        from image_mlops.classification import run

        return run.classify(get_settings(), batch, model, run_id, route)

    @task(outlets=[PREDICTIONS])
    def write_run_manifest(results: list[dict], run_id=None) -> dict:
        from image_mlops.classification import run

        return run.finish(get_settings(), run_id, list(results))

    model = find_production_model()
    batch_list = plan_batches(model)
    route = choose_route(model, batch_list)
    batch_transform = SageMakerTransformOperator(
        task_id="batch_transform",
        config=transform_request(model, batch_list, route),
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.region,
        deferrable=True,
        check_interval=settings.job_poll_seconds,
        max_attempts=4 * 3600 // settings.job_poll_seconds,
        action_if_job_exists="timestamp",  # a retried task starts a new job
    )
    results = classify_batch.partial(model=model, route=route).expand(batch=batch_list)
    batch_transform >> results
    write_run_manifest(results)


classify_images()
