"""The validation run as the DAG sees it: plan batches, validate one batch, finalise the run.

XCom carries only manifest keys and counts; manifests, results and reasons live in S3 under
``s3://RAW/_runs/<run>/``. Finalising merges the reasons into ``errors/<run>/_reasons.jsonl``,
asserts that every object taken by the run was validated or quarantined, and publishes the
counts to CloudWatch (metric ``ValidationResults``, dimensions ``Outcome`` and ``Reason``).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import re

from image_mlops import s3layout
from image_mlops.aws import aws_client, put_json, read_json
from image_mlops.config import Settings, get_settings
from image_mlops.validation import batches, validator
from image_mlops.validation.checks import CheckLimits, Reason

log = logging.getLogger(__name__)


class ValidationRunError(RuntimeError):
    """The run's books do not balance: objects in != validated + quarantined."""


def limits_from(settings: Settings) -> CheckLimits:
    return CheckLimits(
        max_bytes=settings.max_image_bytes,
        min_side=settings.min_image_side,
        max_pixels=settings.max_image_pixels,
        allowed_formats=tuple(settings.allowed_formats),
    )


def manifest_item(run_id: str, obj: dict) -> dict:
    """A raw object with every key the validator needs (built here, from ``s3layout``)."""
    item = {
        **obj,
        "error_key": s3layout.error_key(run_id, obj["key"]),
        "claim_key": s3layout.claim_key(obj["key"], obj["etag"]),
        "dest": None,
        "area": None,
        "unsafe": None,
        "unsafe_reason": None,
    }
    try:
        dest = s3layout.validated_key(obj["key"])
    except s3layout.UnsafeKeyError as exc:
        item["unsafe"], item["unsafe_reason"] = str(exc), Reason.UNSAFE_KEY.value
        return item
    if len(dest.encode()) > s3layout.MAX_KEY_BYTES:
        item["unsafe"] = (
            f"validated key of {len(dest.encode())} bytes exceeds S3's {s3layout.MAX_KEY_BYTES}"
        )
        item["unsafe_reason"] = Reason.KEY_TOO_LONG.value
        return item
    item["dest"], item["area"] = dest, dest.split("/", 1)[0]
    return item


def _resolve_collisions(items: list[dict]) -> None:
    """Two raw keys normalising to one validated key: the first in sorted order keeps it."""
    owner: dict[str, str] = {}
    for item in sorted(items, key=lambda i: i["key"]):
        dest = item["dest"]
        if dest is None:
            continue
        if dest in owner:
            item["unsafe"] = f"maps to the same validated key {dest!r} as {owner[dest]!r}"
            item["unsafe_reason"] = Reason.UNSAFE_KEY.value
            item["dest"] = item["area"] = None
        else:
            owner[dest] = item["key"]


def plan_run(settings: Settings, run_id: str, s3=None) -> list[str]:
    """List the raw objects, write the batch manifests; return the manifest keys."""
    s3 = s3 or aws_client("s3", settings)
    objects = batches.list_raw_objects(s3, settings.raw_bucket)
    items = [manifest_item(run_id, obj) for obj in objects]
    _resolve_collisions(items)
    planned = batches.plan_batches(items, settings.validation_batch_size)
    keys = []
    for number, batch in enumerate(planned, start=1):
        key = s3layout.run_manifest_key(run_id, number)
        manifest = {
            "run_id": run_id,
            "batch": number,
            "raw_bucket": settings.raw_bucket,
            "validated_bucket": settings.validated_bucket,
            "index_prefix": s3layout.INDEX_PREFIX,
            "result_key": s3layout.run_result_key(key),
            "reasons_part_key": s3layout.run_reasons_part_key(key),
            "claim_lease_seconds": settings.validation_claim_lease_seconds,
            "items": batch,
        }
        put_json(s3, settings.raw_bucket, key, manifest)
        keys.append(key)
    log.info("run %s: %s raw objects in %s batches", run_id, len(items), len(keys))
    return keys


def validate_batch(settings: Settings, manifest_key: str, s3=None, attempt: str = "") -> dict:
    """Validate one batch (the mapped task); returns its counts.

    ``attempt`` (the task's try number) is recorded in the objects' claims.
    """
    s3 = s3 or aws_client("s3", settings)
    manifest = read_json(s3, settings.raw_bucket, manifest_key)
    summary = validator.run_manifest(
        s3, manifest, limits_from(settings), workers=settings.validation_workers, attempt=attempt
    )
    log.info("batch %s: %s", manifest_key, summary)
    return summary


