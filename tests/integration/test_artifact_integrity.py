"""The bytes that serve are the bytes that were approved (real DAG runs on the emulator).

Reproduction: after approval, the production model's ``model.tar.gz`` was replaced by one
whose ``inference.py`` writes a file, and the next ``classify_images`` run loaded and ran it.
"""

from __future__ import annotations

import hashlib
import json
import threading

import botocore.exceptions
import pytest
from classify_fixtures import colour_image, put_incoming
from conftest import SKLEARN_IMAGE, run_dag, wait_endpoint_settled, wait_for_alarm_states
from sample_model import (
    INFERENCE_PY,
    publish_sample_package,
    upload_sample_images,
    write_artifact,
)

from image_mlops import registry, s3layout
from image_mlops.classification import records
from image_mlops.cloudwatch.conditions import ALARM
from image_mlops.deployment import history, production_model
from image_mlops.monitoring import metrics as m
from image_mlops.monitoring.publish import metrics_hook
from image_mlops.serving import integrity
from image_mlops.serving.container import CONTAINER_ENVIRONMENT

pytestmark = pytest.mark.stack


def _evil_artifact(path, marker):
    code = INFERENCE_PY.replace(
        "def model_fn(model_dir):\n",
        f"def model_fn(model_dir):\n    open({str(marker)!r}, 'w').write('ran')\n",
    )
    assert code != INFERENCE_PY
    return write_artifact(path, inference_py=code)


def _fresh_endpoint(aws, name, config_name):
    """A new endpoint on ``config_name``: a model server that loads the artifact now."""
    aws.sagemaker.create_endpoint(EndpointName=name, EndpointConfigName=config_name)
    return wait_endpoint_settled(aws, name)


def test_a_replaced_artifact_never_serves(
    dag_bag, clean_aws, admin, settings, tmp_path, monkeypatch
):
    monkeypatch.setenv("IMAGE_MLOPS_REQUIRE_PRODUCTION_APPROVAL", "false")
    aws = clean_aws
    records.ensure_predictions_table(settings)
    upload_sample_images(settings, per_class=3)
    arn = publish_sample_package(settings, "integrity", status="Approved", workdir=tmp_path)
    deployed = run_dag(dag_bag, "deploy_model", conf={"model_package": arn})
    assert deployed.state == "success"
    serving = production_model(settings)
    assert serving.package_arn == arn
    env = serving.environment
    assert env[integrity.ENV_ARTIFACT_SHA256] and env[integrity.ENV_ARTIFACT_VERSION_ID]

    # after approval, someone replaces the artifact (the sample's folder is not write-once)
    marker = tmp_path / "evil-ran"
    evil = _evil_artifact(tmp_path / "evil.tar.gz", marker).read_bytes()
    bucket, key = integrity.split_s3_url(serving.model_data_url)
    aws.s3.put_object(Bucket=bucket, Key=key, Body=evil)
    # a model server started now (a new instance, a restart) loads the approved version; an
    # operator starts it, as no DAG names an endpoint outside the model's
    fresh = _fresh_endpoint(admin, "integrity-fresh", serving.endpoint_config_name)
    assert fresh["EndpointStatus"] == "InService"
    admin.sagemaker.delete_endpoint(EndpointName="integrity-fresh")

    # a seed of its own: classification skips bytes a module before it classified with the
    # same model version (the predictions stay in the database)
    red = colour_image((220, 30, 30), seed=7_301_013)
    put_incoming(aws, settings, "after-swap/red.jpg", red)
    classified = run_dag(dag_bag, "classify_images")
    assert classified.state == "success"
    assert not marker.exists()  # the replaced inference.py never ran
    rows = records._execute(
        settings,
        "SELECT predicted_class FROM predictions WHERE source_key = %(k)s",
        {"k": "incoming/after-swap/red.jpg"},
    )
    assert rows == [("red",)]  # served by the approved bytes, still addressable by version

    # deploying the package again refuses its replaced artifact; production is untouched
    again = run_dag(dag_bag, "deploy_model", conf={"model_package": arn})
    assert again.state == "failed"
    assert again.get_task_instance("deploy_staging").state == "failed"
    (record,) = history.for_run(settings, again.run_id)
    assert record["outcome"] == "failed" and "sha256" in record["reason"]
    assert production_model(settings).endpoint_config_name == serving.endpoint_config_name
    assert not marker.exists()

    # one ArtifactIntegrityFailures datum, and the integrity alarm sees it
    hook = metrics_hook(settings)
    name = m.integrity_alarm_name(settings.model_name)
    wait_for_alarm_states(hook, {name: ALARM})
    assert not name.startswith(m.alarm_prefix(settings.model_name))  # never a retraining


