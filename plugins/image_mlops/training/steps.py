"""What the tasks of ``train_and_register`` call (each idempotent; returns small dicts)."""

from __future__ import annotations

import datetime as dt
import logging
import tempfile
from pathlib import Path
from typing import Any

from botocore.exceptions import ClientError

from image_mlops import s3layout
from image_mlops.config import Settings
from image_mlops.training import dataset, evaluation, gate, job
from image_mlops.training.baseline import compute_baseline

log = logging.getLogger(__name__)
DEFAULT_HYPERPARAMETERS = {"seed": 0, "C": 0.01, "max_iter": 3000}


def snapshot(settings: Settings, *, dataset_ref: str | None = None, seed: int = 0) -> dict:
    if dataset_ref:
        log.info("reusing dataset snapshot %s", dataset_ref)
        return dataset.resolve_snapshot(settings, dataset_ref)
    return dataset.snapshot(settings, seed=seed, previous_keys=latest_snapshot_keys(settings))


def training_request(
    settings: Settings, snap: dict, *, hyperparameters: dict, run_id: str, try_number: int
) -> dict:
    """The ``CreateTrainingJob`` request of this run (inputs uploaded)."""
    manifest = dataset.load_manifest(settings, snap["manifest_key"])
    # the built-in program's defaults apply to it only; a program of your own gets yours
    builtin = {} if settings.training_source_dir else DEFAULT_HYPERPARAMETERS
    hps = {**builtin, **settings.default_hyperparameters, **(hyperparameters or {})}
    return job.training_request(
        settings, manifest, hyperparameters=hps, run_id=run_id, try_number=try_number
    )


def collect_artifact(settings: Settings, training: dict, *, run_id: str) -> dict:
    """The finished job's artifact as the run's candidate (``training``: the operator's XCom)."""
    return job.collect_artifact(settings, training["Training"], run_id)


def _put_json(settings: Settings, key: str, payload: dict) -> str:
    from image_mlops.aws import aws_client, put_json

    return put_json(aws_client("s3", settings), settings.models_bucket, key, payload, indent=1)


def _production_predictions(
    settings: Settings, run_id: str, input_uri: str, order: list[list[str]]
) -> tuple[dict[str, dict] | None, str | None, str, str | None]:
    """The production model's predictions of the same requests, in its own container
    (predictions, its artifact's URI, a note for the approver, the transform job)."""
    from image_mlops.deployment.endpoints import production_model

    serving = production_model(settings)
    if serving is None:
        return None, None, "no production model: comparison skipped", None
    log.info("evaluating production model %s on the same data", serving.model_name)
    model = evaluation.EvaluatedModel(serving.model_name, "production")
    try:
        predictions, job_name = evaluation.predict(settings, run_id, model, input_uri, order)
    except (ClientError, evaluation.EvaluationFailed) as exc:
        # A production model we cannot run must not block every future model: the absolute
        # minimum still applies, and the approver sees this note.
        note = (
            f"production model {serving.model_data_url} could not be evaluated ({exc}): "
            "comparison skipped"
        )
        log.warning("%s", note)
        return None, serving.model_data_url, note, None
    note = f"compared with production model {serving.model_data_url}"
    return predictions, serving.model_data_url, note, job_name


def recent_window_start(settings: Settings, drift_since: str | None) -> dt.datetime | None:
    """``drift_since`` (ISO 8601; a time without a zone is UTC), or when the model's alarms
    in ALARM now moved there."""
    if not drift_since:
        from image_mlops.monitoring.alarms import drift_alarm_since

        return drift_alarm_since(settings)
    try:
        since = dt.datetime.fromisoformat(drift_since)
    except ValueError:
        raise ValueError(
            f"drift_since {drift_since!r} is not an ISO 8601 time (e.g. 2026-12-03T07:59:45Z)"
        ) from None
    return since if since.tzinfo else since.replace(tzinfo=dt.UTC)


def _recent_window(manifest: dict, since: dt.datetime | None) -> tuple[dict, list[dict]]:
    """The held-out labels recorded since ``since``."""
    if since is None:
        return {"note": "no drift alarm in ALARM: recent-window comparison skipped"}, []
    items = dataset.recent_held_out(manifest, since)
    window: dict[str, Any] = {"since": since.isoformat(timespec="seconds"), "n": len(items)}
    if not items:
        window["note"] = f"no held-out labels recorded since {window['since']}: comparison skipped"
        return window, []
    window["by_source"] = dataset.count_by_source(items)
    return window, items


