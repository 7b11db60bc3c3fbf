"""Bring your own model: the same train_and_register DAG with a training program, framework
and hyperparameters of the user's own (``tests/fixtures/own_training_program``: nearest class
centroid, numpy + Pillow). Locally the emulator runs the program in the PyTorch training
image's container profile (Python 3.11, its packages) and evaluates the model in the PyTorch
inference image's (TorchServe, sagemaker-pytorch-inference); registry, gate and evaluation
contracts stay the same."""

from __future__ import annotations

import io
import json
import tarfile

import pytest
from conftest import ROOT, log_lines, run_dag

pytestmark = pytest.mark.stack

PROGRAM_DIR = ROOT / "tests" / "fixtures" / "own_training_program"


@pytest.fixture
def own_program(monkeypatch):
    for name, value in {
        "IMAGE_MLOPS_TRAINING_SOURCE_DIR": str(PROGRAM_DIR),
        "IMAGE_MLOPS_TRAINING_ENTRY_POINT": "train_centroids.py",
        "IMAGE_MLOPS_TRAINING_FRAMEWORK": "pytorch",
        "IMAGE_MLOPS_FRAMEWORK_VERSION": "2.3",
        "IMAGE_MLOPS_FRAMEWORK_PY_VERSION": "py311",
        "IMAGE_MLOPS_TRAINING_HYPERPARAMETERS": '{"thumb": 12}',
        # a centroid model is no match for the built-in one: the gate is not what is tested
        "IMAGE_MLOPS_MIN_ACCURACY": "0.2",
        "IMAGE_MLOPS_MAX_REGRESSION": "1.0",
    }.items():
        monkeypatch.setenv(name, value)


def test_a_training_program_of_your_own_trains_evaluates_and_registers(
    clean_aws, admin, own_program, dag_bag, tmp_path
):
    import hashlib

    from image_mlops import registry
    from image_mlops.config import get_settings
    from image_mlops_dev.demo_data import generate

    settings = get_settings()
    generate(tmp_path, per_class=8, incoming=0, seed=5)
    for path in sorted((tmp_path / "labeled").rglob("*.*")):
        data = path.read_bytes()
        clean_aws.s3.put_object(
            Bucket=settings.validated_bucket,
            Key=f"labeled/{path.parent.name}/{path.name}",
            Body=data,
            Metadata={"sha256": hashlib.sha256(data).hexdigest()},
        )
    run = run_dag(dag_bag, "train_and_register", conf={"hyperparameters": {"seed": 1}})
    assert run.state == "success", [(ti.task_id, ti.state) for ti in run.get_task_instances()]

    trained = run.get_task_instance("collect_artifact").xcom_pull(task_ids="collect_artifact")
    job = clean_aws.sagemaker.describe_training_job(TrainingJobName=trained["job_name"])
    assert job["AlgorithmSpecification"]["TrainingImage"].endswith(
        "/pytorch-training:2.3-cpu-py311"
    )
    hps = {k: json.loads(v) for k, v in job["HyperParameters"].items()}
    assert hps["sagemaker_program"] == "train_centroids.py"
    assert hps["thumb"] == 12 and hps["seed"] == 1  # the setting's default, the run's Param
    assert "C" not in hps and "max_iter" not in hps  # the built-in program's are not sent

    result = run.get_task_instance("register").xcom_pull(task_ids="register")
    package = registry.describe_package(settings, result["model_package_arn"])
    described = clean_aws.sagemaker.describe_model_package(ModelPackageName=package.arn)
    container = described["InferenceSpecification"]["Containers"][0]
    assert container["Image"].endswith("/pytorch-inference:2.3-cpu-py311")
    bucket, _, key = package.artifact_uri.removeprefix("s3://").partition("/")
    data = clean_aws.s3.get_object(Bucket=bucket, Key=key)["Body"].read()
    with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
        names = set(tar.getnames())
        metadata = json.loads(tar.extractfile("metadata.json").read())
    assert {"code/inference.py", "centroids.npy", "metadata.json"} <= names
    assert metadata == {"program": "nearest-centroid", "classes": metadata["classes"], "thumb": 12}
    # evaluated through the artifact's own inference code, as it would be served
    evaluation = registry.load_evaluation(settings, package)
    assert evaluation["n_test"] > 0 and evaluation["n_errors"] == 0
    assert evaluation["accuracy"] > 1 / 6  # better than chance on six classes

    # trained and evaluated in the framework's own containers, on their Python (the jobs' logs
    # are read with the stack's bootstrap key: the worker role reads training logs only)
    def log_of(group: str, prefix: str) -> str:
        return "\n".join(log_lines(admin.logs, group, prefix))

    assert "profile pytorch-2.3-training, Python 3.11" in log_of(
        "/aws/sagemaker/TrainingJobs", trained["job_name"]
    )
    evaluated = run.get_task_instance("evaluate").xcom_pull(task_ids="evaluate")
    transform = evaluated["evaluation_jobs"]["candidate"]
    model = clean_aws.sagemaker.describe_model(
        ModelName=clean_aws.sagemaker.describe_transform_job(TransformJobName=transform)[
            "ModelName"
        ]
    )
    assert model["PrimaryContainer"]["Image"].endswith("/pytorch-inference:2.3-cpu-py311")
    assert "profile pytorch-2.3-inference, Python 3.11" in log_of(
        "/aws/sagemaker/TransformJobs", transform
    )


def test_a_missing_training_program_is_a_clear_error(monkeypatch, tmp_path):
    from image_mlops.config import get_settings
    from image_mlops.training.job import TrainingProgramError, source_files

    monkeypatch.setenv("IMAGE_MLOPS_TRAINING_SOURCE_DIR", str(tmp_path))
    (tmp_path / "other.py").write_text("print('hi')\n")
    with pytest.raises(TrainingProgramError, match=r"'train\.py'.*is not in"):
        source_files(get_settings())
    monkeypatch.setenv("IMAGE_MLOPS_TRAINING_SOURCE_DIR", str(tmp_path / "nope"))
    with pytest.raises(TrainingProgramError, match="is not a folder"):
        source_files(get_settings())
    monkeypatch.setenv("IMAGE_MLOPS_TRAINING_HYPERPARAMETERS", "[1, 2]")
    from image_mlops.config import SettingsError

    with pytest.raises(SettingsError, match="must be a JSON object"):
        _ = get_settings().default_hyperparameters
