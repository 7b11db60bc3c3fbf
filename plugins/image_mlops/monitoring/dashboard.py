"""The CloudWatch dashboard, as code from the metric constants (PutDashboard)."""

from __future__ import annotations

from collections.abc import Iterable

from image_mlops.config import Settings
from image_mlops.monitoring import metrics as m

WIDTH = 24


def _metric_widget(
    settings: Settings,
    title: str,
    lines: list[list],
    stat: str,
    y: int,
    x: int = 0,
    width: int = 12,
    threshold: float | None = None,
) -> dict:
    properties: dict = {
        "title": title,
        "view": "timeSeries",
        "region": settings.region,
        "stat": stat,
        "period": m.PERIOD_SECONDS,
        "metrics": lines,
    }
    if threshold is not None:
        properties["annotations"] = {"horizontal": [{"label": "alarm", "value": threshold}]}
    return {"type": "metric", "x": x, "y": y, "width": width, "height": 6, "properties": properties}


def dashboard_body(settings: Settings, classes: Iterable[str], alarm_arns: list[str]) -> dict:
    ns, model = settings.cloudwatch_namespace, settings.model_name
    classes = sorted(set(classes))

    def per_class(metric: str) -> list[list]:
        return [[ns, metric, m.DIM_MODEL, model, m.DIM_CLASS, c, {"label": c}] for c in classes]

    def per_model(*metrics: str) -> list[list]:
        return [[ns, metric, m.DIM_MODEL, model, {"label": metric}] for metric in metrics]

    widgets = [
        {
            "type": "text",
            "x": 0,
            "y": 0,
            "width": WIDTH,
            "height": 2,
            "properties": {
                "markdown": f"# {model} — KPIs and drift\nNamespace `{ns}`, one point per "
                "monitor_model run; alarms drive retrain_on_drift."
            },
        },
        _metric_widget(
            settings,
            "True positives per class",
            per_class(m.TRUE_POSITIVES),
            "Minimum",
            2,
            0,
            threshold=settings.tp_alarm_threshold,
        ),
        _metric_widget(
            settings,
            "Recall per class",
            per_class(m.RECALL),
            "Minimum",
            2,
            12,
            threshold=settings.recall_alarm_threshold,
        ),
        _metric_widget(settings, "Precision per class", per_class(m.PRECISION), "Average", 8, 0),
        _metric_widget(
            settings,
            "Accuracy, confidence, uncertain share",
            per_model(m.ACCURACY, m.MEAN_CONFIDENCE, m.UNCERTAIN_SHARE),
            "Average",
            8,
            12,
        ),
        _metric_widget(
            settings,
            "Prediction-mix PSI",
            per_model(m.PREDICTION_PSI),
            "Maximum",
            14,
            0,
            threshold=settings.psi_alarm_threshold,
        ),
        _metric_widget(
            settings, "Predicted share per class", per_class(m.PREDICTED_SHARE), "Average", 14, 12
        ),
    ]
    if alarm_arns:
        widgets.append(
            {
                "type": "alarm",
                "x": 0,
                "y": 20,
                "width": WIDTH,
                "height": 4,
                "properties": {"title": "Alarm states", "alarms": alarm_arns[:100]},
            }
        )
    return {"widgets": widgets}
