"""Listing the raw objects waiting for validation and cutting them into batch manifests."""

from __future__ import annotations

from typing import Any

from image_mlops import s3layout


def list_raw_objects(s3: Any, bucket: str) -> list[dict]:
    """Every object under ``labeled/`` and ``incoming/`` (and the same with leading slashes).

    Folder markers (keys ending in ``/``) are not images and are left alone.
    """
    items: dict[str, dict] = {}
    paginator = s3.get_paginator("list_objects_v2")
    for prefix in (*s3layout.RAW_AREAS, "/"):
        for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
            for obj in page.get("Contents", []):
                key = obj["Key"]
                if key.endswith("/"):
                    continue
                if prefix == "/" and not key.lstrip("/").startswith(s3layout.RAW_AREAS):
                    continue
                items[key] = {"key": key, "etag": obj["ETag"], "size": obj["Size"]}
    return [items[k] for k in sorted(items)]


def plan_batches(items: list[dict], batch_size: int) -> list[list[dict]]:
    """Sorted batches of about ``batch_size``; objects with the same ETag and size (exact
    copies, for single-part uploads) share a batch, so "first in sorted order wins" decides
    duplicates deterministically."""
    groups: dict[tuple, list[dict]] = {}
    for item in sorted(items, key=lambda i: i["key"]):
        groups.setdefault((item["etag"], item["size"]), []).append(item)
    batches: list[list[dict]] = []
    current: list[dict] = []
    for group in sorted(groups.values(), key=lambda g: g[0]["key"]):
        if current and len(current) + len(group) > batch_size:
            batches.append(current)
            current = []
        current.extend(group)
    if current:
        batches.append(current)
    return [sorted(batch, key=lambda i: i["key"]) for batch in batches]
