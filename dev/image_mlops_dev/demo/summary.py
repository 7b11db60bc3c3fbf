"""The end-of-demo summary: read back from S3, the registry and CloudWatch, not from memory."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from image_mlops import s3layout
from image_mlops.aws import aws_client
from image_mlops.config import Settings
from image_mlops.registry import decode_counts, list_packages
from image_mlops_dev.stack.settings import get_stack_settings


def _keys(s3: Any, bucket: str, prefix: str) -> list[str]:
    paginator = s3.get_paginator("list_objects_v2")
    return [
        obj["Key"]
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix)
        for obj in page.get("Contents", [])
    ]


def collect_summary(settings: Settings) -> dict:
    s3 = aws_client("s3", settings)
    summary: dict[str, Any] = {}

    validated = _keys(s3, settings.validated_bucket, "")
    summary["validated"] = {
        "labeled": sum(k.startswith(s3layout.LABELED_PREFIX) for k in validated),
        "incoming": sum(k.startswith(s3layout.INCOMING_PREFIX) for k in validated),
    }
    reasons: Counter[str] = Counter()
    for key in _keys(s3, settings.raw_bucket, s3layout.ERRORS_PREFIX):
        if key.endswith(s3layout.REASONS_FILE):
            body = s3.get_object(Bucket=settings.raw_bucket, Key=key)["Body"].read()
            for line in body.decode().splitlines():
                if line.strip():
                    reasons[json.loads(line)["reason"]] += 1
    summary["quarantined"] = dict(sorted(reasons.items()))

    folders: Counter[str] = Counter()
    for key in _keys(s3, settings.output_bucket, s3layout.PREDICTIONS_PREFIX):
        parts = key.split("/")
        if len(parts) >= 3 and not parts[1].startswith("_manifests"):
            folders[parts[1]] += 1
    summary["class_folders"] = dict(sorted(folders.items()))

    models = []
    for package in reversed(list_packages(settings)):  # oldest first
        metadata = package.metadata
        models.append(
            {
                "version": package.version,
                "status": package.approval_status,
                "accuracy": metadata.get("accuracy"),
                "macro_f1": metadata.get("macro_f1"),
                "reason": metadata.get("reason", ""),
                "labels_by_source": decode_counts(metadata.get("labels_by_source")),
                "new_labels": {
                    "total": int(metadata.get("new_labels") or 0),
                    "by_source": decode_counts(metadata.get("new_labels_by_source")),
                },
                "recent_since": metadata.get("recent_since"),
                "recent_accuracy": metadata.get("recent_accuracy"),
                "recent_n": metadata.get("recent_n"),
                "production_recent_accuracy": metadata.get("production_recent_accuracy"),
                "compared_with": metadata.get("compared_with", ""),
            }
        )
    summary["models"] = models
    from image_mlops.labels.events import counts

    summary["label_events"] = counts(settings)

    from image_mlops.deployment.endpoints import describe_endpoint, serving_model

    endpoints = []
    for stage in ("staging", "production"):
        name = settings.endpoint_name(stage)
        serving = serving_model(settings, name)
        if serving is None:
            continue
        endpoints.append(
            {
                "endpoint": name,
                "status": (describe_endpoint(settings, name) or {}).get("EndpointStatus", "?"),
                "config": serving.endpoint_config_name,
                "version": serving.package_version or "?",
            }
        )
    summary["endpoints"] = endpoints

    cloudwatch = aws_client("cloudwatch", settings)
    from image_mlops.monitoring.metrics import ALARM_PREFIX

    paginator = cloudwatch.get_paginator("describe_alarms")
    summary["alarms"] = {
        alarm["AlarmName"]: alarm["StateValue"]
        for page in paginator.paginate(AlarmNamePrefix=ALARM_PREFIX)
        for alarm in page.get("MetricAlarms", [])
    }
    summary["kpis"] = _latest_kpis(cloudwatch, settings)
    summary["notifications"] = _notifications(settings)
    return summary


def _notifications(settings: Settings) -> list[dict]:
    """What the notification topic was told (the local stack's inbox queue, drained)."""
    from image_mlops.notifications import topic_arn
    from image_mlops_dev.notification_inbox import drain
    from image_mlops_dev.stack.identities import admin_client
    from image_mlops_dev.stack.manager import NOTIFICATION_INBOX

    if topic_arn(settings) is None:
        return []
    # the inbox is the local stack's own (its setup made it), not the pipeline's: no role of
    # the template reads it
    sqs = admin_client("sqs", settings)
    try:
        url = sqs.get_queue_url(QueueName=NOTIFICATION_INBOX)["QueueUrl"]
    except sqs.exceptions.QueueDoesNotExist:
        return []
    return drain(url, settings)


def _latest_kpis(cloudwatch: Any, settings: Settings) -> dict[str, float]:
    """The latest value of every metric of the model (per class where there is one)."""
    import datetime as dt

    metrics = []
    paginator = cloudwatch.get_paginator("list_metrics")
    for page in paginator.paginate(Namespace=settings.cloudwatch_namespace):
        metrics.extend(page["Metrics"])
    wanted = [
        m
        for m in metrics
        if any(d["Name"] == "Model" and d["Value"] == settings.model_name for d in m["Dimensions"])
    ][:100]
    if not wanted:
        return {}
    now = dt.datetime.now(dt.UTC)
    queries = [
        {
            "Id": f"m{i}",
            # 1 s periods: the latest datum of the latest monitoring run, not a minute's mean
            "MetricStat": {"Metric": metric, "Period": 1, "Stat": "Maximum"},
            "ReturnData": True,
        }
        for i, metric in enumerate(wanted)
    ]
    result = cloudwatch.get_metric_data(
        MetricDataQueries=queries,
        StartTime=now - dt.timedelta(days=2),
        EndTime=now + dt.timedelta(minutes=5),
        ScanBy="TimestampDescending",
    )
    values: dict[str, float] = {}
    for query, data in zip(
        queries, sorted(result["MetricDataResults"], key=lambda r: int(r["Id"][1:])), strict=True
    ):
        if not data["Values"]:
            continue
        metric = query["MetricStat"]["Metric"]
        classes = [d["Value"] for d in metric["Dimensions"] if d["Name"] == "Class"]
        name = metric["MetricName"] + (f"[{classes[0]}]" if classes else "")
        values[name] = round(float(data["Values"][0]), 4)
    return dict(sorted(values.items()))


def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(str(x)) for x in col) for col in zip(header, *rows, strict=False)]
    line = "  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True))
    out = [line, "  ".join("-" * w for w in widths)]
    out += ["  ".join(str(c).ljust(w) for c, w in zip(r, widths, strict=True)) for r in rows]
    return "\n".join("    " + row for row in out)


