"""Inputs of monitoring: the monitored model, its training baseline, predictions, feedback."""

from __future__ import annotations

import datetime as dt
import json
import posixpath
import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from image_mlops.config import PROJECT_ROOT, Settings, get_settings

SQL_DIR = PROJECT_ROOT / "include" / "sql" / "mlops" / "monitoring"
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


def monitored_model(settings: Settings, version: int | None = None) -> MonitoredModel:
    """The given version, or what the production endpoint serves (deployment room contract)."""
    if version:
        return MonitoredModel(int(version), baseline_uri_for(settings, int(version)))
    serving = _production_model(settings)
    if serving is None:
        raise NoModelError(
            f"no model serves {settings.endpoint_name('production')}: deploy one with deploy_model "
            "or pass the model_version Param"
        )
    version = serving.package_version
    if version is None:
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
