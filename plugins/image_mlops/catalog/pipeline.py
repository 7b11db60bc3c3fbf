"""The steps of the ``extract_product_catalog`` DAG, one function per task.

1. :func:`extract_chunks` streams the query and writes ``catalog/<run>/chunks/part-<n>.jsonl``
   (``batch_size`` products each); returns the chunk numbers (O(N / batch) small ints).
2. :func:`download_chunk` (one mapped task per chunk) downloads the chunk's main images with
   a thread pool, stores them in ``incoming/`` and the descriptions in ``catalog/texts/``, and
   writes ``catalog/<run>/results/part-<n>.jsonl`` (the chunk with each product's outcome).
3. :func:`write_manifest` concatenates the results, in product order, into
   ``catalog/<run>/products.jsonl`` and returns the run's summary.

Every step is deterministic in its keys, so a retry or a re-run overwrites the same objects.
"""

from __future__ import annotations

import json
import logging
import tempfile
from collections import Counter
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from image_mlops import s3layout
from image_mlops.aws import aws_client
from image_mlops.catalog.extract import (
    ProductRow,
    catalog_hook,
    chunked,
    iter_products,
    rows_from_jsonl,
    rows_to_jsonl,
)
from image_mlops.catalog.images import (
    DownloadError,
    FetchPolicy,
    fetch_image,
    redact_url,
    store_main_image,
)
from image_mlops.config import Settings

log = logging.getLogger(__name__)

#: Downloads running at once inside one batch task (I/O bound: threads, not processes).
DOWNLOAD_THREADS = 8
#: Outcome statuses of a product in the manifest.
STORED, UNCHANGED, ALREADY_VALIDATED, FAILED = "stored", "unchanged", "already_validated", "failed"
SUCCESS_STATUSES = (STORED, UNCHANGED, ALREADY_VALIDATED)


def extract_chunks(
    settings: Settings,
    run_id: str,
    *,
    batch_size: int | None = None,
    limit: int = 0,
    conn: Any = None,
    s3: Any = None,
) -> list[int]:
    """Stream the catalogue into chunk objects; returns the chunk numbers ``[0, 1, ...]``."""
    batch_size = batch_size or settings.catalog_batch_size
    s3 = s3 or aws_client("s3", settings)
    own_conn = conn is None
    conn = conn if conn is not None else catalog_hook(settings).get_conn()
    chunks: list[int] = []
    products = 0
    try:
        rows = iter_products(conn, settings.catalog_fetch_size, limit=limit)
        for index, chunk in enumerate(chunked(rows, batch_size)):
            s3.put_object(
                Bucket=settings.raw_bucket,
                Key=s3layout.catalog_chunk_key(run_id, index),
                Body=rows_to_jsonl(chunk),
                ContentType="application/x-ndjson",
            )
            chunks.append(index)
            products += len(chunk)
            if index % 20 == 0:
                log.info("extracted %s products into %s chunks so far", products, index + 1)
    finally:
        if own_conn:
            conn.close()
    log.info(
        "extracted %s products into %s chunks of up to %s (s3://%s/%s)",
        products,
        len(chunks),
        batch_size,
        settings.raw_bucket,
        s3layout.catalog_chunk_key(run_id, 0).rsplit("/", 1)[0],
    )
    return chunks


def process_product(row: ProductRow, settings: Settings, s3: Any) -> dict[str, Any]:
    """Keep the description text and fetch + store the main image of one product.

    Never raises for a bad image: the outcome carries ``status`` and, on failure, ``reason``.
    """
    record: dict[str, Any] = {
        "product_id": row.product_id,
        "title": row.title,
        # the manifest never holds a URL's credentials or query string
        "image_url": redact_url(row.image_url) if row.image_url else row.image_url,
        "description": row.description,
        "description_key": None,
        "image_key": None,
    }
    if row.description is not None:
        text_key = s3layout.catalog_text_key(row.product_id)
        s3.put_object(
            Bucket=settings.raw_bucket,
            Key=text_key,
            Body=row.description.encode("utf-8"),
            ContentType="text/plain; charset=utf-8",
            Metadata={"product-id": str(row.product_id)},
        )
        record["description_key"] = text_key
    if not row.image_url:
        record.update(status=FAILED, reason="no_image_url", detail="")
        return record
    try:
        image = fetch_image(
            row.image_url,
            timeout=settings.catalog_image_timeout,
            max_bytes=settings.max_image_bytes,
            retries=settings.catalog_image_retries,
            s3=s3,
            policy=FetchPolicy.from_settings(settings),
        )
    except DownloadError as exc:
        record.update(status=FAILED, reason=exc.reason, detail=exc.detail)
        return record
    key, status = store_main_image(
        s3,
        image,
        product_id=row.product_id,
        raw_bucket=settings.raw_bucket,
        validated_bucket=settings.validated_bucket,
    )
    record.update(
        status=status,
        image_key=key,
        content_type=image.content_type,
        bytes=len(image.body),
        sha256=image.sha256,
        attempts=image.attempts,
    )
    return record