PER_CLASS = ("TruePositives", "FalseNegatives", "FalsePositives", "Precision", "Recall")


def _kpi_tables(kpis: dict[str, float]) -> str:
    per_class: dict[str, dict[str, float]] = {}
    overall = []
    for name, value in kpis.items():
        metric, _, cls = name.partition("[")
        if cls:
            per_class.setdefault(cls.rstrip("]"), {})[metric] = value
        else:
            overall.append(f"{metric} {value:g}")
    rows = [
        [cls, *(f"{values[m]:g}" if m in values else "-" for m in PER_CLASS)]
        for cls, values in sorted(per_class.items())
    ]
    table = _table(rows, ["class", "TP", "FN", "FP", "precision", "recall"]) if rows else ""
    return table + "\n    " + ", ".join(overall)


def _learning_loop(s: dict, result: Any) -> str:
    """Labels by source and outcome; the drift retraining's model next to the one it replaces
    on the labels recorded since the drift alarm (the gate's recent window)."""
    lines = ["\nLearning loop (label events by source → outcome):"]
    lines.append(
        _table(
            [
                [source, ", ".join(f"{k} {v}" for k, v in sorted(outcomes.items()))]
                for source, outcomes in sorted(s.get("label_events", {}).items())
            ]
            or [["-", "no label events"]],
            ["source", "outcomes"],
        )
    )
    if result.waiting_reason:
        lines.append(f"  first look at the alarm: {result.waiting_reason}")
    retrained = [m for m in s["models"] if m.get("recent_accuracy")]
    if retrained:
        m = retrained[-1]
        new = m.get("new_labels") or {}
        by_source = ", ".join(f"{k} {v}" for k, v in sorted(new.get("by_source", {}).items()))
        lines.append(
            f"  version {m['version']} trained with {new.get('total', 0)} new labels "
            f"({by_source or 'none'}); on the {m.get('recent_n')} held-out labels recorded "
            f"since the drift alarm ({m.get('recent_since')}):"
        )
        import re

        found = re.search(r"/(\d+)/model\.tar\.gz$", m.get("compared_with", ""))
        production = f"v{found.group(1)}" if found else "the model"
        rows = [
            [f"{production} (in production)", str(m.get("production_recent_accuracy"))],
            [f"v{m['version']} (drift retraining)", m["recent_accuracy"]],
        ]
        lines.append(_table(rows, ["model", "accuracy on the labels since the alarm"]))
    lines.append(
        f"  drift: {result.drift_training_runs} retraining run started; a second evaluation "
        f"inside the cool-down started {result.second_cooldown_training_runs}."
    )
    return "\n".join(lines)


