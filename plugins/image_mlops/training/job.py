"""The SageMaker training job of a ``train_and_register`` run: its request and its artifact.

One code path for both targets: the DAG's ``train`` task is the Amazon provider's
``SageMakerTrainingOperator`` (deferrable), on AWS and on the local emulator alike, which
runs the same script-mode job (``image_mlops/include/scripts/train.py`` in SageMaker's scikit-learn
container; locally the emulator runs it in a subprocess under the same container contract).
Your own program and framework (``IMAGE_MLOPS_TRAINING_SOURCE_DIR``, ``_ENTRY_POINT``,
``_TRAINING_FRAMEWORK``/``_FRAMEWORK_VERSION`` or ``_TRAINING_IMAGE_URI``) take the same path.

* :func:`training_request` uploads the scripts (``sourcedir.tar.gz``) and one SageMaker
  manifest file per split, and returns the ``CreateTrainingJob`` request;
* :func:`collect_artifact` copies the job's ``model.tar.gz`` to
  ``s3://<models>/<group>/candidates/<run>/model.tar.gz`` and hashes the copy (the sha256
  the registry records and every deployment verifies).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import logging
import tarfile
from pathlib import Path
from typing import Any

from image_mlops import s3layout
from image_mlops.aws import aws_client
from image_mlops.config import Settings
from image_mlops.training import artifact

log = logging.getLogger(__name__)
#: The built-in program (``image_mlops/include/scripts/``) and what it needs in the container.
SOURCE_FILES = ("train.py", "features.py", "inference.py", "evaluate.py")


def training_job_name(model_name: str, run_id: str, try_number: int) -> str:
    """Unique per run and try (≤ 63 chars): ``<model>-<run hash>-t<try>``."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{model_name[:40]}-{digest}-t{try_number}"


def image_uri(settings: Settings, scope: str = "training") -> str:
    """The container image of the job (``training``) or the model (``inference``): your own
    (``IMAGE_MLOPS_TRAINING_IMAGE_URI`` / ``_INFERENCE_IMAGE_URI``), else the framework's."""
    from image_mlops.training import image_uris

    own = settings.training_image_uri if scope == "training" else settings.inference_image_uri
    if own:
        return own
    instance = (
        settings.training_instance_type if scope == "training" else settings.inference_instance_type
    )
    extra = {"py_version": settings.framework_py_version} if settings.framework_py_version else {}
    return image_uris.retrieve(
        settings.training_framework,
        settings.region,
        settings.framework_version,
        instance,
        scope,
        **extra,
    )


class TrainingProgramError(ValueError):
    """The configured training program cannot be uploaded; the message says why."""


def source_files(settings: Settings) -> list[tuple[str, Path]]:
    """``(name in sourcedir.tar.gz, file)`` of the training program: the built-in scripts, or
    every file under ``IMAGE_MLOPS_TRAINING_SOURCE_DIR`` (caches and hidden files left out)."""
    if not settings.training_source_dir:
        files = [(name, artifact.SCRIPTS_DIR / name) for name in SOURCE_FILES]
    else:
        root = Path(settings.training_source_dir).expanduser()
        if not root.is_dir():
            raise TrainingProgramError(
                f"IMAGE_MLOPS_TRAINING_SOURCE_DIR={settings.training_source_dir!r} is not a folder"
            )
        files = [
            (path.relative_to(root).as_posix(), path)
            for path in sorted(root.rglob("*"))
            if path.is_file()
            and not any(
                part.startswith(".") or part == "__pycache__"
                for part in path.relative_to(root).parts
            )
        ]
    if settings.training_entry_point not in {name for name, _ in files}:
        raise TrainingProgramError(
            f"the training program {settings.training_entry_point!r} "
            f"(IMAGE_MLOPS_TRAINING_ENTRY_POINT) is not in "
            f"{settings.training_source_dir or artifact.SCRIPTS_DIR}"
        )
    return files


def upload_source(settings: Settings) -> str:
    """The training program as ``sourcedir.tar.gz`` (content-addressed key); its S3 URI."""
    buffer = io.BytesIO()
    # gzip's header holds a time: fixed, so the same scripts make the same bytes (and key)
    with (
        gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as gz,
        tarfile.open(fileobj=gz, mode="w") as tar,
    ):
        for name, path in source_files(settings):
            data = path.read_bytes()
            info = tarfile.TarInfo(name)
            info.size, info.mode = len(data), 0o644
            tar.addfile(info, io.BytesIO(data))
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:16]
    key = f"{settings.model_name}/code/{digest}/sourcedir.tar.gz"
    aws_client("s3", settings).put_object(Bucket=settings.models_bucket, Key=key, Body=data)
    return f"s3://{settings.models_bucket}/{key}"


