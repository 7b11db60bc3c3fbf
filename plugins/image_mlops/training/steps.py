"""What the tasks of ``train_and_register`` call (each idempotent; returns small dicts)."""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from image_mlops import s3layout
from image_mlops.config import Settings
from image_mlops.training import artifact, dataset, gate, job
from image_mlops.training.baseline import compute_baseline

log = logging.getLogger(__name__)
DEFAULT_HYPERPARAMETERS = {"seed": 0, "C": 0.01, "max_iter": 3000}


def snapshot(settings: Settings, *, dataset_ref: str | None = None, seed: int = 0) -> dict:
    if dataset_ref:
        log.info("reusing dataset snapshot %s", dataset_ref)
        return dataset.resolve_snapshot(settings, dataset_ref)
    return dataset.snapshot(settings, seed=seed)


def training_request(
    settings: Settings, snap: dict, *, hyperparameters: dict, run_id: str, try_number: int
) -> dict:
    """The ``CreateTrainingJob`` request of this run (inputs uploaded)."""
    manifest = dataset.load_manifest(settings, snap["manifest_key"])
    hps = {**DEFAULT_HYPERPARAMETERS, **(hyperparameters or {})}
    return job.training_request(
        settings, manifest, hyperparameters=hps, run_id=run_id, try_number=try_number
    )


def collect_artifact(settings: Settings, training: dict, *, run_id: str) -> dict:
    """The finished job's artifact as the run's candidate (``training``: the operator's XCom)."""
    return job.collect_artifact(settings, training["Training"], run_id)


def _download(settings: Settings, key: str, dest: Path) -> Path:
    from image_mlops.aws import aws_client

    dest.parent.mkdir(parents=True, exist_ok=True)
    aws_client("s3", settings).download_file(settings.models_bucket, key, str(dest))
    return dest


def _put_json(settings: Settings, key: str, payload: dict) -> str:
    from image_mlops.aws import aws_client, put_json

    return put_json(aws_client("s3", settings), settings.models_bucket, key, payload, indent=1)


def _download_uri(settings: Settings, uri: str, dest: Path) -> Path:
    from image_mlops.aws import aws_client

    bucket, _, key = uri.removeprefix("s3://").partition("/")
    aws_client("s3", settings).download_file(bucket, key, str(dest))
    return dest


def evaluate(settings: Settings, snap: dict, trained: dict) -> dict:
    """evaluate.py on the test split for the candidate (and production, same split);
    also writes the monitoring baseline from the train split. Results next to the artifact."""
    manifest = dataset.load_manifest(settings, snap["manifest_key"])
    prefix = trained["candidate_prefix"]
    with tempfile.TemporaryDirectory(prefix="evaluate-") as tmp:
        root = Path(tmp)
        n_test = dataset.download_split(settings, manifest, "test", root / "test")
        if n_test == 0:
            raise ValueError("the snapshot has no test images: add more labelled images")
        model = _download(settings, trained["artifact_key"], root / "model.tar.gz")
        report = artifact.evaluate_local(model, root / "test", root / "evaluation.json")
        report["data_fingerprint"] = manifest["fingerprint"]
        evaluation_uri = _put_json(settings, prefix + s3layout.EVALUATION_FILE, report)

        production = None
        production_note = "no production model: comparison skipped"
        production_uri = gate.production_artifact_uri(settings)
        if production_uri:
            log.info("evaluating production model %s on the same test split", production_uri)
            try:
                prod_model = _download_uri(settings, production_uri, root / "production.tar.gz")
                production = artifact.evaluate_local(prod_model, root / "test", root / "prod.json")
            except (ClientError, artifact.ScriptError) as exc:
                # A production artifact we cannot read or run must not block every future
                # model: the absolute minimum still applies, and the approver sees this note.
                production_note = (
                    f"production model {production_uri} could not be evaluated ({exc}): "
                    "comparison skipped"
                )
                log.warning("%s", production_note)
            else:
                production_note = f"compared with production model {production_uri}"
                _put_json(settings, prefix + "production_evaluation.json", production)

        dataset.download_split(settings, manifest, "train", root / "train")
        baseline = compute_baseline(root / "train")
        baseline_uri = _put_json(settings, prefix + s3layout.BASELINE_FILE, baseline)
    log.info(
        "candidate accuracy %.4f macro-F1 %.4f on %s test images",
        report["accuracy"],
        report["macro_f1"],
        report["n_test"],
    )
    return {
        "evaluation_uri": evaluation_uri,
        "baseline_uri": baseline_uri,
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "n_test": report["n_test"],
        "production_artifact_uri": production_uri,
        "production_accuracy": production["accuracy"] if production else None,
        "production_note": production_note,
    }


