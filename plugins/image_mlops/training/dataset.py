"""Snapshot ``validated/labeled/`` into a dataset manifest with a stratified split.

The manifest (JSON, in the models bucket at ``<group>/datasets/<fingerprint>/manifest.json``)::

    {"fingerprint": "<sha256>", "bucket": "...", "seed": 0, "created": "...",
     "classes": [...], "counts": {"train": n, "validation": n, "test": n},
     "items": [{"key": "labeled/mug/a.jpg", "label": "mug", "sha256": "...",
                "split": "train"}, ...]}

The fingerprint is the sha256 of the sorted ``key<TAB>label<TAB>sha256`` lines: the same
files with the same labels give the same fingerprint (and so the same manifest key), whatever
the order they were listed in. The split is stratified per class and deterministic: each
class's images are ordered by ``sha256(seed:sha256)`` and cut 70/15/15 (at least one image in
validation and test when a class has three or more).
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from image_mlops import s3layout
from image_mlops.config import Settings

log = logging.getLogger(__name__)
SPLITS = ("train", "validation", "test")
FRACTIONS = {"train": 0.70, "validation": 0.15, "test": 0.15}


def fingerprint(items: list[dict]) -> str:
    lines = sorted(f"{i['key']}\t{i['label']}\t{i['sha256']}" for i in items)
    return hashlib.sha256("\n".join(lines).encode()).hexdigest()


def assign_splits(items: list[dict], seed: int = 0) -> list[dict]:
    """Stratified, deterministic split; returns new item dicts with ``split`` set."""
    by_class: dict[str, list[dict]] = defaultdict(list)
    for item in items:
        by_class[item["label"]].append(item)
    out = []
    for label in sorted(by_class):
        members = sorted(
            by_class[label],
            key=lambda i: (hashlib.sha256(f"{seed}:{i['sha256']}".encode()).hexdigest(), i["key"]),
        )
        n = len(members)
        n_test = max(1, round(n * FRACTIONS["test"])) if n >= 3 else 0
        n_val = max(1, round(n * FRACTIONS["validation"])) if n >= 3 else 0
        for index, item in enumerate(members):
            split = (
                "test" if index < n_test else "validation" if index < n_test + n_val else "train"
            )
            out.append({**item, "split": split})
    return sorted(out, key=lambda i: i["key"])


def count_by_source(items: list[dict]) -> dict[str, int]:
    """How many items came from each label source (``upload`` when an item does not say)."""
    return dict(sorted(Counter(i.get("source", "upload") for i in items).items()))


def lineage(items: list[dict], previous_keys: set[str] | None = None) -> dict[str, Any]:
    """Where a snapshot's labels came from: counts per source, per source and UTC day, and —
    given the keys of the previous model's snapshot — how many of each source are new."""
    by_day: dict[str, Counter] = defaultdict(Counter)
    for item in items:
        day = str(item.get("recorded_at", ""))[:10] or "unknown"
        by_day[day][item.get("source", "upload")] += 1
    out: dict[str, Any] = {
        "by_source": count_by_source(items),
        "by_day": {day: dict(sorted(c.items())) for day, c in sorted(by_day.items())},
    }
    if previous_keys is not None:
        new = [i for i in items if i["key"] not in previous_keys]
        out["new_since_previous"] = {
            "total": len(new),
            "by_source": count_by_source(new),
        }
    return out


def build_manifest(
    items: list[dict], *, bucket: str, seed: int = 0, previous_keys: set[str] | None = None
) -> dict[str, Any]:
    split_items = assign_splits(items, seed)
    counts = {s: sum(1 for i in split_items if i["split"] == s) for s in SPLITS}
    return {
        "fingerprint": fingerprint(items),
        "bucket": bucket,
        "seed": seed,
        "created": datetime.now(UTC).isoformat(timespec="seconds"),
        "classes": sorted({i["label"] for i in items}),
        "counts": counts,
        "lineage": lineage(items, previous_keys),
        "items": split_items,
    }


#: User metadata that the learning loop writes on a labelled image it adds (lineage).
LABEL_SOURCE_META = "label-source"
LABEL_RECORDED_META = "label-recorded-at"
LABEL_EVENT_META = "label-event"


