"""Which validated incoming images the production model version has not classified yet.

Images are identified by content (sha256, from the validation metadata); an image is pending
for model version *v* unless the predictions table holds a row ``(sha256, v)`` whose error,
if any, is not retryable. Images without a sha256 in their metadata are always pending (the
batch computes the hash from the bytes, and the upsert keeps rows unique).
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

#: Parallel HEAD requests when reading the validation metadata.
HEAD_WORKERS = 8


def list_incoming(settings: Settings | None = None, s3: Any = None) -> list[dict[str, Any]]:
    """Every object under ``validated/incoming/`` as ``{key, size, etag}``, sorted by key."""
    settings = settings or get_settings()
    s3 = s3 or aws_client("s3", settings)
    items = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(
        Bucket=settings.validated_bucket, Prefix=s3layout.INCOMING_PREFIX
    ):
        for obj in page.get("Contents", []):
            if obj["Key"].endswith("/"):
                continue
            items.append({"key": obj["Key"], "size": obj["Size"], "etag": obj["ETag"].strip('"')})
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
    items = with_hashes(list_incoming(settings, s3), settings, s3)
    done = records.classified_hashes(
        model_version, [i["sha256"] for i in items if i["sha256"]], settings
    )
    pending, seen = [], set()
    for item in items:
        sha = item["sha256"]
        if sha and (sha in done or sha in seen):
            continue
        if sha:
            seen.add(sha)
        pending.append(item)
    log.info(
        "%d validated incoming images, %d already classified by model version %s, %d pending",
        len(items),
        len(items) - len(pending),
        model_version,
        len(pending),
    )
    return pending
