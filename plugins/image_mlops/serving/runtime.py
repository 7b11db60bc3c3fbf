"""Invoke a model endpoint: SageMaker Runtime ``InvokeEndpoint``, on both targets.

On AWS SageMaker hosts the endpoint; locally the emulator does (one model-server process
per production variant, the artifact's approved bytes only). The package makes the same
call on both.

Usage::

    runtime = get_runtime()
    body = runtime.invoke("product-image-classifier-production", jpeg_bytes, "image/jpeg")
    predictions = runtime.invoke_images(endpoint_name, [jpeg_bytes, png_bytes])
"""

from __future__ import annotations

import base64
import json
from typing import Any

from image_mlops.config import Settings, get_settings


class EndpointError(RuntimeError):
    """The endpoint cannot serve (missing, not InService, broken model)."""


class EndpointRuntime:
    """Invoke endpoints by name (``sagemaker-runtime``; the client is thread-safe)."""

    def __init__(self, settings: Settings) -> None:
        from image_mlops.aws import aws_client

        self._client = aws_client("sagemaker-runtime", settings)

    def invoke(
        self, endpoint_name: str, body: bytes, content_type: str, accept: str = "application/json"
    ) -> bytes:
        from botocore.exceptions import ClientError

        try:
            response = self._client.invoke_endpoint(
                EndpointName=endpoint_name, Body=body, ContentType=content_type, Accept=accept
            )
        except ClientError as exc:
            error = exc.response.get("Error", {})
            raise EndpointError(
                f"{endpoint_name}: {error.get('Code')}: {error.get('Message')}"
            ) from exc
        return response["Body"].read()

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


def get_runtime(settings: Settings | None = None) -> EndpointRuntime:
    """The runtime of the settings' AWS connection (its client is the process's, from
    :func:`image_mlops.aws.aws_client`)."""
    return EndpointRuntime(settings or get_settings())
