"""Invoke a model endpoint: the one place where local and AWS serving differ.

* ``aws``: SageMaker Runtime ``InvokeEndpoint``.
* ``local``: the endpoint is the emulator's record. We resolve endpoint → endpoint config →
  model → ``ModelDataUrl`` and the approved sha256 and object version in the model's
  environment (:mod:`image_mlops.serving.integrity`), download exactly that version through
  the S3 hook, refuse it unless its sha256 is the approved one, and run the artifact's own
  ``code/inference.py`` in process (``model_fn`` once, then ``input_fn``/``predict_fn``/
  ``output_fn`` per request). Loaded models are cached by their approved bytes, so an
  endpoint switched to a new configuration serves the new model on its next request, the old
  one stays loaded for a rollback, and an artifact overwritten in S3 is never picked up.

Usage::

    runtime = get_runtime()
    body = runtime.invoke("product-image-classifier-production", jpeg_bytes, "image/jpeg")
    predictions = runtime.invoke_images(endpoint_name, [jpeg_bytes, png_bytes])
"""

from __future__ import annotations

import base64
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from image_mlops.config import Settings, get_settings
from image_mlops.serving.integrity import ApprovedArtifact


class EndpointError(RuntimeError):
    """The endpoint cannot serve (missing, not InService, broken model)."""


@dataclass(frozen=True)
class EndpointTarget:
    """What an endpoint serves right now."""

    endpoint_name: str
    endpoint_config_name: str
    model_name: str
    model_data_url: str
    environment: dict[str, str]


def resolve_endpoint(
    endpoint_name: str,
    settings: Settings | None = None,
    sagemaker: Any = None,
    known: dict[str, EndpointTarget] | None = None,
) -> EndpointTarget:
    """Endpoint → config → model → ModelDataUrl, with DescribeEndpoint/Config/Model.

    ``known`` (config name → target) skips the config and model look-ups for a configuration
    already resolved: configurations and models are immutable in SageMaker.
    """
    from botocore.exceptions import ClientError

    from image_mlops.aws import aws_client

    sagemaker = sagemaker or aws_client("sagemaker", settings)
    try:
        endpoint = sagemaker.describe_endpoint(EndpointName=endpoint_name)
    except ClientError as exc:
        raise EndpointError(
            f"endpoint {endpoint_name!r} does not exist — deploy a model with the deploy_model DAG"
        ) from exc
    if endpoint["EndpointStatus"] not in ("InService", "Updating"):
        raise EndpointError(
            f"endpoint {endpoint_name!r} is {endpoint['EndpointStatus']}: "
            f"{endpoint.get('FailureReason') or 'not serving'}"
        )
    config_name = endpoint["EndpointConfigName"]
    if known is not None and config_name in known:
        return known[config_name]
    config = sagemaker.describe_endpoint_config(EndpointConfigName=config_name)
    model_name = config["ProductionVariants"][0]["ModelName"]
    model = sagemaker.describe_model(ModelName=model_name)
    container = model.get("PrimaryContainer") or (model.get("Containers") or [{}])[0]
    if not container.get("ModelDataUrl"):
        raise EndpointError(f"model {model_name!r} of {endpoint_name!r} has no ModelDataUrl")
    target = EndpointTarget(
        endpoint_name=endpoint_name,
        endpoint_config_name=config_name,
        model_name=model_name,
        model_data_url=container["ModelDataUrl"],
        environment=dict(container.get("Environment") or {}),
    )
    if known is not None:
        known[config_name] = target
    return target


def split_s3_url(url: str) -> tuple[str, str]:
    if not url.startswith("s3://"):
        raise EndpointError(f"{url!r} is not an s3:// URL")
    bucket, _, key = url[5:].partition("/")
    return bucket, key


