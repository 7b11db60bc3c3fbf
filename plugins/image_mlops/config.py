"""Deployment settings: the one home for every setting that differs between deployments.

Every setting is an environment variable ``IMAGE_MLOPS_<NAME>`` with a documented default
(the docs' settings reference lists them all). Per-run choices are DAG ``Param``s;
credentials live only in Airflow connections. Reading settings is cheap (no I/O beyond
``os.environ``), so DAG files may call :func:`get_settings` at parse time.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PREFIX = "IMAGE_MLOPS_"
TARGETS = ("local", "aws")
VALIDATION_ENGINES = ("airflow", "stepfunctions")
TRAFFIC_ROUTINGS = ("all_at_once", "canary", "linear")

#: The project checkout (``plugins/image_mlops/config.py`` → three levels up).
PROJECT_ROOT = Path(__file__).resolve().parents[2]
#: The files the package reads from disk (SQL, the model's scripts, the Lambda's code, the state
#: machine), inside the package: found wherever the package is, a checkout, a wheel, or the
#: folder MWAA extracts ``plugins.zip`` into (``/usr/local/airflow/plugins``).
INCLUDE_DIR = Path(__file__).resolve().parent / "include"


class SettingsError(ValueError):
    """A setting has a value we cannot use; the message names the variable and the fix."""


def setting(default: Any, doc: str) -> Any:
    """A field of a settings dataclass: its default and its documentation (the settings page)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Settings:
    # --- where the pipeline runs -------------------------------------------------------
    target: str = setting("local", "`local` (embedded emulator, default) or `aws`.")
    aws_conn_id: str = setting("aws_default", "Airflow connection for AWS.")
    catalog_conn_id: str = setting(
        "product_catalog_db", "Airflow connection for the product catalogue database."
    )
    mlops_conn_id: str = setting(
        "image_mlops_db",
        "Airflow connection for the pipeline's own tables (predictions, deployments).",
    )
    region: str = setting("us-east-1", "AWS region.")
    account_id: str = setting(
        "123456789012", "AWS account id (used to build ARNs; the emulator's default)."
    )

    # --- buckets and names ---------------------------------------------------------------
    raw_bucket: str = setting("image-mlops-raw", "Bucket for raw, error, feedback objects.")
    validated_bucket: str = setting("image-mlops-validated", "Bucket for validated images.")
    models_bucket: str = setting("image-mlops-models", "Bucket for model artifacts.")
    output_bucket: str = setting("image-mlops-output", "Bucket for predictions.")
    model_name: str = setting(
        "product-image-classifier",
        "Model package group; endpoints are `<name>-staging` and `<name>-production`.",
    )

    # --- SageMaker ---------------------------------------------------------------------------
    sagemaker_role_arn: str = setting(
        "arn:aws:iam::123456789012:role/image-mlops-sagemaker",
        "Execution role for SageMaker training jobs, models and endpoints.",
    )
    training_framework: str = setting(
        "sklearn",
        "SageMaker framework whose containers train and serve the model (`sklearn`, `pytorch`, "
        "`tensorflow`; its image URIs are AWS's, as the SageMaker SDK publishes them: "
        "`image_mlops.training.image_uris`).",
    )
    framework_version: str = setting(
        "1.4-2-py312",
        "Version of the framework's SageMaker containers for training and inference (the "
        "default: scikit-learn 1.4.2 on Python 3.12, numpy 2.1 and Pillow, so the built-in model "
        "installs nothing when it starts).",
    )
    framework_py_version: str = setting(
        "", "Python version of the framework's containers where it has several (`py311`)."
    )
    training_image_uri: str = setting(
        "", "Your own training container image (empty: the framework's image)."
    )
    inference_image_uri: str = setting(
        "", "Your own serving container image (empty: the framework's image)."
    )
    training_source_dir: str = setting(
        "",
        "Folder of your own script-mode training program (empty: the built-in model, "
        "`image_mlops/include/scripts/`); uploaded as the job's `sourcedir.tar.gz`.",
    )
    training_entry_point: str = setting(
        "train.py", "The training program in the source folder (SageMaker's `sagemaker_program`)."
    )
    training_hyperparameters: str = setting(
        "",
        "Default hyperparameters of the training program, a JSON object (a run's "
        "`hyperparameters` Param wins over them).",
    )
    training_instance_type: str = setting("ml.m5.large", "Training instance type.")
    training_max_runtime_seconds: int = setting(
        3600, "A training job running longer than this is stopped (its MaxRuntimeInSeconds)."
    )
    job_poll_seconds: int = setting(
        30,
        "Seconds between status checks of SageMaker jobs, endpoints and Step Functions "
        "executions (the deferred tasks wait in the triggerer, not in a worker slot).",
    )
    evaluation_timeout_seconds: int = setting(
        3600,
        "An evaluation's Batch Transform job (the candidate's or production's, in its own "
        "serving container) running longer than this is stopped and the evaluation fails.",
    )
    inference_instance_type: str = setting("ml.m5.large", "Endpoint instance type.")
    staging_instance_count: int = setting(1, "Instances of the staging endpoint.")
    production_instance_count: int = setting(
        2,
        "Instances of the production endpoint (a canary or linear shift needs at least two; "
        "with one the update is all at once, and the log says why).",
    )
    staging_traffic_routing: str = setting(
        "all_at_once",
        "How a staging update shifts traffic to the new model: `all_at_once`, `canary` or "
        "`linear` (SageMaker deployment guardrails; alarms roll it back).",
    )
    production_traffic_routing: str = setting(
        "canary", "How a production update shifts traffic (as for staging)."
    )
    canary_percent: int = setting(
        50, "Canary: the share of the new fleet's capacity that takes traffic first (<= 50)."
    )
    linear_step_percent: int = setting(
        50, "Linear: the share of the new fleet's capacity added per step (10-50)."
    )
    traffic_wait_seconds: int = setting(
        300,
        "Baking time after each traffic shift, its rollback alarms watched "
        "(WaitIntervalInSeconds, 0-3600).",
    )
    termination_wait_seconds: int = setting(
        120, "How long the old fleet is kept after an update completes (0-3600)."
    )
    data_capture_percent: int = setting(
        20,
        "Share (0-100) of the staging and production endpoints' invocations captured into "
        "`s3://OUTPUT/data-capture/` (SageMaker data capture); monitoring's input-drift "
        "statistics read them. 0: no capture.",
    )
    autoscaling_min_instances: int = setting(
        2, "Autoscaling of the production variant: fewest instances."
    )
    autoscaling_max_instances: int = setting(
        4, "Autoscaling of the production variant: most instances (0: no autoscaling)."
    )
    autoscaling_target_invocations: int = setting(
        100,
        "Autoscaling keeps the production variant near this many invocations per instance "
        "per minute (target tracking on SageMakerVariantInvocationsPerInstance).",
    )
    deployment_timeout_seconds: int = setting(
        1800, "An update taking longer is rolled back (MaximumExecutionTimeoutInSeconds)."
    )

    # --- validation (stage 1) --------------------------------------------------------------
    validation_engine: str = setting(
        "airflow", "`airflow` (mapped batches) or `stepfunctions` (state machine + Lambda)."
    )
    validation_state_machine_arn: str = setting(
        "", "State machine ARN when the validation engine is `stepfunctions`."
    )
    validation_batch_size: int = setting(200, "Images per validation batch (one task each).")
    validation_max_active_batches: int = setting(
        4, "Validation batches running at once (mapped task concurrency)."
    )
    validation_workers: int = setting(
        0, "Threads checking the images of one validation batch (0 = the worker's cores)."
    )
    validation_schedule: str = setting("*/5 * * * *", "Cron schedule of `validate_images`.")
    validation_claim_lease_seconds: int = setting(
        45,
        "How long an object's validation claim holds if its worker dies; after it, another "
        "run takes the object (a failed try releases its claims at once).",
    )
    max_image_bytes: int = setting(20 * 1024 * 1024, "Largest accepted file, in bytes.")
    min_image_side: int = setting(32, "Smallest accepted width and height, in pixels.")
    max_image_pixels: int = setting(
        40_000_000, "Pixel-bomb guard: largest accepted width × height."
    )
    allowed_formats: tuple[str, ...] = setting(
        ("JPEG", "PNG", "WEBP"), "Accepted image formats (Pillow names, comma-separated)."
    )

    # --- training and registry (stages 2-3) -------------------------------------------------
    training_schedule: str = setting("@weekly", "Schedule of `train_and_register`.")
    min_accuracy: float = setting(0.80, "Quality gate: minimum test accuracy.")
    max_regression: float = setting(
        0.02, "Quality gate: largest accuracy drop allowed against production."
    )
    retrain_min_new_labeled: int = setting(
        0, "Train when this many new labelled images were validated (0 = off)."
    )
    label_ingest_schedule: str = setting(
        "*/15 * * * *", "Schedule of `ingest_labels` (feedback and review → labelled images)."
    )

    # --- deployment (stage 4) ----------------------------------------------------------------
    smoke_tolerance: float = setting(
        0.05, "Smoke test: accuracy may be this much below the registered accuracy."
    )
    smoke_sample_size: int = setting(60, "Labelled held-out images sent in the smoke test.")
    require_production_approval: bool = setting(
        True, "Ask a second human approval before production."
    )
    notification_topic: str = setting(
        "image-mlops-notifications",
        "SNS topic (name in the account and region, or ARN) told when an approval is "
        "needed, a model is deployed or rolled back, a drift alarm fires, retraining starts "
        "or waits for labels (empty: no notifications).",
    )
    approval_timeout_hours: float = setting(
        72.0,
        "An approval nobody answers within this many hours is answered Reject: nothing is "
        "deployed, and the registry and the history say so (0 = wait for ever).",
    )

    # --- classification (stage 5) ------------------------------------------------------------
    confidence_threshold: float = setting(
        0.6, "Below this top-class confidence an image goes to `_uncertain/`."
    )
    classify_batch_size: int = setting(256, "Images per classification request batch.")
    classify_s3_threads: int = setting(
        24,
        "Parallel S3 reads and copies per classification batch: each request mostly waits on "
        "the network (20 ms and more on AWS), so many in flight hide the round trip "
        "(1 = one at a time).",
    )
    batch_transform_threshold: int = setting(
        5000, "Classification runs larger than this use one Batch Transform job."
    )

    # --- monitoring (stage 6) ----------------------------------------------------------------
    cloudwatch_namespace: str = setting("ImageMLOps", "CloudWatch namespace of all metrics.")
    tp_alarm_threshold: float = setting(
        3, "Alarm when a class's true positives per period fall below this."
    )
    recall_alarm_threshold: float = setting(0.8, "Alarm when a class's recall falls below.")
    psi_alarm_threshold: float = setting(0.2, "Alarm when prediction-mix PSI exceeds this.")
    retrain_cooldown_minutes: int = setting(
        24 * 60, "At most one drift retraining per this many minutes."
    )
    drift_retrain_min_new_labels: int = setting(
        50,
        "A drift retraining waits until this many labels were recorded after the data "
        "snapshot of the latest registered model (0 = do not wait).",
    )

    # --- product catalogue (stage 7) -----------------------------------------------------
    catalog_fetch_size: int = setting(2000, "Rows per server-side cursor fetch.")
    catalog_image_timeout: float = setting(10.0, "Seconds per main-image download.")
    catalog_image_retries: int = setting(2, "Retries per main-image download.")
    catalog_batch_size: int = setting(
        500, "Products per main-image download batch (one mapped task each)."
    )
    catalog_allowed_networks: tuple[str, ...] = setting(
        (),
        "Networks (CIDR, comma-separated) the image downloader may reach although they are "
        "not public: an internal image host. Loopback, private, link-local, multicast and "
        "reserved addresses are refused otherwise.",
    )
    catalog_s3_allowed_prefixes: tuple[str, ...] = setting(
        (),
        "`s3://bucket/prefix` locations catalogue image URLs may be read from "
        "(comma-separated; empty: the sample catalogue's `s3://RAW/catalog-media/`).",
    )
    catalog_max_redirects: int = setting(5, "Redirects an image download may follow.")

    # --- local state -------------------------------------------------------------------------
    state_dir: Path = setting(  # noqa: RUF009 - a Path is immutable
        PROJECT_ROOT / ".local",
        "Folder for local state: the CLI's log, `image-mlops serve`'s model cache, and the "
        "local stack's database, emulator and logs.",
    )

    # ------------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        # Pillow's format names are upper case; a user may write "jpeg,png"
        object.__setattr__(self, "allowed_formats", tuple(f.upper() for f in self.allowed_formats))

    @property
    def default_hyperparameters(self) -> dict:
        """``training_hyperparameters`` parsed (a JSON object)."""
        import json

        if not self.training_hyperparameters.strip():
            return {}
        try:
            value = json.loads(self.training_hyperparameters)
        except ValueError as exc:
            raise SettingsError(
                f"IMAGE_MLOPS_TRAINING_HYPERPARAMETERS is not JSON: {exc}"
            ) from None
        if not isinstance(value, dict):
            raise SettingsError("IMAGE_MLOPS_TRAINING_HYPERPARAMETERS must be a JSON object")
        return value

    @property
    def approval_timeout(self):
        """``approval_timeout_hours`` as the approvals' ``response_timeout`` (``None``: none)."""
        import datetime as dt

        hours = self.approval_timeout_hours
        return dt.timedelta(hours=hours) if hours > 0 else None

    @property
    def data_capture_uri(self) -> str:
        """Where the endpoints' captured invocations go (SageMaker adds endpoint/variant/date)."""
        from image_mlops.s3layout import DATA_CAPTURE_PREFIX

        return f"s3://{self.output_bucket}/{DATA_CAPTURE_PREFIX.rstrip('/')}"

    @property
    def is_local(self) -> bool:
        return self.target == "local"

    @property
    def buckets(self) -> tuple[str, ...]:
        return (self.raw_bucket, self.validated_bucket, self.models_bucket, self.output_bucket)

    def instance_count(self, stage: str) -> int:
        """Instances of the ``staging`` or ``production`` endpoint."""
        self.endpoint_name(stage)  # checks the stage
        return getattr(self, f"{stage}_instance_count")

    def traffic_routing(self, stage: str) -> str:
        """How an update of the ``staging`` or ``production`` endpoint shifts traffic."""
        self.endpoint_name(stage)
        return getattr(self, f"{stage}_traffic_routing")

    def endpoint_name(self, stage: str) -> str:
        """`staging` or `production` endpoint of the model."""
        if stage not in ("staging", "production"):
            raise SettingsError(f"unknown endpoint stage {stage!r}: use staging or production")
        return f"{self.model_name}-{stage}"

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        settings = cls(**values_from_env(cls, environ))
        settings._check()
        return settings

    def _check(self) -> None:
        for name, choices in CHOICES.items():
            if getattr(self, name) not in choices:
                raise SettingsError(
                    f"IMAGE_MLOPS_{name.upper()}={getattr(self, name)!r} is not one of "
                    f"{', '.join(choices)}"
                )
        if self.autoscaling_max_instances and not (
            1 <= self.autoscaling_min_instances <= self.autoscaling_max_instances
        ):
            raise SettingsError(
                "IMAGE_MLOPS_AUTOSCALING_MIN_INSTANCES must be between 1 and "
                "IMAGE_MLOPS_AUTOSCALING_MAX_INSTANCES"
            )
        for name, (lowest, highest) in RANGES.items():
            if not lowest <= getattr(self, name) <= highest:
                raise SettingsError(
                    f"IMAGE_MLOPS_{name.upper()} must be between {lowest} and {highest}"
                )
        for name in POSITIVE:
            if getattr(self, name) <= 0:
                raise SettingsError(f"IMAGE_MLOPS_{name.upper()} must be positive")


