"""Assets: the only coupling between DAGs (declared once, here).

Producers emit them with ``outlets=[...]``; consumers schedule on them. URIs are stable
names for the data they stand for, derived from the bucket settings.
"""

from __future__ import annotations

from airflow.sdk import Asset

from image_mlops.config import get_settings

_settings = get_settings()

#: Validated labelled images (training data) — emitted by `validate_images`.
VALIDATED_LABELED_IMAGES = Asset(
    name="validated_labeled_images",
    uri=f"s3://{_settings.validated_bucket}/labeled/",
    group="images",
)
#: Validated unlabelled images waiting to be classified — emitted by `validate_images`.
VALIDATED_INCOMING_IMAGES = Asset(
    name="validated_incoming_images",
    uri=f"s3://{_settings.validated_bucket}/incoming/",
    group="images",
)
#: A model package registered (PendingManualApproval) — emitted by `train_and_register`.
REGISTERED_MODEL = Asset(
    name="registered_model",
    uri=f"s3://{_settings.models_bucket}/{_settings.model_name}/",
    group="model",
)
#: A new model serving on the production endpoint — emitted by `deploy_model`.
PRODUCTION_MODEL = Asset(
    name="production_model",
    uri=f"sagemaker://endpoint/{_settings.model_name}-production",
    group="model",
)
#: Predictions written to class folders and the predictions table — by `classify_images`.
PREDICTIONS = Asset(
    name="predictions",
    uri=f"s3://{_settings.output_bucket}/predictions/",
    group="predictions",
)
#: Ground-truth feedback rows recorded — by `ingest_labels` (its `emit_feedback` task).
FEEDBACK = Asset(
    name="feedback",
    uri=f"s3://{_settings.raw_bucket}/feedback/",
    group="predictions",
)
#: The product catalogue manifest extracted from PostgreSQL — by `extract_product_catalog`.
PRODUCT_CATALOG = Asset(
    name="product_catalog",
    uri=f"s3://{_settings.raw_bucket}/catalog/",
    group="catalog",
)
