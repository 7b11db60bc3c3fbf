"""train_and_register end to end on the emulator: demo data → registered package."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from conftest import log_lines, run_dag

pytestmark = [pytest.mark.stack, pytest.mark.slow]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory):
    from image_mlops_dev.demo_data import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, per_class=25, incoming=0, seed=3)
    return out


def _upload_labeled(aws, settings, demo_dir):
    import hashlib

    for path in sorted((demo_dir / "labeled").rglob("*.*")):
        data = path.read_bytes()
        key = f"labeled/{path.parent.name}/{path.name}"
        aws.s3.put_object(
            Bucket=settings.validated_bucket,
            Key=key,
            Body=data,
            Metadata={"sha256": hashlib.sha256(data).hexdigest()},
        )


#: What the worker must not import to evaluate a model: ML frameworks, and a model's own code.
NOT_ON_THE_WORKER = ("sklearn", "scipy", "torch", "tensorflow", "inference", "features")
_BLOCKER = f"""
import importlib.abc, sys

class NoModelCode(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {NOT_ON_THE_WORKER!r}:
            raise ModuleNotFoundError(f"{{name}} is not installed on the worker", name=name)
        return None

sys.meta_path.insert(0, NoModelCode())
"""


@pytest.fixture
def no_ml_framework_on_the_worker(monkeypatch, tmp_path):
    """The worker (this process, and any Python it starts) cannot import an ML framework or
    a model's inference code: evaluation must happen in the model's own container."""
    import sys

    (tmp_path / "sitecustomize.py").write_text(_BLOCKER)
    monkeypatch.setenv("PYTHONPATH", f"{tmp_path}:{__import__('os').environ.get('PYTHONPATH', '')}")
    namespace: dict = {}
    exec(_BLOCKER.replace("sys.meta_path.insert(0, NoModelCode())", ""), namespace)
    monkeypatch.setattr(sys, "meta_path", [namespace["NoModelCode"](), *sys.meta_path])
    for name in [n for n in sys.modules if n.split(".")[0] in NOT_ON_THE_WORKER]:
        monkeypatch.delitem(sys.modules, name)


def _packages(aws, settings):
    return aws.sagemaker.list_model_packages(ModelPackageGroupName=settings.model_name)[
        "ModelPackageSummaryList"
    ]


def test_dag_registers_a_package_once(
    clean_aws, admin, settings, dag_bag, demo_dir, no_ml_framework_on_the_worker
):
    aws = clean_aws
    _upload_labeled(aws, settings, demo_dir)
    before = len(_packages(aws, settings))
    run = run_dag(dag_bag, "train_and_register", conf={"reason": "test"})
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    result = run.get_task_instance("register").xcom_pull(task_ids="register")
    assert len(_packages(aws, settings)) == before + 1

    from image_mlops import registry

    package = registry.describe_package(settings, result["model_package_arn"])
    assert package.approval_status == "PendingManualApproval"
    assert float(package.metadata["accuracy"]) >= 0.9
    for field in (
        "artifact_sha256",
        "data_fingerprint",
        "code_version",
        "macro_f1",
        "training_run_id",
        "trained_by",
        "baseline_uri",
        "evaluation_uri",
    ):
        assert package.metadata[field], field
    assert package.metadata["reason"] == "test"
    assert package.metadata["training_run_id"] == run.run_id
    described = aws.sagemaker.describe_model_package(ModelPackageName=package.arn)
    spec = described["InferenceSpecification"]
    assert spec["SupportedContentTypes"] == ["image/jpeg", "image/png", "application/json"]
    assert described["ModelMetrics"]["ModelQuality"]["Statistics"]["S3Uri"] == (
        package.evaluation_uri
    )

    bucket, _, key = package.artifact_uri.removeprefix("s3://").partition("/")
    assert key == f"{settings.model_name}/{package.version}/model.tar.gz"
    data = aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    import hashlib

    assert hashlib.sha256(data).hexdigest() == package.metadata["artifact_sha256"]
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
    assert {"code/inference.py", "code/features.py", "metadata.json", "model.npz"} <= names

    evaluation = registry.load_evaluation(settings, package)
    assert (
        evaluation["multiclass_classification_metrics"]["accuracy"]["value"]
        == (evaluation["accuracy"])
    )
    assert set(evaluation["per_class"]) == {"mug", "shirt", "shoe", "lamp", "bottle", "book"}
    baseline_key = package.baseline_uri.removeprefix(f"s3://{bucket}/")
    baseline = json.loads(aws.s3.get_object(Bucket=bucket, Key=baseline_key)["Body"].read())
    assert abs(sum(baseline["class_distribution"].values()) - 1) < 1e-3
    assert set(baseline["input_stats"]) == {
        "brightness",
        "contrast",
        "saturation",
        "width",
        "height",
    }

    # the emulator ran the training job itself: its log and its own artifact
    trained = run.get_task_instance("collect_artifact").xcom_pull(task_ids="collect_artifact")
    job = aws.sagemaker.describe_training_job(TrainingJobName=trained["job_name"])
    assert job["TrainingJobStatus"] == "Completed" and job["SecondaryStatus"] == "Completed"
    assert job["TrainingEndTime"] >= job["TrainingStartTime"]
    streams = aws.logs.describe_log_streams(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamNamePrefix=trained["job_name"]
    )["logStreams"]
    events = aws.logs.get_log_events(
        logGroupName="/aws/sagemaker/TrainingJobs", logStreamName=streams[0]["logStreamName"]
    )["events"]
    assert any("validation accuracy" in e["message"] for e in events)
    job_bucket, _, job_key = job["ModelArtifacts"]["S3ModelArtifacts"][5:].partition("/")
    assert aws.s3.head_object(Bucket=job_bucket, Key=job_key)["ContentLength"] == len(data)

    # the candidate was evaluated in its own serving image, by a Batch Transform job
    from image_mlops.training.job import image_uri

    evaluated = run.get_task_instance("evaluate").xcom_pull(task_ids="evaluate")
    transform = aws.sagemaker.describe_transform_job(
        TransformJobName=evaluated["evaluation_jobs"]["candidate"]
    )
    assert transform["TransformJobStatus"] == "Completed"
    model = aws.sagemaker.describe_model(ModelName=transform["ModelName"])
    assert model["PrimaryContainer"]["Image"] == image_uri(settings, "inference")
    assert model["PrimaryContainer"]["ModelDataUrl"].endswith(trained["artifact_key"])
    # in the default image's profile, on its Python (the job's log; read with the stack's
    # bootstrap key: the worker role reads training logs only)
    lines = log_lines(admin.logs, "/aws/sagemaker/TransformJobs", transform["TransformJobName"])
    assert any("profile sklearn-1.4-2-py312, Python 3.12" in line for line in lines), lines[:5]

    # the same training run registered again: no second package
    from image_mlops.training import steps

    snap = run.get_task_instance("snapshot").xcom_pull(task_ids="snapshot")
    again = steps.register(settings, snap, trained, evaluated, run_id=run.run_id)
    assert again["model_package_arn"] == package.arn
    assert len(_packages(aws, settings)) == before + 1


def test_quality_gate_failure_registers_nothing(
    clean_aws, settings, dag_bag, demo_dir, monkeypatch
):
    aws = clean_aws
    _upload_labeled(aws, settings, demo_dir)
    before = len(_packages(aws, settings))
    monkeypatch.setenv("IMAGE_MLOPS_MIN_ACCURACY", "1.01")
    run = run_dag(dag_bag, "train_and_register", conf={"reason": "gate test"})
    states = {ti.task_id: ti.state for ti in run.get_task_instances()}
    assert states["quality_gate"] == "failed"
    assert states["register"] != "success"
    assert len(_packages(aws, settings)) == before


def test_an_unreadable_production_artifact_skips_the_comparison_with_a_note(
    clean_aws, settings, dag_bag, demo_dir
):
    from classify_fixtures import deploy_production_model, remove_production_endpoint

    aws = clean_aws
    _upload_labeled(aws, settings, demo_dir)
    deploy_production_model(settings, version=97)
    # the production artifact disappears (deleted by hand, lifecycle rule, ...)
    aws.s3.delete_object(
        Bucket=settings.models_bucket, Key=f"{settings.model_name}/97/model.tar.gz"
    )
    try:
        run = run_dag(dag_bag, "train_and_register", conf={"reason": "prod artifact gone"})
    finally:
        remove_production_endpoint(settings)
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]
    evaluated = run.get_task_instance("evaluate").xcom_pull(task_ids="evaluate")
    assert evaluated["production_accuracy"] is None
    assert "could not be evaluated" in evaluated["production_note"]
    assert "/97/model.tar.gz" in evaluated["production_note"]
