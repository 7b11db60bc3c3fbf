"""What the KPI page shows, read from CloudWatch, SageMaker and the retrain decisions table."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from image_mlops.config import Settings
from image_mlops.monitoring import metrics as m

log = logging.getLogger(__name__)

#: Per-class series drawn on the page: (metric, statistic, alarm threshold setting or None)
CLASS_CHARTS = (
    (m.TRUE_POSITIVES, "Minimum", "tp_alarm_threshold"),
    (m.RECALL, "Minimum", "recall_alarm_threshold"),
    (m.PRECISION, "Average", None),
)
MODEL_CHARTS = ((m.ACCURACY, "Average", None), (m.PREDICTION_PSI, "Maximum", "psi_alarm_threshold"))
SHORT_NAMES = {m.PREDICTION_PSI: "PSI"}


def _query(qid: str, settings: Settings, metric: str, stat: str, period: int, cls=None) -> dict:
    return {
        "Id": qid,
        "MetricStat": {
            "Metric": {
                "Namespace": settings.cloudwatch_namespace,
                "MetricName": metric,
                "Dimensions": m.dimensions(settings.model_name, cls),
            },
            "Period": period,
            "Stat": stat,
        },
    }


def kpi_series(settings: Settings, hours: float, period: int, now: dt.datetime | None = None):
    """``{metric: {series name: [(ts, value)]}}`` for the page's charts, plus the classes."""
    from image_mlops.monitoring.publish import metrics_hook

    hook = metrics_hook(settings)
    now = now or dt.datetime.now(dt.UTC)
    classes = hook.list_dimension_values(
        settings.cloudwatch_namespace, m.TRUE_POSITIVES, m.DIM_CLASS
    )
    queries, index = [], {}
    for mi, (metric, stat, _) in enumerate(CLASS_CHARTS):
        for ci, cls in enumerate(classes):
            qid = f"c{mi}_{ci}"
            queries.append(_query(qid, settings, metric, stat, period, cls))
            index[qid] = (metric, cls)
    for mi, (metric, stat, _) in enumerate(MODEL_CHARTS):
        qid = f"m{mi}"
        queries.append(_query(qid, settings, metric, stat, period))
        index[qid] = (metric, SHORT_NAMES.get(metric, metric))
    data = (
        hook.get_metric_data(
            queries, now - dt.timedelta(hours=hours), now + dt.timedelta(minutes=1)
        )
        if queries
        else {}
    )
    series: dict[str, dict[str, list]] = {}
    for qid, (metric, name) in index.items():
        series.setdefault(metric, {})[name] = data.get(qid, [])
    return classes, series


def alarms(settings: Settings) -> list[dict]:
    from image_mlops.cloudwatch.conditions import alarm_states
    from image_mlops.monitoring.publish import metrics_hook

    return alarm_states(
        metrics_hook(settings), alarm_name_prefix=m.alarm_prefix(settings.model_name)
    )


def deployed_versions(settings: Settings) -> list[dict[str, Any]]:
    """Staging and production endpoints → model package versions (deployment room)."""
    from image_mlops.deployment.endpoints import serving_model

    out = []
    for stage in ("staging", "production"):
        name = settings.endpoint_name(stage)
        row: dict[str, Any] = {"stage": stage, "endpoint": name, "version": None, "model": None}
        try:
            serving = serving_model(settings, name)
        except Exception:  # a short note on the page (never the exception text), never a 500
            log.exception("KPI page: the %s endpoint could not be read", stage)
            row["error"] = "unavailable (details in the api-server log)"
            serving = None
        if serving is not None:
            row.update(version=serving.package_version, model=serving.model_name)
        out.append(row)
    return out


def decisions(settings: Settings) -> list[dict]:
    from image_mlops.monitoring.retrain import recent_decisions

    try:
        return recent_decisions(settings, limit=10)
    except Exception as exc:
        log.warning("retrain decisions unavailable: %s", exc)
        return []


#: Images per folder in the page's gallery.
GALLERY_PER_FOLDER = 6


def labelled_window(settings: Settings, hours: float, now: dt.datetime | None = None) -> dict:
    """The production model's predictions of the last ``hours`` against the feedback labels,
    as monitoring counts them: the confusion matrix and the model version."""
    from image_mlops.monitoring import sources
    from image_mlops.monitoring.kpis import confusion

    now = now or dt.datetime.now(dt.UTC)
    model = sources.monitored_model(settings)
    predictions = sources.load_predictions(
        settings, model.version, now - dt.timedelta(hours=hours), now
    )
    labels, _skipped, _files = sources.load_feedback(settings)
    cells = confusion(predictions, labels)
    classes = sorted({c for pair in cells for c in pair})
    return {
        "version": model.version,
        "classes": classes,
        "cells": cells,
        "labelled": sum(cells.values()),
        "peak": max(cells.values(), default=0),
    }


def gallery(settings: Settings, per_folder: int = GALLERY_PER_FOLDER) -> dict[str, list[dict]]:
    """``{folder: [image]}``: the production model's latest classified images per class
    folder and ``_uncertain``, each with its output key and confidence."""
    from image_mlops.monitoring import sources

    model = sources.monitored_model(settings)
    hook = sources.pg_hook(settings)
    with hook.get_conn() as conn, conn.cursor() as cur:
        cur.execute(
            sources.sql("gallery"), {"model_version": model.version, "per_folder": per_folder}
        )
        names = [c[0] for c in cur.description]
        rows = [dict(zip(names, row, strict=True)) for row in cur.fetchall()]
    folders: dict[str, list[dict]] = {}
    for row in rows:
        folders.setdefault(row["folder"], []).append(row)
    return folders
