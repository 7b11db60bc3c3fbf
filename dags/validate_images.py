"""
### validate_images — every raw image checked, validated or quarantined with a reason

Picks up every object under `s3://RAW/labeled/` and `s3://RAW/incoming/`, cuts the list into
batch manifests (`s3://RAW/_runs/<run>/batch-NNNN.json`, `IMAGE_MLOPS_VALIDATION_BATCH_SIZE`
objects each) and validates each batch in one mapped task (at most
`IMAGE_MLOPS_VALIDATION_MAX_ACTIVE_BATCHES` at once, each using its worker's cores).

* good images are copied to `s3://VALIDATED/<same key>` with metadata (sha256, format, width,
  height, mode, source-key, run-id), verified, and removed from raw;
* bad ones are moved byte-identical to `s3://RAW/errors/<run>/<key>`, one record each in
  `errors/<run>/_reasons.jsonl` (reason codes: docs/stages/validation.md);
* `finalize_run` checks objects in = validated + quarantined, writes the reasons file,
  publishes the CloudWatch metric `ValidationResults` and returns the summary;
* the validated-images Assets are emitted only for the areas that received images.

With `IMAGE_MLOPS_VALIDATION_ENGINE=stepfunctions` the batches are validated by the state
machine `IMAGE_MLOPS_VALIDATION_STATE_MACHINE_ARN` (Lambda, same checks) instead.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.step_function import (
    StepFunctionStartExecutionOperator,
)
from airflow.sdk import dag, task, task_group

from image_mlops.assets import VALIDATED_INCOMING_IMAGES, VALIDATED_LABELED_IMAGES
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args

settings = get_settings()
LISTED = "none_failed_min_one_success"


@dag(
    schedule=settings.validation_schedule,
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=2,
    tags=["image-mlops", "validation"],
    default_args=default_args(settings),
    doc_md=__doc__,
)
def validate_images():
    @task
    def plan_batches(run_id=None) -> list[str]:
        """List raw objects, write the batch manifests; XCom: their keys."""
        from image_mlops.validation.pipeline import plan_run

        return plan_run(get_settings(), run_id)

    @task.branch
    def choose_engine() -> str:
        if get_settings().validation_engine == "stepfunctions":
            return "stepfunctions.state_machine_request"
        return "validate_batch"

    @task(max_active_tis_per_dag=settings.validation_max_active_batches)
    def validate_batch(manifest_key: str, ti=None) -> dict:
        """Validate one batch manifest; XCom: its counts."""
        from image_mlops.validation.pipeline import validate_batch

        return validate_batch(get_settings(), manifest_key, attempt=str(ti.try_number))

    @task
    def state_machine_request(manifest_keys: list[str], run_id=None, ti=None) -> dict:
        """The state machine (a setting, read at run time), the execution's name, its input."""
        from image_mlops.validation.pipeline import state_machine_request

        return state_machine_request(
            get_settings(), run_id, manifest_keys, try_number=ti.try_number
        )

    @task_group
    def stepfunctions(manifest_keys):
        request = state_machine_request(manifest_keys)
        # Deferrable: the execution is awaited in the triggerer, and its failure fails the task.
        StepFunctionStartExecutionOperator(
            task_id="run_state_machine",
            state_machine_arn=request["arn"],
            name=request["name"],
            state_machine_input=request["input"],
            aws_conn_id=settings.aws_conn_id,
            region_name=settings.region,
            deferrable=True,
            waiter_delay=settings.job_poll_seconds,
            waiter_max_attempts=4 * 3600 // settings.job_poll_seconds,
        )

    @task(trigger_rule=LISTED)
    def finalize_run(manifest_keys: list[str], run_id=None) -> dict:
        """Merge results, assert in = validated + quarantined, metrics; XCom: the summary."""
        from image_mlops.validation.pipeline import finalize_run

        return finalize_run(get_settings(), run_id, manifest_keys)

    @task(outlets=[VALIDATED_LABELED_IMAGES])
    def emit_labeled(summary: dict, outlet_events=None) -> int:
        from image_mlops.validation.pipeline import emit_if_validated

        return emit_if_validated(summary, "labeled", outlet_events[VALIDATED_LABELED_IMAGES])

    @task(outlets=[VALIDATED_INCOMING_IMAGES])
    def emit_incoming(summary: dict, outlet_events=None) -> int:
        from image_mlops.validation.pipeline import emit_if_validated

        return emit_if_validated(summary, "incoming", outlet_events[VALIDATED_INCOMING_IMAGES])

    manifests = plan_batches()
    engine = choose_engine()
    batches = validate_batch.expand(manifest_key=manifests)
    on_state_machine = stepfunctions(manifests)
    manifests >> engine >> [batches, on_state_machine]
    summary = finalize_run(manifests)
    [batches, on_state_machine] >> summary
    emit_labeled(summary)
    emit_incoming(summary)


validate_images()
