"""The one reader of ``DescribeModelPackage``: what registration writes is what it reads."""

from __future__ import annotations

from image_mlops import registry
from image_mlops.config import Settings


def _described(request: dict, **extra) -> dict:
    """``DescribeModelPackage``'s answer for a package created with ``request``."""
    answer = {k: v for k, v in request.items() if k != "ClientToken"}
    return {"ModelPackageArn": "arn:aws:sagemaker:us-east-1:1:model-package/g/3", **answer, **extra}


def test_the_reader_takes_the_evaluation_from_where_registration_puts_it():
    uris = {
        "artifact": "s3://models/g/3/model.tar.gz",
        "evaluation": "s3://models/g/3/evaluation.json",
    }
    request = registry.build_request(
        Settings(),
        version_prefix_uris=uris,
        # a copy in the metadata that differs: the registry's own field wins
        metadata={"evaluation_uri": "s3://models/elsewhere.json", "baseline_uri": "s3://b"},
        image_uri="img",
        client_token="t",
    )
    package = registry.read_package(
        _described(request, ModelPackageVersion=3, ModelApprovalStatus="Approved")
    )
    assert package.evaluation_uri == uris["evaluation"]
    assert package.artifact_uri == uris["artifact"]
    assert (package.version, package.approval_status, package.image_uri) == (3, "Approved", "img")
    assert package.baseline_uri == "s3://b"


def test_a_package_without_model_metrics_falls_back_to_its_metadata():
    described = {
        "ModelPackageArn": "arn:aws:sagemaker:us-east-1:1:model-package/g/1",
        "ModelPackageVersion": 1,
        "CustomerMetadataProperties": {"evaluation_uri": "s3://m/e.json", "accuracy": "0.9"},
    }
    package = registry.read_package(described)
    assert package.evaluation_uri == "s3://m/e.json"
    assert package.accuracy == 0.9
    assert package.approval_description == ""


def test_a_version_number_names_the_package_in_lower_case_as_sagemaker_does():
    settings = Settings(model_name="Product-Classifier")
    assert registry.package_arn(settings, 7) == (
        "arn:aws:sagemaker:us-east-1:123456789012:model-package/product-classifier/7"
    )
    arn = "arn:aws:sagemaker:us-east-1:1:model-package/x/2"
    assert registry.package_arn(settings, arn) == arn
