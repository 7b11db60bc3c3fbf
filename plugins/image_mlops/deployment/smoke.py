"""Smoke test of an endpoint through its real invocation path with a labelled held-out sample.

The sample is ``settings.smoke_sample_size`` images under ``validated/labeled/<class>/`` of
the validated bucket, chosen deterministically (by a hash of the key, spread over classes),
each sent as one request with its own content type. The test passes when no invocation
errored and accuracy ≥ registered accuracy − ``settings.smoke_tolerance``; p50/p95 latency
per request are recorded either way.
"""

from __future__ import annotations

import hashlib
import json
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from image_mlops import s3layout
from image_mlops.config import Settings

CONTENT_TYPES = {".jpg": "image/jpeg", ".jpeg": "image/jpeg", ".png": "image/png"}


class SmokeTestFailed(RuntimeError):
    def __init__(self, result: SmokeResult) -> None:
        super().__init__(result.reason)
        self.result = result


@dataclass
class SmokeResult:
    endpoint_name: str
    samples: int
    correct: int
    errors: int
    accuracy: float
    required_accuracy: float
    latency_p50_ms: float
    latency_p95_ms: float
    passed: bool
    reason: str = ""
    examples: list[str] = field(default_factory=list)  # a few failing keys, for the log

    def summary(self) -> dict[str, Any]:
        return asdict(self)


def percentile(values: list[float], q: float) -> float:
    """Nearest-rank percentile (``q`` in 0..100); 0.0 for no values."""
    if not values:
        return 0.0
    ordered = sorted(values)
    rank = max(1, min(len(ordered), -(-len(ordered) * q // 100)))
    return float(ordered[int(rank) - 1])


def choose_sample(keys: list[str], size: int) -> list[str]:
    """Up to ``size`` keys, round-robin over classes, each class ordered by a key hash."""
    by_class: dict[str, list[str]] = {}
    for key in keys:
        if key.rsplit(".", 1)[-1].lower() not in ("jpg", "jpeg", "png"):
            continue
        try:
            by_class.setdefault(s3layout.label_of(key), []).append(key)
        except ValueError:
            continue
    for members in by_class.values():
        members.sort(key=lambda k: hashlib.sha256(k.encode()).hexdigest())
    sample: list[str] = []
    index = 0
    while len(sample) < size and any(index < len(m) for m in by_class.values()):
        for cls in sorted(by_class):
            if index < len(by_class[cls]) and len(sample) < size:
                sample.append(by_class[cls][index])
        index += 1
    return sample


def labelled_sample(settings: Settings) -> list[str]:
    from image_mlops.aws import s3_hook

    keys = s3_hook(settings).list_keys(
        bucket_name=settings.validated_bucket, prefix=s3layout.LABELED_PREFIX
    )
    return choose_sample(keys or [], settings.smoke_sample_size)


def run_smoke_test(
    settings: Settings,
    endpoint_name: str,
    registered_accuracy: float | None,
    runtime=None,
) -> SmokeResult:
    """Send the sample to ``endpoint_name``; returns the result (``passed`` says if it passed)."""
    from image_mlops.aws import s3_hook
    from image_mlops.serving.runtime import get_runtime

    runtime = runtime or get_runtime(settings)
    required = max(0.0, (registered_accuracy or 0.0) - settings.smoke_tolerance)
    keys = labelled_sample(settings)
    if not keys:
        return SmokeResult(
            endpoint_name,
            0,
            0,
            0,
            0.0,
            required,
            0.0,
            0.0,
            False,
            reason=(
                f"no labelled images under s3://{settings.validated_bucket}/"
                f"{s3layout.LABELED_PREFIX} for the smoke test: validate labelled images first"
            ),
        )
    hook = s3_hook(settings)
    latencies: list[float] = []
    correct = errors = 0
    examples: list[str] = []
    for key in keys:
        body = hook.get_key(key, settings.validated_bucket).get()["Body"].read()
        content_type = CONTENT_TYPES.get("." + key.rsplit(".", 1)[-1].lower(), "image/jpeg")
        start = time.perf_counter()
        try:
            answer = json.loads(runtime.invoke(endpoint_name, body, content_type))
            prediction = answer["predictions"][0]
        except Exception as exc:
            latencies.append((time.perf_counter() - start) * 1000)
            errors += 1
            if len(examples) < 5:
                examples.append(f"{key}: invocation error {exc!r}"[:300])
            continue
        latencies.append((time.perf_counter() - start) * 1000)
        if prediction.get("error"):
            errors += 1
            if len(examples) < 5:
                examples.append(f"{key}: {prediction['error']}"[:300])
        elif prediction.get("label") == s3layout.label_of(key):
            correct += 1
        elif len(examples) < 5:
            examples.append(f"{key}: predicted {prediction.get('label')}")
    accuracy = correct / len(keys)
    problems = []
    if errors:
        problems.append(f"{errors} of {len(keys)} invocations failed")
    if accuracy < required:
        problems.append(
            f"accuracy {accuracy:.3f} on {len(keys)} held-out images is below "
            f"{required:.3f} (registered {registered_accuracy or 0:.3f} − tolerance "
            f"{settings.smoke_tolerance})"
        )
    return SmokeResult(
        endpoint_name=endpoint_name,
        samples=len(keys),
        correct=correct,
        errors=errors,
        accuracy=round(accuracy, 4),
        required_accuracy=round(required, 4),
        latency_p50_ms=round(percentile(latencies, 50), 3),
        latency_p95_ms=round(percentile(latencies, 95), 3),
        passed=not problems,
        reason="; ".join(problems),
        examples=examples,
    )
