"""Which validated incoming images the production model version has not classified yet.

Planning costs one LIST request per 1000 images (see :func:`list_incoming`), no request per
image. The listing gives each object's key and ETag, and the ETag names one version of that
object: it is stable while the version exists and changes when the key is written again. It
says nothing about the bytes (S3's ETag of an SSE-KMS object, as the template's buckets
encrypt them, is not their MD5), so it is only ever compared with the ETag of the same key.
Every batch records the object versions it read with the sha256 of their bytes
(``prediction_sources``). An image is pending for model version *v* unless *v* read this
version of it and has a row for its content (sha256) with no retryable error.

Content is matched by sha256 only, in the batch, from the bytes it downloads anyway: the
same bytes under a second key are classified once (see :mod:`.classify`). Rows written before
``prediction_sources`` existed are matched by ``source_key`` and confirmed by the sha256 of
the validation metadata (one HEAD for each such image, once: the confirmation is recorded).
"""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from image_mlops import s3layout
from image_mlops.classification import records
from image_mlops.classification.clients import client as aws_client
from image_mlops.config import Settings, get_settings

log = logging.getLogger(__name__)

#: Parallel HEAD requests when reading the validation metadata (rows from before
#: prediction_sources).
HEAD_WORKERS = 8


def list_incoming(settings: Settings | None = None) -> list[dict[str, Any]]:
    """Every object under ``validated/incoming/`` as ``{key, size, etag}``, sorted by key
    (one LIST request per 1000 objects)."""
    settings = settings or get_settings()
    pages = (
        aws_client("s3", settings)
        .get_paginator("list_objects_v2")
        .paginate(Bucket=settings.validated_bucket, Prefix=s3layout.INCOMING_PREFIX)
    )
    items = [
        {"key": obj["Key"], "size": obj["Size"], "etag": obj["ETag"].strip('"')}
        for page in pages
        for obj in page.get("Contents", [])
        if not obj["Key"].endswith("/")
    ]
    return sorted(items, key=lambda item: item["key"])


def with_hashes(
    items: list[dict[str, Any]], settings: Settings | None = None, s3: Any = None
) -> list[dict[str, Any]]:
    """Add ``sha256`` (validation metadata; None when absent or the object vanished)."""
    settings = settings or get_settings()
    s3 = s3 or aws_client("s3", settings)

    def head(item: dict[str, Any]) -> dict[str, Any]:
        from botocore.exceptions import ClientError

        try:
            meta = s3.head_object(Bucket=settings.validated_bucket, Key=item["key"])["Metadata"]
        except ClientError:
            meta = {}
        return {**item, "sha256": meta.get("sha256") or None}

    with ThreadPoolExecutor(HEAD_WORKERS) as pool:
        return list(pool.map(head, items))


def pending_images(model_version: int, settings: Settings | None = None) -> list[dict[str, Any]]:
    """Validated incoming images whose current version ``model_version`` has not classified."""
    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    items = list_incoming(settings)
    done, legacy = records.classified_sources(model_version, items, settings)
    to_confirm = [i for i in items if (i["key"], i["etag"]) not in done and i["key"] in legacy]
    confirmed = [
        item
        for item in with_hashes(to_confirm, settings, s3)
        if item["sha256"] and item["sha256"] == legacy[item["key"]]
    ]
    records.record_sources(model_version, confirmed, settings)
    done |= {(item["key"], item["etag"]) for item in confirmed}
    pending = [item for item in items if (item["key"], item["etag"]) not in done]
    log.info(
        "%d validated incoming images, %d already classified by model version %s, %d pending",
        len(items),
        len(items) - len(pending),
        model_version,
        len(pending),
    )
    return pending