#: Settings with a closed set of values.
CHOICES = {
    "target": TARGETS,
    "validation_engine": VALIDATION_ENGINES,
    "staging_traffic_routing": TRAFFIC_ROUTINGS,
    "production_traffic_routing": TRAFFIC_ROUTINGS,
}
#: Settings bounded as SageMaker bounds what they become.
RANGES = {
    "data_capture_percent": (0, 100),
    "canary_percent": (1, 50),
    "linear_step_percent": (10, 50),
    "deployment_timeout_seconds": (600, 14400),
    "traffic_wait_seconds": (0, 3600),
    "termination_wait_seconds": (0, 3600),
}
POSITIVE = (
    "validation_batch_size",
    "classify_batch_size",
    "max_image_bytes",
    "staging_instance_count",
    "production_instance_count",
)


def _parse(name: str, raw: str, default: Any) -> Any:
    try:
        if isinstance(default, bool):
            lowered = raw.strip().lower()
            if lowered in ("1", "true", "yes", "on"):
                return True
            if lowered in ("0", "false", "no", "off"):
                return False
            raise ValueError(raw)
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float):
            return float(raw)
        if isinstance(default, tuple):
            return tuple(part.strip() for part in raw.split(",") if part.strip())
        if isinstance(default, Path):
            path = Path(raw).expanduser()
            return path if path.is_absolute() else PROJECT_ROOT / path
        return raw.strip()
    except ValueError:
        kind = type(default).__name__
        raise SettingsError(f"{name}={raw!r} is not a valid {kind}") from None


def values_from_env(cls: type, environ: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The fields of the settings dataclass ``cls`` that ``environ`` (default: the process's
    environment) sets as ``IMAGE_MLOPS_<FIELD>``, parsed to the type of their default."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    for f in dataclasses.fields(cls):
        name = PREFIX + f.name.upper()
        raw = environ.get(name)
        if raw is None or raw == "":
            continue
        values[f.name] = _parse(name, raw, f.default)
    return values


def get_settings() -> Settings:
    """Settings from the current environment (cheap; read again on every call)."""
    return Settings.from_env()


def describe_settings() -> list[tuple[str, str, str]]:
    """(variable, default, description) for every setting: the docs' settings reference."""
    return describe_fields(Settings)


def describe_fields(cls: type) -> list[tuple[str, str, str]]:
    """(variable, default, description) of every field of the settings dataclass ``cls``."""
    rows = []
    for f in dataclasses.fields(cls):
        default = f.default
        if isinstance(default, tuple):
            default = ",".join(default)
        elif isinstance(default, Path):
            default = ".local" if default == PROJECT_ROOT / ".local" else str(default)
        rows.append((PREFIX + f.name.upper(), str(default), f.metadata["doc"]))
    return rows
