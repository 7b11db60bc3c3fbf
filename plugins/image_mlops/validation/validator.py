"""Validate one batch manifest: fetch, check (thread pool), move — the one batch validator.

Standalone like :mod:`checks` and :mod:`mover` (stdlib, Pillow, an S3 client passed in), so
the Airflow task and the Lambda handler run exactly this code. Everything layout-specific
(destination, error and claim keys) comes precomputed in the manifest (see
:mod:`image_mlops.validation.pipeline`), the one place keys are built being ``s3layout``.

Per object (each step idempotent, so a retry or an overlapping run converges):

1. lease the object version (a claim written with ``IfNoneMatch``, recording run, batch and
   try, expiring after ``claim_lease_seconds``); a live lease of another attempt → skipped;
2. GET it; if it is gone, find where an earlier attempt of this run put it;
3. check the bytes; duplicates: earlier in this batch (sorted order) or in the content index;
4. copy → verify (size + SHA-256) → write the content-index marker (first writer wins; a
   loser removes its copy and quarantines as ``duplicate``) → delete the raw object version
   that was checked (``If-Match`` / version id: an upload made meanwhile stays for the next
   run);
5. bad objects: copy byte-identical to ``errors/<run>/<key>`` → verify → delete likewise.

One object's problem never stops the batch: a permanent one (metadata S3 cannot take on, a
key too long) quarantines that object with its reason code; a transient one (the object
vanished or changed since it was listed, a claim held elsewhere, an S3 error) skips it with
a recorded reason, and the next run picks it up.

The checks run on a thread pool, not a process pool: Pillow's decoders and hashlib release
the GIL, so threads use the cores as well (``bench/validation_throughput.py``), and a task
may start no child processes where it runs as a Celery prefork worker's child (Airflow's
CeleryExecutor, MWAA: "daemonic processes are not allowed to have children") or in a Lambda
function (no shared-memory semaphores). A killed task leaves no pool processes behind either.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import re
from concurrent.futures import Executor, ThreadPoolExecutor
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
#: Why an object was skipped (it stays in raw/ and the next run takes it): a closed set.
SKIP_CLAIMED = "claimed"  # another live attempt holds its lease
SKIP_VANISHED = "vanished"  # deleted since it was listed
SKIP_CHANGED = "changed"  # overwritten since it was listed or read
SKIP_ERROR = "error"  # an S3 or other error on this object; details in the record
#: A quoted source key longer than this is recorded by its hash (metadata budget).
MAX_SOURCE_KEY_METADATA = 512
_PARTIAL_ESCAPE = re.compile(r"%[0-9A-Fa-f]?$")


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
    blobs: list[tuple[bytes, str]], limits: checks.CheckLimits, pool: Executor | None
) -> list[checks.CheckResult]:
    args = [(data, name, limits) for data, name in blobs]
    if pool is None or len(args) < 2:
        return [_check(a) for a in args]
    return list(pool.map(_check, args))


def source_key_metadata(key: str) -> dict[str, str]:
    """``source-key`` (quoted), or ``source-key-sha256`` for a key too long for the budget."""
    quoted = quote(key)
    if len(quoted) <= MAX_SOURCE_KEY_METADATA:
        return {"source-key": quoted}
    return {"source-key-sha256": hashlib.sha256(key.encode()).hexdigest()}


def is_source(user_metadata: dict[str, str], key: str) -> bool:
    """Whether validation metadata names ``key`` as the object it was copied from."""
    expected = source_key_metadata(key)
    return all(user_metadata.get(name) == value for name, value in expected.items())


def _within_limit(metadata: dict[str, str], trim: str | None) -> dict[str, str] | None:
    """``metadata`` within S3's limit, its ``trim`` field shortened if need be; else None."""
    excess = mover.metadata_bytes(metadata) - mover.MAX_METADATA_BYTES
    if excess > 0 and trim and trim in metadata:
        cut = metadata[trim][: max(0, len(metadata[trim]) - excess)]
        metadata[trim] = _PARTIAL_ESCAPE.sub("", cut)  # never half a %XX escape
    return metadata if mover.metadata_bytes(metadata) <= mover.MAX_METADATA_BYTES else None


def fit_metadata(
    source: dict[str, str], ours: dict[str, str], trim: str | None = None
) -> tuple[dict[str, str], str | None]:
    """Our metadata over the source's, within S3's 2 KB: ``(metadata, why the source's was
    left out)``. The ``trim`` field (a quoted detail) is shortened before anything is left out.
    """
    why = mover.carriable(source)
    if why is None:
        merged = _within_limit({**source, **ours}, trim)
        if merged is not None:
            return merged, None
        why = (
            f"the object's {mover.metadata_bytes(source)} bytes of user metadata do not fit "
            f"beside the validation metadata within S3's {mover.MAX_METADATA_BYTES} bytes"
        )
    alone = _within_limit(dict(ours), trim)
    if alone is None:
        raise ValueError(f"validation metadata alone exceeds {mover.MAX_METADATA_BYTES} bytes")
    return alone, why