def quality_gate(settings: Settings, evaluated: dict) -> dict:
    """Raise :class:`gate.QualityGateFailed` (the task fails, nothing is registered)."""
    production = (
        {"accuracy": evaluated["production_accuracy"]}
        if evaluated.get("production_accuracy") is not None
        else None
    )
    result = gate.decide(
        evaluated,
        production,
        min_accuracy=settings.min_accuracy,
        max_regression=settings.max_regression,
    )
    for note in result.notes:
        log.info("quality gate: %s", note)
    if not result.passed:
        raise gate.QualityGateFailed(
            "quality gate failed, model not registered: "
            + "; ".join(result.reasons)
            + ". Improve the data or hyperparameters and trigger train_and_register again "
            "(or lower IMAGE_MLOPS_MIN_ACCURACY / IMAGE_MLOPS_MAX_REGRESSION on purpose)."
        )
    log.info(
        "quality gate passed: accuracy %.4f (min %.4f, production %s)",
        result.accuracy,
        result.min_accuracy,
        result.production_accuracy,
    )
    return result.as_dict()


def register(
    settings: Settings,
    snap: dict,
    trained: dict,
    evaluated: dict,
    *,
    run_id: str,
    reason: str = "",
) -> dict:
    from image_mlops import registry

    package = registry.register_model_package(
        settings=settings,
        candidate_prefix=trained["candidate_prefix"],
        artifact_sha256=trained["artifact_sha256"],
        data_fingerprint=snap["fingerprint"],
        accuracy=evaluated["accuracy"],
        macro_f1=evaluated["macro_f1"],
        training_run_id=run_id,
        reason=reason,
    )
    return {
        "model_package_arn": package.arn,
        "version": package.version,
        "artifact_uri": package.artifact_uri,
        "evaluation_uri": package.evaluation_uri,
        "baseline_uri": package.baseline_uri,
        "accuracy": evaluated["accuracy"],
    }


def log_reason(params: dict | None, dag_run: Any) -> str:
    """The reason of this run: the ``reason`` Param/conf (drift retraining sets it)."""
    conf = getattr(dag_run, "conf", None) or {}
    reason = (params or {}).get("reason") or conf.get("reason") or ""
    run_type = getattr(dag_run, "run_type", "")
    log.info("train_and_register run (%s): reason: %s", run_type, reason or "(none given)")
    return reason


def enough_new_labeled(settings: Settings, *, run_type: str) -> bool:
    """For asset-triggered runs: at least ``retrain_min_new_labeled`` new labelled images
    since the data snapshot of the latest registered package. Other runs always go on."""
    if "asset" not in run_type.lower() or settings.retrain_min_new_labeled <= 0:
        return True
    from image_mlops import registry

    current = {i["key"] for i in dataset.list_labeled(settings)}
    latest = registry.latest_package(settings=settings)
    previous: set[str] = set()
    if latest and latest.metadata.get("data_fingerprint"):
        try:
            manifest = dataset.load_manifest(
                settings,
                s3layout.dataset_manifest_key(
                    settings.model_name, latest.metadata["data_fingerprint"]
                ),
            )
            previous = {i["key"] for i in manifest["items"]}
        except Exception as exc:
            log.warning("cannot read the latest model's snapshot (%s): counting all", exc)
    new = len(current - previous)
    log.info("%s new labelled images (need %s)", new, settings.retrain_min_new_labeled)
    return new >= settings.retrain_min_new_labeled
