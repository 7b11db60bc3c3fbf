"""How a run predicts: through the endpoint, or with one Batch Transform job.

* ``runtime`` (runs up to ``batch_transform_threshold`` images): each batch task sends JSON
  batches to the endpoint runtime.
* ``batch_transform`` (larger runs): the images of every batch are written as JSON-lines
  requests (``{"instances": [{"b64": ...}, ...]}`` per line, same contract as the endpoint);
  the DAG's ``batch_transform`` task (the Amazon provider's ``SageMakerTransformOperator``,
  deferrable) runs the production model over them as one SageMaker Batch Transform job —
  on AWS, and locally on the emulator, which runs the model's own inference code — and the
  batch tasks read their predictions from the job's output instead of calling the endpoint.
"""

from __future__ import annotations

import base64
import hashlib
import json
import logging
import re
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from image_mlops import s3layout
from image_mlops.classification.clients import client as aws_client
from image_mlops.config import Settings, get_settings

log = logging.getLogger(__name__)

RUNTIME = "runtime"
BATCH_TRANSFORM = "batch_transform"
#: Largest request SageMaker accepts per record, in MB (the JSON lines stay below it).
MAX_PAYLOAD_MB = 6


def choose_route(image_count: int, settings: Settings | None = None) -> str:
    settings = settings or get_settings()
    if image_count > settings.batch_transform_threshold:
        return BATCH_TRANSFORM
    return RUNTIME


def transform_job_name(run_id: str, model_version: int, model_name: str) -> str:
    """Deterministic per run and model version (a retried task finds its own job again).

    It starts with the model's name: the worker role may create only
    ``transform-job/<model>-*`` (infra/image-mlops.yaml); the digest always survives the
    63-character limit, so two runs never share a name."""
    digest = hashlib.sha256(f"{run_id}|{model_version}".encode()).hexdigest()[:12]
    slug = re.sub(r"[^A-Za-z0-9-]+", "-", s3layout.run_slug(run_id))[:30].strip("-")
    stem = f"{model_name}-classify-v{int(model_version)}-{slug}"
    return f"{stem[: 63 - len(digest) - 1].rstrip('-')}-{digest}"


def build_transform_job_request(
    model: dict[str, Any], run_id: str, settings: Settings | None = None
) -> dict[str, Any]:
    """The ``CreateTransformJob`` request of a run (validated against botocore in the tests)."""
    settings = settings or get_settings()
    work = s3layout.classify_work_prefix(run_id)
    return {
        "TransformJobName": transform_job_name(
            run_id, model["package_version"], settings.model_name
        ),
        "ModelName": model["model_name"],
        "MaxConcurrentTransforms": 4,
        "MaxPayloadInMB": MAX_PAYLOAD_MB,
        "BatchStrategy": "SingleRecord",
        "TransformInput": {
            "DataSource": {
                "S3DataSource": {
                    "S3DataType": "S3Prefix",
                    "S3Uri": f"s3://{settings.output_bucket}/{work}transform-in/",
                }
            },
            "ContentType": "application/json",
            "CompressionType": "None",
            "SplitType": "Line",
        },
        "TransformOutput": {
            "S3OutputPath": (
                f"s3://{settings.output_bucket}/{s3layout.transform_output_prefix(run_id)}"
            ),
            "Accept": "application/json",
            "AssembleWith": "Line",
        },
        "TransformResources": {
            "InstanceType": settings.inference_instance_type,
            "InstanceCount": 1,
        },
        "DataProcessing": {"JoinSource": "None"},
        "Tags": [
            {"Key": "image-mlops:run-id", "Value": run_id[:256]},
            {"Key": "image-mlops:model-version", "Value": str(model["package_version"])},
        ],
    }


def _index_key(run_id: str, index: int) -> str:
    return f"{s3layout.classify_work_prefix(run_id)}transform-index/batch-{index:05d}.json"


