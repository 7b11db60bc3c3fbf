"""Put the demo's files where the pipeline expects them (raw bucket), plus a few bad ones."""

from __future__ import annotations

import io
from pathlib import Path

from image_mlops import s3layout
from image_mlops.aws import aws_client
from image_mlops.config import Settings


def bad_inputs(good_jpeg: bytes) -> dict[str, bytes]:
    """A handful of files validation must quarantine, each for a different reason."""
    from PIL import Image

    tiny = io.BytesIO()
    Image.new("RGB", (8, 8), "red").save(tiny, "PNG")
    return {
        "demo-empty.jpg": b"",
        "demo-truncated.jpg": good_jpeg[: len(good_jpeg) // 2],
        "demo-notes.jpg": b"These are shipping notes, not a photo.\n" * 20,
        "demo-thumbnail.png": tiny.getvalue(),
        "demo-copy-of-a-product.jpg": good_jpeg,  # exact duplicate of an incoming image
    }


def upload_bad_inputs(settings: Settings, good_jpeg: bytes) -> list[str]:
    s3 = aws_client("s3", settings)
    keys = []
    for name, body in bad_inputs(good_jpeg).items():
        key = s3layout.INCOMING_PREFIX + name
        s3.put_object(Bucket=settings.raw_bucket, Key=key, Body=body)
        keys.append(key)
    return keys


def upload_feedback(settings: Settings, csv_path: Path, name: str) -> str:
    key = s3layout.FEEDBACK_PREFIX + name
    aws_client("s3", settings).upload_file(str(csv_path), settings.raw_bucket, key)
    return key
