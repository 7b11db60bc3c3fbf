"""Classification logic without services: placement keys, batching, routing, Batch Transform."""

from __future__ import annotations

import boto3
import pytest
from botocore.validate import validate_parameters

from image_mlops.classification import batches, classify, placement, records, transform
from image_mlops.config import Settings

MODEL = {
    "endpoint_name": "product-image-classifier-production",
    "endpoint_config_name": "cfg",
    "model_name": "product-image-classifier-v7-abc",
    "model_data_url": "s3://models/product-image-classifier/7/model.tar.gz",
    "package_arn": "arn:aws:sagemaker:us-east-1:123456789012:model-package/pic/7",
    "package_version": 7,
}


def test_target_keys_follow_the_layout():
    assert placement.target_key("incoming/a b.jpg", "mug", False) == "predictions/mug/a b.jpg"
    assert placement.target_key("incoming/x.png", "mug", True) == "predictions/_uncertain/x.png"
    assert placement.target_key("incoming/x.png", None, False) == "predictions/_uncertain/x.png"
    assert placement.class_folder("wine glass/red") == "wine_glass_red"
    assert placement.class_folder("_uncertain") != "_uncertain"
    assert placement.class_folder("..") == "class_unnamed"


def test_split_and_request_chunks():
    assert batches.split(list(range(7)), 3) == [[0, 1, 2], [3, 4, 5], [6]]
    with pytest.raises(ValueError):
        batches.split([1], 0)
    images = [classify.Image(key=str(i), data=b"x" * 40) for i in range(5)]
    chunks = classify.chunks_by_size(images, limit=100)
    assert [len(c) for c in chunks] == [2, 2, 1]
    # an image larger than the limit still goes, alone
    assert [len(c) for c in classify.chunks_by_size(images[:2], limit=10)] == [1, 1]


def test_predict_applies_threshold_and_keeps_item_errors():
    images = [classify.Image(key=k, data=b"img") for k in ("a", "b", "c")]
    images.append(classify.Image(key="d", error=records.UNREADABLE_IMAGE))
    answers = [
        {"label": "mug", "confidence": 0.9, "top_k": [{"label": "mug", "score": 0.9}] * 4},
        {"label": "shoe", "confidence": 0.4, "top_k": [], "error": None},
        {"label": None, "confidence": None, "top_k": [], "error": "cannot identify image"},
    ]
    sent = []

    def predictor(data):
        sent.append(len(data))
        return answers

    classify.predict(images, predictor, threshold=0.6)
    assert sent == [3]  # the unreadable image is not sent
    a, b, c, d = images
    assert (a.label, a.uncertain, len(a.top3)) == ("mug", False, 3)
    assert (b.label, b.uncertain) == ("shoe", True)
    assert (c.error, c.detail) == (records.PREDICTION_ERROR, "cannot identify image")
    assert d.error == records.UNREADABLE_IMAGE and d.label is None


def test_upsert_refuses_duplicate_keys_and_unknown_columns():
    row = {"image_sha256": "a", "model_version": 1}
    with pytest.raises(ValueError, match="twice"):
        records.upsert_predictions([row, dict(row)])
    with pytest.raises(ValueError, match="unknown"):
        records.upsert_predictions([{**row, "label": "x"}])


def test_the_route_depends_on_the_run_size_the_same_on_both_targets():
    for target in ("local", "aws"):
        settings = Settings(target=target, batch_transform_threshold=10)
        assert transform.choose_route(10, settings) == transform.RUNTIME
        assert transform.choose_route(11, settings) == transform.BATCH_TRANSFORM


def test_transform_job_request_is_valid_for_botocore():
    settings = Settings(target="aws")
    run_id = "asset_triggered__2026-03-01T10:00:00.123456+00:00"
    request = transform.build_transform_job_request(MODEL, run_id, settings)
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="test-placeholder",
        aws_secret_access_key="test-placeholder",
    )
    shape = client.meta.service_model.operation_model("CreateTransformJob").input_shape
    validate_parameters(request, shape)  # raises ParamValidationError when invalid
    name = request["TransformJobName"]
    assert len(name) <= 63 and name.replace("-", "").isalnum()
    # the worker may create only transform-job/<model>-* (infra/image-mlops.yaml)
    assert name.startswith(f"{settings.model_name}-classify-v{MODEL['package_version']}-")
    long_name = transform.transform_job_name(run_id, MODEL["package_version"], "m" * 60)
    assert len(long_name) == 63 and long_name[-13:] == name[-13:]  # the digest survives
    assert (
        name == transform.build_transform_job_request(MODEL, run_id, settings)["TransformJobName"]
    )
    assert request["ModelName"] == MODEL["model_name"]
    assert request["TransformInput"]["DataSource"]["S3DataSource"]["S3Uri"].startswith(
        f"s3://{settings.output_bucket}/_work/classify/"
    )
    assert request["TransformInput"]["ContentType"] == "application/json"
    assert request["TransformInput"]["SplitType"] == "Line"


def test_transform_request_with_a_bad_field_is_rejected_by_botocore():
    from botocore.exceptions import ParamValidationError

    request = transform.build_transform_job_request(MODEL, "manual__x", Settings(target="aws"))
    request["TransformResources"]["InstanceCount"] = "one"
    client = boto3.client(
        "sagemaker",
        region_name="us-east-1",
        aws_access_key_id="test-placeholder",
        aws_secret_access_key="test-placeholder",
    )
    shape = client.meta.service_model.operation_model("CreateTransformJob").input_shape
    with pytest.raises(ParamValidationError):
        validate_parameters(request, shape)
