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
    """Sorted batches of about ``batch_size``; objects of the same size share a batch, so that
    exact copies meet in one batch, where "first in sorted order wins" decides duplicates
    deterministically.

    The listing tells nothing of an object's bytes but its size: its ETag is not their MD5
    under SSE-KMS (the template's bucket encryption) or after a multipart upload, and is
    never compared across objects. More objects of one size than ``batch_size`` are cut into
    batches of their own; copies among them meet in the content index (exactly one wins).
    """
    groups: dict[int, list[dict]] = {}
    for item in sorted(items, key=lambda i: i["key"]):
        groups.setdefault(item["size"], []).append(item)
    batches: list[list[dict]] = []
    current: list[dict] = []
    for group in sorted(groups.values(), key=lambda g: g[0]["key"]):
        for start in range(0, len(group), batch_size):
            part = group[start : start + batch_size]
            if current and len(current) + len(part) > batch_size:
                batches.append(current)
                current = []
            current.extend(part)
    if current:
        batches.append(current)
    return [sorted(batch, key=lambda i: i["key"]) for batch in batches]
