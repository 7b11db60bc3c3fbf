"""One monitoring pass: KPIs + drift for the monitored model → CloudWatch metrics.

``compute_and_publish`` is what the ``monitor_model`` task calls; it returns a small
JSON summary (counts and ratios only) that goes to XCom and into the report.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import TYPE_CHECKING, Any

from image_mlops.config import Settings
from image_mlops.monitoring import metrics as m

if TYPE_CHECKING:
    from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook
    from image_mlops.monitoring.drift import KsResult
    from image_mlops.monitoring.kpis import Kpis

log = logging.getLogger(__name__)


def metrics_hook(settings: Settings) -> CloudWatchMetricsHook:
    from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook

    return CloudWatchMetricsHook(aws_conn_id=settings.aws_conn_id, region_name=settings.region)


def publish_once(settings: Settings, kind: str, run_id: str, data: list[dict]) -> bool:
    """Publish ``data`` at most once for this run; ``False`` when an earlier try did.

    CloudWatch has no idempotency token: a retried task would add its sums again. The run's
    marker (``s3://OUTPUT/_work/published/<kind>/<run>``) is created first, conditionally;
    a retry finds it and publishes nothing. If the publication itself fails the marker goes
    again, so the retry publishes. (Up to 1,000 data points are one call: all or nothing.)
    """
    from image_mlops import s3layout
    from image_mlops.aws import aws_client, is_precondition_failed

    s3 = aws_client("s3", settings)
    marker = s3layout.published_marker_key(kind, run_id)
    try:
        s3.put_object(
            Bucket=settings.output_bucket,
            Key=marker,
            Body=json.dumps({"run_id": run_id, "data_points": len(data)}).encode(),
            IfNoneMatch="*",
        )
    except Exception as exc:
        if not is_precondition_failed(exc):
            raise
        log.info("%s metrics of run %s were published by an earlier try: not again", kind, run_id)
        return False
    try:
        metrics_hook(settings).put_metric_data(settings.cloudwatch_namespace, data)
    except Exception:
        s3.delete_object(Bucket=settings.output_bucket, Key=marker)
        raise
    return True


def metric_data(
    kpis: Kpis,
    *,
    model: str,
    version: int,
    timestamp: dt.datetime,
    classes: list[str],
    psi_value: float | None,
    ks_results: list[KsResult],
    validation_error_rate: float | None,
) -> list[dict]:
    """Every data point of one pass, each with the explicit ``timestamp``."""
    data = []
    labeled = kpis.labeled > 0
    for cls in classes:
        k = kpis.per_class.get(cls)
        if k is None:
            from image_mlops.monitoring.kpis import ClassKpis

            k = ClassKpis()
        share = k.predicted / kpis.predictions if kpis.predictions else 0.0
        data.append(m.datum(m.PREDICTED_SHARE, share, timestamp, model=model, cls=cls))
        if labeled:  # without feedback, TP=0 would be noise, not evidence
            data += [
                m.datum(m.TRUE_POSITIVES, k.tp, timestamp, model=model, cls=cls),
                m.datum(m.FALSE_POSITIVES, k.fp, timestamp, model=model, cls=cls),
                m.datum(m.FALSE_NEGATIVES, k.fn, timestamp, model=model, cls=cls),
                m.datum(m.PRECISION, k.precision, timestamp, model=model, cls=cls),
                m.datum(m.RECALL, k.recall, timestamp, model=model, cls=cls),
            ]
    data += [
        m.datum(m.PREDICTIONS, kpis.predictions, timestamp, model=model),
        m.datum(m.LABELED_PREDICTIONS, kpis.labeled, timestamp, model=model),
        m.datum(m.MODEL_VERSION, version, timestamp, model=model),
    ]
    if labeled:
        data.append(m.datum(m.ACCURACY, kpis.accuracy, timestamp, model=model))
    if kpis.predictions:
        data += [
            m.datum(m.MEAN_CONFIDENCE, kpis.mean_confidence, timestamp, model=model),
            m.datum(m.UNCERTAIN_SHARE, kpis.uncertain_share, timestamp, model=model),
        ]
    if psi_value is not None:
        data.append(m.datum(m.PREDICTION_PSI, psi_value, timestamp, model=model))
    for ks in ks_results:
        data.append(m.datum(m.INPUT_DRIFT_KS, ks.statistic, timestamp, model=model, stat=ks.stat))
        data.append(m.datum(m.INPUT_DRIFT_PVALUE, ks.pvalue, timestamp, model=model, stat=ks.stat))
    if validation_error_rate is not None:
        data.append(m.datum(m.VALIDATION_ERROR_RATE, validation_error_rate, timestamp, model=model))
    return data


def validation_error_rate(
    hook: CloudWatchMetricsHook, settings: Settings, start: dt.datetime, end: dt.datetime
) -> float | None:
    """Quarantined / all images, from validation's ``ValidationResults`` metric.

    CloudWatch matches a metric by its full dimension set, so every (Outcome, Reason)
    combination validation published is queried as it is. None when validation published
    nothing in the window.
    """
    ns = settings.cloudwatch_namespace
    metrics = hook.list_metrics(ns, m.VALIDATION_RESULTS)
    if not metrics:
        return None
    period = max(60, int((end - start).total_seconds()) // 60 * 60)
    queries = [
        {
            "Id": f"r{i}",
            "MetricStat": {"Metric": metric, "Period": period, "Stat": "Sum"},
        }
        for i, metric in enumerate(metrics)
    ]
    data = hook.get_metric_data(queries, start, end)
    total = errors = 0.0
    for i, metric in enumerate(metrics):
        count = sum(v for _, v in data.get(f"r{i}", []))
        total += count
        outcome = {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])}.get(m.DIM_OUTCOME)
        if outcome == m.OUTCOME_QUARANTINED:
            errors += count
    return errors / total if total else None


def live_input_stats(
    settings: Settings,
    model: Any,
    predictions: list[dict],
    start: dt.datetime,
    end: dt.datetime,
) -> tuple[list[dict], str]:
    """The live side of input drift: the production endpoint's captured inputs when data
    capture is on and captured any in the window, else the classified images' statistics.
    Returns the statistics and where they came from (``data_capture`` or ``predictions``)."""
    from image_mlops.monitoring import sources

    if settings.data_capture_percent > 0:
        endpoint = model.endpoint_name or settings.endpoint_name("production")
        captured = sources.load_captured_input_stats(settings, endpoint, start, end)
        if captured:
            return captured, "data_capture"
    return [p["input_stats"] for p in predictions if p.get("input_stats")], "predictions"


def compute_and_publish(
    settings: Settings,
    *,
    window_hours: float,
    model_version: int | None = None,
    now: dt.datetime | None = None,
    run_id: str | None = None,
) -> dict[str, Any]:
    """One pass; with ``run_id`` its data is published at most once per run (retries)."""
    from image_mlops.monitoring import drift, sources
    from image_mlops.monitoring.kpis import compute_kpis

    # the query uses the precise end (a row written this very second counts); the metric
    # timestamp is whole seconds, as CloudWatch stores it
    now = now or dt.datetime.now(dt.UTC)
    start = now - dt.timedelta(hours=window_hours)
    model = sources.monitored_model(settings, model_version)
    baseline = sources.load_baseline(model.baseline_uri, settings)
    if baseline is None:
        log.warning("No training baseline at %s: drift signals are skipped", model.baseline_uri)
    predictions = sources.load_predictions(settings, model.version, start, now)
    labels, skipped, feedback_files = sources.load_feedback(settings)
    classes = sorted((baseline or {}).get("classes") or [])
    kpis = compute_kpis(predictions, labels, classes)
    classes = sorted(set(classes) | set(kpis.per_class))

    psi_value = None
    ks_results: list = []
    input_source = None
    if baseline and kpis.predictions:
        psi_value = drift.psi(baseline.get("class_distribution") or {}, kpis.class_mix())
        live_stats, input_source = live_input_stats(settings, model, predictions, start, now)
        ks_results = drift.input_drift(live_stats, baseline.get("input_stats") or {})

    hook = metrics_hook(settings)
    error_rate = validation_error_rate(hook, settings, start, now)
    data = metric_data(
        kpis,
        model=settings.model_name,
        version=model.version,
        timestamp=now.replace(microsecond=0),
        classes=classes,
        psi_value=psi_value,
        ks_results=ks_results,
        validation_error_rate=error_rate,
    )
    if run_id is None:
        hook.put_metric_data(settings.cloudwatch_namespace, data)
        published = True
    else:
        published = publish_once(settings, "monitoring", run_id, data)
    log.info(
        "Model %s v%s, window %s → %s: %s predictions, %s with feedback, accuracy %.3f, PSI %s",
        settings.model_name,
        model.version,
        start.isoformat(),
        now.isoformat(),
        kpis.predictions,
        kpis.labeled,
        kpis.accuracy,
        "n/a" if psi_value is None else f"{psi_value:.3f}",
    )
    if skipped:
        log.warning("Feedback rows skipped: %s", dict(skipped))
    return {
        "model": settings.model_name,
        "model_version": model.version,
        "baseline_uri": model.baseline_uri,
        "baseline_found": baseline is not None,
        "window_start": start.isoformat(),
        "window_end": now.isoformat(),
        "classes": classes,
        "kpis": kpis.summary(),
        "psi": None if psi_value is None else round(psi_value, 4),
        "input_drift": [
            {"stat": k.stat, "ks": round(k.statistic, 4), "pvalue": k.pvalue, "n": k.n_live}
            for k in ks_results
        ],
        "input_drift_source": input_source,
        "validation_error_rate": error_rate,
        "feedback_files": feedback_files,
        "feedback_skipped": dict(skipped),
        "data_points": len(data),
        "published": published,
    }


def update_dashboard_and_alarms(settings: Settings, classes: list[str]) -> dict[str, Any]:
    """PutMetricAlarm for every alarm, then PutDashboard (alarm widget needs the ARNs)."""
    from image_mlops.cloudwatch.conditions import alarm_states
    from image_mlops.monitoring.alarms import alarm_definitions, integrity_alarm, put_alarms
    from image_mlops.monitoring.dashboard import dashboard_body

    hook = metrics_hook(settings)
    names = put_alarms(hook, [*alarm_definitions(settings, classes), integrity_alarm(settings)])
    prefix = m.alarm_prefix(settings.model_name)
    arns = [a["AlarmArn"] for a in hook.describe_alarms(alarm_name_prefix=prefix)]
    name = m.dashboard_name(settings.model_name)
    messages = hook.put_dashboard(name, dashboard_body(settings, classes, arns))
    # CloudWatch evaluates the alarms (the local emulator too, when metric data arrives)
    states = alarm_states(hook, alarm_name_prefix=prefix)
    return {
        "dashboard": name,
        "dashboard_messages": len(messages),
        "alarms": len(names),
        "in_alarm": [s["name"] for s in states if s["state"] == "ALARM"],
    }
