"""
### train_and_register — snapshot, train, evaluate, quality gate, register

Triggers: manually (Params below), on `IMAGE_MLOPS_TRAINING_SCHEDULE` (weekly), by
`retrain_on_drift` (conf `{"reason": "...", "drift_since": "..."}`), and — when
`IMAGE_MLOPS_RETRAIN_MIN_NEW_LABELED` > 0 — also when validated labelled images arrive
(asset-or-time schedule; the run stops early unless at least that many labelled images are
new since the latest registered model's data snapshot).

1. **snapshot** `s3://VALIDATED/labeled/` → manifest `s3://MODELS/<group>/datasets/<fingerprint>/manifest.json`
   (stratified 70/15/15 split, fingerprint of the exact files and labels), or reuse the
   snapshot given in the `dataset` Param;
2. **training_request** uploads the scripts and one manifest file per split and builds the
   `CreateTrainingJob` request (script mode: `image_mlops/include/scripts/train.py` in SageMaker's
   scikit-learn container; job name unique per run and try);
3. **train** — the Amazon provider's `SageMakerTrainingOperator`, deferrable: the job runs on
   SageMaker (locally the emulator runs the very same job in a subprocess) while the task
   waits in the triggerer; a failed job fails the task with the job's `FailureReason`;
4. **collect_artifact** copies the job's `model.tar.gz` to
   `s3://MODELS/<group>/candidates/<run>/model.tar.gz` and records its sha256;
5. **evaluate** the candidate in its own serving container — a SageMaker Batch Transform job
   over the test split — and the production model, if there is one, on the same images in
   its own; the worker computes `evaluation.json` from the jobs' output (no ML framework on
   the worker) + monitoring `baseline.json`; both also on the *recent window*: the held-out
   labels recorded since `drift_since` (the drift episode's start, set by
   `retrain_on_drift`; empty: when the model's alarms in ALARM now moved there);
6. **quality_gate** fails the run (nothing registered) when accuracy < `IMAGE_MLOPS_MIN_ACCURACY`
   or more than `IMAGE_MLOPS_MAX_REGRESSION` below production — the task log says why;
7. **register** a model package (`PendingManualApproval`) with metrics and lineage; emits
   the `registered_model` Asset. Re-running the same run does not register twice.
"""

from __future__ import annotations

import pendulum
from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator
from airflow.sdk import AssetOrTimeSchedule, CronTriggerTimetable, Param, dag, task

from image_mlops.assets import REGISTERED_MODEL, VALIDATED_LABELED_IMAGES
from image_mlops.config import get_settings
from image_mlops.dag_defaults import default_args

settings = get_settings()


def _schedule():
    if settings.retrain_min_new_labeled > 0:
        return AssetOrTimeSchedule(
            timetable=CronTriggerTimetable(settings.training_schedule, timezone="UTC"),
            assets=VALIDATED_LABELED_IMAGES,
        )
    return settings.training_schedule


@dag(
    schedule=_schedule(),
    start_date=pendulum.datetime(2026, 1, 1, tz="UTC"),
    catchup=False,
    max_active_runs=1,
    tags=["image-mlops", "training"],
    # one retry, not two: a retried `train` starts a new SageMaker training job (up to
    # IMAGE_MLOPS_TRAINING_MAX_RUNTIME_SECONDS of paid compute)
    default_args=default_args(settings, retries=1),
    params={
        "hyperparameters": Param(
            {}, type="object", description='train.py hyperparameters, e.g. {"C": 0.01, "seed": 0}'
        ),
        "dataset": Param(
            "",
            type="string",
            description="reuse a snapshot: its fingerprint or manifest key (empty: new snapshot)",
        ),
        "reason": Param("", type="string", description="why this run (logged, kept in metadata)"),
        "drift_since": Param(
            None,
            type=["null", "string"],
            description="start of the recent window, ISO 8601 (retrain_on_drift sets it; "
            "empty: when the model's alarms in ALARM now moved there)",
        ),
    },
    doc_md=__doc__,
)
def train_and_register():
    @task.short_circuit
    def enough_new_data(params=None, dag_run=None) -> bool:
        """Asset-triggered runs go on only with enough new labelled images."""
        from image_mlops.training.steps import enough_new_labeled

        return enough_new_labeled(get_settings(), run_type=str(dag_run.run_type))

    @task
    def snapshot(params=None, dag_run=None) -> dict:
        from image_mlops.training.steps import log_reason, snapshot

        log_reason(params, dag_run)
        hps = params.get("hyperparameters") or {}
        return snapshot(
            get_settings(), dataset_ref=params.get("dataset") or None, seed=int(hps.get("seed", 0))
        )

    @task
    def training_request(snap: dict, params=None, run_id=None, ti=None) -> dict:
        from image_mlops.training.steps import training_request

        return training_request(
            get_settings(),
            snap,
            hyperparameters=params.get("hyperparameters") or {},
            run_id=run_id,
            try_number=ti.try_number,
        )

    @task
    def collect_artifact(training: dict, run_id=None) -> dict:
        from image_mlops.training.steps import collect_artifact

        return collect_artifact(get_settings(), training, run_id=run_id)

    @task
    def evaluate(snap: dict, trained: dict, params=None, run_id=None) -> dict:
        from image_mlops.training.steps import evaluate

        return evaluate(
            get_settings(), snap, trained, drift_since=params.get("drift_since"), run_id=run_id
        )

    @task
    def quality_gate(evaluated: dict) -> dict:
        from image_mlops.training.steps import quality_gate

        return quality_gate(get_settings(), evaluated)

    @task(outlets=[REGISTERED_MODEL])
    def register(snap: dict, trained: dict, evaluated: dict, params=None, run_id=None) -> dict:
        from image_mlops.training.steps import register

        return register(
            get_settings(),
            snap,
            trained,
            evaluated,
            run_id=run_id,
            reason=params.get("reason") or "",
        )

    snap = snapshot()
    enough_new_data() >> snap
    train = SageMakerTrainingOperator(
        task_id="train",
        config=training_request(snap),
        aws_conn_id=settings.aws_conn_id,
        region_name=settings.region,
        deferrable=True,
        check_interval=settings.job_poll_seconds,
        max_attempts=settings.training_max_runtime_seconds // settings.job_poll_seconds + 10,
        # a retried task starts a new job (timestamped name) instead of failing on the old one
        action_if_job_exists="timestamp",
    )
    trained = collect_artifact(train.output)
    evaluated = evaluate(snap, trained)
    quality_gate(evaluated) >> register(snap, trained, evaluated)


train_and_register()