class EndpointRuntime:
    """Invoke endpoints by name; subclasses implement :meth:`invoke`."""

    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str = "application/json"
    ) -> bytes:
        raise NotImplementedError

    def invoke_images(self, endpoint_name: str, images: list[bytes]) -> list[dict[str, Any]]:
        """One JSON batch request; returns the ``predictions`` list (one per image)."""
        body = json.dumps(
            {"instances": [{"b64": base64.b64encode(image).decode()} for image in images]}
        ).encode()
        response = json.loads(self.invoke(endpoint_name, body, "application/json"))
        predictions = response.get("predictions")
        if not isinstance(predictions, list) or len(predictions) != len(images):
            raise EndpointError(
                f"{endpoint_name!r} answered {len(predictions or [])} predictions "
                f"for {len(images)} images"
            )
        return predictions


class SageMakerEndpointRuntime(EndpointRuntime):
    """Real SageMaker endpoints (``InvokeEndpoint``)."""

    def __init__(self, settings: Settings) -> None:
        from image_mlops.aws import aws_client

        self._client = aws_client("sagemaker-runtime", settings)

    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str = "application/json"
    ) -> bytes:
        response = self._client.invoke_endpoint(
            EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=accept
        )
        return response["Body"].read()


class LocalEndpointRuntime(EndpointRuntime):
    """Endpoint records on the emulator, served in process by the artifact's own code."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.cache_dir = Path(settings.state_dir) / "model-cache"
        self._models: dict[ApprovedArtifact, Any] = {}
        self._by_url: dict[str, Any] = {}
        self._targets: dict[str, EndpointTarget] = {}
        self._lock = threading.Lock()
        self._sagemaker = None
        self._s3 = None

    def target(self, endpoint_name: str) -> EndpointTarget:
        from image_mlops.aws import aws_client

        if self._sagemaker is None:
            self._sagemaker = aws_client("sagemaker", self.settings)
        return resolve_endpoint(endpoint_name, self.settings, self._sagemaker, self._targets)

    def model_for(self, approved: ApprovedArtifact) -> Any:
        """The loaded model of an approved artifact (downloaded, verified and loaded once).

        Raises :class:`~image_mlops.serving.integrity.ArtifactIntegrityError` when the bytes
        are not the approved ones (nothing is extracted or imported then).
        """
        from image_mlops.aws import s3_hook
        from image_mlops.serving.artifact import LoadedModel, extract
        from image_mlops.serving.integrity import load_verified

        with self._lock:
            if approved not in self._models:
                if self._s3 is None:
                    self._s3 = s3_hook(self.settings).get_conn()
                folder = self.cache_dir / approved.sha256[:20]
                if not (folder / ".extracted").exists():
                    body = load_verified(self._s3, approved, "endpoint runtime", self.settings)
                    self.cache_dir.mkdir(parents=True, exist_ok=True)
                    archive = self.cache_dir / f"{approved.sha256[:20]}.tar.gz"
                    tmp = archive.with_suffix(".part")
                    tmp.write_bytes(body)
                    tmp.rename(archive)
                    extract(archive, folder)
                    archive.unlink(missing_ok=True)
                self._models[approved] = LoadedModel(folder)
            return self._models[approved]

    def model_of(self, target: EndpointTarget) -> Any:
        """The loaded model an endpoint target serves (its approved artifact)."""
        return self.model_for(
            ApprovedArtifact.from_environment(target.model_data_url, target.environment)
        )

    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str = "application/json"
    ) -> bytes:
        target = self.target(endpoint_name)
        return self.model_of(target).invoke(body, content_type, accept)


_runtimes: dict[tuple[str, str, str], EndpointRuntime] = {}


def get_runtime(settings: Settings | None = None) -> EndpointRuntime:
    """The runtime for the configured target (one per process and settings)."""
    settings = settings or get_settings()
    key = (settings.target, str(settings.state_dir), settings.aws_conn_id)
    if key not in _runtimes:
        _runtimes[key] = (
            LocalEndpointRuntime(settings)
            if settings.is_local
            else SageMakerEndpointRuntime(settings)
        )
    return _runtimes[key]
