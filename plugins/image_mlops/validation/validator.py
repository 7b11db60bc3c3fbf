"""Validate one batch manifest: fetch, check (process pool), move — the one batch validator.

Standalone like :mod:`checks` and :mod:`mover` (stdlib, Pillow, an S3 client passed in), so
the Airflow task and the Lambda handler run exactly this code. Everything layout-specific
(destination, error and claim keys) comes precomputed in the manifest (see
:mod:`image_mlops.validation.pipeline`), the one place keys are built being ``s3layout``.

Per object (each step idempotent, so a retry or an overlapping run converges):

1. claim the object version (``IfNoneMatch`` marker); a live claim of another run → skipped;
2. GET it; if it is gone, find where an earlier attempt of this run put it;
3. check the bytes; duplicates: earlier in this batch (sorted order) or in the content index;
4. copy → verify (size + SHA-256) → write the content-index marker (first writer wins; a
   loser removes its copy and quarantines as ``duplicate``) → delete the raw object;
5. bad objects: copy byte-identical to ``errors/<run>/<key>`` → verify → delete.
"""

from __future__ import annotations

import json
import logging
import os
from concurrent.futures import ProcessPoolExecutor, ThreadPoolExecutor
from typing import Any
from urllib.parse import quote

try:  # inside the image_mlops package
    from . import checks, mover
except ImportError:  # shipped standalone (Lambda zip): image_checks.py, image_mover.py
    import image_checks as checks  # type: ignore[no-redef]
    import image_mover as mover  # type: ignore[no-redef]

log = logging.getLogger(__name__)

CHUNK = 32  # objects held in memory at once
VALIDATED, QUARANTINED, SKIPPED = "validated", "quarantined", "skipped"


def _check(args: tuple[bytes, str, checks.CheckLimits]) -> checks.CheckResult:
    return checks.check_image(*args)