def _scores(report: dict | None) -> dict | None:
    if not report:
        return None
    return {"accuracy": report["accuracy"], "macro_f1": report["macro_f1"], "n": report["n_test"]}


def evaluate(
    settings: Settings,
    snap: dict,
    trained: dict,
    drift_since: str | None = None,
    *,
    run_id: str,
) -> dict:
    """The candidate — and the production model, on the same images — evaluated in its own
    serving container (one Batch Transform job each: :mod:`.evaluation`), on the test split
    and on the *recent window* (held-out labels recorded since ``drift_since``, the drift
    episode's start: :func:`recent_window_start`); also writes the monitoring baseline from
    the train split. Results go next to the artifact; ``evaluation.json`` carries the
    comparison for the approval."""
    since = recent_window_start(settings, drift_since)  # a bad Param fails before any work
    manifest = dataset.load_manifest(settings, snap["manifest_key"])
    prefix = trained["candidate_prefix"]
    test_items = [i for i in manifest["items"] if i["split"] == "test"]
    if not test_items:
        raise ValueError("the snapshot has no test images: add more labelled images")
    recent, recent_items = _recent_window(manifest, since)
    unique = {i["key"]: i for i in test_items + recent_items}
    input_uri, order = evaluation.write_requests(
        settings, run_id, manifest["bucket"], list(unique.values())
    )
    artifact_uri = f"s3://{settings.models_bucket}/{trained['artifact_key']}"
    candidate, candidate_job = evaluation.predict(
        settings, run_id, evaluation.candidate_model(settings, artifact_uri), input_uri, order
    )
    report = evaluation.report(test_items, candidate)
    candidate_recent = evaluation.report(recent_items, candidate) if recent_items else None

    production, production_uri, production_note, production_job = _production_predictions(
        settings, run_id, input_uri, order
    )
    production_test = evaluation.report(test_items, production) if production else None
    if production_test:
        _put_json(settings, prefix + "production_evaluation.json", production_test)
    production_recent = (
        evaluation.report(recent_items, production) if production and recent_items else None
    )
    recent["candidate"] = _scores(candidate_recent)
    recent["production"] = _scores(production_recent)
    report["data_fingerprint"] = manifest["fingerprint"]
    report["data_lineage"] = manifest.get("lineage", {})
    report["comparison"] = {
        "production_artifact_uri": production_uri,
        "note": production_note,
        "test": {"candidate": _scores(report), "production": _scores(production_test)},
        "recent": recent,
    }
    evaluation_uri = _put_json(settings, prefix + s3layout.EVALUATION_FILE, report)

    with tempfile.TemporaryDirectory(prefix="baseline-") as tmp:
        dataset.download_split(settings, manifest, "train", Path(tmp) / "train")
        baseline = compute_baseline(Path(tmp) / "train")
    baseline_uri = _put_json(settings, prefix + s3layout.BASELINE_FILE, baseline)
    log.info(
        "candidate accuracy %.4f macro-F1 %.4f on %s test images; recent window: %s",
        report["accuracy"],
        report["macro_f1"],
        report["n_test"],
        recent,
    )
    return {
        "evaluation_uri": evaluation_uri,
        "baseline_uri": baseline_uri,
        "accuracy": report["accuracy"],
        "macro_f1": report["macro_f1"],
        "n_test": report["n_test"],
        "production_artifact_uri": production_uri,
        "production_accuracy": production_test["accuracy"] if production_test else None,
        "production_note": production_note,
        "recent": recent,
        # the Batch Transform jobs that ran each model in its own serving container
        "evaluation_jobs": {"candidate": candidate_job, "production": production_job},
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
        recent=evaluated.get("recent"),
    )
    for note in result.notes:
        log.info("quality gate: %s", note)
    if not result.passed:
        from image_mlops import notifications

        message = (
            "quality gate failed, model not registered: "
            + "; ".join(result.reasons)
            + ". Improve the data or hyperparameters and trigger train_and_register again "
            "(or lower IMAGE_MLOPS_MIN_ACCURACY / IMAGE_MLOPS_MAX_REGRESSION on purpose)."
        )
        notifications.notify(
            settings,
            "quality_gate_failed",
            f"{settings.model_name}: candidate failed the quality gate",
            message,
            accuracy=result.accuracy,
        )
        raise gate.QualityGateFailed(message)
    log.info(
        "quality gate passed: accuracy %.4f (min %.4f, production %s); recent window: "
        "candidate %s, production %s",
        result.accuracy,
        result.min_accuracy,
        result.production_accuracy,
        result.recent_accuracy,
        result.production_recent_accuracy,
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
        settings,
        candidate_prefix=trained["candidate_prefix"],
        artifact_sha256=trained["artifact_sha256"],
        data_fingerprint=snap["fingerprint"],
        accuracy=evaluated["accuracy"],
        macro_f1=evaluated["macro_f1"],
        training_run_id=run_id,
        reason=reason,
        extra_metadata=lineage_metadata(snap, evaluated),
    )
    return {
        "model_package_arn": package.arn,
        "version": package.version,
        "artifact_uri": package.artifact_uri,
        "evaluation_uri": package.evaluation_uri,
        "baseline_uri": package.baseline_uri,
        "accuracy": evaluated["accuracy"],
    }


