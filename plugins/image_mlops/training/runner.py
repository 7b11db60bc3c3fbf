"""Where training runs: the one place where the local and the AWS target differ.

* :class:`LocalTrainingRunner` — downloads the train/validation splits to a temporary
  folder and runs ``include/scripts/train.py`` as a subprocess with SageMaker's environment
  contract, then packs ``model.tar.gz``;
* :class:`SageMakerTrainingRunner` — runs the same ``train.py`` in the SageMaker
  scikit-learn framework container (script mode: ``sagemaker_program`` /
  ``sagemaker_submit_directory``) through the Amazon provider's ``SageMakerTrainingOperator``;
  the channels are SageMaker manifest files listing the split's keys, so each channel holds
  ``<class>/<name>`` exactly as locally.

Both leave the candidate artifact at ``s3://<models>/<group>/candidates/<run>/model.tar.gz``
and return ``{"artifact_key", "artifact_sha256", "job_name"}``. :func:`get_runner` picks one
from ``settings.target``.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import tarfile
import tempfile
from pathlib import Path
from typing import Any

from image_mlops import s3layout
from image_mlops.config import Settings
from image_mlops.training import artifact, dataset

log = logging.getLogger(__name__)
SOURCE_FILES = ("train.py", "features.py", "inference.py", "evaluate.py")


def training_job_name(model_name: str, run_id: str, try_number: int) -> str:
    """Unique per run and try (≤ 63 chars): ``<model>-<run hash>-t<try>``."""
    digest = hashlib.sha256(run_id.encode()).hexdigest()[:10]
    return f"{model_name[:40]}-{digest}-t{try_number}"


def image_uri(settings: Settings, scope: str = "training") -> str:
    from sagemaker.core import image_uris

    instance = (
        settings.training_instance_type if scope == "training" else settings.inference_instance_type
    )
    return image_uris.retrieve(
        "sklearn",
        settings.region,
        version=settings.framework_version,
        instance_type=instance,
        image_scope=scope,
    )


class LocalTrainingRunner:
    """train.py as a subprocess on this worker."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def train(
        self, manifest: dict, *, hyperparameters: dict, run_id: str, try_number: int = 1
    ) -> dict[str, Any]:
        from image_mlops.aws import aws_client

        prefix = s3layout.candidate_prefix(self.settings.model_name, run_id)
        with tempfile.TemporaryDirectory(prefix="train-") as tmp:
            root = Path(tmp)
            counts = {
                split: dataset.download_split(self.settings, manifest, split, root / split)
                for split in ("train", "validation")
            }
            log.info("downloaded %s images", counts)
            artifact.train_local(
                root / "train",
                root / "model",
                validation_dir=root / "validation" if counts["validation"] else None,
                output_dir=root / "output",
                hyperparameters=hyperparameters,
            )
            sha = artifact.pack(root / "model", root / "model.tar.gz")
            key = prefix + s3layout.MODEL_ARTIFACT
            aws_client("s3", self.settings).upload_file(
                str(root / "model.tar.gz"), self.settings.models_bucket, key
            )
        log.info("artifact s3://%s/%s (sha256 %s)", self.settings.models_bucket, key, sha)
        return {
            "artifact_key": key,
            "artifact_sha256": sha,
            "job_name": training_job_name(self.settings.model_name, run_id, try_number),
        }


