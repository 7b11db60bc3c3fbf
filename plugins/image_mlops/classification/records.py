"""The ``predictions`` table (image_mlops DB): created idempotently, upserted per batch.

Keyed by ``(image_sha256, model_version)``: classifying the same image again with the same
model updates its row; a new model version adds a row. Monitoring reads this table and may
call :func:`ensure_predictions_table` itself. Beside it, ``prediction_sources`` records the
object versions (key, ETag) each model version read and the sha256 of their bytes, which is
what planning matches the bucket listing against. SQL lives in ``image_mlops/include/sql/mlops/``.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import cache
from typing import Any

from image_mlops.config import INCLUDE_DIR, Settings, get_settings

SQL_DIR = INCLUDE_DIR / "sql" / "mlops"

#: Reasons recorded in ``error_reason`` (a closed set; see docs/readme/classification.md).
MISSING_OBJECT = "missing_object"
READ_FAILED = "read_failed"
UNREADABLE_IMAGE = "unreadable_image"
PREDICTION_ERROR = "prediction_error"
ERROR_REASONS = (MISSING_OBJECT, READ_FAILED, UNREADABLE_IMAGE, PREDICTION_ERROR)
#: Errors that say nothing about the image itself: the next run tries those images again.
RETRYABLE_REASONS = (MISSING_OBJECT, READ_FAILED)

COLUMNS = (
    "image_sha256",
    "model_version",
    "model_package_arn",
    "endpoint_name",
    "source_key",
    "output_key",
    "predicted_class",
    "confidence",
    "top3",
    "uncertain",
    "error_reason",
    "run_id",
    "predicted_at",
    "input_stats",
    "source_etag",
)


@cache
def sql(name: str) -> str:
    """The text of ``image_mlops/include/sql/mlops/<name>.sql``."""
    return (SQL_DIR / f"{name}.sql").read_text()


def _hook(settings: Settings | None = None):
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    settings = settings or get_settings()
    return PostgresHook(postgres_conn_id=settings.mlops_conn_id)


@contextmanager
def connect(settings: Settings | None = None) -> Iterator[Any]:
    """One database connection for several statements (a batch opens one, not one each)."""
    conn = _hook(settings).get_conn()
    try:
        yield conn
    finally:
        conn.close()


def _execute(
    settings: Settings | None, statement: str, params: dict | None = None, conn: Any = None
) -> list:
    if conn is None:
        with connect(settings) as own:
            return _execute(settings, statement, params, own)
    try:
        with conn.cursor() as cur:
            cur.execute(statement, params)
            rows = cur.fetchall() if cur.description else []
        conn.commit()
    except Exception:
        conn.rollback()
        raise
    return rows


def ensure_predictions_table(settings: Settings | None = None) -> None:
    """Create the table and its indexes when missing (safe to call any number of times)."""
    _execute(settings, sql("predictions"))


def classified_sources(
    model_version: int,
    items: Iterable[dict[str, Any]],
    settings: Settings | None = None,
) -> tuple[set[tuple[str, str]], dict[str, str]]:
    """What ``model_version`` has already classified (for good) among listed objects.

    ``items`` are ``{key, etag}`` from the bucket listing. Returns ``(done, legacy)``: the
    ``(key, etag)`` of the object versions this version read whose content has a row of it
    (``prediction_sources``), and ``{source_key: sha256}`` of this version's rows for keys no
    ``prediction_sources`` row covers (written before that table existed; the caller confirms
    those by the validation metadata's sha256).
    """
    items = list(items)
    if not items:
        return set(), {}
    rows = _execute(
        settings,
        sql("predictions_done"),
        {
            "model_version": int(model_version),
            "keys": json.dumps(sorted({i["key"] for i in items})),
            "retryable": json.dumps(list(RETRYABLE_REASONS)),
        },
    )
    done = {(key, etag) for key, etag, sha in rows if sha is None}
    legacy = {key: sha for key, _etag, sha in rows if sha is not None}
    return done, legacy


def record_sources(
    model_version: int,
    sources: Iterable[dict[str, Any]],
    settings: Settings | None = None,
    conn: Any = None,
) -> int:
    """Record the object versions ``model_version`` read: ``{key, etag, sha256}`` each (the
    ETag of the version read, the sha256 of its bytes); returns how many."""
    rows = {
        source["key"]: {
            "model_version": int(model_version),
            "source_key": source["key"],
            "source_etag": source["etag"].strip('"'),
            "image_sha256": source["sha256"],
        }
        for source in sources
        if source.get("etag") and source.get("sha256")
    }
    if not rows:
        return 0
    _execute(
        settings,
        sql("prediction_sources_upsert"),
        {"rows": json.dumps([rows[key] for key in sorted(rows)])},
        conn,
    )
    return len(rows)


def classified_contents(
    model_version: int, shas: Iterable[str], settings: Settings | None = None, conn: Any = None
) -> dict[str, str]:
    """``sha256 → source_key`` of the contents ``model_version`` has classified for good."""
    shas = sorted(set(shas))
    if not shas:
        return {}
    found = _execute(
        settings,
        sql("predictions_classified"),
        {
            "model_version": int(model_version),
            "shas": json.dumps(shas),
            "retryable": json.dumps(list(RETRYABLE_REASONS)),
        },
        conn,
    )
    return dict(found)


def previous_placements(
    shas: Iterable[str], settings: Settings | None = None, conn: Any = None
) -> dict[str, set[str]]:
    """``sha256 → {output keys}`` where earlier classifications placed these images."""
    shas = sorted(set(shas))
    if not shas:
        return {}
    placements: dict[str, set[str]] = {}
    found = _execute(settings, sql("predictions_placements"), {"shas": json.dumps(shas)}, conn)
    for sha, key in found:
        placements.setdefault(sha, set()).add(key)
    return placements


def upsert_predictions(
    rows: Sequence[dict[str, Any]], settings: Settings | None = None, conn: Any = None
) -> int:
    """Insert or update rows (dicts with :data:`COLUMNS`) in one statement; returns the count."""
    if not rows:
        return 0
    unknown = {key for row in rows for key in row} - set(COLUMNS)
    if unknown:
        raise ValueError(f"unknown predictions columns: {sorted(unknown)}")
    keys = [(row["image_sha256"], row["model_version"]) for row in rows]
    if len(set(keys)) != len(keys):
        raise ValueError("a batch holds the same (image_sha256, model_version) twice")
    _execute(
        settings, sql("predictions_upsert"), {"rows": json.dumps(list(rows), default=str)}, conn
    )
    return len(rows)