def lineage_metadata(snap: dict, evaluated: dict) -> dict[str, str]:
    """Registry metadata for where the data came from and how the recent window went (counts
    in :func:`registry.encode_counts`'s form: SageMaker refuses JSON in metadata values)."""
    from image_mlops.registry import encode_counts

    lineage = snap.get("lineage", {})
    out = {"labels_by_source": encode_counts(lineage.get("by_source", {}))}
    if "new_since_previous" in lineage:
        new = lineage["new_since_previous"]
        out["new_labels"] = str(int(new.get("total", 0)))
        out["new_labels_by_source"] = encode_counts(new.get("by_source", {}))
    recent = evaluated.get("recent") or {}
    if recent.get("since"):
        out["recent_since"] = recent["since"]
    if recent.get("production") and evaluated.get("production_artifact_uri"):
        out["compared_with"] = evaluated["production_artifact_uri"]
    for name, scores in (
        ("recent", recent.get("candidate")),
        ("production_recent", recent.get("production")),
    ):
        if scores:
            out[f"{name}_accuracy"] = f"{scores['accuracy']:.6f}"
            out[f"{name}_n"] = str(scores["n"])
    return out


def log_reason(params: dict | None, dag_run: Any) -> str:
    """The reason of this run: the ``reason`` Param/conf (drift retraining sets it)."""
    conf = getattr(dag_run, "conf", None) or {}
    reason = (params or {}).get("reason") or conf.get("reason") or ""
    run_type = getattr(dag_run, "run_type", "")
    log.info("train_and_register run (%s): reason: %s", run_type, reason or "(none given)")
    return reason


def latest_snapshot_keys(settings: Settings) -> set[str] | None:
    """The image keys of the latest registered model's data snapshot (``None``: no model, or
    its snapshot cannot be read — then every labelled image counts as new)."""
    from image_mlops import registry

    latest = registry.latest_package(settings)
    fingerprint = latest.metadata.get("data_fingerprint") if latest else None
    if not fingerprint:
        return None
    try:
        manifest = dataset.load_manifest(
            settings, s3layout.dataset_manifest_key(settings.model_name, fingerprint)
        )
    except ClientError as exc:
        log.warning("cannot read the latest model's snapshot %s (%s)", fingerprint[:12], exc)
        return None
    return {i["key"] for i in manifest["items"]}


def new_labels(settings: Settings) -> dict[str, Any]:
    """Labelled images not in the latest registered model's snapshot: ``{"total": n,
    "by_source": {...}}`` (every labelled image when there is no registered model)."""
    items = dataset.list_labeled(settings)
    previous = latest_snapshot_keys(settings) or set()
    return dataset.lineage(items, previous)["new_since_previous"]


def enough_new_labeled(settings: Settings, *, run_type: str) -> bool:
    """For asset-triggered runs: at least ``retrain_min_new_labeled`` new labelled images
    since the data snapshot of the latest registered package. Other runs always go on."""
    if "asset" not in run_type.lower() or settings.retrain_min_new_labeled <= 0:
        return True
    new = new_labels(settings)["total"]
    log.info("%s new labelled images (need %s)", new, settings.retrain_min_new_labeled)
    return new >= settings.retrain_min_new_labeled