def summarise(records: Iterable[dict[str, Any]]) -> dict[str, Any]:
    statuses: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    products = with_image = with_description = 0
    for record in records:
        products += 1
        with_image += bool(record["image_url"])
        with_description += record["description"] is not None
        statuses[record["status"]] += 1
        if record["status"] == FAILED:
            failures[record["reason"]] += 1
    return {
        "products": products,
        "with_image": with_image,
        "with_description": with_description,
        "downloaded": sum(statuses[s] for s in SUCCESS_STATUSES),
        "stored": statuses[STORED],
        "unchanged": statuses[UNCHANGED],
        "already_validated": statuses[ALREADY_VALIDATED],
        "failures": dict(sorted(failures.items())),
    }


def merge_summaries(parts: Iterable[dict[str, Any]]) -> dict[str, Any]:
    total: Counter[str] = Counter()
    failures: Counter[str] = Counter()
    for part in parts:
        failures.update(part["failures"])
        total.update({k: v for k, v in part.items() if k != "failures"})
    keys = ("products", "with_image", "with_description", "downloaded", "stored")
    keys += ("unchanged", "already_validated")
    merged: dict[str, Any] = {k: total[k] for k in keys}
    merged["failures"] = dict(sorted(failures.items()))
    return merged


def download_chunk(
    settings: Settings, run_id: str, index: int, *, s3: Any = None, threads: int = DOWNLOAD_THREADS
) -> dict[str, Any]:
    """Download the main images of one chunk; write its results part; return its counts."""
    s3 = s3 or aws_client("s3", settings)
    chunk_key = s3layout.catalog_chunk_key(run_id, index)
    rows = rows_from_jsonl(s3.get_object(Bucket=settings.raw_bucket, Key=chunk_key)["Body"].read())
    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        records = list(pool.map(lambda row: process_product(row, settings, s3), rows))
    body = "".join(json.dumps(r, ensure_ascii=False, sort_keys=True) + "\n" for r in records)
    s3.put_object(
        Bucket=settings.raw_bucket,
        Key=s3layout.catalog_result_key(run_id, index),
        Body=body.encode("utf-8"),
        ContentType="application/x-ndjson",
    )
    summary = summarise(records)
    log.info("chunk %s: %s", index, summary)
    for record in records:
        if record["status"] == FAILED and record["reason"] != "no_image_url":
            log.warning(
                "product %s: main image %s not stored: %s %s",
                record["product_id"],
                record["image_url"],
                record["reason"],
                record["detail"],
            )
    return summary


def write_manifest(
    settings: Settings, run_id: str, chunks: Iterable[int], *, s3: Any = None
) -> dict[str, Any]:
    """Concatenate the results parts into ``catalog/<run>/products.jsonl``; return the summary.

    The parts are streamed through a spooled temporary file (memory bounded) and uploaded
    with the S3 transfer manager (multipart when large).
    """
    s3 = s3 or aws_client("s3", settings)
    key = s3layout.catalog_manifest_key(run_id)
    parts: list[dict[str, Any]] = []
    with tempfile.SpooledTemporaryFile(max_size=32 * 1024 * 1024) as spool:
        for index in sorted(chunks):
            body = s3.get_object(
                Bucket=settings.raw_bucket, Key=s3layout.catalog_result_key(run_id, index)
            )["Body"].read()
            spool.write(body)
            parts.append(summarise(json.loads(line) for line in body.splitlines() if line))
        spool.seek(0)
        s3.upload_fileobj(
            spool, settings.raw_bucket, key, ExtraArgs={"ContentType": "application/x-ndjson"}
        )
    summary = merge_summaries(parts)
    summary["manifest"] = f"s3://{settings.raw_bucket}/{key}"
    log.info("catalogue manifest %s: %s", summary["manifest"], summary)
    return summary


def read_manifest(s3: Any, bucket: str, key: str) -> list[dict[str, Any]]:
    """The manifest's records (for tests and small catalogues)."""
    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read().decode("utf-8")
    return [json.loads(line) for line in body.splitlines() if line]