def list_labeled(settings: Settings) -> list[dict]:
    """Every validated labelled image: key, label, sha256 (from the object's metadata), and
    its lineage: ``source`` (``upload``, ``feedback`` or ``review``) and ``recorded_at`` (when
    the label was recorded; an upload's time is the object's)."""
    from image_mlops.aws import aws_client

    s3 = aws_client("s3", settings)
    items = []
    paginator = s3.get_paginator("list_objects_v2")
    for page in paginator.paginate(
        Bucket=settings.validated_bucket, Prefix=s3layout.LABELED_PREFIX
    ):
        for obj in page.get("Contents", []):
            key = obj["Key"]
            try:
                label = s3layout.label_of(key)
            except ValueError:
                log.warning("ignoring %s: not under labeled/<class>/", key)
                continue
            head = s3.head_object(Bucket=settings.validated_bucket, Key=key)
            metadata = head.get("Metadata", {})
            digest = metadata.get("sha256")
            if not digest:  # written without our metadata: hash the bytes
                body = s3.get_object(Bucket=settings.validated_bucket, Key=key)["Body"].read()
                digest = hashlib.sha256(body).hexdigest()
            recorded = metadata.get(LABEL_RECORDED_META) or obj["LastModified"].astimezone(
                UTC
            ).isoformat(timespec="seconds")
            items.append(
                {
                    "key": key,
                    "label": label,
                    "sha256": digest,
                    "source": metadata.get(LABEL_SOURCE_META, "upload"),
                    "recorded_at": recorded,
                }
            )
    return items


def snapshot(
    settings: Settings, *, seed: int = 0, previous_keys: set[str] | None = None
) -> dict[str, Any]:
    """Snapshot validated/labeled/ → manifest in S3 (idempotent: same data, same key).

    ``previous_keys``: the images of the latest registered model's snapshot, for the lineage's
    "new since the previous model" counts."""
    from image_mlops.aws import aws_client, put_json

    items = list_labeled(settings)
    if not items:
        raise ValueError(
            f"no labelled images under s3://{settings.validated_bucket}/"
            f"{s3layout.LABELED_PREFIX}: upload images to the raw bucket's labeled/<class>/ "
            "and run validate_images first"
        )
    classes = sorted({i["label"] for i in items})
    if len(classes) < 2:
        raise ValueError(f"need at least 2 classes to train, found {classes}")
    manifest = build_manifest(
        items, bucket=settings.validated_bucket, seed=seed, previous_keys=previous_keys
    )
    key = s3layout.dataset_manifest_key(settings.model_name, manifest["fingerprint"])
    s3 = aws_client("s3", settings)
    put_json(s3, settings.models_bucket, key, manifest, indent=1)
    log.info(
        "snapshot %s: %s images, %s classes, split %s, labels by source %s (new: %s) → s3://%s/%s",
        manifest["fingerprint"][:12],
        len(items),
        len(classes),
        manifest["counts"],
        manifest["lineage"]["by_source"],
        manifest["lineage"].get("new_since_previous", "no previous model"),
        settings.models_bucket,
        key,
    )
    return {"manifest_key": key, **_summary(manifest)}


def _summary(manifest: dict) -> dict[str, Any]:
    return {
        "fingerprint": manifest["fingerprint"],
        "classes": manifest["classes"],
        "counts": manifest["counts"],
        "lineage": {k: v for k, v in manifest.get("lineage", {}).items() if k != "by_day"},
    }


def load_manifest(settings: Settings, manifest_key: str) -> dict[str, Any]:
    from image_mlops.aws import aws_client

    body = aws_client("s3", settings).get_object(Bucket=settings.models_bucket, Key=manifest_key)
    return json.loads(body["Body"].read())


def resolve_snapshot(settings: Settings, ref: str) -> dict[str, Any]:
    """An existing snapshot given by fingerprint or manifest key (the ``dataset`` Param)."""
    key = ref if ref.endswith(".json") else s3layout.dataset_manifest_key(settings.model_name, ref)
    manifest = load_manifest(settings, key)
    return {"manifest_key": key, **_summary(manifest)}


def download_split(settings: Settings, manifest: dict, split: str, dest: Path) -> int:
    """Download one split to ``dest/<class>/<name>`` (the SageMaker channel layout)."""
    items = [i for i in manifest["items"] if i["split"] == split]
    return download_items(settings, manifest["bucket"], items, dest)


def download_items(settings: Settings, bucket: str, items: list[dict], dest: Path) -> int:
    """Download manifest items to ``dest/<class>/<name>``."""
    from image_mlops.aws import aws_client

    s3 = aws_client("s3", settings)
    for item in items:
        name = item["key"].rsplit("/", 1)[-1]
        target = dest / item["label"] / name
        target.parent.mkdir(parents=True, exist_ok=True)
        body = s3.get_object(Bucket=bucket, Key=item["key"])["Body"].read()
        target.write_bytes(body)
    return len(items)


#: Splits no model is fitted on: the gate's recent window is drawn from these.
HELD_OUT_SPLITS = ("validation", "test")


def recent_held_out(manifest: dict, since: datetime) -> list[dict]:
    """Held-out items whose label was recorded at or after ``since``."""
    return [
        i
        for i in manifest["items"]
        if i["split"] in HELD_OUT_SPLITS
        and i.get("recorded_at")
        and datetime.fromisoformat(i["recorded_at"]) >= since
    ]
