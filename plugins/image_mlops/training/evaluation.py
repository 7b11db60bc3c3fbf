"""Evaluation in the model's own container: a Batch Transform job, metrics on the worker.

A model is evaluated where it will serve. For the candidate and for the production model (on
the same images) the worker:

1. writes the images as JSON-lines requests (``{"instances": [{"b64": ...}, ...]}`` per line,
   the serving contract) under the run's job prefix, where the SageMaker execution role may
   read and write (``<group>/_jobs/<run>/evaluation/``);
2. runs one SageMaker Batch Transform job of the model (``<model>-eval-...``, idempotent: a
   retried task finds its job again; a failed job is followed by a new one, up to
   :data:`ATTEMPTS`), the candidate as a SageMaker model of its own in its inference image;
3. reads the job's output, one answer line per request line, and computes the report with
   :mod:`.metrics`: plain Python, so the worker needs no ML framework and never imports a
   model's code.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError, WaiterError

from image_mlops import s3layout
from image_mlops.aws import aws_client, waiter_config
from image_mlops.config import Settings
from image_mlops.serving.container import CONTAINER_ENVIRONMENT
from image_mlops.training import job
from image_mlops.training.metrics import classification_report

log = logging.getLogger(__name__)

#: Images per request line, and the largest line (Batch Transform's MaxPayloadInMB is 6).
BATCH_IMAGES = 32
MAX_PAYLOAD_MB = 6
_LINE_BYTES = MAX_PAYLOAD_MB * 1024 * 1024 * 3 // 4 - 4096
#: Transform jobs one evaluation may start before it gives up (each after a failed one).
ATTEMPTS = 3


class EvaluationFailed(RuntimeError):
    """The model's transform job failed; the message carries SageMaker's FailureReason."""


@dataclass(frozen=True)
class EvaluatedModel:
    """A SageMaker model to evaluate: its name, and a tag naming its jobs and outputs."""

    model_name: str
    tag: str


def _name(stem: str, digest_source: str, limit: int = 63) -> str:
    """``stem`` cut to fit, then a digest: unique, and within SageMaker's 63 characters."""
    digest = hashlib.sha256(digest_source.encode()).hexdigest()[:12]
    stem = re.sub(r"[^A-Za-z0-9-]+", "-", stem)
    return f"{stem[: limit - len(digest) - 1].rstrip('-')}-{digest}"


def candidate_model(settings: Settings, artifact_uri: str) -> EvaluatedModel:
    """The candidate as a SageMaker model in its inference image (created once per artifact).

    Its name starts with the model group's, as the worker role's ``CreateModel`` requires."""
    name = _name(f"{settings.model_name}-candidate", artifact_uri)
    sagemaker = aws_client("sagemaker", settings)
    try:
        sagemaker.describe_model(ModelName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] != "ValidationException":
            raise
        sagemaker.create_model(
            ModelName=name,
            ExecutionRoleArn=settings.sagemaker_role_arn,
            PrimaryContainer={
                "Image": job.image_uri(settings, "inference"),
                "ModelDataUrl": artifact_uri,
                "Environment": dict(CONTAINER_ENVIRONMENT),
            },
            Tags=[{"Key": "image-mlops:purpose", "Value": "evaluation"}],
        )
        log.info("created model %s of %s for its evaluation", name, artifact_uri)
    return EvaluatedModel(name, "candidate")


def _work_prefix(settings: Settings, run_id: str) -> str:
    return f"{s3layout.job_output_prefix(settings.model_name, run_id)}evaluation/"


def write_requests(
    settings: Settings, run_id: str, bucket: str, items: list[dict[str, Any]]
) -> tuple[str, list[list[str]]]:
    """The images of ``items`` as request lines; returns the input's S3 URI and the keys of
    each line, in order (the job answers line by line)."""
    s3 = aws_client("s3", settings)
    lines: list[str] = []
    order: list[list[str]] = []
    batch: list[tuple[str, bytes]] = []

    def flush() -> None:
        if batch:
            instances = [{"b64": base64.b64encode(data).decode()} for _, data in batch]
            lines.append(json.dumps({"instances": instances}))
            order.append([key for key, _ in batch])
            batch.clear()

    size = 0
    for item in items:
        data = s3.get_object(Bucket=bucket, Key=item["key"])["Body"].read()
        encoded = len(data) * 4 // 3 + 16
        if batch and (len(batch) >= BATCH_IMAGES or size + encoded > _LINE_BYTES):
            flush()
            size = 0
        batch.append((item["key"], data))
        size += encoded
    flush()
    key = f"{_work_prefix(settings, run_id)}in/requests.jsonl"
    s3.put_object(Bucket=settings.models_bucket, Key=key, Body=("\n".join(lines) + "\n").encode())
    return f"s3://{settings.models_bucket}/{key}", order


def transform_job_request(
    settings: Settings, model: EvaluatedModel, job_name: str, input_uri: str, output_uri: str
) -> dict[str, Any]:
    """The ``CreateTransformJob`` request (validated against botocore in the tests)."""
    return {
        "TransformJobName": job_name,
        "ModelName": model.model_name,
        "MaxConcurrentTransforms": 1,
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {"S3DataSource": {"S3DataType": "S3Prefix", "S3Uri": input_uri}},
            "ContentType": "application/json",
            "CompressionType": "None",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": output_uri,
            "Accept": "application/json",
            "AssembleWith": "Line",
        },
        "TransformResources": {
            "InstanceType": settings.inference_instance_type,
            "InstanceCount": 1,
        },
        "Tags": [{"Key": "image-mlops:purpose", "Value": "evaluation"}],
    }


