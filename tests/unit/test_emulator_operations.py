"""The emulator reads a request's operation and input as the service does, from the request
botocore really sends. Pure: botocore prepares the request, nothing is sent."""

from __future__ import annotations

import contextlib
import io

import boto3
from botocore import xform_name
from botocore.awsrequest import AWSResponse

from image_mlops_dev.emulator.http.operations import operation_of


def _environ_of(service: str, operation: str, **params) -> dict:
    """The WSGI environ of the request boto3 would send for ``operation``."""
    client = boto3.client(
        service,
        region_name="us-east-1",
        endpoint_url="https://127.0.0.1:1",
        aws_access_key_id="AKIATESTPLACEHOLDER",
        aws_secret_access_key="test-placeholder",
    )
    sent = {}

    def capture(request, **_):
        sent["request"] = request
        return AWSResponse(request.url, 200, {}, None)

    client.meta.events.register(f"before-send.{service}.{operation}", capture)
    with contextlib.suppress(Exception):  # the empty answer may not parse: the request counts
        getattr(client, xform_name(operation))(**params)
    request = sent["request"]
    body = request.body if isinstance(request.body, bytes) else (request.body or b"")
    environ = {
        "REQUEST_METHOD": request.method,
        "PATH_INFO": request.url.split("127.0.0.1:1", 1)[1].split("?")[0] or "/",
        "QUERY_STRING": request.url.partition("?")[2],
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": io.BytesIO(body),
        "SERVER_NAME": "127.0.0.1",
        "SERVER_PORT": "1",
        "wsgi.url_scheme": "https",
    }
    for name, value in request.headers.items():
        value = value.decode() if isinstance(value, bytes) else value
        if name.lower() == "content-type":
            environ["CONTENT_TYPE"] = value
        else:
            environ["HTTP_" + name.upper().replace("-", "_")] = value
    return environ


def test_a_gzipped_put_metric_data_is_read_with_its_namespace():
    """botocore gzips PutMetricData from 10 KiB on (the requestcompression trait): before, the
    emulator could not read the compressed input, so cloudwatch:namespace was missing and the
    worker's policy (which allows the stack's namespace only) refused the monitoring DAG."""
    data = [{"MetricName": "Load", "Value": float(i)} for i in range(1000)]
    environ = _environ_of("cloudwatch", "PutMetricData", Namespace="ImageMLOps", MetricData=data)
    assert environ.get("HTTP_CONTENT_ENCODING") == "gzip"  # what botocore really sends
    operation = operation_of(environ)
    assert operation is not None and operation.name == "PutMetricData"
    assert operation.params["Namespace"] == "ImageMLOps"
    assert len(operation.params["MetricData"]) == 1000


def test_a_small_put_metric_data_is_read_uncompressed():
    environ = _environ_of(
        "cloudwatch", "PutMetricData", Namespace="ImageMLOps", MetricData=[{"MetricName": "L"}]
    )
    assert "HTTP_CONTENT_ENCODING" not in environ
    assert operation_of(environ).params["Namespace"] == "ImageMLOps"
