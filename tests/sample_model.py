"""A tiny reference model artifact that implements the inference contract (tests, demos).

``write_artifact(path, centroids)`` builds a ``model.tar.gz`` laid out like SageMaker expects
(``model.json`` + ``code/inference.py``): a mean-colour nearest-centroid classifier. With
``invert=True`` it predicts the *farthest* centroid — a deliberately broken model that still
answers every request (for the smoke-test failure path); :data:`FAILING_INFERENCE_PY` loads
and answers ``/ping`` but fails every batched (``application/json``) request with a server
error: a model that breaks on traffic its smoke test (one image per request) did not send.
``colour_image`` draws test images.
"""

from __future__ import annotations

import hashlib
import io
import json
import random
import tarfile
from pathlib import Path

INFERENCE_PY = '''\
"""Mean-colour nearest-centroid classifier (image-mlops reference artifact)."""
import base64
import io
import json
import math
import os

from PIL import Image


def model_fn(model_dir):
    with open(os.path.join(model_dir, "model.json")) as f:
        return json.load(f)


def input_fn(body, content_type):
    if isinstance(body, str):
        body = body.encode()
    if content_type in ("image/jpeg", "image/png"):
        return [body]
    if content_type == "application/json":
        return [base64.b64decode(item["b64"]) for item in json.loads(body)["instances"]]
    raise ValueError(f"unsupported content type {content_type!r}")


def _mean(data):
    image = Image.open(io.BytesIO(data)).convert("RGB").resize((8, 8))
    pixels = list(image.getdata())
    return [sum(p[i] for p in pixels) / len(pixels) for i in range(3)]


def predict_fn(data, model):
    out = []
    for item in data:
        try:
            mean = _mean(item)
        except Exception as exc:
            error = f"bad image: {exc}"
            out.append({"label": None, "confidence": 0.0, "top_k": [], "error": error})
            continue
        dist = {k: math.dist(mean, c) for k, c in model["centroids"].items()}
        sign = 1.0 if model.get("invert") else -1.0
        weights = {k: math.exp(sign * d / 32.0) for k, d in dist.items()}
        total = sum(weights.values())
        ranked = sorted(((w / total, k) for k, w in weights.items()), reverse=True)
        top_k = [{"label": k, "score": round(s, 6)} for s, k in ranked[:3]]
        out.append(
            {"label": ranked[0][1], "confidence": round(ranked[0][0], 6), "top_k": top_k,
             "error": None}
        )
    return out


def output_fn(prediction, accept):
    return json.dumps({"predictions": prediction})
'''

FAILING_INFERENCE_PY = INFERENCE_PY.replace(
    '    if content_type == "application/json":',
    '    if content_type == "application/json":\n'
    '        raise RuntimeError("this model breaks on batched requests")',
)

#: Centroids of the sample images drawn by :func:`colour_image`.
PRIMARY_CENTROIDS = {"red": (220, 30, 30), "green": (30, 200, 40), "blue": (30, 40, 220)}


def write_artifact(
    path: Path,
    centroids: dict[str, tuple[int, int, int]] | None = None,
    *,
    invert: bool = False,
    inference_py: str = INFERENCE_PY,
) -> Path:
    """Write ``model.tar.gz`` at ``path`` (deterministic content)."""
    model = {"centroids": {k: list(v) for k, v in (centroids or PRIMARY_CENTROIDS).items()}}
    if invert:
        model["invert"] = True
    files = {"model.json": json.dumps(model).encode(), "code/inference.py": inference_py.encode()}
    path.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(path, "w:gz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mtime = 0
            tar.addfile(info, io.BytesIO(data))
    return path


def colour_image(rgb: tuple[int, int, int], fmt: str = "JPEG", seed: int = 0) -> bytes:
    """A small noisy image around ``rgb`` (JPEG or PNG bytes)."""
    from PIL import Image

    rng = random.Random(seed)
    image = Image.new("RGB", (48, 48))
    image.putdata(
        [tuple(max(0, min(255, c + rng.randint(-25, 25))) for c in rgb) for _ in range(48 * 48)]
    )
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def upload_sample_images(settings, per_class: int = 4) -> list[str]:
    """Put ``per_class`` JPEG/PNG images per primary colour under validated/labeled/<class>/."""
    from image_mlops.aws import s3_hook

    hook = s3_hook(settings)
    keys = []
    for cls, rgb in PRIMARY_CENTROIDS.items():
        for i in range(per_class):
            fmt, ext = ("PNG", "png") if i % 2 else ("JPEG", "jpg")
            key = f"labeled/{cls}/{cls}-{i:03d}.{ext}"
            hook.load_bytes(
                colour_image(rgb, fmt, seed=i), key, settings.validated_bucket, replace=True
            )
            keys.append(key)
    return keys


def publish_sample_package(
    settings,
    tag: str,
    *,
    invert: bool = False,
    accuracy: float = 0.95,
    status: str = "PendingManualApproval",
    workdir: Path,
    inference_py: str = INFERENCE_PY,
) -> str:
    """Upload a sample artifact and register it as a model package; returns the package ARN.

    The artifact goes to ``s3://MODELS/<group>/sample-<tag>/model.tar.gz``; the package has
    the metadata the training room registers (accuracy, data fingerprint, trained_by, ...).
    """
    from image_mlops.aws import aws_client, s3_hook

    archive = write_artifact(workdir / f"{tag}.tar.gz", invert=invert, inference_py=inference_py)
    key = f"{settings.model_name}/sample-{tag}/model.tar.gz"
    s3_hook(settings).load_file(str(archive), key, settings.models_bucket, replace=True)
    response = aws_client("sagemaker", settings).create_model_package(
        ModelPackageGroupName=settings.model_name,
        ModelPackageDescription=f"sample model {tag}",
        InferenceSpecification={
            "Containers": [
                {
                    "Image": "683313688378.dkr.ecr.us-east-1.amazonaws.com/"
                    "sagemaker-scikit-learn:1.4-2-py312-cpu-py3",
                    "ModelDataUrl": f"s3://{settings.models_bucket}/{key}",
                }
            ],
            "SupportedContentTypes": ["image/jpeg", "image/png", "application/json"],
            "SupportedResponseMIMETypes": ["application/json"],
        },
        ModelApprovalStatus=status,
        CustomerMetadataProperties={
            "artifact_sha256": hashlib.sha256(archive.read_bytes()).hexdigest(),
            "accuracy": str(accuracy),
            "macro_f1": str(accuracy),
            "data_fingerprint": f"fp-{tag}",
            "trained_by": "sample",
            "training_run_id": f"run-{tag}",
            "code_version": "sample",
        },
    )
    return response["ModelPackageArn"]
