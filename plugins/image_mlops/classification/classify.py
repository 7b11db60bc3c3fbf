"""Classify one batch end to end: read → input stats → predict → place → record.

Every image of the batch ends in exactly one result line (and, when its content hash is
known, one predictions row): classified, uncertain, or an error with a reason from
:data:`image_mlops.classification.records.ERROR_REASONS`. Content is known by the sha256 of
the bytes read: a second key with the same bytes, in this batch or classified by this model
version before, is not classified again (result line ``duplicate``, no row). Every object
version read is recorded with its sha256 for planning (``prediction_sources``). Re-running a
batch rewrites the same keys and rows (idempotent).

The images go through in chunks of :data:`PIPELINE_CHUNK`. The S3 requests (boto3, one
client per process) run on a thread pool of ``IMAGE_MLOPS_CLASSIFY_S3_THREADS`` (24): each
request mostly waits on the network, so the next chunk downloads (GET + decode + input
stats) and this chunk's copies run while this chunk is predicted. The rows are upserted in
one statement once every copy has completed (a row never points at a file not yet there).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import io
import logging
from collections.abc import Callable
from concurrent.futures import Executor, Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from image_mlops.classification import batches, placement, records
from image_mlops.classification.clients import client as aws_client
from image_mlops.config import Settings, get_settings

log = logging.getLogger(__name__)

#: Images decoded and predicted together while the next downloads and copies run.
PIPELINE_CHUNK = 64
#: Raw image bytes per JSON request (base64 adds a third; SageMaker's payload limit is 6 MB).
MAX_REQUEST_BYTES = 4 * 1024 * 1024

Predictor = Callable[[list[bytes]], list[dict[str, Any]]]


@dataclass
class Image:
    """One image of a batch as it moves through the steps."""

    key: str
    sha256: str | None = None
    size: int | None = None
    etag: str | None = None
    data: bytes | None = field(default=None, repr=False)
    stats: dict[str, float] | None = None
    error: str | None = None
    detail: str | None = None
    label: str | None = None
    confidence: float | None = None
    top3: list[dict[str, Any]] = field(default_factory=list)
    uncertain: bool = False
    output_key: str | None = None


class InlineExecutor(Executor):
    """Runs each call at once in the caller's thread (the executor for one thread)."""

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future:
        future: Future = Future()
        try:
            future.set_result(fn(*args, **kwargs))
        except Exception as exc:  # delivered by result(), as a pool's future does
            future.set_exception(exc)
        return future


def s3_executor(settings: Settings, tasks: int) -> Executor:
    """Where a batch's S3 requests run: a pool of the setting's threads, or inline for one."""
    threads = min(max(1, settings.classify_s3_threads), tasks)
    return ThreadPoolExecutor(threads) if threads > 1 else InlineExecutor()


def fetch_one(s3: Any, settings: Settings, item: dict[str, Any]) -> Image:
    """Download one image; a failure becomes a reason, not an exception."""
    from botocore.exceptions import ClientError

    image = Image(key=item["key"], sha256=item.get("sha256"), size=item.get("size"))
    try:
        response = s3.get_object(Bucket=settings.validated_bucket, Key=item["key"])
        image.data, etag = response["Body"].read(), response.get("ETag")
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        missing = code in ("NoSuchKey", "404")
        image.error = records.MISSING_OBJECT if missing else records.READ_FAILED
        image.detail = f"{code}: {exc}"[:500]
        return image
    image.etag = (etag or "").strip('"') or None
    image.sha256 = hashlib.sha256(image.data).hexdigest()
    image.size = len(image.data)
    return image


def fetch(s3: Any, settings: Settings, items: list[dict[str, Any]]) -> list[Image]:
    """Download every image of the batch (on its S3 executor); failures become reasons."""
    with s3_executor(settings, len(items)) as pool:
        return list(pool.map(lambda item: fetch_one(s3, settings, item), items))


def analyse(image: Image) -> None:
    """Decode the image and compute its input statistics (an undecodable image gets a reason)."""
    from PIL import Image as PILImage

    from image_mlops.image_stats import input_stats

    if image.error or image.data is None:
        return
    try:
        with PILImage.open(io.BytesIO(image.data)) as pil:
            pil.load()
            image.stats = input_stats(pil)
    except Exception as exc:  # Pillow raises many types for bad bytes
        image.error = records.UNREADABLE_IMAGE
        image.detail = f"{type(exc).__name__}: {exc}"[:500]


def chunks_by_size(images: list[Image], limit: int = MAX_REQUEST_BYTES) -> list[list[Image]]:
    """Split into request-sized chunks (at least one image each)."""
    out: list[list[Image]] = []
    current: list[Image] = []
    size = 0
    for image in images:
        n = len(image.data or b"")
        if current and size + n > limit:
            out.append(current)
            current, size = [], 0
        current.append(image)
        size += n
    if current:
        out.append(current)
    return out


def predict(images: list[Image], predictor: Predictor, threshold: float) -> None:
    """Fill label/confidence/top3/uncertain (or a prediction error) for the readable images."""
    readable = [image for image in images if image.error is None]
    for chunk in chunks_by_size(readable):
        answers = predictor([image.data for image in chunk])
        if len(answers) != len(chunk):
            raise RuntimeError(f"the model answered {len(answers)} predictions for {len(chunk)}")
        for image, answer in zip(chunk, answers, strict=True):
            if answer.get("error"):
                image.error = records.PREDICTION_ERROR
                image.detail = str(answer["error"])[:500]
                continue
            image.label = answer.get("label")
            confidence = answer.get("confidence")
            image.confidence = None if confidence is None else float(confidence)
            image.top3 = [
                {"label": t.get("label"), "score": t.get("score")}
                for t in (answer.get("top_k") or [])[:3]
            ]
            image.uncertain = (
                image.label is None or image.confidence is None or image.confidence < threshold
            )


