"""The one module of CloudWatch metric names, dimensions, alarm and dashboard names.

Every metric lives in ``settings.cloudwatch_namespace``. Dimensions: ``Model`` (the model
package group name) on everything, plus ``Class`` on per-class KPIs and ``Stat`` on input
drift. Publishers, the dashboard, the alarms, the KPI page and the docs read the names here.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

DIM_MODEL = "Model"
DIM_CLASS = "Class"
DIM_STAT = "Stat"

# --- per class (Model, Class) ---------------------------------------------------------------
TRUE_POSITIVES = "TruePositives"
FALSE_POSITIVES = "FalsePositives"
FALSE_NEGATIVES = "FalseNegatives"
PRECISION = "Precision"
RECALL = "Recall"
PREDICTED_SHARE = "PredictedShare"
# --- per model (Model) ------------------------------------------------------------------------
ACCURACY = "Accuracy"
PREDICTIONS = "Predictions"
LABELED_PREDICTIONS = "LabeledPredictions"
MEAN_CONFIDENCE = "MeanConfidence"
UNCERTAIN_SHARE = "UncertainShare"
PREDICTION_PSI = "PredictionClassPSI"
VALIDATION_ERROR_RATE = "ValidationErrorRate"
MODEL_VERSION = "ModelVersion"
#: An artifact that was not the approved one was refused (deployment, loading, transform).
ARTIFACT_INTEGRITY_FAILURES = "ArtifactIntegrityFailures"
# --- per input statistic (Model, Stat) ---------------------------------------------------------
INPUT_DRIFT_KS = "InputDriftKS"
INPUT_DRIFT_PVALUE = "InputDriftPValue"
# --- published by validation, read here for the validation error rate ----------------------
#: One datum per run and reason, dimensions Outcome (validated|quarantined) and Reason
#: (a reason code, or ``none`` for validated images).
VALIDATION_RESULTS = "ValidationResults"
DIM_OUTCOME = "Outcome"
DIM_REASON = "Reason"
OUTCOME_VALIDATED = "validated"
OUTCOME_QUARANTINED = "quarantined"
REASON_NONE = "none"

#: CloudWatch period of the KPI metrics and alarms (monitor_model runs hourly).
PERIOD_SECONDS = 3600
#: Prefix of every alarm of this project; ``<prefix><model>-`` selects one model's alarms.
ALARM_PREFIX = "image-mlops-"


@dataclass(frozen=True)
class MetricSpec:
    name: str
    dimensions: tuple[str, ...]
    unit: str
    meaning: str


SPECS: tuple[MetricSpec, ...] = (
    MetricSpec(
        TRUE_POSITIVES,
        (DIM_MODEL, DIM_CLASS),
        "Count",
        "predictions of the class confirmed by feedback in the window",
    ),
    MetricSpec(
        FALSE_POSITIVES,
        (DIM_MODEL, DIM_CLASS),
        "Count",
        "predicted as the class, feedback says another class",
    ),
    MetricSpec(
        FALSE_NEGATIVES,
        (DIM_MODEL, DIM_CLASS),
        "Count",
        "feedback says the class, predicted another (or nothing)",
    ),
    MetricSpec(PRECISION, (DIM_MODEL, DIM_CLASS), "None", "TP / (TP + FP), 0 when undefined"),
    MetricSpec(RECALL, (DIM_MODEL, DIM_CLASS), "None", "TP / (TP + FN), 0 when undefined"),
    MetricSpec(
        PREDICTED_SHARE,
        (DIM_MODEL, DIM_CLASS),
        "None",
        "share of the window's predictions that went to the class",
    ),
    MetricSpec(ACCURACY, (DIM_MODEL,), "None", "correct / labelled predictions"),
    MetricSpec(PREDICTIONS, (DIM_MODEL,), "Count", "predictions in the window (errors excluded)"),
    MetricSpec(LABELED_PREDICTIONS, (DIM_MODEL,), "Count", "predictions with feedback"),
    MetricSpec(MEAN_CONFIDENCE, (DIM_MODEL,), "None", "mean top-class confidence"),
    MetricSpec(
        UNCERTAIN_SHARE, (DIM_MODEL,), "None", "share of predictions below the confidence threshold"
    ),
    MetricSpec(
        PREDICTION_PSI,
        (DIM_MODEL,),
        "None",
        "PSI of the predicted class mix against the training class distribution",
    ),
    MetricSpec(
        VALIDATION_ERROR_RATE,
        (DIM_MODEL,),
        "None",
        "rejected / all validated images in the window (from ValidationResults)",
    ),
    MetricSpec(MODEL_VERSION, (DIM_MODEL,), "None", "model package version being monitored"),
    MetricSpec(
        ARTIFACT_INTEGRITY_FAILURES,
        (DIM_MODEL,),
        "Count",
        "model artifacts refused because their sha256 is not the approved one",
    ),
    MetricSpec(
        INPUT_DRIFT_KS,
        (DIM_MODEL, DIM_STAT),
        "None",
        "two-sample KS statistic of an input statistic vs the training baseline",
    ),
    MetricSpec(INPUT_DRIFT_PVALUE, (DIM_MODEL, DIM_STAT), "None", "p-value of that KS test"),
)
UNITS = {spec.name: spec.unit for spec in SPECS}


def dimensions(model: str, cls: str | None = None, stat: str | None = None) -> list[dict]:
    dims = [{"Name": DIM_MODEL, "Value": model}]
    if cls is not None:
        dims.append({"Name": DIM_CLASS, "Value": cls})
    if stat is not None:
        dims.append({"Name": DIM_STAT, "Value": stat})
    return dims


def datum(
    name: str,
    value: float,
    timestamp: dt.datetime,
    *,
    model: str,
    cls: str | None = None,
    stat: str | None = None,
) -> dict:
    """One ``MetricData`` entry with an explicit timestamp and the metric's unit."""
    return {
        "MetricName": name,
        "Dimensions": dimensions(model, cls, stat),
        "Timestamp": timestamp,
        "Value": float(value),
        "Unit": UNITS.get(name, "None"),
    }


def alarm_prefix(model: str) -> str:
    return f"{ALARM_PREFIX}{model}-"


def alarm_name(model: str, kind: str, cls: str | None = None) -> str:
    """``image-mlops-<model>-<kind>[-<class>]`` (kinds: tp-low, recall-low, psi-high)."""
    return alarm_prefix(model) + kind + (f"-{cls}" if cls else "")


def integrity_alarm_name(model: str) -> str:
    """``image-mlops-integrity-<model>``: outside the drift sensor's ``alarm_prefix``, so a
    refused artifact never starts a retraining."""
    return f"{ALARM_PREFIX}integrity-{model}"


def dashboard_name(model: str) -> str:
    return f"image-mlops-{model}"
