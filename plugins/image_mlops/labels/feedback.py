"""Feedback files → label events. Every row is accounted for.

``s3://RAW/feedback/*.csv`` has the header ``key,label``; ``key`` names an image as it arrived
(``incoming/<path>``). A row becomes a pending label event; a row that cannot be one is
recorded with its reason (``bad_key``, ``empty_label``; a file without the header is one
``bad_header`` event). A file is identified by its key *and* ETag: reading it again adds
nothing, and a file rewritten with new rows is read as a new file.

Whether the key names an image we know and the label a class we train is decided later, by
:mod:`image_mlops.labels.ingest`, against the predictions table and the labelled area.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import logging
from collections.abc import Iterable, Iterator

from image_mlops import s3layout
from image_mlops.config import Settings
from image_mlops.labels import events
from image_mlops.labels.events import LabelEvent

log = logging.getLogger(__name__)


def parse(key: str, etag: str, text: str, labelled_at: dt.datetime) -> Iterator[LabelEvent]:
    """The label events of one feedback file (row numbers count the header as row 1)."""
    source_ref = f"{key}@{etag.strip(chr(34))}"

    def event(row_ref: str, image_key: str, label: str, status: str = events.PENDING, detail=None):
        return LabelEvent(
            source=events.FEEDBACK,
            source_ref=source_ref,
            row_ref=row_ref,
            image_key=image_key,
            label=label,
            actor=key,
            labelled_at=labelled_at,
            status=status,
            detail=detail,
        )

    reader = csv.DictReader(io.StringIO(text))
    fields = {f.strip() for f in reader.fieldnames or []}
    if {"key", "label"} - fields:
        yield event(
            "header",
            "",
            "",
            events.BAD_HEADER,
            f"{key} has no 'key,label' header (found {sorted(fields) or 'nothing'})",
        )
        return
    for number, row in enumerate(reader, start=2):
        image_key = (row.get("key") or "").strip()
        label = (row.get("label") or "").strip()
        if not image_key.startswith(s3layout.INCOMING_PREFIX):
            yield event(
                str(number),
                image_key,
                label,
                events.BAD_KEY,
                f"row {number}: key {image_key!r} is not under {s3layout.INCOMING_PREFIX}",
            )
        elif not label:
            yield event(str(number), image_key, "", events.EMPTY_LABEL, f"row {number}: no label")
        else:
            yield event(str(number), image_key, label)


def read_all(settings: Settings) -> Iterable[LabelEvent]:
    """The label events of every feedback file in the raw bucket."""
    from botocore.exceptions import ClientError

    from image_mlops.aws import aws_client, is_precondition_failed

    s3 = aws_client("s3", settings)
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=settings.raw_bucket, Prefix=s3layout.FEEDBACK_PREFIX):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            if not key.endswith(".csv"):
                continue
            try:
                body = s3.get_object(Bucket=settings.raw_bucket, Key=key, IfMatch=obj["ETag"])
            except ClientError as exc:
                if not is_precondition_failed(exc):
                    raise
                # rewritten since it was listed: the next run reads the new version
                log.info("feedback file %s changed while it was read: next run", key)
                continue
            text = body["Body"].read().decode("utf-8-sig", errors="replace")
            yield from parse(key, obj["ETag"], text, obj["LastModified"])


def collect(settings: Settings) -> int:
    """Record the rows of every feedback file; returns how many rows were new."""
    new = events.record(settings, read_all(settings))
    log.info("feedback: %s new label rows recorded", new)
    return new


def emit_if_new(new_rows: int, event) -> int:
    """Emit the ``feedback`` Asset event only when new feedback rows were recorded (else skip):
    ``monitor_model`` recomputes the KPIs with the new ground truth."""
    from airflow.sdk.exceptions import AirflowSkipException

    if not new_rows:
        raise AirflowSkipException("no new feedback row in this run")
    event.extra = {"new_rows": new_rows}
    return new_rows