def test_without_its_version_a_replaced_artifact_is_refused_with_a_metric(
    clean_aws, settings, tmp_path
):
    aws = clean_aws
    key = f"{settings.model_name}/sample-unversioned/model.tar.gz"
    good = write_artifact(tmp_path / "good.tar.gz").read_bytes()
    aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=good)
    url = f"s3://{settings.models_bucket}/{key}"
    approved = integrity.ApprovedArtifact(url, hashlib.sha256(good).hexdigest())
    marker = tmp_path / "ran"
    aws.s3.put_object(
        Bucket=settings.models_bucket,
        Key=key,
        Body=_evil_artifact(tmp_path / "evil.tar.gz", marker).read_bytes(),
    )
    # a model server refuses it: the endpoint fails with the reason, nothing is imported
    model = f"{settings.model_name}-integrity-unversioned"  # a name the worker role may create
    aws.sagemaker.create_model(
        ModelName=model,
        ExecutionRoleArn=settings.sagemaker_role_arn,
        PrimaryContainer={
            "Image": SKLEARN_IMAGE,
            "ModelDataUrl": url,
            "Environment": {**CONTAINER_ENVIRONMENT, **approved.environment()},
        },
    )
    aws.sagemaker.create_endpoint_config(
        EndpointConfigName=model,
        ProductionVariants=[
            {
                "VariantName": "AllTraffic",
                "ModelName": model,
                "InitialInstanceCount": 1,
                "InstanceType": "ml.m5.large",
            }
        ],
    )
    failed = _fresh_endpoint(aws, model, model)
    aws.sagemaker.delete_endpoint(EndpointName=model)
    assert failed["EndpointStatus"] == "Failed"
    assert "was approved" in failed["FailureReason"] and "refuses" in failed["FailureReason"]
    from image_mlops.classification.transform import verify_model_artifact

    model = {"model_data_url": url, "environment": approved.environment()}
    with pytest.raises(integrity.ArtifactIntegrityError, match="batch transform"):
        verify_model_artifact(model, settings)
    assert not marker.exists()
    with pytest.raises(integrity.ArtifactIntegrityError, match="no approved sha256"):
        integrity.ApprovedArtifact.from_environment(url, {})


def test_registered_version_folders_are_write_once(aws, admin, settings):
    key = s3layout.model_artifact_key(settings.model_name, 917)
    aws.s3.delete_object(Bucket=settings.models_bucket, Key=key)
    aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=b"approved", IfNoneMatch="*")
    for attempt in (
        lambda: aws.s3.put_object(Bucket=settings.models_bucket, Key=key, Body=b"swapped"),
        lambda: aws.s3.copy_object(
            Bucket=settings.models_bucket,
            Key=key,
            CopySource={"Bucket": settings.models_bucket, "Key": key},
            MetadataDirective="REPLACE",
            Metadata={"x": "y"},
        ),
    ):
        with pytest.raises(botocore.exceptions.ClientError) as caught:
            attempt()
        assert caught.value.response["Error"]["Code"] == "AccessDenied"
    assert aws.s3.get_object(Bucket=settings.models_bucket, Key=key)["Body"].read() == b"approved"
    policy = json.loads(admin.s3.get_bucket_policy(Bucket=settings.models_bucket)["Policy"])
    assert registry.models_bucket_policy(settings)["Statement"][0] in policy["Statement"]


def test_a_model_data_url_outside_the_group_is_refused(settings):
    metadata = {"artifact_sha256": "0" * 64}
    for url in (
        f"s3://{settings.raw_bucket}/incoming/model.tar.gz",
        f"s3://{settings.models_bucket}/another-group/1/model.tar.gz",
        f"s3://{settings.models_bucket}/{settings.model_name}/../x/1/model.tar.gz",
    ):
        with pytest.raises(integrity.ArtifactIntegrityError, match="outside"):
            integrity.approved_artifact(url, metadata, settings)
    with pytest.raises(integrity.ArtifactIntegrityError, match="no artifact_sha256"):
        integrity.approved_artifact(
            f"s3://{settings.models_bucket}/{settings.model_name}/1/model.tar.gz", {}, settings
        )