def effective_workers(workers: int) -> int:
    """``0`` means the cores this process may use."""
    if workers > 0:
        return workers
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def check_many(
    blobs: list[tuple[bytes, str]], limits: checks.CheckLimits, pool: ProcessPoolExecutor | None
) -> list[checks.CheckResult]:
    args = [(data, name, limits) for data, name in blobs]
    if pool is None or len(args) < 2:
        return [_check(a) for a in args]
    return list(pool.map(_check, args, chunksize=max(1, len(args) // 8)))


class BatchValidator:
    """Runs one manifest; ``outcomes`` and ``reasons`` are the batch's records."""

    def __init__(self, s3: Any, manifest: dict, limits: checks.CheckLimits) -> None:
        self.s3 = s3
        self.m = manifest
        self.limits = limits
        self.run_id = manifest["run_id"]
        self.outcomes: dict[str, dict] = {}
        self.reasons: list[dict] = []
        self.seen: dict[str, str] = {}  # sha256 → first key of this batch

    # --- steps ------------------------------------------------------------------------
    def _claim(self, item: dict) -> bool:
        owner = mover.claim(self.s3, self.m["raw_bucket"], item["claim_key"], self.run_id)
        if owner != self.run_id:
            self._record(item, SKIPPED, detail=f"claimed by run {owner}")
            return False
        return True

    def _fetch(self, item: dict) -> tuple[bytes, dict] | None:
        try:
            obj = self.s3.get_object(Bucket=self.m["raw_bucket"], Key=item["key"])
        except Exception as exc:
            if mover.is_missing(exc):
                return None
            raise
        return obj["Body"].read(), obj

    def _recover(self, item: dict) -> None:
        """The raw object is gone: an earlier attempt of this run may have moved it."""
        if item.get("dest"):
            meta = mover.head(self.s3, self.m["validated_bucket"], item["dest"])
            user = (meta or {}).get("Metadata", {})
            if user.get("run-id") == self.run_id and user.get("source-key") == quote(item["key"]):
                self._record(item, VALIDATED, sha256=user.get("sha256"), area=item["area"])
                return
        meta = mover.head(self.s3, self.m["raw_bucket"], item["error_key"])
        user = (meta or {}).get("Metadata", {})
        if meta and user.get("run-id") == self.run_id:
            self._quarantined(
                item,
                user.get("reason", "corrupt"),
                user.get("detail", ""),
                user.get("sha256"),
                meta["ContentLength"],
            )
            return
        self._record(item, SKIPPED, detail="gone from raw before this run took it")

    def _record(self, item: dict, outcome: str, **extra) -> None:
        self.outcomes[item["key"]] = {"key": item["key"], "outcome": outcome, **extra}

    def _quarantined(self, item, reason, detail, sha256, size) -> None:
        self._record(item, QUARANTINED, reason=reason)
        self.reasons.append(
            {
                "key": item["key"],
                "reason": reason,
                "detail": detail,
                "sha256": sha256,
                "size": size,
                "run_id": self.run_id,
            }
        )

    def _quarantine(self, item, obj, reason: str, detail: str, sha256: str, size: int) -> None:
        metadata = {
            **obj.get("Metadata", {}),
            "reason": reason,
            "detail": quote(detail[:1000]),
            "sha256": sha256,
            "run-id": self.run_id,
            "source-key": quote(item["key"]),
        }
        mover.copy_verified(
            self.s3,
            src_bucket=self.m["raw_bucket"],
            src_key=item["key"],
            dst_bucket=self.m["raw_bucket"],
            dst_key=item["error_key"],
            sha256=sha256,
            size=size,
            src_etag=obj.get("ETag"),
            metadata=metadata,
            content_type=obj.get("ContentType"),
        )
        mover.delete(self.s3, self.m["raw_bucket"], item["key"])
        self._quarantined(item, reason, detail, sha256, size)

    def _validate(self, item, obj, result: checks.CheckResult) -> None:
        bucket = self.m["validated_bucket"]
        dest = item["dest"]
        metadata = {
            **obj.get("Metadata", {}),
            "sha256": result.sha256,
            "format": result.format,
            "width": str(result.width),
            "height": str(result.height),
            "mode": result.mode,
            "source-key": quote(item["key"]),
            "run-id": self.run_id,
            **result.extra,
        }
        if result.extension_mismatch:
            metadata["extension-mismatch"] = quote(result.extension_mismatch)
        existing = mover.head(self.s3, bucket, dest)
        if existing and existing.get("Metadata", {}).get("sha256") != result.sha256:
            self._quarantine(
                item,
                obj,
                checks.Reason.UNSAFE_KEY.value,
                f"validated key {dest} already holds different content",
                result.sha256,
                result.size,
            )
            return
        mover.copy_verified(
            self.s3,
            src_bucket=self.m["raw_bucket"],
            src_key=item["key"],
            dst_bucket=bucket,
            dst_key=dest,
            sha256=result.sha256,
            size=result.size,
            src_etag=obj.get("ETag"),
            metadata=metadata,
            content_type=checks.MIME_TYPES.get(result.format),
        )
        index_key = self.m["index_prefix"] + result.sha256
        winner = mover.put_if_absent(self.s3, bucket, index_key, dest)
        if winner != dest and mover.head(self.s3, bucket, winner) is not None:
            # Another key with this content won the race: undo our copy, quarantine ours.
            if not existing:
                mover.delete(self.s3, bucket, dest)
            self._quarantine(
                item,
                obj,
                checks.Reason.DUPLICATE.value,
                f"same content as validated {winner}",
                result.sha256,
                result.size,
            )
            return
        if winner != dest:  # a marker whose image was removed by hand: take it over
            self.s3.put_object(Bucket=bucket, Key=index_key, Body=dest.encode())
        mover.delete(self.s3, self.m["raw_bucket"], item["key"])
        self._record(item, VALIDATED, sha256=result.sha256, area=item["area"])

    def _decide(self, item, obj, result: checks.CheckResult) -> None:
        if item.get("unsafe"):
            self._quarantine(
                item,
                obj,
                checks.Reason.UNSAFE_KEY.value,
                item["unsafe"],
                result.sha256,
                result.size,
            )
            return
        if not result.valid:
            self._quarantine(item, obj, result.reason, result.detail, result.sha256, result.size)
            return
        if result.sha256 in self.seen:
            self._quarantine(
                item,
                obj,
                checks.Reason.DUPLICATE.value,
                f"same content as {self.seen[result.sha256]} (this run)",
                result.sha256,
                result.size,
            )
            return
        self.seen[result.sha256] = item["key"]
        marker = mover.read_text(
            self.s3, self.m["validated_bucket"], self.m["index_prefix"] + result.sha256
        )
        if (
            marker
            and marker != item["dest"]
            and mover.head(self.s3, self.m["validated_bucket"], marker) is not None
        ):
            self._quarantine(
                item,
                obj,
                checks.Reason.DUPLICATE.value,
                f"same content as validated {marker}",
                result.sha256,
                result.size,
            )
            return
        self._validate(item, obj, result)

    # --- the batch ----------------------------------------------------------------------
    def run(self, workers: int = 0) -> dict:
        items = sorted(self.m["items"], key=lambda i: i["key"])
        n_workers = effective_workers(workers)
        pool = ProcessPoolExecutor(n_workers) if n_workers > 1 and len(items) > 1 else None
        if pool is not None:  # start the workers before any thread of ours exists
            list(pool.map(effective_workers, [1] * n_workers))
        try:
            with ThreadPoolExecutor(8) as io_pool:
                for start in range(0, len(items), CHUNK):
                    chunk = items[start : start + CHUNK]
                    oks = list(io_pool.map(self._claim, chunk))
                    claimed = [i for i, ok in zip(chunk, oks, strict=True) if ok]
                    fetched = list(io_pool.map(self._fetch, claimed))
                    pairs = zip(claimed, fetched, strict=True)
                    present = [(i, f) for i, f in pairs if f is not None]
                    for item, got in zip(claimed, fetched, strict=True):
                        if got is None:
                            self._recover(item)
                    results = check_many(
                        [(data, item["key"]) for item, (data, _) in present], self.limits, pool
                    )
                    for (item, (_, obj)), result in zip(present, results, strict=True):
                        self._decide(item, obj, result)
                    for item in claimed:
                        mover.delete(self.s3, self.m["raw_bucket"], item["claim_key"])
                    log.info(
                        "batch %s: %s/%s objects done",
                        self.m.get("batch"),
                        min(start + CHUNK, len(items)),
                        len(items),
                    )
        finally:
            if pool is not None:
                pool.shutdown()
        return self.summary()

    def summary(self) -> dict:
        by_outcome: dict[str, int] = {}
        by_reason: dict[str, int] = {}
        by_area: dict[str, int] = {}
        for o in self.outcomes.values():
            by_outcome[o["outcome"]] = by_outcome.get(o["outcome"], 0) + 1
            if o["outcome"] == QUARANTINED:
                by_reason[o["reason"]] = by_reason.get(o["reason"], 0) + 1
            if o["outcome"] == VALIDATED:
                by_area[o["area"]] = by_area.get(o["area"], 0) + 1
        claimed = len(self.outcomes) - by_outcome.get(SKIPPED, 0)
        done = by_outcome.get(VALIDATED, 0) + by_outcome.get(QUARANTINED, 0)
        if claimed != done or len(self.outcomes) != len(self.m["items"]):
            raise RuntimeError(
                f"batch {self.m.get('batch')}: {len(self.m['items'])} listed, {claimed} taken, "
                f"{done} validated or quarantined — objects unaccounted for; rerun the batch"
            )
        return {
            "batch": self.m.get("batch"),
            "listed": len(self.m["items"]),
            "in": claimed,
            "validated": by_outcome.get(VALIDATED, 0),
            "quarantined": by_outcome.get(QUARANTINED, 0),
            "skipped": by_outcome.get(SKIPPED, 0),
            "by_reason": by_reason,
            "validated_by_area": by_area,
        }


def run_manifest(s3: Any, manifest: dict, limits: checks.CheckLimits, workers: int = 0) -> dict:
    """Validate one manifest and write its result and reasons part beside it (idempotent)."""
    validator = BatchValidator(s3, manifest, limits)
    summary = validator.run(workers)
    bucket = manifest["raw_bucket"]
    reasons = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in validator.reasons)
    s3.put_object(Bucket=bucket, Key=manifest["reasons_part_key"], Body=reasons.encode())
    s3.put_object(Bucket=bucket, Key=manifest["result_key"], Body=json.dumps(summary).encode())
    return summary