def upload_channel_manifests(settings: Settings, manifest: dict) -> dict[str, str]:
    """One SageMaker manifest file per split: ``[{"prefix": ...}, "<class>/<name>", ...]``,
    so each channel holds ``<class>/<name>`` as train.py expects. Empty splits are left out
    (SageMaker refuses a channel without objects)."""
    s3 = aws_client("s3", settings)
    base = s3layout.dataset_manifest_key(settings.model_name, manifest["fingerprint"])
    base = base.rsplit("/", 1)[0]
    uris = {}
    for split in ("train", "validation"):
        keys = [
            i["key"][len(s3layout.LABELED_PREFIX) :]
            for i in manifest["items"]
            if i["split"] == split
        ]
        if not keys:
            if split == "train":
                raise ValueError("the snapshot has no training images: add labelled images")
            continue
        entries: list[Any] = [{"prefix": f"s3://{manifest['bucket']}/{s3layout.LABELED_PREFIX}"}]
        key = f"{base}/{split}.manifest"
        s3.put_object(
            Bucket=settings.models_bucket, Key=key, Body=json.dumps(entries + keys).encode()
        )
        uris[split] = f"s3://{settings.models_bucket}/{key}"
    return uris


def training_job_config(
    settings: Settings,
    *,
    job_name: str,
    channels: dict[str, str],
    source_uri: str,
    output_prefix: str,
    hyperparameters: dict,
) -> dict[str, Any]:
    """The CreateTrainingJob request (script mode)."""
    hps = {name: json.dumps(value) for name, value in sorted(hyperparameters.items())}
    hps.update(
        {
            "sagemaker_program": json.dumps(settings.training_entry_point),
            "sagemaker_submit_directory": json.dumps(source_uri),
            "sagemaker_region": json.dumps(settings.region),
            "sagemaker_container_log_level": "20",
        }
    )
    return {
        "TrainingJobName": job_name,
        "AlgorithmSpecification": {
            "TrainingImage": image_uri(settings, "training"),
            "TrainingInputMode": "File",
        },
        "RoleArn": settings.sagemaker_role_arn,
        "HyperParameters": hps,
        "InputDataConfig": [
            {
                "ChannelName": split,
                "DataSource": {
                    "S3DataSource": {
                        "S3DataType": "ManifestFile",
                        "S3Uri": uri,
                        "S3DataDistributionType": "FullyReplicated",
                    }
                },
                "InputMode": "File",
            }
            for split, uri in channels.items()
        ],
        "OutputDataConfig": {"S3OutputPath": f"s3://{settings.models_bucket}/{output_prefix}"},
        "ResourceConfig": {
            "InstanceType": settings.training_instance_type,
            "InstanceCount": 1,
            "VolumeSizeInGB": 10,
        },
        "StoppingCondition": {"MaxRuntimeInSeconds": settings.training_max_runtime_seconds},
        "Tags": [{"Key": "project", "Value": "image-mlops"}],
    }


def training_request(
    settings: Settings, manifest: dict, *, hyperparameters: dict, run_id: str, try_number: int
) -> dict[str, Any]:
    """Upload the job's inputs and return its request (for ``SageMakerTrainingOperator``)."""
    config = training_job_config(
        settings,
        job_name=training_job_name(settings.model_name, run_id, try_number),
        channels=upload_channel_manifests(settings, manifest),
        source_uri=upload_source(settings),
        output_prefix=s3layout.job_output_prefix(settings.model_name, run_id),
        hyperparameters=hyperparameters,
    )
    log.info(
        "training job %s: %s, hyperparameters %s",
        config["TrainingJobName"],
        {
            c["ChannelName"]: c["DataSource"]["S3DataSource"]["S3Uri"]
            for c in config["InputDataConfig"]
        },
        hyperparameters,
    )
    return config


def collect_artifact(settings: Settings, training: dict[str, Any], run_id: str) -> dict[str, Any]:
    """The finished job's ``model.tar.gz`` → the run's candidate key; its sha256.

    ``training`` is the job's description (the operator's return value, ``["Training"]``).
    """
    if training.get("TrainingJobStatus") != "Completed":
        raise RuntimeError(
            f"training job {training.get('TrainingJobName')} is "
            f"{training.get('TrainingJobStatus')}: {training.get('FailureReason', '')}"
        )
    source = training["ModelArtifacts"]["S3ModelArtifacts"]
    bucket, _, source_key = source.removeprefix("s3://").partition("/")
    key = s3layout.candidate_prefix(settings.model_name, run_id) + s3layout.MODEL_ARTIFACT
    s3 = aws_client("s3", settings)
    s3.copy_object(
        Bucket=settings.models_bucket, Key=key, CopySource={"Bucket": bucket, "Key": source_key}
    )
    digest = hashlib.sha256()
    body = s3.get_object(Bucket=settings.models_bucket, Key=key)["Body"]
    for chunk in iter(lambda: body.read(1 << 20), b""):
        digest.update(chunk)
    sha = digest.hexdigest()
    log.info(
        "training job %s → s3://%s/%s (sha256 %s)",
        training["TrainingJobName"],
        settings.models_bucket,
        key,
        sha,
    )
    return {
        "artifact_key": key,
        "artifact_sha256": sha,
        "job_name": training["TrainingJobName"],
        "candidate_prefix": key.rsplit("/", 1)[0] + "/",
    }