def test_two_registrations_at_once_never_share_a_version_folder(aws, settings, tmp_path):
    candidates = []
    for run in ("race-a", "race-b"):
        prefix = s3layout.candidate_prefix(settings.model_name, f"manual__{run}")
        artifact = write_artifact(tmp_path / f"{run}.tar.gz").read_bytes()
        files = {
            s3layout.MODEL_ARTIFACT: artifact,
            s3layout.EVALUATION_FILE: json.dumps({"accuracy": 0.9}).encode(),
            s3layout.BASELINE_FILE: json.dumps({"classes": ["red"]}).encode(),
        }
        for name, body in files.items():
            aws.s3.put_object(Bucket=settings.models_bucket, Key=prefix + name, Body=body)
        candidates.append((run, prefix, hashlib.sha256(artifact).hexdigest()))
    barrier = threading.Barrier(2)
    packages: dict[str, registry.ModelPackage] = {}

    def register(run, prefix, sha):
        barrier.wait()
        packages[run] = registry.register_model_package(
            candidate_prefix=prefix,
            artifact_sha256=sha,
            data_fingerprint="fp",
            accuracy=0.9,
            macro_f1=0.9,
            training_run_id=f"manual__{run}",
            settings=settings,
        )

    threads = [threading.Thread(target=register, args=c) for c in candidates]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(120)
    folders = {p.artifact_uri.rsplit("/", 1)[0] for p in packages.values()}
    assert len(packages) == 2 and len(folders) == 2
    for run, _prefix, sha in candidates:
        package = packages[run]
        assert package.metadata["artifact_sha256"] == sha
        assert package.metadata.get("artifact_version_id")
        bucket, key = integrity.split_s3_url(package.artifact_uri)
        body = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
        assert hashlib.sha256(body).hexdigest() == sha
    # a retry of one registration finds its package; a candidate changed since training is
    # refused before anything is written
    again = registry.register_model_package(
        candidate_prefix=candidates[0][1],
        artifact_sha256=candidates[0][2],
        data_fingerprint="fp",
        accuracy=0.9,
        macro_f1=0.9,
        training_run_id="manual__race-a",
        settings=settings,
    )
    assert again.arn == packages["race-a"].arn
    with pytest.raises(registry.RegistrationError, match="changed after training"):
        registry.register_model_package(
            candidate_prefix=candidates[1][1],
            artifact_sha256="1" * 64,
            data_fingerprint="fp",
            accuracy=0.9,
            macro_f1=0.9,
            training_run_id="manual__race-c",
            settings=settings,
        )


def test_monitoring_reads_the_baseline_where_registration_wrote_it(aws, settings, tmp_path):
    """A folder taken by a run that never registered makes the registry's version and the
    package's folder differ: monitoring asks the registry, not the folder of that number."""
    from image_mlops.monitoring.sources import monitored_model

    latest = registry.latest_package(settings)
    version = (latest.version if latest else 0) + 1
    abandoned = registry.reserve_version_folder(aws.s3, settings, version, "manual__abandoned")
    assert abandoned >= version  # the first free folder from the next version on
    prefix = s3layout.candidate_prefix(settings.model_name, "manual__folders")
    artifact = write_artifact(tmp_path / "model.tar.gz").read_bytes()
    for name, body in {
        s3layout.MODEL_ARTIFACT: artifact,
        s3layout.EVALUATION_FILE: json.dumps({"accuracy": 0.9}).encode(),
        s3layout.BASELINE_FILE: json.dumps({"classes": ["red"]}).encode(),
    }.items():
        aws.s3.put_object(Bucket=settings.models_bucket, Key=prefix + name, Body=body)
    package = registry.register_model_package(
        settings,
        candidate_prefix=prefix,
        artifact_sha256=hashlib.sha256(artifact).hexdigest(),
        data_fingerprint="fp",
        accuracy=0.9,
        macro_f1=0.9,
        training_run_id="manual__folders",
    )
    assert package.version == version
    folder = package.artifact_uri.rsplit("/", 1)[0] + "/"
    # registration skipped the abandoned folder: the package's is not the folder of its number
    assert int(folder.rstrip("/").rsplit("/", 1)[1]) > abandoned >= version

    monitored = monitored_model(settings, package.version)
    assert monitored.baseline_uri == folder + s3layout.BASELINE_FILE
    assert monitored.package_arn == package.arn
