"""Which AWS operation a request calls, and its parameters, read with the service's API model.

The authorization and validation layers both need the operation (``PutObject``,
``CreateTrainingJob``) and its input as the API model describes it: the same parse serves
both, once per request (kept in the environ). moto routes and parses requests from
botocore's service models (:mod:`moto.core.routing`, :mod:`moto.core.parse`, the pinned
moto's): the emulator uses them rather than a parser of its own. A request that routes to no
operation of its service gets ``None`` (moto answers it as it would).
"""

from __future__ import annotations

import gzip
import io
import json
import logging
from dataclasses import dataclass, field
from typing import Any

from image_mlops_dev.emulator.http.wsgi import buffered_body, credential_scope

log = logging.getLogger("image_mlops.emulator")

#: The environ key of the parsed operation (or of ``NO_OPERATION``).
OPERATION = "image_mlops.operation"
NO_OPERATION = object()

#: A SigV4 signing name → the botocore service it signs for (sagemaker-runtime signs as
#: sagemaker; its path tells them apart).
SIGNING_NAMES = {
    "s3": "s3",
    "sagemaker": "sagemaker",
    "monitoring": "cloudwatch",
    "logs": "logs",
    "states": "stepfunctions",
    "lambda": "lambda",
    "sns": "sns",
    "sqs": "sqs",
    "iam": "iam",
    "sts": "sts",
    "cloudformation": "cloudformation",
    "application-autoscaling": "application-autoscaling",
    "kms": "kms",
}


@dataclass
class Operation:
    """One request, read with its service's API model."""

    service: str  # botocore's service name: "s3", "sagemaker-runtime", "cloudwatch", ...
    name: str  # the operation: "PutObject"
    params: dict[str, Any]
    model: Any = field(repr=False)  # botocore's OperationModel
    protocol: str = ""
    region: str = "us-east-1"

    @property
    def signing_name(self) -> str:
        return self.model.service_model.signing_name


def service_of(environ: dict[str, Any]) -> tuple[str, str] | None:
    """(botocore service, region) a request is signed for."""
    scope = credential_scope(environ, environ.get("QUERY_STRING", ""))
    if scope is None:
        return None
    service = SIGNING_NAMES.get(scope["service"])
    if service == "sagemaker" and environ.get("PATH_INFO", "").startswith("/endpoints/"):
        service = "sagemaker-runtime"
    return (service, scope["region"]) if service else None


def operation_of(environ: dict[str, Any]) -> Operation | None:
    """The request's operation and parameters (parsed once, then kept in the environ)."""
    cached = environ.get(OPERATION)
    if cached is not None:
        return None if cached is NO_OPERATION else cached
    try:
        operation = _parse(environ)
    except Exception as exc:  # an unparseable request: moto answers it as it would
        log.debug("cannot read the operation of %s: %r", environ.get("PATH_INFO"), exc)
        operation = None
    environ[OPERATION] = operation if operation is not None else NO_OPERATION
    return operation


def _parse(environ: dict[str, Any]) -> Operation | None:
    from moto.core.parse import PROTOCOL_PARSERS
    from moto.core.request import Request, determine_request_protocol
    from moto.core.routing import get_service_router
    from moto.core.utils import get_service_model

    found = service_of(environ)
    if found is None:
        return None
    service, region = found
    body = buffered_body(environ)
    environ = dict(environ)
    if environ.get("HTTP_CONTENT_ENCODING", "").strip().lower() == "gzip":
        # botocore gzips the bodies of operations with the requestcompression trait
        # (CloudWatch PutMetricData) from 10 KiB on (its request_min_compression_size_bytes
        # default); the service reads the decompressed input, and so must IAM's condition
        # keys (cloudwatch:namespace) and the validation. moto decompresses for itself.
        body = gzip.decompress(body)
        environ.pop("HTTP_CONTENT_ENCODING")
        environ["CONTENT_LENGTH"] = str(len(body))
    service_model = get_service_model(service)
    content_type = environ.get("CONTENT_TYPE", "")
    target = environ.get("HTTP_X_AMZ_TARGET")
    if target and "json" in content_type and "json" not in _protocols(service_model):
        # a JSON request to a service whose pinned model is query-only (STS with newer
        # botocore): the target names the operation, the body is its input
        operation = service_model.operation_model(target.rsplit(".", 1)[-1])
        params = json.loads(body or b"{}")
        return Operation(service, operation.name, params, operation, "json", region)
    request = Request(dict(environ, **{"wsgi.input": io.BytesIO(body)}))
    operation, uri_params = get_service_router(service).match(request)
    protocol = determine_request_protocol(service_model, request.content_type)
    parser = PROTOCOL_PARSERS[protocol](operation)
    params = parser.parse(
        {
            "method": request.method,
            "values": request.values,
            "headers": request.headers,
            "body": request.data,
            "url_path": request.path,
            "url_params": uri_params,
        }
    )
    return Operation(service, operation.name, dict(params), operation, protocol, region)


def _protocols(service_model: Any) -> list[str]:
    return list(service_model.metadata.get("protocols", [service_model.protocol]))