def write_transform_input(
    batch: dict[str, Any], run_id: str, settings: Settings | None = None
) -> int:
    """Write one batch's requests (JSON lines) and the sha256 of every instance, in order."""
    from image_mlops.classification import batches, classify

    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    images = classify.fetch(s3, settings, batches.read_json(batch["batch_key"], settings, s3))
    readable = [image for image in images if image.data is not None]
    lines, order = [], []
    for chunk in classify.chunks_by_size(readable, MAX_PAYLOAD_MB * 1024 * 1024 * 3 // 4 - 4096):
        instances = [{"b64": base64.b64encode(image.data).decode()} for image in chunk]
        lines.append(json.dumps({"instances": instances}))
        order.append([image.sha256 for image in chunk])
    s3.put_object(
        Bucket=settings.output_bucket,
        Key=s3layout.transform_input_key(run_id, batch["index"]),
        Body=("\n".join(lines) + "\n").encode(),
    )
    s3.put_object(
        Bucket=settings.output_bucket,
        Key=_index_key(run_id, batch["index"]),
        Body=json.dumps(order).encode(),
    )
    return len(readable)


def transform_request(
    model: dict[str, Any],
    run_id: str,
    batch_list: list[dict[str, Any]],
    settings: Settings | None = None,
) -> dict[str, Any]:
    """Write the run's inputs, check the model's artifact, return the job's request."""
    settings = settings or get_settings()
    with ThreadPoolExecutor(4) as pool:
        total = sum(pool.map(lambda b: write_transform_input(b, run_id, settings), batch_list))
    verify_model_artifact(model, settings)
    request = build_transform_job_request(model, run_id, settings)
    log.info(
        "transform job %s: model %s over %d images in %d batches",
        request["TransformJobName"],
        model["model_name"],
        total,
        len(batch_list),
    )
    return request


def verify_model_artifact(model: dict[str, Any], settings: Settings) -> None:
    """The job's model must serve the approved bytes: checked before the job starts."""
    from image_mlops.serving.integrity import ApprovedArtifact, verify

    approved = ApprovedArtifact.from_environment(
        model["model_data_url"], model.get("environment") or {}
    )
    verify(aws_client("s3", settings), approved, "batch transform", settings)


def transform_predictor(run_id: str, index: int, settings: Settings | None = None):
    """A predictor answering from the transform output of batch ``index`` (by content hash)."""
    settings = settings or get_settings()
    s3 = aws_client("s3", settings)
    order = json.loads(
        s3.get_object(Bucket=settings.output_bucket, Key=_index_key(run_id, index))["Body"].read()
    )
    out_key = (
        s3layout.transform_output_prefix(run_id)
        + s3layout.transform_input_key(run_id, index).rsplit("/", 1)[-1]
        + ".out"
    )
    body = s3.get_object(Bucket=settings.output_bucket, Key=out_key)["Body"].read().decode()
    by_sha: dict[str, dict[str, Any]] = {}
    answers = [json.loads(line) for line in body.splitlines() if line.strip()]
    for shas, answer in zip(order, answers, strict=True):
        for sha, prediction in zip(shas, answer["predictions"], strict=True):
            by_sha[sha] = prediction

    def predict(images: list[bytes]) -> list[dict[str, Any]]:
        missing = {"label": None, "confidence": None, "top_k": [], "error": "not in output"}
        return [by_sha.get(hashlib.sha256(data).hexdigest(), missing) for data in images]

    return predict


def runtime_predictor(model: dict[str, Any], settings: Settings | None = None):
    """Predict in JSON batches through the endpoint (``InvokeEndpoint``, both targets)."""
    from image_mlops.serving.runtime import get_runtime

    runtime = get_runtime(settings or get_settings())
    endpoint_name = model["endpoint_name"]

    def predict(images: list[bytes]) -> list[dict[str, Any]]:
        return runtime.invoke_images(endpoint_name, images)

    return predict


def predictor_for(
    route: str, model: dict[str, Any], run_id: str, index: int, settings: Settings | None = None
):
    """The predictor a batch uses on this route."""
    settings = settings or get_settings()
    if route == BATCH_TRANSFORM:
        return transform_predictor(run_id, index, settings)
    return runtime_predictor(model, settings)
