"""What SageMaker writes about an endpoint's invocations: its metrics and its captured data.

moto publishes no endpoint metrics and captures nothing. The emulator's endpoints layer
reports every ``InvokeEndpoint`` here, and a flusher thread writes, every
:data:`FLUSH_SECONDS`, through the emulator's own API (so the journal and the alarm evaluator
see them as any other request):

* CloudWatch metrics in ``AWS/SageMaker`` by ``EndpointName`` and ``VariantName``, as
  SageMaker publishes them: ``Invocations``, ``Invocation4XXErrors``,
  ``Invocation5XXErrors`` (a model's 4xx/5xx answers), ``ModelLatency`` (microseconds); the
  deployment's rollback alarms watch these;
* with the serving configuration's ``DataCaptureConfig`` enabled, a sample
  (``InitialSamplingPercentage``) of the requests and responses, in SageMaker's capture
  format: JSON Lines objects under
  ``<DestinationS3Uri>/<endpoint>/<variant>/<yyyy>/<mm>/<dd>/<hh>/<timestamp>-<uuid>.jsonl``,
  one ``{"captureData": {"endpointInput": ..., "endpointOutput": ...}, "eventMetadata":
  ..., "eventVersion": "0"}`` per invocation, the bodies base64-encoded.
"""

from __future__ import annotations

import base64
import datetime as dt
import json
import logging
import random
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

from image_mlops_dev.emulator.platform import Platform

log = logging.getLogger("image_mlops.emulator.invocations")

#: SageMaker publishes endpoint metrics every minute; locally every few seconds.
FLUSH_SECONDS = 5.0
NAMESPACE = "AWS/SageMaker"
SAGEMAKER = "sagemaker.amazonaws.com"


@dataclass
class _VariantMetrics:
    invocations: int = 0
    errors_4xx: int = 0
    errors_5xx: int = 0
    latencies_us: list[float] = field(default_factory=list)


def capture_key(prefix: str, endpoint: str, variant: str, at: dt.datetime) -> str:
    """The object key SageMaker gives a capture file."""
    stamp = at.strftime("%Y/%m/%d/%H")
    name = f"{at.strftime('%M-%S-%f')[:-3]}-{uuid.uuid4()}.jsonl"
    return "/".join(p for p in (prefix.strip("/"), endpoint, variant, stamp, name) if p)


def capture_record(
    request: bytes, request_type: str, response: bytes, response_type: str, at: dt.datetime
) -> dict[str, Any]:
    """One invocation in SageMaker's data-capture format."""

    def part(mode: str, body: bytes, content_type: str) -> dict[str, str]:
        return {
            "observedContentType": content_type,
            "mode": mode,
            "data": base64.b64encode(body).decode(),
            "encoding": "BASE64",
        }

    return {
        "captureData": {
            "endpointInput": part("INPUT", request, request_type),
            "endpointOutput": part("OUTPUT", response, response_type),
        },
        "eventMetadata": {
            "eventId": str(uuid.uuid4()),
            "inferenceTime": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        },
        "eventVersion": "0",
    }


class InvocationRecords:
    """Collects invocations and flushes their metrics and captures (see the module docstring)."""

    def __init__(self, platform: Platform) -> None:
        self.platform = platform
        self._lock = threading.Lock()
        self._metrics: dict[tuple[str, str, str], _VariantMetrics] = {}
        #: (region, role, bucket, prefix, endpoint, variant) → capture records
        self._captures: dict[tuple[str, str, str, str, str, str], list[dict]] = {}
        self._wake = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._loop, name="invocations", daemon=True)
            self._thread.start()

    def record(
        self,
        *,
        region: str,
        role: str,
        endpoint: str,
        variant: str,
        status: int,
        latency_us: float,
        capture: dict[str, Any] | None,
        request: tuple[bytes, str],
        response: tuple[bytes, str],
    ) -> None:
        """One invocation: ``status`` is the model's HTTP status, ``capture`` the serving
        configuration's ``DataCaptureConfig`` (or None)."""
        with self._lock:
            metrics = self._metrics.setdefault((region, endpoint, variant), _VariantMetrics())
            metrics.invocations += 1
            metrics.errors_4xx += 400 <= status < 500
            metrics.errors_5xx += status >= 500
            metrics.latencies_us.append(latency_us)
            target = capture_target(capture, status)
            if target is not None:
                bucket, prefix = target
                record = capture_record(*request, *response, dt.datetime.now(dt.UTC))
                key = (region, role, bucket, prefix, endpoint, variant)
                self._captures.setdefault(key, []).append(record)
        self.start()

    def _loop(self) -> None:
        while True:
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            try:
                self.flush()
            except Exception:  # the next round tries again; the emulator keeps serving
                log.exception("publishing endpoint metrics or captures failed")

    def flush(self) -> None:
        with self._lock:
            metrics, self._metrics = self._metrics, {}
            captures, self._captures = self._captures, {}
        now = dt.datetime.now(dt.UTC)
        for (region, endpoint, variant), values in metrics.items():
            # SageMaker publishes its endpoint metrics itself
            cloudwatch = self.platform.client("cloudwatch", region, as_service=SAGEMAKER)
            cloudwatch.put_metric_data(
                Namespace=NAMESPACE, MetricData=metric_data(endpoint, variant, values, now)
            )
        for (region, role, bucket, prefix, endpoint, variant), records in captures.items():
            body = "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in records)
            # captured data is written with the endpoint's execution role (its policy must
            # allow s3:PutObject on the destination)
            try:
                s3 = self.platform.client("s3", region, role=(role, SAGEMAKER, "SageMaker"))
                s3.put_object(
                    Bucket=bucket,
                    Key=capture_key(prefix, endpoint, variant, now),
                    Body=body.encode(),
                    ContentType="application/jsonlines",
                )
            except Exception:  # one endpoint's capture failing loses only its own records
                log.exception("data capture of %s/%s to s3://%s failed", endpoint, variant, bucket)


def capture_target(capture: dict[str, Any] | None, status: int) -> tuple[str, str] | None:
    """(bucket, prefix) when this invocation is captured (enabled, answered, sampled in)."""
    if not capture or not capture.get("EnableCapture", True) or status != 200:
        return None
    if random.uniform(0, 100) >= float(capture.get("InitialSamplingPercentage", 100)):
        return None
    destination = capture.get("DestinationS3Uri", "")
    if not destination.startswith("s3://"):
        return None
    bucket, _, prefix = destination[len("s3://") :].partition("/")
    return bucket, prefix


def metric_data(
    endpoint: str, variant: str, values: _VariantMetrics, at: dt.datetime
) -> list[dict[str, Any]]:
    dimensions = [
        {"Name": "EndpointName", "Value": endpoint},
        {"Name": "VariantName", "Value": variant},
    ]

    def count(name: str, value: int) -> dict[str, Any]:
        return {
            "MetricName": name,
            "Dimensions": dimensions,
            "Timestamp": at,
            "Value": float(value),
            "Unit": "Count",
        }

    data = [
        count("Invocations", values.invocations),
        count("Invocation4XXErrors", values.errors_4xx),
        count("Invocation5XXErrors", values.errors_5xx),
    ]
    if values.latencies_us:
        latencies = values.latencies_us
        data.append(
            {
                "MetricName": "ModelLatency",
                "Dimensions": dimensions,
                "Timestamp": at,
                "StatisticValues": {
                    "SampleCount": float(len(latencies)),
                    "Sum": float(sum(latencies)),
                    "Minimum": float(min(latencies)),
                    "Maximum": float(max(latencies)),
                },
                "Unit": "Microseconds",
            }
        )
    return data
