"""Label events → labelled training images, under one database lock (one ingest at a time).

For every pending event:

1. the label must be a class of the labelled area (else ``unknown_class``), and a feedback
   row's key must name an image that classification has seen (else ``unknown_key``);
2. the labels of one image (by content, sha256) are weighed together — this run's, earlier
   ones, and the label it was uploaded with — and :func:`events.winner` decides; every other
   label that disagrees is ``superseded``, with the winner named in its detail;
3. the image is copied into ``s3://VALIDATED/labeled/<class>/<name>``: a server-side copy from
   where classification put it, verified by size and sha256, with the validated metadata
   plus its lineage (``label-source``, ``label-recorded-at``, ``label-event``). An image
   already labelled so is not copied again (``already_labeled``); a name taken by a different
   image gets the content's hash added, so nothing is ever overwritten; a label that beats
   the image's current one moves it (copy, verify, delete) to the new class.

A retried or repeated run finds no pending events for what it did, so every label counts once.
"""

from __future__ import annotations

import datetime as dt
import logging
import posixpath
from collections import Counter, defaultdict
from dataclasses import replace
from typing import Any

from image_mlops import s3layout
from image_mlops.config import Settings
from image_mlops.labels import events
from image_mlops.labels.events import LabelEvent

log = logging.getLogger(__name__)


def labeled_key(label: str, image_key: str, sha256: str, taken: dict[str, str]) -> str:
    """``labeled/<label>/<name>`` for an image; ``taken`` maps keys to the sha256 they hold.

    The name is the image's file name; when a different image holds it already, the first
    16 hex digits of the content's sha256 go before the extension."""
    name = posixpath.basename(image_key) or f"{sha256[:16]}.img"
    key = f"{s3layout.LABELED_PREFIX}{label}/{name}"
    if taken.get(key, sha256) == sha256:
        return key
    stem, ext = posixpath.splitext(name)
    return f"{s3layout.LABELED_PREFIX}{label}/{stem}-{sha256[:16]}{ext}"


def _upload_event(item: dict) -> LabelEvent:
    """The label an image was uploaded with, as an event to weigh (never stored)."""
    return LabelEvent(
        source=events.UPLOAD,
        source_ref=item["key"],
        row_ref="",
        image_key=item["key"],
        label=item["label"],
        actor="upload",
        labelled_at=dt.datetime.fromisoformat(item["recorded_at"]),
        image_sha256=item["sha256"],
    )


def _resolve_images(cur, todo: list[LabelEvent]) -> dict[str, tuple]:
    keys = sorted({e.image_key for e in todo})
    if not keys:
        return {}
    cur.execute(events.sql("image_of_source_key"), {"keys": keys})
    return {row[0]: row[1:] for row in cur.fetchall()}