class SageMakerTrainingRunner:
    """train.py in SageMaker's scikit-learn container via SageMakerTrainingOperator."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings

    def upload_source(self) -> str:
        """The scripts as ``sourcedir.tar.gz`` (content-addressed key); returns its S3 URI."""
        from image_mlops.aws import aws_client

        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
            for name in SOURCE_FILES:
                data = (artifact.SCRIPTS_DIR / name).read_bytes()
                info = tarfile.TarInfo(name)
                info.size, info.mode = len(data), 0o644
                tar.addfile(info, io.BytesIO(data))
        data = buffer.getvalue()
        digest = hashlib.sha256(data).hexdigest()[:16]
        key = f"{self.settings.model_name}/code/{digest}/sourcedir.tar.gz"
        aws_client("s3", self.settings).put_object(
            Bucket=self.settings.models_bucket, Key=key, Body=data
        )
        return f"s3://{self.settings.models_bucket}/{key}"

    def upload_channel_manifests(self, manifest: dict) -> dict[str, str]:
        """One SageMaker manifest file per split: ``[{"prefix": ...}, "<class>/<name>", ...]``."""
        from image_mlops.aws import aws_client

        s3 = aws_client("s3", self.settings)
        base = s3layout.dataset_manifest_key(self.settings.model_name, manifest["fingerprint"])
        base = base.rsplit("/", 1)[0]
        uris = {}
        for split in ("train", "validation"):
            entries: list[Any] = [
                {"prefix": f"s3://{manifest['bucket']}/{s3layout.LABELED_PREFIX}"}
            ] + [
                i["key"][len(s3layout.LABELED_PREFIX) :]
                for i in manifest["items"]
                if i["split"] == split
            ]
            key = f"{base}/{split}.manifest"
            s3.put_object(
                Bucket=self.settings.models_bucket, Key=key, Body=json.dumps(entries).encode()
            )
            uris[split] = f"s3://{self.settings.models_bucket}/{key}"
        return uris

    def training_job_config(
        self,
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
                "sagemaker_program": json.dumps("train.py"),
                "sagemaker_submit_directory": json.dumps(source_uri),
                "sagemaker_region": json.dumps(self.settings.region),
                "sagemaker_container_log_level": "20",
            }
        )
        return {
            "TrainingJobName": job_name,
            "AlgorithmSpecification": {
                "TrainingImage": image_uri(self.settings, "training"),
                "TrainingInputMode": "File",
            },
            "RoleArn": self.settings.sagemaker_role_arn,
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
            "OutputDataConfig": {
                "S3OutputPath": f"s3://{self.settings.models_bucket}/{output_prefix}"
            },
            "ResourceConfig": {
                "InstanceType": self.settings.training_instance_type,
                "InstanceCount": 1,
                "VolumeSizeInGB": 10,
            },
            "StoppingCondition": {"MaxRuntimeInSeconds": 3600},
            "Tags": [{"Key": "project", "Value": "image-mlops"}],
        }

    def train(
        self,
        manifest: dict,
        *,
        hyperparameters: dict,
        run_id: str,
        try_number: int = 1,
        context: Any = None,
    ) -> dict[str, Any]:
        from airflow.providers.amazon.aws.operators.sagemaker import SageMakerTrainingOperator

        from image_mlops.aws import aws_client

        prefix = s3layout.candidate_prefix(self.settings.model_name, run_id)
        job_name = training_job_name(self.settings.model_name, run_id, try_number)
        config = self.training_job_config(
            job_name=job_name,
            channels=self.upload_channel_manifests(manifest),
            source_uri=self.upload_source(),
            output_prefix=prefix + "jobs/",
            hyperparameters=hyperparameters,
        )
        sagemaker_training = SageMakerTrainingOperator(
            task_id="sagemaker_training",
            config=config,
            aws_conn_id=self.settings.aws_conn_id,
            wait_for_completion=True,
            check_interval=30,
            check_if_job_exists=True,
            action_if_job_exists="fail",
        )
        sagemaker_training.execute(context or {})
        described = aws_client("sagemaker", self.settings).describe_training_job(
            TrainingJobName=job_name
        )
        source = described["ModelArtifacts"]["S3ModelArtifacts"]
        bucket, _, source_key = source.removeprefix("s3://").partition("/")
        key = prefix + s3layout.MODEL_ARTIFACT
        s3 = aws_client("s3", self.settings)
        s3.copy_object(
            Bucket=self.settings.models_bucket,
            Key=key,
            CopySource={"Bucket": bucket, "Key": source_key},
        )
        digest = hashlib.sha256(
            s3.get_object(Bucket=self.settings.models_bucket, Key=key)["Body"].read()
        ).hexdigest()
        return {"artifact_key": key, "artifact_sha256": digest, "job_name": job_name}


def get_runner(settings: Settings) -> LocalTrainingRunner | SageMakerTrainingRunner:
    return LocalTrainingRunner(settings) if settings.is_local else SageMakerTrainingRunner(settings)
