"""Batch manifests, per-batch results and the run manifest — all JSON on S3, never in XCom.

* ``_work/classify/<run>/batches/batch-NNNNN.json``    the images of one batch;
* ``_work/classify/<run>/results/batch-NNNNN.jsonl``   one line per image of that batch;
* ``predictions/_manifests/<run>.jsonl``               the run manifest (all result lines).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

from image_mlops import aws, s3layout
from image_mlops.classification.clients import client as aws_client
from image_mlops.config import Settings, get_settings

log = logging.getLogger(__name__)

#: Fields of one run-manifest line (see docs/readme/classification.md).
MANIFEST_FIELDS = (
    "key",
    "source_key",
    "sha256",
    "class",
    "confidence",
    "top3",
    "uncertain",
    "error",
    "detail",
    "model_package_version",
    "model_package_arn",
    "endpoint",
    "predicted_at",
)


def split(items: list[Any], size: int) -> list[list[Any]]:
    if size <= 0:
        raise ValueError("batch size must be positive")
    return [items[start : start + size] for start in range(0, len(items), size)]


def write_batches(
    items: list[dict[str, Any]], run_id: str, batch_size: int, settings: Settings | None = None
) -> list[dict[str, Any]]:
    """One manifest per batch (deterministic keys); returns ``[{batch_key, index, count}]``."""
    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    batches = []
    for index, chunk in enumerate(split(items, batch_size)):
        key = s3layout.classify_batch_key(run_id, index)
        aws.put_json(s3, settings.output_bucket, key, chunk)
        batches.append({"batch_key": key, "index": index, "count": len(chunk)})
    log.info("%d images in %d batches of at most %d", len(items), len(batches), batch_size)
    return batches


def read_json(key: str, settings: Settings | None = None, s3: Any = None) -> Any:
    settings = settings or get_settings()
    s3 = s3 or aws_client("s3", settings)
    return aws.read_json(s3, settings.output_bucket, key)


def write_results(
    run_id: str, index: int, lines: Iterable[dict[str, Any]], settings: Settings | None = None
) -> str:
    settings = settings or get_settings()
    key = s3layout.classify_results_key(run_id, index)
    body = "".join(json.dumps(line, sort_keys=True) + "\n" for line in lines)
    aws_client("s3", settings).put_object(
        Bucket=settings.output_bucket,
        Key=key,
        Body=body.encode(),
        ContentType="application/x-ndjson",
    )
    return key


def write_run_manifest(
    run_id: str, results_keys: Iterable[str], settings: Settings | None = None
) -> dict[str, Any]:
    """Concatenate the batches' result lines into ``predictions/_manifests/<run>.jsonl``."""
    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    parts, counts = [], {"images": 0, "classified": 0, "uncertain": 0, "errors": 0}
    for key in sorted(set(results_keys)):
        body = s3.get_object(Bucket=settings.output_bucket, Key=key)["Body"].read().decode()
        for raw in body.splitlines():
            if not raw.strip():
                continue
            line = json.loads(raw)
            counts["images"] += 1
            if line.get("error"):
                counts["errors"] += 1
            elif line.get("uncertain"):
                counts["uncertain"] += 1
            else:
                counts["classified"] += 1
            parts.append(raw + "\n")
    manifest_key = s3layout.manifest_key(run_id)
    s3.put_object(
        Bucket=settings.output_bucket,
        Key=manifest_key,
        Body="".join(parts).encode(),
        ContentType="application/x-ndjson",
    )
    log.info("run manifest s3://%s/%s: %s", settings.output_bucket, manifest_key, counts)
    return {"manifest_key": manifest_key, **counts}
