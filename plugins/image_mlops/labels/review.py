"""Human review: what the review page shows, and the decisions it posts (→ label events).

The queue is the latest model version's ``_uncertain/`` images first, then a sample of
confident predictions per class (a reviewer who confirms them tells us the model is right,
one who corrects them finds its mistakes), leaving out images that have a label event already.
A decision is a label event from source ``review`` with the reviewer's name and the time; the
page sends one id per decision, so a form posted twice records it once.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Iterable
from dataclasses import dataclass

from image_mlops import s3layout
from image_mlops.config import Settings
from image_mlops.labels import events
from image_mlops.labels.events import LabelEvent

log = logging.getLogger(__name__)

#: Confident predictions per class shown beside the uncertain ones.
CONFIDENT_PER_CLASS = 2
#: Images per screen.
PAGE_SIZE = 24


class ReviewError(ValueError):
    """A posted decision that cannot be recorded; the message says why."""


@dataclass(frozen=True)
class ReviewItem:
    image_sha256: str
    source_key: str
    output_key: str
    predicted_class: str | None
    confidence: float | None
    top3: list
    uncertain: bool
    model_version: int


def _read(settings: Settings, *queries: tuple[str, dict]) -> list[list[tuple]]:
    """The rows of each ``(sql name, params)``, the tables made sure of once."""
    from image_mlops.classification.records import ensure_predictions_table

    ensure_predictions_table(settings)
    conn = events.pg_hook(settings).get_conn()
    try:
        with conn, conn.cursor() as cur:
            events.ensure_table(cur)
            results = []
            for name, params in queries:
                cur.execute(events.sql(name), params)
                results.append(cur.fetchall())
            return results
    finally:
        conn.close()


def _queue_query(limit: int) -> tuple[str, dict]:
    return "review_queue", {"confident_per_class": CONFIDENT_PER_CLASS, "limit": limit}


_CLASSES_QUERY = ("review_classes", {})


def queue(settings: Settings, *, limit: int = PAGE_SIZE) -> list[ReviewItem]:
    [rows] = _read(settings, _queue_query(limit))
    return [ReviewItem(*row) for row in rows]


def classes(settings: Settings) -> list[str]:
    """The classes a reviewer may choose: those the latest model version predicts."""
    [rows] = _read(settings, _CLASSES_QUERY)
    return [row[0] for row in rows]


def screen(settings: Settings) -> tuple[list[ReviewItem], list[str]]:
    """One screen of the Review page: :func:`queue` and :func:`classes` in one connection."""
    items, names = _read(settings, _queue_query(PAGE_SIZE), _CLASSES_QUERY)
    return [ReviewItem(*row) for row in items], [row[0] for row in names]


def thumbnail_key_allowed(key: str) -> bool:
    """Only classified images are shown (never the models, manifests or work area)."""
    return (
        key.startswith(s3layout.PREDICTIONS_PREFIX)
        and not key.startswith(s3layout.MANIFESTS_PREFIX)
        and ".." not in key.split("/")
    )


def thumbnail(settings: Settings, key: str, *, side: int = 160) -> bytes:
    """A JPEG thumbnail of a classified image (``side`` px at most), read from the output
    bucket through the AWS connection: the browser never gets a bucket URL."""
    import io

    from PIL import Image

    from image_mlops.aws import aws_client

    if not thumbnail_key_allowed(key):
        raise ReviewError(f"not a classified image: {key!r}")
    body = aws_client("s3", settings).get_object(Bucket=settings.output_bucket, Key=key)
    with Image.open(io.BytesIO(body["Body"].read())) as image:
        if image.width * image.height > settings.max_image_pixels:
            raise ReviewError("image too large for a thumbnail")
        image.draft("RGB", (side, side))
        image = image.convert("RGB")
        image.thumbnail((side, side))
        out = io.BytesIO()
        image.save(out, "JPEG", quality=80)
        return out.getvalue()


def record_decisions(
    settings: Settings,
    decisions: Iterable[dict],
    *,
    reviewer: str,
    classes: Iterable[str],
    now: dt.datetime | None = None,
) -> int:
    """Store review decisions (``{"decision_id", "image_sha256", "source_key", "label"}``);
    returns how many were new. A label outside ``classes`` is refused with the reason."""
    now = now or dt.datetime.now(dt.UTC)
    allowed = set(classes)
    batch: list[LabelEvent] = []
    for decision in decisions:
        label = str(decision.get("label") or "").strip()
        if not label:
            continue  # the reviewer skipped this image
        if label not in allowed:
            raise ReviewError(f"{label!r} is not a class ({', '.join(sorted(allowed))})")
        sha = str(decision.get("image_sha256") or "")
        if len(sha) != 64 or any(c not in "0123456789abcdef" for c in sha):
            raise ReviewError("a decision names no image")
        source_key = str(decision.get("source_key") or "")
        if not source_key.startswith(s3layout.INCOMING_PREFIX):
            raise ReviewError(f"not an image key: {source_key!r}")
        batch.append(
            LabelEvent(
                source=events.REVIEW,
                source_ref=reviewer,
                row_ref=str(decision.get("decision_id") or f"{sha}@{now.isoformat()}")[:200],
                image_key=source_key,
                label=label,
                actor=reviewer,
                labelled_at=now,
                image_sha256=sha,
            )
        )
    new = events.record(settings, batch)
    log.info("review by %s: %s decisions, %s new", reviewer, len(batch), new)
    return new
