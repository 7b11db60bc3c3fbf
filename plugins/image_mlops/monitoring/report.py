"""The per-run HTML report (self-contained, inline SVG) written to S3."""

from __future__ import annotations

import datetime as dt
from html import escape
from typing import Any

from image_mlops.config import Settings
from image_mlops.monitoring.svg import bar_chart


def render_report(summary: dict[str, Any], alarms: dict[str, Any] | None, run_id: str) -> str:
    kpis = summary["kpis"]
    per_class = dict(sorted(kpis["per_class"].items()))
    rows = "".join(
        f'<tr class="kpi-row" data-class="{escape(c)}"><td>{escape(c)}</td><td>{k["tp"]}</td>'
        f"<td>{k['fp']}</td><td>{k['fn']}</td><td>{k['precision']:.3f}</td>"
        f"<td>{k['recall']:.3f}</td><td>{k['predicted']}</td></tr>"
        for c, k in per_class.items()
    )
    drift_rows = "".join(
        f"<tr><td>{escape(d['stat'])}</td><td>{d['ks']:.3f}</td><td>{d['pvalue']:.3g}</td>"
        f"<td>{d['n']}</td></tr>"
        for d in summary.get("input_drift", [])
    )
    counts = bar_chart(
        {c: {"TP": k["tp"], "FP": k["fp"], "FN": k["fn"]} for c, k in per_class.items()},
        ["TP", "FP", "FN"],
        title="True / false positives and false negatives per class",
    )
    ratios = bar_chart(
        {c: {"precision": k["precision"], "recall": k["recall"]} for c, k in per_class.items()},
        ["precision", "recall"],
        title="Precision and recall per class",
        y_max=1.0,
    )
    in_alarm = (alarms or {}).get("in_alarm", [])
    alarm_html = (
        "<p class='alarm'>In ALARM: " + ", ".join(escape(a) for a in in_alarm) + "</p>"
        if in_alarm
        else "<p class='ok'>No alarm in ALARM state.</p>"
    )
    psi = summary.get("psi")
    err = summary.get("validation_error_rate")
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<title>Monitoring report {escape(summary["model"])} v{summary["model_version"]}</title>
<style>body{{font-family:sans-serif;margin:24px;color:#222}}table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:3px 8px;text-align:right}}td:first-child{{text-align:left}}
.alarm{{color:#b00;font-weight:bold}}.ok{{color:#070}}</style></head><body>
<h1>{escape(summary["model"])} — model version {summary["model_version"]}</h1>
<p>Run <code>{escape(run_id)}</code>; window {escape(summary["window_start"])} →
{escape(summary["window_end"])}; generated {dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC.</p>
{alarm_html}
<ul>
<li>Predictions: <b id="predictions">{kpis["predictions"]}</b>, with feedback
 <b id="labeled">{kpis["labeled"]}</b>, errors {kpis["errors"]}</li>
<li>Accuracy: <b id="accuracy">{kpis["accuracy"]:.3f}</b></li>
<li>Mean confidence {kpis["mean_confidence"]:.3f},
 uncertain share {kpis["uncertain_share"]:.3f}</li>
<li>Prediction-mix PSI: <b id="psi">{"n/a" if psi is None else f"{psi:.3f}"}</b></li>
<li>Validation error rate: {"n/a" if err is None else f"{err:.3f}"}</li>
</ul>
{counts}{ratios}
<h2>Per class</h2>
<table><tr><th>class</th><th>TP</th><th>FP</th><th>FN</th><th>precision</th><th>recall</th>
<th>predicted</th></tr>{rows}</table>
<h2>Input drift (KS two-sample vs training baseline)</h2>
<table><tr><th>statistic</th><th>KS</th><th>p-value</th><th>n</th></tr>{drift_rows}</table>
</body></html>
"""


def write_report(
    settings: Settings, summary: dict[str, Any], alarms: dict[str, Any] | None, run_id: str
) -> str:
    """Render and upload; returns the ``s3://`` URI (deterministic per run: retry-safe)."""
    from image_mlops import s3layout
    from image_mlops.aws import s3_hook

    key = s3layout.monitoring_report_key(run_id)
    s3_hook(settings).load_string(
        render_report(summary, alarms, run_id),
        key=key,
        bucket_name=settings.output_bucket,
        replace=True,
    )
    return f"s3://{settings.output_bucket}/{key}"
