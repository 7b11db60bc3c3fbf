"""Inputs of monitoring: the monitored model, its training baseline, predictions, feedback,
and the production endpoint's captured inputs (SageMaker data capture)."""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import re
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from image_mlops.config import INCLUDE_DIR, Settings, get_settings

SQL_DIR = INCLUDE_DIR / "sql" / "mlops" / "monitoring"
_VERSION_IN_URL = re.compile(r"/(\d+)/[^/]+$")


class NoModelError(LookupError):
    """No model to monitor (nothing serves production and no version was given)."""


def sql(name: str) -> str:
    return (SQL_DIR / f"{name}.sql").read_text()


def pg_hook(settings: Settings | None = None):
    from airflow.providers.postgres.hooks.postgres import PostgresHook

    return PostgresHook(postgres_conn_id=(settings or get_settings()).mlops_conn_id)


@dataclass(frozen=True)
class MonitoredModel:
    version: int
    baseline_uri: str
    endpoint_name: str | None = None
    package_arn: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


def baseline_uri_for(settings: Settings, version: int, model_data_url: str | None = None) -> str:
    """``baseline.json`` next to the artifact (same prefix as ``model_data_url``)."""
    from image_mlops import s3layout

    if model_data_url:
        return posixpath.dirname(model_data_url) + "/" + s3layout.BASELINE_FILE
    return f"s3://{settings.models_bucket}/{s3layout.baseline_key(settings.model_name, version)}"


def _production_model(settings: Settings):
    from image_mlops.deployment.endpoints import production_model

    return production_model(settings)


def registered_model(settings: Settings, version: int) -> MonitoredModel:
    """Package ``version`` of the registry, its baseline where registration wrote it.

    Registration reserves the version folder before the registry numbers the package, so the
    two can differ: the package's ``baseline_uri`` (or its artifact's folder) is the truth. A
    version the registry does not have is read from folder ``<version>/``, with a warning.
    """
    import logging

    from image_mlops import registry

    try:
        package = registry.describe_package(settings, version)
    except registry.PackageNotFound as exc:
        logging.getLogger(__name__).warning("%s: reading the baseline of folder %s/", exc, version)
        return MonitoredModel(version, baseline_uri_for(settings, version))
    return MonitoredModel(
        package.version,
        package.baseline_uri or baseline_uri_for(settings, package.version, package.artifact_uri),
        package_arn=package.arn,
    )


def monitored_model(settings: Settings, version: int | None = None) -> MonitoredModel:
    """The given version, or what the production endpoint serves (deployment room contract)."""
    if version:
        return registered_model(settings, int(version))
    serving = _production_model(settings)
    if serving is None:
        raise NoModelError(
            f"no model serves {settings.endpoint_name('production')}: deploy one with deploy_model "
            "or pass the model_version Param"
        )
    version = serving.package_version
    if version is None and serving.package_arn:
        from image_mlops import registry

        version = registry.describe_package(settings, serving.package_arn).version
    if version is None:  # a model deploy_model did not create: its folder is all there is
        match = _VERSION_IN_URL.search(serving.model_data_url or "")
        if not match:
            raise NoModelError(f"cannot tell the package version of {serving.model_name}")
        version = int(match.group(1))
    return MonitoredModel(
        int(version),
        baseline_uri_for(settings, int(version), serving.model_data_url),
        serving.endpoint_name,
        serving.package_arn,
    )


def _split(uri: str) -> tuple[str, str]:
    bucket, _, key = uri.removeprefix("s3://").partition("/")
    return bucket, key


def load_baseline(uri: str, settings: Settings | None = None) -> dict | None:
    """The training baseline (classes, class_distribution, input_stats) or None if absent."""
    from image_mlops.aws import s3_hook

    hook = s3_hook(settings)
    bucket, key = _split(uri)
    if not hook.check_for_key(key, bucket_name=bucket):
        return None
    return json.loads(hook.read_key(key, bucket_name=bucket))


#: Input-drift statistics need a sample, not every captured image.
MAX_CAPTURED_IMAGES = 5000


