"""The ``label_events`` table (image_mlops DB). SQL: ``image_mlops/include/sql/mlops/labels/``.

Precedence between labels of one image (:func:`winner`): a human review beats feedback and an
uploaded label; between labels of equal rank the later one wins (``labelled_at``, then the
order they were recorded in).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from functools import cache

from image_mlops.config import INCLUDE_DIR, Settings
from image_mlops.monitoring.sources import pg_hook  # the image_mlops database's hook

SQL_DIR = INCLUDE_DIR / "sql" / "mlops" / "labels"

FEEDBACK = "feedback"
REVIEW = "review"
#: Labels that came with the image (``raw/labeled/<class>/``): not in the table, but weighed.
UPLOAD = "upload"
RANK = {REVIEW: 2, UPLOAD: 1, FEEDBACK: 1}

# Outcomes of a label event (the ``status`` column); a closed set, documented in
# docs/stages/learning-loop.md.
PENDING = "pending"
LABELED = "labeled"
ALREADY_LABELED = "already_labeled"
SUPERSEDED = "superseded"
UNKNOWN_KEY = "unknown_key"
UNKNOWN_CLASS = "unknown_class"
MISSING_IMAGE = "missing_image"
BAD_HEADER = "bad_header"
BAD_KEY = "bad_key"
EMPTY_LABEL = "empty_label"
OUTCOMES = (
    LABELED,
    ALREADY_LABELED,
    SUPERSEDED,
    UNKNOWN_KEY,
    UNKNOWN_CLASS,
    MISSING_IMAGE,
    BAD_HEADER,
    BAD_KEY,
    EMPTY_LABEL,
)


@cache
def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


@dataclass(frozen=True)
class LabelEvent:
    """One label for one image, from one source."""

    source: str
    source_ref: str
    row_ref: str
    image_key: str
    label: str
    actor: str
    labelled_at: dt.datetime
    image_sha256: str | None = None
    id: int | None = None
    recorded_at: dt.datetime | None = None
    #: for events decided before they are recorded (rows of a file that cannot be read)
    status: str = PENDING
    detail: str | None = None

    def params(self) -> dict:
        return {
            "source": self.source,
            "source_ref": self.source_ref,
            "row_ref": self.row_ref,
            "image_key": self.image_key,
            "label": self.label,
            "actor": self.actor,
            "labelled_at": self.labelled_at,
            "image_sha256": self.image_sha256,
        }

    def describe(self) -> str:
        who = f"{self.source} by {self.actor}" if self.source == REVIEW else self.source
        return f"{who} ({self.label!r}, {self.labelled_at.isoformat(timespec='seconds')})"


def winner(candidates: Sequence[LabelEvent]) -> LabelEvent:
    """The label that counts: highest rank, then latest ``labelled_at``, then latest recorded."""
    return max(
        candidates,
        key=lambda e: (RANK[e.source], e.labelled_at, e.id if e.id is not None else -1),
    )


_COLUMNS = (
    "id",
    "source",
    "source_ref",
    "row_ref",
    "image_key",
    "label",
    "actor",
    "labelled_at",
    "recorded_at",
    "image_sha256",
)


def _event(row: Sequence) -> LabelEvent:
    return LabelEvent(**dict(zip(_COLUMNS, row, strict=True)))


def ensure_table(cur) -> None:
    cur.execute(sql("label_events"))


def record(settings: Settings, events: Iterable[LabelEvent]) -> int:
    """Insert label events (a row already recorded is left alone); returns how many were new.

    Events decided before they are recorded (``status`` not pending) keep their outcome.
    """
    conn = pg_hook(settings).get_conn()
    new = 0
    try:
        with conn, conn.cursor() as cur:
            ensure_table(cur)
            for event in events:
                cur.execute(sql("insert_label_event"), event.params())
                row = cur.fetchone()
                if row is None:
                    continue
                new += 1
                if event.status != PENDING:
                    set_status(cur, replace(event, id=row[0]), event.status, event.detail)
    finally:
        conn.close()
    return new


def pending(cur) -> list[LabelEvent]:
    cur.execute(sql("pending_label_events"))
    return [_event(r) for r in cur.fetchall()]


def decided_for(cur, shas: Sequence[str]) -> list[LabelEvent]:
    if not shas:
        return []
    cur.execute(sql("label_events_of_images"), {"shas": list(shas)})
    return [_event(r) for r in cur.fetchall()]


def set_status(
    cur,
    event: LabelEvent,
    status: str,
    detail: str | None = None,
    *,
    labeled_key: str | None = None,
    image_sha256: str | None = None,
) -> None:
    if status not in OUTCOMES:
        raise ValueError(f"unknown label outcome {status!r}: one of {OUTCOMES}")
    cur.execute(
        sql("set_label_event_status"),
        {
            "id": event.id,
            "status": status,
            "detail": detail,
            "labeled_key": labeled_key,
            "image_sha256": image_sha256,
        },
    )


def counts(settings: Settings) -> dict[str, dict[str, int]]:
    """``{source: {status: n}}`` over every label event."""
    conn = pg_hook(settings).get_conn()
    try:
        with conn, conn.cursor() as cur:
            ensure_table(cur)
            cur.execute(sql("label_counts"))
            out: dict[str, dict[str, int]] = {}
            for source, status, n in cur.fetchall():
                out.setdefault(source, {})[status] = n
            return out
    finally:
        conn.close()
