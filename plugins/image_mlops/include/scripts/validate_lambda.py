"""AWS Lambda handler of the Step Functions validation route: validate one batch manifest.

Standalone (no Airflow, no ``image_mlops``): the deployment zip holds this file plus
``image_checks.py``, ``image_mover.py`` and ``image_validator.py`` — copies of
``plugins/image_mlops/validation/{checks,mover,validator}.py`` — and Pillow. The manifest
(written by the ``validate_images`` DAG) carries every key, so the same code as the Airflow
tasks runs here.

Event (one item of the state machine's Map):
    {"bucket": "<raw bucket>", "manifest_key": "_runs/<run>/batch-0001.json",
     "limits": {"max_bytes": ..., "min_side": ..., "max_pixels": ..., "allowed_formats": [...]}}
Returns the batch's counts (the same dict the Airflow task returns).
"""

from __future__ import annotations

import json
import logging
import os

import boto3
import image_checks
import image_validator

log = logging.getLogger()
log.setLevel(logging.INFO)


def s3_client():
    """S3 client; ``AWS_ENDPOINT_URL_S3`` (boto3's own variable) points it at an emulator."""
    return boto3.client("s3")


def limits_from(event: dict) -> image_checks.CheckLimits:
    given = event.get("limits") or {}
    defaults = image_checks.CheckLimits()
    return image_checks.CheckLimits(
        max_bytes=int(given.get("max_bytes", defaults.max_bytes)),
        min_side=int(given.get("min_side", defaults.min_side)),
        max_pixels=int(given.get("max_pixels", defaults.max_pixels)),
        allowed_formats=tuple(given.get("allowed_formats", defaults.allowed_formats)),
    )


def handler(event: dict, context=None, s3=None) -> dict:
    s3 = s3 or s3_client()
    body = s3.get_object(Bucket=event["bucket"], Key=event["manifest_key"])["Body"].read()
    manifest = json.loads(body)
    workers = int(os.environ.get("VALIDATION_WORKERS", "1"))
    attempt = getattr(context, "aws_request_id", "") or ""  # names this try in the claims
    summary = image_validator.run_manifest(
        s3, manifest, limits_from(event), workers=workers, attempt=attempt
    )
    log.info("validated %s: %s", event["manifest_key"], summary)
    return summary


if __name__ == "__main__":  # python validate_lambda.py '<event json>'
    import sys

    print(json.dumps(handler(json.loads(sys.argv[1]))))
