"""Which validated incoming images the production model version has not classified yet.

Planning costs one LIST request per 1000 images (see
:func:`list_incoming`), no request per image: the listing's ETag
identifies an object's content (for a single-part upload it is the MD5 of the bytes), and
every predictions row records the ``source_etag`` of the image it classified. An image is
pending for model version *v* unless a row of *v* has its ETag (same content, under any key)
and an error, if any, that is not retryable. Images of the same content are planned once.

Rows written before ``source_etag`` existed (NULL) are matched by ``source_key`` and
confirmed by the sha256 of the validation metadata (one HEAD for each such image, once).
The batch computes the sha256 from the bytes it downloads anyway; rows stay keyed by
``(image_sha256, model_version)``.
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

#: Parallel HEAD requests when reading the validation metadata (rows from before source_etag).
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
    """Validated incoming images not yet classified by ``model_version`` (one per content)."""
    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    items = list_incoming(settings)
    done_etags, legacy = records.classified_sources(model_version, items, settings)
    to_confirm = [i for i in items if i["etag"] not in done_etags and i["key"] in legacy]
    confirmed = {
        item["key"]
        for item in with_hashes(to_confirm, settings, s3)
        if item["sha256"] and item["sha256"] == legacy[item["key"]]
    }
    pending, seen = [], set()
    for item in items:
        etag = item["etag"]
        if etag in done_etags or etag in seen or item["key"] in confirmed:
            continue
        seen.add(etag)
        pending.append(item)
    log.info(
        "%d validated incoming images, %d already classified by model version %s "
        "(or same content as another), %d pending",
        len(items),
        len(items) - len(pending),
        model_version,
        len(pending),
    )
    return pending
