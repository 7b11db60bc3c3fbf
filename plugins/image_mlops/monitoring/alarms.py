"""The alarms, as code from the metric constants and the threshold settings.

Per class: true positives below ``tp_alarm_threshold`` and recall below
``recall_alarm_threshold``; per model: prediction-mix PSI above ``psi_alarm_threshold``; and
the artifact integrity alarm. PutMetricAlarm is an upsert, so :func:`put_alarms` is idempotent.

Each alarm tells the notification topic when it goes to ALARM (``AlarmActions``; none when
notifications are off). CloudWatch publishes to a topic encrypted with a key whose policy
lets ``cloudwatch.amazonaws.com`` use it; with the AWS managed key ``alias/aws/sns`` it
cannot, and the action fails (the template's topic has a customer managed key for that).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING

from image_mlops.config import Settings
from image_mlops.monitoring import metrics as m

if TYPE_CHECKING:
    from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook

KIND_TP_LOW = "tp-low"
KIND_RECALL_LOW = "recall-low"
KIND_PSI_HIGH = "psi-high"


def _alarm(
    settings: Settings,
    name: str,
    metric: str,
    dims: list[dict],
    statistic: str,
    comparison: str,
    threshold: float,
    description: str,
) -> dict:
    from image_mlops.notifications import topic_arn

    topic = topic_arn(settings)
    return {
        "AlarmName": name,
        "AlarmDescription": description,
        "Namespace": settings.cloudwatch_namespace,
        "MetricName": metric,
        "Dimensions": dims,
        "Statistic": statistic,
        "Period": m.PERIOD_SECONDS,
        "EvaluationPeriods": 1,
        "DatapointsToAlarm": 1,
        "ComparisonOperator": comparison,
        "Threshold": float(threshold),
        # no monitoring run in the period = no evidence of a problem
        "TreatMissingData": "notBreaching",
        "ActionsEnabled": topic is not None,
        "AlarmActions": [topic] if topic else [],
        "Tags": [{"Key": "project", "Value": "image-mlops"}],
    }


def alarm_definitions(settings: Settings, classes: Iterable[str]) -> list[dict]:
    model = settings.model_name
    out = []
    for cls in sorted(set(classes)):
        out.append(
            _alarm(
                settings,
                m.alarm_name(model, KIND_TP_LOW, cls),
                m.TRUE_POSITIVES,
                m.dimensions(model, cls),
                "Minimum",
                "LessThanThreshold",
                settings.tp_alarm_threshold,
                f"True positives of {cls} below {settings.tp_alarm_threshold:g} per window "
                "(feedback shows the class being missed). Triggers retrain_on_drift.",
            )
        )
        out.append(
            _alarm(
                settings,
                m.alarm_name(model, KIND_RECALL_LOW, cls),
                m.RECALL,
                m.dimensions(model, cls),
                "Minimum",
                "LessThanThreshold",
                settings.recall_alarm_threshold,
                f"Recall of {cls} below {settings.recall_alarm_threshold:g}.",
            )
        )
    out.append(
        _alarm(
            settings,
            m.alarm_name(model, KIND_PSI_HIGH),
            m.PREDICTION_PSI,
            m.dimensions(model),
            "Maximum",
            "GreaterThanThreshold",
            settings.psi_alarm_threshold,
            f"Predicted class mix drifted from training (PSI > {settings.psi_alarm_threshold:g}).",
        )
    )
    return out


def put_alarms(hook: CloudWatchMetricsHook, definitions: list[dict]) -> list[str]:
    for definition in definitions:
        hook.put_metric_alarm(**definition)
    names = [d["AlarmName"] for d in definitions]
    hook.log.info("Created or updated %s alarms", len(names))
    return names


def integrity_alarm(settings: Settings) -> dict:
    """ALARM as soon as one artifact was refused for not being the approved bytes."""
    definition = _alarm(
        settings,
        m.integrity_alarm_name(settings.model_name),
        m.ARTIFACT_INTEGRITY_FAILURES,
        m.dimensions(settings.model_name),
        "Sum",
        "GreaterThanOrEqualToThreshold",
        1,
        "A model artifact was refused: its sha256 is not the approved one (replaced after "
        "approval?). Nothing loaded it; find out who wrote it.",
    )
    return {**definition, "Period": 60}


def ensure_integrity_alarm(settings: Settings) -> str:
    """Put the integrity alarm (an upsert); returns its name."""
    from image_mlops.aws import aws_client

    definition = integrity_alarm(settings)
    aws_client("cloudwatch", settings).put_metric_alarm(**definition)
    return definition["AlarmName"]


def drift_alarm_since(settings: Settings):
    """The earliest time one of the model's alarms that are in ALARM now moved there (``None``
    when none is in ALARM)."""
    from image_mlops.cloudwatch.hooks import CloudWatchMetricsHook

    hook = CloudWatchMetricsHook(aws_conn_id=settings.aws_conn_id, region_name=settings.region)
    in_alarm = hook.describe_alarms(
        alarm_name_prefix=m.alarm_prefix(settings.model_name), state_value="ALARM"
    )
    # StateTransitionedTimestamp is when StateValue last changed (AWS); StateUpdatedTimestamp
    # also moves with the evaluation state, and is all that older APIs (and moto) return
    times = [
        moved
        for a in in_alarm
        if (moved := a.get("StateTransitionedTimestamp") or a.get("StateUpdatedTimestamp"))
    ]
    return min(times) if times else None