class BatchValidator:
    """Runs one manifest; ``outcomes`` and ``reasons`` are the batch's records."""

    def __init__(
        self, s3: Any, manifest: dict, limits: checks.CheckLimits, attempt: str = ""
    ) -> None:
        self.s3 = s3
        self.m = manifest
        self.limits = limits
        self.run_id = manifest["run_id"]
        self.owner = {"run_id": self.run_id, "batch": manifest.get("batch"), "try": attempt}
        self.lease_seconds = float(
            manifest.get("claim_lease_seconds", mover.DEFAULT_CLAIM_LEASE_SECONDS)
        )
        self.outcomes: dict[str, dict] = {}
        self.reasons: list[dict] = []
        self.seen: dict[str, str] = {}  # sha256 → first key of this batch
        self.leases: dict[str, str] = {}  # raw key → ETag of our claim object

    # --- steps ------------------------------------------------------------------------
    def _claim(self, item: dict) -> bool:
        try:
            etag, holder = mover.claim(
                self.s3, self.m["raw_bucket"], item["claim_key"], self.owner, self.lease_seconds
            )
        except Exception as exc:
            self._skip(item, SKIP_ERROR, f"claim failed: {_describe(exc)}")
            return False
        if etag is None:
            self._skip(
                item,
                SKIP_CLAIMED,
                f"leased by run {holder.get('run_id')} (batch {holder.get('batch')}, "
                f"try {holder.get('try')}) until {holder.get('expires')}",
            )
            return False
        self.leases[item["key"]] = etag
        return True

    def _release(self, item: dict) -> None:
        etag = self.leases.pop(item["key"], None)
        if etag is None:
            return
        try:
            mover.release(self.s3, self.m["raw_bucket"], item["claim_key"], etag)
        except Exception as exc:  # the lease expires by itself
            log.warning("could not release the claim of %s: %s", item["key"], _describe(exc))

    def _fetch(self, item: dict) -> tuple[bytes, dict] | bool | None:
        """``(bytes, response)``, ``None`` when the object is gone, ``False`` when skipped."""
        try:
            obj = self.s3.get_object(Bucket=self.m["raw_bucket"], Key=item["key"])
            return obj["Body"].read(), obj
        except Exception as exc:
            if mover.is_missing(exc):
                return None
            self._skip(item, SKIP_ERROR, f"read failed: {_describe(exc)}")
            return False

    def _recover(self, item: dict) -> None:
        """The raw object is gone: an earlier attempt of this run may have moved it."""
        if item.get("dest"):
            meta = mover.head(self.s3, self.m["validated_bucket"], item["dest"])
            user = (meta or {}).get("Metadata", {})
            if user.get("run-id") == self.run_id and is_source(user, item["key"]):
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
        self._skip(item, SKIP_VANISHED, "gone from raw before this run took it")

    def _record(self, item: dict, outcome: str, **extra) -> None:
        self.outcomes[item["key"]] = {"key": item["key"], "outcome": outcome, **extra}

    def _skip(self, item: dict, reason: str, detail: str) -> None:
        log.info("skipped %s (%s): %s", item["key"], reason, detail)
        self._record(item, SKIPPED, reason=reason, detail=detail[:500])

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
                "error_key": item["error_key"],
            }
        )

    def _delete_raw(self, item: dict, obj: dict) -> bool:
        """Delete the raw version that was checked; ``False``: a new upload replaced it."""
        deleted = mover.delete(
            self.s3,
            self.m["raw_bucket"],
            item["key"],
            etag=obj.get("ETag"),
            version_id=obj.get("VersionId"),
        )
        if not deleted:
            log.warning(
                "%s was uploaded again during its move: the new upload stays for the next run",
                item["key"],
            )
        return deleted

    def _quarantine(self, item, obj, reason: str, detail: str, sha256: str, size: int) -> None:
        ours = {
            "reason": reason,
            "sha256": sha256,
            "run-id": self.run_id,
            **source_key_metadata(item["key"]),
            "detail": quote(detail[:1000]),
        }
        metadata, left_out = fit_metadata(obj.get("Metadata", {}), ours, trim="detail")
        if left_out:
            detail = f"{detail} (source metadata not carried over: {left_out})"
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
        self._delete_raw(item, obj)
        self._quarantined(item, reason, detail, sha256, size)

    def _validate(self, item, obj, result: checks.CheckResult) -> None:
        bucket = self.m["validated_bucket"]
        dest = item["dest"]
        ours = {
            "sha256": result.sha256,
            "format": result.format,
            "width": str(result.width),
            "height": str(result.height),
            "mode": result.mode,
            **source_key_metadata(item["key"]),
            "run-id": self.run_id,
            **result.extra,
        }
        if result.extension_mismatch:
            ours["extension-mismatch"] = quote(result.extension_mismatch)
        metadata, left_out = fit_metadata(obj.get("Metadata", {}), ours)
        if left_out:  # a validated image keeps its source's metadata, or is not validated
            self._quarantine(
                item,
                obj,
                checks.Reason.METADATA_UNSUPPORTED.value,
                left_out,
                result.sha256,
                result.size,
            )
            return
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
        replaced = not self._delete_raw(item, obj)
        extra = {"detail": "raw key uploaded again during the move"} if replaced else {}
        self._record(item, VALIDATED, sha256=result.sha256, area=item["area"], **extra)

    def _decide(self, item, obj, result: checks.CheckResult) -> None:
        if item.get("unsafe"):
            self._quarantine(
                item,
                obj,
                item.get("unsafe_reason") or checks.Reason.UNSAFE_KEY.value,
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

    def _settle(self, item, obj, result: checks.CheckResult) -> None:
        """:meth:`_decide`, with any problem of this one object made its recorded outcome."""
        try:
            self._decide(item, obj, result)
            return
        except Exception as exc:
            code = mover.error_code(exc)
            if mover.is_missing(exc):
                self._skip(item, SKIP_VANISHED, f"gone during its move: {_describe(exc)}")
                return
            if code in mover.PRECONDITION_CODES:
                self._skip(item, SKIP_CHANGED, f"changed since it was read: {_describe(exc)}")
                return
            permanent = {
                "KeyTooLongError": checks.Reason.KEY_TOO_LONG.value,
                "MetadataTooLarge": checks.Reason.METADATA_UNSUPPORTED.value,
            }.get(code)
            if permanent is None:
                log.exception("validating %s failed; the next run takes it again", item["key"])
                self._skip(item, SKIP_ERROR, _describe(exc))
                return
            problem = _describe(exc)
        try:  # S3 refused what we asked for this object: quarantine it with our metadata only
            self._quarantine(
                item, {**obj, "Metadata": {}}, permanent, problem, result.sha256, result.size
            )
        except Exception as exc:
            log.exception("quarantining %s failed; the next run takes it again", item["key"])
            self._skip(item, SKIP_ERROR, f"{problem}; then {_describe(exc)}")

    # --- the batch ----------------------------------------------------------------------
    def run(self, workers: int = 0) -> dict:
        items = sorted(self.m["items"], key=lambda i: i["key"])
        n_workers = effective_workers(workers)
        pool = ThreadPoolExecutor(n_workers) if n_workers > 1 and len(items) > 1 else None
        try:
            with ThreadPoolExecutor(8) as io_pool:
                for start in range(0, len(items), CHUNK):
                    chunk = items[start : start + CHUNK]
                    taken = io_pool.map(self._claim, chunk)
                    claimed = [i for i, ok in zip(chunk, taken, strict=True) if ok]
                    try:
                        self._run_chunk(claimed, io_pool, pool)
                    finally:  # a failed chunk frees its objects at once, not after the lease
                        list(io_pool.map(self._release, claimed))
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

    def _run_chunk(self, claimed: list[dict], io_pool, pool) -> None:
        fetched = list(io_pool.map(self._fetch, claimed))
        present = []
        for item, got in zip(claimed, fetched, strict=True):
            if got is None:
                self._recover_safely(item)
            elif got is not False:
                present.append((item, got))
        results = check_many(
            [(data, item["key"]) for item, (data, _) in present], self.limits, pool
        )
        for (item, (_, obj)), result in zip(present, results, strict=True):
            self._settle(item, obj, result)

    def _recover_safely(self, item: dict) -> None:
        try:
            self._recover(item)
        except Exception as exc:
            self._skip(item, SKIP_ERROR, f"looking for an earlier move failed: {_describe(exc)}")

    def summary(self) -> dict:
        by_outcome: dict[str, int] = {}
        by_reason: dict[str, int] = {}
        by_area: dict[str, int] = {}
        skipped_by_reason: dict[str, int] = {}
        for o in self.outcomes.values():
            by_outcome[o["outcome"]] = by_outcome.get(o["outcome"], 0) + 1
            if o["outcome"] == QUARANTINED:
                by_reason[o["reason"]] = by_reason.get(o["reason"], 0) + 1
            if o["outcome"] == VALIDATED:
                by_area[o["area"]] = by_area.get(o["area"], 0) + 1
            if o["outcome"] == SKIPPED:
                skipped_by_reason[o["reason"]] = skipped_by_reason.get(o["reason"], 0) + 1
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
            "skipped_by_reason": skipped_by_reason,
            "skipped_items": [
                {k: o[k] for k in ("key", "reason", "detail")}
                for o in self.outcomes.values()
                if o["outcome"] == SKIPPED
            ],
            "validated_by_area": by_area,
        }


def _describe(exc: Exception) -> str:
    code = mover.error_code(exc)
    return f"{code or type(exc).__name__}: {exc}"[:500]


def run_manifest(
    s3: Any, manifest: dict, limits: checks.CheckLimits, workers: int = 0, attempt: str = ""
) -> dict:
    """Validate one manifest and write its result and reasons part beside it (idempotent).

    ``attempt`` names this try (Airflow's try number, the Lambda request id) in the leases.
    """
    validator = BatchValidator(s3, manifest, limits, attempt)
    summary = validator.run(workers)
    bucket = manifest["raw_bucket"]
    reasons = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in validator.reasons)
    s3.put_object(Bucket=bucket, Key=manifest["reasons_part_key"], Body=reasons.encode())
    s3.put_object(Bucket=bucket, Key=manifest["result_key"], Body=json.dumps(summary).encode())
    return summary
