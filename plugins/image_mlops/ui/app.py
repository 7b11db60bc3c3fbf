"""The KPI page (FastAPI): KPIs per class over time, alarm states, deployed versions.

Charts are inline SVG drawn on the server — no JavaScript, no CDN — so the page works
offline. It reads CloudWatch (GetMetricData, DescribeAlarms) and SageMaker through the
Airflow AWS connection, so it shows the local emulator or AWS alike.
"""

from __future__ import annotations

from pathlib import Path

from fastapi import FastAPI, Query
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

HERE = Path(__file__).parent

app = FastAPI(title="image-mlops KPIs", docs_url=None, redoc_url=None, openapi_url=None)
app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")


def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())


def page_context(hours: float, period: int) -> dict:
    from image_mlops.config import get_settings
    from image_mlops.monitoring.svg import line_chart
    from image_mlops.ui import data

    settings = get_settings()
    errors: list[str] = []
    classes, series = [], {}
    try:
        classes, series = data.kpi_series(settings, hours, period)
    except Exception as exc:
        errors.append(f"CloudWatch metrics: {type(exc).__name__}: {exc}")
    try:
        alarm_rows = data.alarms(settings)
    except Exception as exc:
        alarm_rows = []
        errors.append(f"CloudWatch alarms: {type(exc).__name__}: {exc}")
    charts = []
    for metric, _stat, threshold_name in (*data.CLASS_CHARTS, *data.MODEL_CHARTS):
        threshold = getattr(settings, threshold_name) if threshold_name else None
        title = f"{metric}" + (
            " per class" if metric in dict.fromkeys(c[0] for c in data.CLASS_CHARTS) else ""
        )
        charts.append(
            {
                "metric": metric,
                "svg": line_chart(series.get(metric, {}), title=title, threshold=threshold),
            }
        )
    latest = {
        metric: {name: pts[-1][1] for name, pts in by_name.items() if pts}
        for metric, by_name in series.items()
    }
    return {
        "settings": settings,
        "hours": hours,
        "period": period,
        "classes": classes,
        "charts": charts,
        "latest": latest,
        "alarms": alarm_rows,
        "deployed": data.deployed_versions(settings),
        "decisions": data.decisions(settings),
        "errors": errors,
    }


@app.get("/", response_class=HTMLResponse)
def kpi_page(
    hours: float = Query(48, gt=0, le=24 * 14), period: int = Query(300, ge=60, multiple_of=60)
) -> HTMLResponse:
    context = page_context(hours, period)
    return HTMLResponse(_env().get_template("kpis.html").render(**context))


@app.get("/api/kpis")
def kpi_json(hours: float = Query(48, gt=0), period: int = Query(300, ge=60)) -> JSONResponse:
    context = page_context(hours, period)
    return JSONResponse(
        {
            "classes": context["classes"],
            "latest": context["latest"],
            "alarms": context["alarms"],
            "deployed": context["deployed"],
            "errors": context["errors"],
        }
    )