def _describe(sagemaker: Any, name: str) -> dict[str, Any] | None:
    try:
        return sagemaker.describe_transform_job(TransformJobName=name)
    except ClientError as exc:
        if exc.response["Error"]["Code"] == "ValidationException":
            return None
        raise


def _wait(sagemaker: Any, name: str, settings: Settings) -> dict[str, Any]:
    """The job's ``DescribeTransformJob`` once it ended (Completed, Stopped or Failed):
    botocore's ``transform_job_completed_or_stopped`` waiter; a job still running after
    ``IMAGE_MLOPS_EVALUATION_TIMEOUT_SECONDS`` is stopped and the evaluation fails."""
    poll = settings.job_poll_seconds
    timeout = settings.evaluation_timeout_seconds
    waiter = sagemaker.get_waiter("transform_job_completed_or_stopped")
    try:
        waiter.wait(
            TransformJobName=name,
            WaiterConfig=waiter_config(timeout, poll),
        )
    except WaiterError as exc:
        if (exc.last_response or {}).get("TransformJobStatus") in ("InProgress", "Stopping"):
            sagemaker.stop_transform_job(TransformJobName=name)
            raise EvaluationFailed(
                f"transform job {name} ran longer than {timeout} s "
                "(IMAGE_MLOPS_EVALUATION_TIMEOUT_SECONDS): stopped"
            ) from exc
        if "TransformJobStatus" not in (exc.last_response or {}):
            raise  # the job is gone, or the call failed: not a job's outcome
    return sagemaker.describe_transform_job(TransformJobName=name)


def run_transform(
    settings: Settings, run_id: str, model: EvaluatedModel, input_uri: str
) -> tuple[str, str]:
    """Run (or find again) the model's transform job over ``input_uri``; returns the job's
    name and the output's S3 URI. :class:`EvaluationFailed` after :data:`ATTEMPTS` failures."""
    sagemaker = aws_client("sagemaker", settings)
    reasons: list[str] = []
    for attempt in range(1, ATTEMPTS + 1):
        name = _name(
            f"{settings.model_name}-eval-{model.tag}-a{attempt}",
            f"{run_id}|{model.model_name}|{input_uri}",
        )
        output_uri = f"s3://{settings.models_bucket}/{_work_prefix(settings, run_id)}{name}/"
        described = _describe(sagemaker, name)
        if described is None:
            sagemaker.create_transform_job(
                **transform_job_request(settings, model, name, input_uri, output_uri)
            )
            log.info("transform job %s: %s over %s", name, model.model_name, input_uri)
        if described is None or described["TransformJobStatus"] in ("InProgress", "Stopping"):
            described = _wait(sagemaker, name, settings)
        if described["TransformJobStatus"] == "Completed":
            return name, output_uri
        reasons.append(f"{name}: {described.get('FailureReason', described['TransformJobStatus'])}")
        log.warning("transform job %s did not complete: %s", name, reasons[-1])
    raise EvaluationFailed("; ".join(reasons))


def read_predictions(
    settings: Settings, output_uri: str, order: list[list[str]]
) -> dict[str, dict[str, Any]]:
    """``{image key: prediction}`` from the job's output (one answer line per request line)."""
    bucket, _, prefix = output_uri.removeprefix("s3://").partition("/")
    body = (
        aws_client("s3", settings)
        .get_object(Bucket=bucket, Key=f"{prefix}requests.jsonl.out")["Body"]
        .read()
        .decode()
    )
    answers = [json.loads(line) for line in body.splitlines() if line.strip()]
    if len(answers) != len(order):
        raise EvaluationFailed(
            f"{output_uri}requests.jsonl.out has {len(answers)} answers for {len(order)} requests"
        )
    found: dict[str, dict[str, Any]] = {}
    for keys, answer in zip(order, answers, strict=True):
        predictions = answer.get("predictions") or []
        if len(predictions) != len(keys):
            raise EvaluationFailed(
                f"an answer has {len(predictions)} predictions for {len(keys)} images"
            )
        found.update(zip(keys, predictions, strict=True))
    return found


def report(items: list[dict[str, Any]], predictions: dict[str, dict[str, Any]]) -> dict:
    """The evaluation report of ``items`` (their labels) from the model's predictions."""
    true = [item["label"] for item in items]
    predicted = [predictions[item["key"]].get("label") for item in items]
    labels = sorted(set(true) | {p for p in predicted if p is not None})
    return classification_report(true, predicted, labels)


def predict(
    settings: Settings,
    run_id: str,
    model: EvaluatedModel,
    input_uri: str,
    order: list[list[str]],
) -> tuple[dict[str, dict[str, Any]], str]:
    """The model's predictions of the written requests, and the transform job that made them."""
    job_name, output_uri = run_transform(settings, run_id, model, input_uri)
    return read_predictions(settings, output_uri, order), job_name
