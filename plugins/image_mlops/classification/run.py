"""The steps of one ``classify_images`` run, as the DAG calls them (each idempotent).

1. :func:`find_model`      — the production model, or None (the run then classifies nothing);
2. :func:`plan`            — the pending images, split into batch manifests on S3;
3. :func:`prepare`         — the route (runtime / Batch Transform);
   :func:`transform_request` — for the Batch Transform route, its inputs and the job's
                             request (the DAG's ``batch_transform`` operator runs the job);
4. :func:`classify`        — one batch (a mapped task per batch);
5. :func:`finish`          — the run manifest ``predictions/_manifests/<run>.jsonl``.
"""

from __future__ import annotations

import logging
from typing import Any

from image_mlops.classification import batches, endpoint, pending, records, transform
from image_mlops.config import Settings

log = logging.getLogger(__name__)

NO_MODEL_MESSAGE = (
    "No production model: the endpoint {endpoint} does not exist or serves nothing yet, so "
    "nothing was classified. Approve and deploy a model (deploy_model DAG); classify_images "
    "runs again by itself when the production model changes."
)


def find_model(settings: Settings) -> dict[str, Any] | None:
    model = endpoint.production_model(settings)
    if model is None:
        log.warning(NO_MODEL_MESSAGE.format(endpoint=settings.endpoint_name("production")))
        return None
    log.info(
        "production model: package version %s (%s) on %s",
        model["package_version"],
        model["package_arn"],
        model["endpoint_name"],
    )
    return model


def plan(
    settings: Settings,
    model: dict[str, Any],
    run_id: str,
    batch_size: int | None = None,
) -> list[dict[str, Any]]:
    """Pending images → batch manifests; returns ``[{batch_key, index, count}]`` (small)."""
    records.ensure_predictions_table(settings)
    items = pending.pending_images(model["package_version"], settings)
    return batches.write_batches(
        items, run_id, batch_size or settings.classify_batch_size, settings
    )


def prepare(
    settings: Settings,
    model: dict[str, Any],
    run_id: str,
    batch_list: list[dict[str, Any]],
) -> str:
    """The route of this run (by its number of images)."""
    count = sum(b["count"] for b in batch_list)
    route = transform.choose_route(count, settings)
    log.info("%d images → route %s", count, route)
    return route


def transform_request(
    settings: Settings,
    model: dict[str, Any],
    run_id: str,
    batch_list: list[dict[str, Any]],
    route: str,
) -> dict[str, Any] | None:
    """The Batch Transform job's request, or None on the endpoint route."""
    if route != transform.BATCH_TRANSFORM:
        log.info("route %s: no Batch Transform job", route)
        return None
    return transform.transform_request(model, run_id, batch_list, settings)


def classify(
    settings: Settings,
    batch: dict[str, Any],
    model: dict[str, Any],
    run_id: str,
    route: str = transform.RUNTIME,
) -> dict[str, Any]:
    from image_mlops.classification.classify import classify_batch

    predictor = transform.predictor_for(route, model, run_id, batch["index"], settings)
    return classify_batch(batch["batch_key"], batch["index"], model, run_id, predictor, settings)


def finish(settings: Settings, run_id: str, results: list[dict[str, Any]]) -> dict:
    return batches.write_run_manifest(run_id, [r["results_key"] for r in results], settings)