def finalize_run(settings: Settings, run_id: str, manifest_keys: list[str], s3=None) -> dict:
    """Merge batch results and reasons, check the books, publish metrics; the run summary."""
    s3 = s3 or aws_client("s3", settings)
    total = {"listed": 0, "in": 0, "validated": 0, "quarantined": 0, "skipped": 0}
    by_reason: dict[str, int] = {}
    skipped_by_reason: dict[str, int] = {}
    by_area: dict[str, int] = {}
    reasons: list[bytes] = []
    for key in manifest_keys:
        try:
            result = read_json(s3, settings.raw_bucket, s3layout.run_result_key(key))
        except Exception as exc:
            raise ValidationRunError(
                f"batch {key} has no result: it did not finish — clear the failed batch task "
                f"(or rerun the state machine) and finalise again"
            ) from exc
        for name in total:
            total[name] += result[name]
        for reason, n in result["by_reason"].items():
            by_reason[reason] = by_reason.get(reason, 0) + n
        for reason, n in result.get("skipped_by_reason", {}).items():
            skipped_by_reason[reason] = skipped_by_reason.get(reason, 0) + n
        for area, n in result["validated_by_area"].items():
            by_area[area] = by_area.get(area, 0) + n
        part = s3.get_object(Bucket=settings.raw_bucket, Key=s3layout.run_reasons_part_key(key))
        reasons.append(part["Body"].read())
    if total["in"] != total["validated"] + total["quarantined"]:
        from image_mlops import notifications

        message = (
            f"run {run_id}: {total['in']} objects in but {total['validated']} validated + "
            f"{total['quarantined']} quarantined — look for them under raw/ and rerun"
        )
        notifications.notify(
            settings,
            "validation_counts_mismatch",
            "validate_images: the run's counts do not add up",
            message,
            run_id=run_id,
        )
        raise ValidationRunError(message)
    if total["quarantined"]:
        s3.put_object(
            Bucket=settings.raw_bucket,
            Key=s3layout.reasons_key(run_id),
            Body=b"".join(reasons),
            ContentType="application/x-ndjson",
        )
    summary = {
        "run_id": run_id,
        "batches": len(manifest_keys),
        **total,
        "by_reason": dict(sorted(by_reason.items())),
        "skipped_by_reason": dict(sorted(skipped_by_reason.items())),
        "validated_by_area": by_area,
    }
    summary["metrics_published"] = publish_metrics(summary, settings)
    log.info("validation run %s: %s", run_id, summary)
    return summary


def emit_if_validated(summary: dict, area: str, event) -> int:
    """Emit an area's Asset event only when images were validated into it (else skip)."""
    from airflow.sdk.exceptions import AirflowSkipException

    count = summary.get("validated_by_area", {}).get(area, 0)
    if not count:
        raise AirflowSkipException(f"no image validated into {area}/ in this run")
    event.extra = {"run_id": summary["run_id"], "validated": count}
    return count


def metric_data(summary: dict, when: dt.datetime | None = None) -> list[dict]:
    """One ``ValidationResults`` datum per reason (``Reason=none`` for validated images)."""
    from image_mlops.monitoring import metrics as m

    when = when or dt.datetime.now(dt.UTC)
    data = [
        {
            "MetricName": m.VALIDATION_RESULTS,
            "Dimensions": [
                {"Name": m.DIM_OUTCOME, "Value": m.OUTCOME_VALIDATED},
                {"Name": m.DIM_REASON, "Value": m.REASON_NONE},
            ],
            "Value": float(summary["validated"]),
            "Unit": "Count",
            "Timestamp": when,
        }
    ]
    for reason, count in summary["by_reason"].items():
        data.append(
            {
                "MetricName": m.VALIDATION_RESULTS,
                "Dimensions": [
                    {"Name": m.DIM_OUTCOME, "Value": m.OUTCOME_QUARANTINED},
                    {"Name": m.DIM_REASON, "Value": reason},
                ],
                "Value": float(count),
                "Unit": "Count",
                "Timestamp": when,
            }
        )
    return data


def publish_metrics(summary: dict, settings: Settings | None = None) -> bool:
    """The run's ``ValidationResults``, at most once per run (a retried finalize adds none)."""
    from image_mlops.monitoring.publish import publish_once

    settings = settings or get_settings()
    return publish_once(settings, "validation", summary["run_id"], metric_data(summary))


def state_machine_input(settings: Settings, run_id: str, manifest_keys: list[str]) -> dict:
    """Input of the Step Functions route: one Map item per batch manifest."""
    limits = limits_from(settings)
    return {
        "run_id": run_id,
        "batches": [
            {
                "bucket": settings.raw_bucket,
                "manifest_key": key,
                "limits": {
                    "max_bytes": limits.max_bytes,
                    "min_side": limits.min_side,
                    "max_pixels": limits.max_pixels,
                    "allowed_formats": list(limits.allowed_formats),
                },
            }
            for key in manifest_keys
        ],
    }


def execution_name(run_id: str, try_number: int) -> str:
    """Unique per run and try, within Step Functions' limits (80 characters of
    ``[A-Za-z0-9_-]``): a retried task starts a new execution rather than meeting the old one."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:8]
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", run_id)[:50].strip("-")
    return f"validate-{slug}-{digest}-t{int(try_number)}"


def state_machine_request(
    settings: Settings, run_id: str, manifest_keys: list[str], *, try_number: int = 1
) -> dict:
    """ARN (setting ``validation_state_machine_arn``), execution name and input for the Step
    Functions route."""
    if not settings.validation_state_machine_arn:
        raise ValueError(
            "IMAGE_MLOPS_VALIDATION_ENGINE=stepfunctions needs "
            "IMAGE_MLOPS_VALIDATION_STATE_MACHINE_ARN (docs/stages/validation.md: deploy the "
            "state machine)"
        )
    return {
        "arn": settings.validation_state_machine_arn,
        "name": execution_name(run_id, try_number),
        "input": state_machine_input(settings, run_id, manifest_keys),
    }
