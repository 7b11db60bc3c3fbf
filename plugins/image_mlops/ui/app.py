"""The KPI page (FastAPI): KPIs per class over time, alarm states, deployed versions; and the
Review page, where people confirm or correct the model's classes (→ training labels).

Charts are SVG drawn on the server by matplotlib (:mod:`image_mlops.monitoring.charts`) — no
JavaScript, no CDN — so the page works offline; the gallery's thumbnails come through the
page's own authenticated route, never a bucket URL. It reads CloudWatch (GetMetricData,
DescribeAlarms) and SageMaker through the Airflow AWS connection, so it shows the local
emulator or AWS alike.

Airflow does not authenticate a plugin's app by itself: every route here depends on the
api-server's own security (:mod:`airflow.api_fastapi.core_api.security`), read access to the
``monitor_model`` DAG for the KPI page; the Review page needs read access to ``ingest_labels``
to look and edit access to post decisions. A browser without a session is sent to Airflow's
login page; the JSON API answers 401/403. What goes wrong behind the page is logged in the
api-server's log and shown to the browser only as a short sentence.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import quote

from fastapi import Depends, FastAPI, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse
from fastapi.security import HTTPBearer
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

HERE = Path(__file__).parent
#: The DAG whose permissions guard the page (read: the page and its API).
MONITOR_DAG = "monitor_model"
#: The DAG whose permissions guard the Review page (read: look; edit: post decisions).
LABELS_DAG = "ingest_labels"
#: Bounds of the query parameters: two weeks back at most, periods of a minute to a day.
MAX_HOURS = 24 * 14
MIN_PERIOD, MAX_PERIOD = 60, 24 * 3600

log = logging.getLogger(__name__)

app = FastAPI(title="image-mlops KPIs", docs_url=None, redoc_url=None, openapi_url=None)
_bearer = HTTPBearer(auto_error=False)


class LoginRequired(Exception):
    """A browser asked for the page without a session: send it to Airflow's login."""


async def _require_access(request: Request, method: str, dag_id: str = MONITOR_DAG):
    """The signed-in user, once Airflow's auth manager allows ``method`` on ``dag_id``."""
    # Imported here, not at module level: Airflow imports plugin files in every component,
    # and the api-server's security module costs seconds to import where it is not needed.
    from airflow.api_fastapi.core_api.security import get_user, requires_access_dag

    user = await get_user(request, None, await _bearer(request))
    # DAG permission checks read the metadata database: off the event loop
    await run_in_threadpool(requires_access_dag(method, param_dag_id=dag_id), request, user)
    return user


async def _for_browser(request: Request, method: str, dag_id: str):
    try:
        return await _require_access(request, method, dag_id)
    except HTTPException as exc:
        if exc.status_code == 401:
            raise LoginRequired from exc
        raise


async def monitor_reader(request: Request) -> None:
    """Read access to the monitoring DAG (raises 401/403 as the REST API does)."""
    await _require_access(request, "GET")


async def monitor_reader_page(request: Request) -> None:
    """:func:`monitor_reader` for a browser: no session means the login page."""
    await _for_browser(request, "GET", MONITOR_DAG)


async def labels_reader_page(request: Request) -> None:
    """Read access to ``ingest_labels``: see the review queue and its thumbnails."""
    await _for_browser(request, "GET", LABELS_DAG)


async def labels_editor(request: Request):
    """Edit access to ``ingest_labels``: post review decisions. Returns the user.

    The session cookie is ``SameSite=Lax`` (a cross-site form post does not carry it); a
    request that says it comes from another origin is refused all the same."""
    origin = request.headers.get("origin")
    if origin and origin.rstrip("/") != f"{request.url.scheme}://{request.url.netloc}":
        raise HTTPException(403, "review decisions are accepted from this site's own page only")
    return await _require_access(request, "PUT", LABELS_DAG)


@app.exception_handler(LoginRequired)
async def _to_login(request: Request, _exc: LoginRequired) -> RedirectResponse:
    from airflow.api_fastapi.app import get_auth_manager

    next_url = str(request.url)
    try:
        login = get_auth_manager().get_url_login(next_url=next_url)
    except Exception:  # an auth manager without a login page of its own
        login = f"/auth/login?next={quote(next_url, safe='')}"
    return RedirectResponse(login, status_code=303)


app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")

Hours = Annotated[float, Query(gt=0, le=MAX_HOURS)]
Period = Annotated[int, Query(ge=MIN_PERIOD, le=MAX_PERIOD, multiple_of=60)]


def _env():
    from jinja2 import Environment, FileSystemLoader, select_autoescape

    return Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=select_autoescape())