def format_summary(settings: Settings, result: Any) -> str:
    s = result.summary
    parts = ["", "=" * 78, f"image-mlops demo finished in {result.elapsed / 60:.1f} min", "=" * 78]
    v = s["validated"]
    parts.append(f"\nImages validated: {v['labeled']} labelled, {v['incoming']} incoming")
    if s["quarantined"]:
        parts.append("Images quarantined (errors/<run>/, reason codes):")
        parts.append(_table([[r, str(n)] for r, n in s["quarantined"].items()], ["reason", "n"]))
    parts.append("\nModel versions (SageMaker Model Registry):")
    parts.append(
        _table(
            [
                [str(m["version"]), m["status"], str(m["accuracy"]), str(m["macro_f1"])]
                for m in s["models"]
            ],
            ["version", "approval", "accuracy", "macro_f1"],
        )
    )
    parts.append("\nEndpoints:")
    parts.append(
        _table(
            [[e["endpoint"], e["status"], str(e["version"]), e["config"]] for e in s["endpoints"]],
            ["endpoint", "status", "version", "config"],
        )
    )
    parts.append(f"\nImages per class folder (s3://{settings.output_bucket}/predictions/):")
    parts.append(_table([[c, str(n)] for c, n in s["class_folders"].items()], ["folder", "n"]))
    if s["kpis"]:
        parts.append(f"\nLatest KPIs (CloudWatch namespace {settings.cloudwatch_namespace}):")
        parts.append(_kpi_tables(s["kpis"]))
    if s["alarms"]:
        parts.append("\nAlarms:")
        parts.append(_table([[a, st] for a, st in s["alarms"].items()], ["alarm", "state"]))
    parts.append(_learning_loop(s, result))
    if s.get("notifications"):
        parts.append(f"\nNotifications (SNS topic {settings.notification_topic}):")
        parts.append(
            _table(
                [
                    # CloudWatch's alarm messages carry no event attribute
                    [(n["sent_at"] or "")[11:19], n["event"] or "(alarm)", n["subject"]]
                    for n in s["notifications"]
                ],
                ["time", "event", "subject"],
            )
        )
    airflow_url = get_stack_settings().airflow_url
    parts.append(f"\nAirflow UI:  {airflow_url}   (stack keeps running; `make down` stops it)")
    parts.append(f"KPI page:    {airflow_url}/image-mlops/")
    parts.append(f"Review page: {airflow_url}/image-mlops/review")
    return "\n".join(parts)
