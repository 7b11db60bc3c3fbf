"""The ``deployments`` table (image_mlops DB): one row per DAG run and stage.

``record(...)`` upserts by ``'<run id>/<stage>'``: each task adds what it knows and a re-run
rewrites the same row. Users query it with SQL (docs/readme/deployment.md); the DAG's tasks
return the record so the Airflow UI shows it in the run. SQL lives in
``image_mlops/include/sql/mlops/``.
"""

from __future__ import annotations

import datetime as dt
import json
from functools import cache
from typing import Any

from image_mlops import markdown as md
from image_mlops.config import INCLUDE_DIR, Settings

SQL_DIR = INCLUDE_DIR / "sql" / "mlops"
STAGES = ("approval", "staging", "production")
OUTCOMES = ("in_progress", "succeeded", "rejected", "smoke_failed", "rolled_back", "failed")
FIELDS = (
    "deployment_id",
    "run_id",
    "stage",
    "package_arn",
    "package_version",
    "endpoint_name",
    "endpoint_config_name",
    "previous_config_name",
    "model_name",
    "approver",
    "started_at",
    "finished_at",
    "outcome",
    "reason",
    "smoke_samples",
    "smoke_accuracy",
    "smoke_errors",
    "latency_p50_ms",
    "latency_p95_ms",
    "traffic_routing",
)


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def _execute(settings: Settings, statement: str, params: dict | None = None) -> list:
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    conn = PostgresHook(postgres_conn_id=settings.mlops_conn_id).get_conn()
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            columns = [c.name for c in cur.description] if cur.description else []
            rows = (
                [dict(zip(columns, row, strict=True)) for row in cur.fetchall()] if columns else []
            )
        conn.commit()
        return rows
    finally:
        conn.close()


def ensure_table(settings: Settings) -> None:
    """Create the table when missing (safe to call any number of times)."""
    _execute(settings, sql("deployments"))


def deployment_id(run_id: str, stage: str) -> str:
    return f"{run_id}/{stage}"


def record(
    settings: Settings,
    run_id: str,
    stage: str,
    *,
    package_arn: str,
    package_version: int,
    outcome: str,
    finished: bool = False,
    **fields: Any,
) -> dict[str, Any]:
    """Upsert the record of ``run_id``/``stage``; returns it (JSON-safe) for XCom and the UI."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage!r}")
    if outcome not in OUTCOMES:
        raise ValueError(f"unknown outcome {outcome!r}")
    unknown = set(fields) - set(FIELDS)
    if unknown:
        raise ValueError(f"unknown deployment fields: {sorted(unknown)}")
    row = {key: None for key in FIELDS}
    row.update(fields)
    row.update(
        deployment_id=deployment_id(run_id, stage),
        run_id=run_id,
        stage=stage,
        package_arn=package_arn,
        package_version=int(package_version),
        outcome=outcome,
        finished_at=dt.datetime.now(dt.UTC).isoformat() if finished else None,
    )
    ensure_table(settings)
    _execute(settings, sql("deployments_upsert"), {"record": json.dumps(row, default=str)})
    return {k: v for k, v in row.items() if v is not None and k != "started_at"}


def add_step(
    settings: Settings,
    run_id: str,
    stage: str,
    status: str,
    message: str,
    at: str | None = None,
) -> bool:
    """Append the step ``{"status", "message", "at"}`` (``at``: ISO time, default now) to the
    record's steps, once; returns whether it was new."""
    at = at or dt.datetime.now(dt.UTC).isoformat(timespec="seconds")
    step = {"status": status, "message": message, "at": at}
    ensure_table(settings)
    rows = _execute(
        settings,
        sql("deployments_add_step"),
        {"deployment_id": deployment_id(run_id, stage), "step": json.dumps(step)},
    )
    return bool(rows)


def for_run(settings: Settings, run_id: str) -> list[dict[str, Any]]:
    """The records of one run (stage order)."""
    ensure_table(settings)
    return _execute(settings, sql("deployments_for_run"), {"run_id": run_id})


def markdown(records: list[dict[str, Any]]) -> str:
    """A small markdown table of records (for a DAG run note or a log)."""
    lines = [
        "| stage | package | endpoint config | approver | outcome | smoke acc | p95 ms | reason |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        acc = r.get("smoke_accuracy")
        p95 = r.get("latency_p95_ms")
        lines.append(
            f"| {md.text(r['stage'])} | v{r['package_version']} "
            f"| {md.text(r.get('endpoint_config_name') or '')} "
            f"| {md.text(r.get('approver') or '')} | {md.text(r['outcome'])} "
            f"| {'' if acc is None else f'{acc:.3f}'} | {'' if p95 is None else f'{p95:.1f}'} "
            f"| {md.text(r.get('reason') or '')} |"
        )
    return "\n".join(lines)
