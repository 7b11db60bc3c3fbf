"""The AWS route without AWS: requests validated by botocore and accepted by the emulator."""

from __future__ import annotations

import pytest
from botocore.validate import validate_parameters

pytestmark = pytest.mark.stack


def wait_for_job(aws, name: str, timeout: float = 120) -> dict:
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        described = aws.sagemaker.describe_training_job(TrainingJobName=name)
        if described["TrainingJobStatus"] not in ("InProgress", "Stopping"):
            return described
        time.sleep(0.5)
    raise AssertionError(f"training job {name} still {described['TrainingJobStatus']}")


def test_create_training_job_request(aws, settings):
    from image_mlops.training.job import training_job_config, training_job_name, upload_source

    name = training_job_name(settings.model_name, "manual__2026-01-01T00:00:00+00:00", 2)
    assert name.endswith("-t2") and len(name) <= 63
    assert name != training_job_name(settings.model_name, "manual__2026-01-01T00:00:00+00:00", 1)
    config = training_job_config(
        settings,
        job_name=name,
        channels={"train": "s3://b/x/train.manifest", "validation": "s3://b/x/v.manifest"},
        source_uri=upload_source(settings),
        output_prefix="g/_jobs/r/",
        hyperparameters={"seed": 0, "C": 0.01},
    )
    model = aws.sagemaker.meta.service_model
    validate_parameters(config, model.operation_model("CreateTrainingJob").input_shape)
    assert "sagemaker-scikit-learn" in config["AlgorithmSpecification"]["TrainingImage"]
    assert config["HyperParameters"]["sagemaker_program"] == '"train.py"'
    aws.sagemaker.create_training_job(**config)
    described = aws.sagemaker.describe_training_job(TrainingJobName=name)
    assert described["HyperParameters"]["sagemaker_program"] == '"train.py"'
    # (its manifests do not exist: the emulator runs it and it fails, saying so)
    described = wait_for_job(aws, name)
    assert described["TrainingJobStatus"] == "Failed"
    assert described["FailureReason"].startswith("ClientError: Data download failed")
    assert "train.manifest" in described["FailureReason"]


def test_create_model_package_request(aws, settings):
    from image_mlops import registry

    request = registry.build_request(
        settings,
        version_prefix_uris={
            "artifact": "s3://m/g/1/model.tar.gz",
            "evaluation": "s3://m/g/1/evaluation.json",
        },
        metadata={"training_run_id": "r", "accuracy": "0.9"},
        image_uri="683313688378.dkr.ecr.us-east-1.amazonaws.com/sagemaker-scikit-learn:1.4-2-py312-cpu-py3",
        client_token="abc",
    )
    model = aws.sagemaker.meta.service_model
    validate_parameters(request, model.operation_model("CreateModelPackage").input_shape)