def captured_images(record: dict[str, Any]) -> list[bytes]:
    """The images of one data-capture record (one, or a JSON batch's ``instances``)."""
    import base64

    sent = (record.get("captureData") or {}).get("endpointInput") or {}
    data = sent.get("data") or ""
    body = base64.b64decode(data) if sent.get("encoding") == "BASE64" else data.encode()
    content_type = (sent.get("observedContentType") or "").split(";")[0].strip().lower()
    if content_type.startswith("image/"):
        return [body]
    if content_type == "application/json":
        instances = json.loads(body).get("instances") or []
        return [base64.b64decode(item["b64"]) for item in instances if "b64" in item]
    return []


def captured_records(
    settings: Settings, endpoint_name: str, start: dt.datetime, end: dt.datetime
) -> Iterator[dict[str, Any]]:
    """The data-capture records of ``endpoint_name`` from ``start`` to ``end``: SageMaker's
    files under ``settings.data_capture_uri``, read hour folder by hour folder."""
    from image_mlops.aws import aws_client

    s3 = aws_client("s3", settings)
    pages = s3.get_paginator("list_objects_v2")
    bucket, base = _split(settings.data_capture_uri)
    variants = [
        prefix["Prefix"]
        for page in pages.paginate(Bucket=bucket, Prefix=f"{base}/{endpoint_name}/", Delimiter="/")
        for prefix in page.get("CommonPrefixes", [])
    ]
    hours, hour = [], start.astimezone(dt.UTC).replace(minute=0, second=0, microsecond=0)
    while hour <= end:
        hours.append(hour.strftime("%Y/%m/%d/%H/"))
        hour += dt.timedelta(hours=1)
    earliest = start.replace(microsecond=0)  # inferenceTime is in whole seconds
    for folder in (variant + hour for variant in variants for hour in hours):
        for page in pages.paginate(Bucket=bucket, Prefix=folder):
            for item in page.get("Contents", []):
                body = s3.get_object(Bucket=bucket, Key=item["Key"])["Body"].read()
                for line in body.decode("utf-8", "replace").splitlines():
                    record = json.loads(line)
                    when = (record.get("eventMetadata") or {}).get("inferenceTime", "")
                    if earliest <= dt.datetime.fromisoformat(when.replace("Z", "+00:00")) <= end:
                        yield record


def load_captured_input_stats(
    settings: Settings, endpoint_name: str, start: dt.datetime, end: dt.datetime
) -> list[dict[str, float]]:
    """Input statistics of the images the endpoint's data capture saw from ``start`` to ``end``
    (unreadable images are left out, at most :data:`MAX_CAPTURED_IMAGES`)."""
    import io

    from PIL import Image, UnidentifiedImageError

    from image_mlops.image_stats import input_stats

    stats: list[dict[str, float]] = []
    for record in captured_records(settings, endpoint_name, start, end):
        for data in captured_images(record):
            try:
                with Image.open(io.BytesIO(data)) as image:
                    stats.append(input_stats(image))
            except (UnidentifiedImageError, OSError, ValueError):
                continue
            if len(stats) >= MAX_CAPTURED_IMAGES:
                return stats
    return stats


def load_predictions(
    settings: Settings, version: int, start: dt.datetime, end: dt.datetime
) -> list[dict]:
    hook = pg_hook(settings)
    with hook.get_conn() as conn, conn.cursor() as cur:
        cur.execute(
            sql("predictions_in_window"), {"model_version": version, "start": start, "end": end}
        )
        names = [c[0] for c in cur.description]
        return [dict(zip(names, row, strict=False)) for row in cur.fetchall()]


def load_feedback(settings: Settings) -> tuple[dict[str, str], Counter, int]:
    """Labels from every ``feedback/*.csv`` (later keys win), skipped rows, files read."""
    from image_mlops import s3layout
    from image_mlops.aws import s3_hook
    from image_mlops.monitoring.kpis import parse_feedback

    hook = s3_hook(settings)
    keys = [
        k
        for k in hook.list_keys(bucket_name=settings.raw_bucket, prefix=s3layout.FEEDBACK_PREFIX)
        if k.endswith(".csv")
    ]
    files = [(k, hook.read_key(k, bucket_name=settings.raw_bucket)) for k in keys]
    labels, skipped = parse_feedback(files)
    return labels, skipped, len(keys)