def classify_batch(
    batch_key: str,
    index: int,
    model: dict[str, Any],
    run_id: str,
    predictor: Predictor,
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Classify the images listed in ``batch_key`` with ``predictor`` (the route's, from
    :func:`image_mlops.classification.transform.predictor_for`); returns counts and the
    results key."""
    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    items = batches.read_json(batch_key, settings, s3)

    images: list[Image] = []
    unique: list[Image] = []
    duplicates: list[Image] = []
    seen: dict[str, str] = {}  # sha256 → key: a second copy of the same bytes is a duplicate
    version = int(model["package_version"])
    copies: list[tuple[Image, Future[list[str]]]] = []
    chunks = batches.split(items, PIPELINE_CHUNK) if items else []
    with s3_executor(settings, len(items)) as pool, records.connect(settings) as conn:

        def download(chunk: list[dict[str, Any]]) -> list[Future[Image]]:
            # GET + decode + stats (Pillow releases the GIL while decoding)
            return [pool.submit(_read, s3, settings, item) for item in chunk]

        downloads = download(chunks[0]) if chunks else []
        for position in range(len(chunks)):
            # the next chunk's reads are queued first: a pool runs them during the predict
            ready = downloads
            downloads = download(chunks[position + 1]) if position + 1 < len(chunks) else []
            arrived = [future.result() for future in ready]
            images.extend(arrived)
            # content this model version classified under another key is not classified again
            classified = records.classified_contents(
                version, [i.sha256 for i in arrived if i.sha256 and i.data is not None], conn=conn
            )
            fresh = []
            for image in arrived:
                earlier = classified.get(image.sha256 or "")
                if image.sha256 and image.sha256 in seen and image.data is not None:
                    image.error, image.detail = "duplicate", f"same content as {seen[image.sha256]}"
                elif earlier is not None and earlier != image.key and image.data is not None:
                    image.error = "duplicate"
                    image.detail = f"same content as {earlier} (model version {version})"
                else:
                    if image.sha256:
                        seen[image.sha256] = image.key
                    fresh.append(image)
                    continue
                duplicates.append(image)
            unique.extend(fresh)
            predict(fresh, predictor, settings.confidence_threshold)
            stale = records.previous_placements(
                [i.sha256 for i in fresh if i.sha256 and not i.error], settings, conn
            )
            for image in fresh:
                if image.error:
                    continue
                image.output_key = placement.target_key(image.key, image.label, image.uncertain)
                job = placement.Placement(
                    source_key=image.key,
                    target_key=image.output_key,
                    size=image.size,
                    stale_keys=stale.get(image.sha256 or "", set()),
                    source_etag=image.etag,
                    sha256=image.sha256,
                )
                copies.append((image, pool.submit(placement.place, s3, settings, job)))
            image_data_done(fresh)
        moved = 0
        for image, future in copies:
            try:
                moved += len(future.result())
            except placement.SourceChanged as exc:
                # retryable: the next run reads and classifies the new content
                image.error, image.detail = records.READ_FAILED, str(exc)[:500]
                image.output_key = None

        now = dt.datetime.now(dt.UTC).isoformat()
        rows = [_row(image, model, run_id, now) for image in unique if image.sha256]
        records.upsert_predictions(rows, settings, conn)
        # the object versions read, so that planning knows them (after their content's rows)
        read = [{"key": i.key, "etag": i.etag, "sha256": i.sha256} for i in unique + duplicates]
        records.record_sources(version, read, settings, conn)
    lines = [_line(image, model, now) for image in unique + duplicates]
    results_key = batches.write_results(run_id, index, lines, settings)

    summary = {
        "batch_key": batch_key,
        "results_key": results_key,
        "images": len(images),
        "classified": sum(1 for i in unique if not i.error and not i.uncertain),
        "uncertain": sum(1 for i in unique if not i.error and i.uncertain),
        "errors": sum(1 for i in images if i.error),
        "moved": moved,
    }
    log.info("batch %s: %s", index, summary)
    return summary


def _read(s3: Any, settings: Settings, item: dict[str, Any]) -> Image:
    image = fetch_one(s3, settings, item)
    analyse(image)
    return image


def image_data_done(images: list[Image]) -> None:
    """Drop the bytes of predicted images (a batch holds at most a chunk's bytes at once)."""
    for image in images:
        image.data = None


def _row(image: Image, model: dict[str, Any], run_id: str, now: str) -> dict[str, Any]:
    return {
        "image_sha256": image.sha256,
        "model_version": int(model["package_version"]),
        "model_package_arn": model.get("package_arn") or "",
        "endpoint_name": model["endpoint_name"],
        "source_key": image.key,
        "output_key": image.output_key,
        "predicted_class": image.label,
        "confidence": image.confidence,
        "top3": image.top3,
        "uncertain": bool(image.uncertain) and not image.error,
        "error_reason": image.error,
        "run_id": run_id,
        "predicted_at": now,
        "input_stats": image.stats,
        "source_etag": image.etag,
    }


def _line(image: Image, model: dict[str, Any], now: str) -> dict[str, Any]:
    return {
        "key": image.output_key,
        "source_key": image.key,
        "sha256": image.sha256,
        "class": image.label,
        "confidence": image.confidence,
        "top3": image.top3,
        "uncertain": bool(image.uncertain) and not image.error,
        "error": image.error,
        "detail": image.detail,
        "model_package_version": int(model["package_version"]),
        "model_package_arn": model.get("package_arn") or "",
        "endpoint": model["endpoint_name"],
        "predicted_at": now,
    }