def page_context(hours: float, period: int) -> dict:
    from image_mlops.config import get_settings
    from image_mlops.monitoring.charts import line_chart
    from image_mlops.ui import data

    settings = get_settings()
    errors: list[str] = []

    def attempt(what: str, read, default):
        try:
            return read()
        except Exception:
            # the browser gets a sentence; the details (which may name hosts, buckets or
            # accounts) go to the api-server's log only
            log.exception("KPI page: reading %s failed", what)
            errors.append(f"{what} are unavailable right now (details in the api-server log).")
            return default

    classes, series = attempt(
        "CloudWatch metrics", lambda: data.kpi_series(settings, hours, period), ([], {})
    )
    alarm_rows = attempt("CloudWatch alarms", lambda: data.alarms(settings), [])
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
        "deployed": attempt("Deployed versions", lambda: data.deployed_versions(settings), []),
        "decisions": attempt("Retraining decisions", lambda: data.decisions(settings), []),
        "confusion": attempt(
            "Labelled predictions", lambda: data.labelled_window(settings, hours), None
        ),
        "gallery": attempt("Classified images", lambda: data.gallery(settings), {}),
        "errors": errors,
    }


@app.get("/", response_class=HTMLResponse, dependencies=[Depends(monitor_reader_page)])
def kpi_page(hours: Hours = 48, period: Period = 300) -> HTMLResponse:
    context = page_context(hours, period)
    return HTMLResponse(_env().get_template("kpis.html").render(**context))


@app.get("/api/kpis", dependencies=[Depends(monitor_reader)])
def kpi_json(hours: Hours = 48, period: Period = 300) -> JSONResponse:
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


# --- the Review page -------------------------------------------------------------------------


@app.get("/review", response_class=HTMLResponse, dependencies=[Depends(labels_reader_page)])
def review_page(saved: Annotated[int | None, Query(ge=0, le=10_000)] = None) -> HTMLResponse:
    import uuid

    from image_mlops.config import get_settings
    from image_mlops.labels import review

    settings = get_settings()
    errors: list[str] = []
    try:
        items, classes = review.screen(settings)
    except Exception:
        log.exception("Review page: reading the review queue failed")
        errors.append("The review queue is unavailable right now (details in the api-server log).")
        items, classes = [], []
    page_id = uuid.uuid4().hex  # one id per decision: a form posted twice is recorded once
    html = (
        _env()
        .get_template("review.html")
        .render(
            settings=settings,
            items=items,
            classes=classes,
            page_id=page_id,
            saved=saved,
            errors=errors,
        )
    )
    return HTMLResponse(html)


ImageKey = Annotated[str, Query(min_length=1, max_length=1024)]


@app.get("/review/thumbnail", dependencies=[Depends(labels_reader_page)])
def review_thumbnail(key: ImageKey):
    """A classified image's thumbnail for the Review page (read access to ``ingest_labels``)."""
    return _thumbnail(key)


@app.get("/gallery/thumbnail", dependencies=[Depends(monitor_reader_page)])
def gallery_thumbnail(key: ImageKey):
    """The same thumbnail for the KPI page's gallery (read access to ``monitor_model``)."""
    return _thumbnail(key)


def _thumbnail(key: str):
    from fastapi.responses import Response

    from image_mlops.config import get_settings
    from image_mlops.labels import review

    if not review.thumbnail_key_allowed(key):
        raise HTTPException(404, "no such image")
    try:
        body = review.thumbnail(get_settings(), key)
    except review.ReviewError as exc:
        raise HTTPException(422, str(exc)) from exc
    except Exception as exc:
        log.exception("thumbnail of %s failed", key)
        raise HTTPException(404, "this image cannot be shown right now") from exc
    return Response(
        body, media_type="image/jpeg", headers={"Cache-Control": "private, max-age=300"}
    )


@app.post("/review")
async def review_post(
    request: Request, user: Annotated[Any, Depends(labels_editor)]
) -> RedirectResponse:
    from image_mlops.config import get_settings
    from image_mlops.labels import review

    form = await request.form()
    decisions = [
        {
            "decision_id": form.get(f"id-{n}"),
            "image_sha256": form.get(f"sha-{n}"),
            "source_key": form.get(f"key-{n}"),
            "label": form.get(f"label-{n}"),
        }
        for n in range(min(int(form.get("count") or 0), review.PAGE_SIZE))
    ]
    settings = get_settings()
    reviewer = user.get_name() if hasattr(user, "get_name") else str(user)
    try:
        classes = await run_in_threadpool(review.classes, settings)
        saved = await run_in_threadpool(
            review.record_decisions, settings, decisions, reviewer=reviewer, classes=classes
        )
    except review.ReviewError as exc:
        raise HTTPException(422, str(exc)) from exc
    return RedirectResponse(f"review?saved={saved}", status_code=303)