def ingest(settings: Settings) -> dict[str, Any]:
    """Decide every pending label event; returns counts by outcome and the classes labelled."""
    from image_mlops.aws import aws_client
    from image_mlops.training import dataset

    s3 = aws_client("s3", settings)
    outcomes: Counter = Counter()
    labelled: Counter = Counter()
    conn = events.pg_hook(settings).get_conn()
    try:
        with conn, conn.cursor() as cur:
            events.ensure_table(cur)
            cur.execute(events.sql("lock_label_events"))
            todo = events.pending(cur)
            if not todo:
                log.info("no pending label events")
                return {"outcomes": {}, "labeled_by_class": {}, "pending": 0}
            # read under the lock: another ingest cannot be moving these objects now
            items = dataset.list_labeled(settings)
            by_sha = {i["sha256"]: i for i in items}
            taken = {i["key"]: i["sha256"] for i in items}
            classes = sorted({i["label"] for i in items})
            images = _resolve_images(cur, todo)

            def decide(event: LabelEvent, status: str, detail: str | None = None, **kw) -> None:
                events.set_status(cur, event, status, detail, **kw)
                outcomes[status] += 1

            ready: dict[str, list[LabelEvent]] = defaultdict(list)
            where: dict[str, tuple[str, str]] = {}
            for event in todo:
                if event.label not in classes:
                    decide(
                        event,
                        events.UNKNOWN_CLASS,
                        f"{event.label!r} is not a class of the labelled area "
                        f"({', '.join(classes)})",
                    )
                    continue
                found = images.get(event.image_key)
                sha = event.image_sha256 or (found[0] if found else None)
                if sha is None:
                    decide(
                        event,
                        events.UNKNOWN_KEY,
                        f"no classified image has the key {event.image_key!r}",
                    )
                    continue
                event = replace(event, image_sha256=sha)
                ready[sha].append(event)
                if found and found[1]:
                    where.setdefault(sha, (settings.output_bucket, found[1]))
                where.setdefault(sha, (settings.validated_bucket, event.image_key))

            earlier = defaultdict(list)
            for event in events.decided_for(cur, sorted(ready)):
                earlier[event.image_sha256].append(event)
            for sha, new in ready.items():
                current = by_sha.get(sha)
                candidates = [*new, *earlier[sha]]
                if current and current["source"] == events.UPLOAD:
                    candidates.append(_upload_event(current))
                win = events.winner(candidates)
                for event in new:
                    if event is not win and event.label != win.label:
                        decide(event, events.SUPERSEDED, f"{win.describe()} beats it")
                if current and current["label"] == win.label:
                    for event in new:
                        if event is win or event.label == win.label:
                            decide(
                                event,
                                events.ALREADY_LABELED,
                                f"already {current['key']}",
                                labeled_key=current["key"],
                                image_sha256=sha,
                            )
                    continue
                # the image goes under the winning label, placed by the newest agreeing event
                # of this run (when the winner is an earlier decision, the image was moved or
                # deleted by hand since: agreeing labels put it back)
                agreeing = [e for e in new if e.label == win.label]
                if not agreeing:
                    continue
                win = events.winner(agreeing)
                key = labeled_key(win.label, win.image_key, sha, taken)
                source_bucket, source_key = (
                    (settings.validated_bucket, current["key"]) if current else where[sha]
                )
                copied = _copy_labeled(s3, settings, source_bucket, source_key, key, win)
                if copied is None:
                    for event in agreeing:
                        decide(
                            event,
                            events.MISSING_IMAGE,
                            f"s3://{source_bucket}/{source_key} is gone",
                        )
                    continue
                taken[key] = sha
                detail = None
                if current:
                    from image_mlops.validation.mover import delete

                    delete(s3, settings.validated_bucket, current["key"])
                    taken.pop(current["key"], None)
                    detail = f"relabelled from {current['label']!r} ({current['key']})"
                    for old in earlier[sha]:
                        if old.label != win.label:
                            events.set_status(
                                cur, old, events.SUPERSEDED, f"{win.describe()} beats it"
                            )
                by_sha[sha] = {**(current or {}), "key": key, "label": win.label}
                labelled[win.label] += 1
                for event in agreeing:
                    decide(
                        event,
                        events.LABELED if event is win else events.ALREADY_LABELED,
                        detail if event is win else f"same label as event {win.id}",
                        labeled_key=key,
                        image_sha256=sha,
                    )
    finally:
        conn.close()
    log.info("label events: %s; new labelled images by class: %s", dict(outcomes), dict(labelled))
    return {
        "outcomes": dict(sorted(outcomes.items())),
        "labeled_by_class": dict(sorted(labelled.items())),
        "pending": len(todo),
    }


def _copy_labeled(
    s3, settings: Settings, bucket: str, key: str, target: str, event: LabelEvent
) -> str | None:
    """Copy an image into the labelled area with its lineage; ``None`` when the source is gone."""
    from image_mlops.training.dataset import (
        LABEL_EVENT_META,
        LABEL_RECORDED_META,
        LABEL_SOURCE_META,
    )
    from image_mlops.validation.mover import copy_verified, head

    meta = head(s3, bucket, key)
    if meta is None:
        return None
    recorded = event.recorded_at or dt.datetime.now(dt.UTC)
    metadata = {
        **meta.get("Metadata", {}),
        "sha256": event.image_sha256,
        LABEL_SOURCE_META: event.source,
        LABEL_RECORDED_META: recorded.astimezone(dt.UTC).isoformat(timespec="seconds"),
        LABEL_EVENT_META: str(event.id),
    }
    copy_verified(
        s3,
        src_bucket=bucket,
        src_key=key,
        dst_bucket=settings.validated_bucket,
        dst_key=target,
        sha256=event.image_sha256,
        size=meta["ContentLength"],
        src_etag=meta.get("ETag"),
        metadata=metadata,
        content_type=meta.get("ContentType"),
    )
    log.info("labelled %s as %r (%s) → %s", key, event.label, event.source, target)
    return target


def emit_if_labelled(summary: dict, event) -> int:
    """Emit the labelled area's Asset event only when images were labelled (else skip)."""
    from airflow.sdk.exceptions import AirflowSkipException

    count = sum(summary.get("labeled_by_class", {}).values())
    if not count:
        raise AirflowSkipException("no image was labelled in this run")
    event.extra = {"labelled": count, "outcomes": summary.get("outcomes", {})}
    return count
