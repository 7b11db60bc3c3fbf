"""The S3 layout of ARCHITECTURE.md ("Data contracts") as functions: one place builds keys.

raw:        s3://RAW/labeled/<class>/<name>, s3://RAW/incoming/<name>
errors:     s3://RAW/errors/<run>/<name>, s3://RAW/errors/<run>/_reasons.jsonl
validated:  s3://VALIDATED/labeled/<class>/<name>, s3://VALIDATED/incoming/<name>
models:     s3://MODELS/<group>/<version>/model.tar.gz, evaluation.json
outputs:    s3://OUTPUT/predictions/<class>/<name>, predictions/_uncertain/<name>,
            s3://OUTPUT/predictions/_manifests/<run>.jsonl
feedback:   s3://RAW/feedback/*.csv
catalogue:  s3://RAW/catalog/<run>/products.jsonl
"""

from __future__ import annotations

import posixpath
import re
import unicodedata

LABELED_PREFIX = "labeled/"
INCOMING_PREFIX = "incoming/"
ERRORS_PREFIX = "errors/"
FEEDBACK_PREFIX = "feedback/"
CATALOG_PREFIX = "catalog/"
PREDICTIONS_PREFIX = "predictions/"
UNCERTAIN_CLASS = "_uncertain"
MANIFESTS_PREFIX = PREDICTIONS_PREFIX + "_manifests/"
REASONS_FILE = "_reasons.jsonl"
MODEL_ARTIFACT = "model.tar.gz"
EVALUATION_FILE = "evaluation.json"

_UNSAFE_RUN_CHARS = re.compile(r"[^A-Za-z0-9._-]+")


class UnsafeKeyError(ValueError):
    """A key that cannot be mapped into our layout without escaping its prefix."""


def run_slug(run_id: str) -> str:
    """A run id made safe as one key segment (``manual__2026-11-27T10:00:00+00:00`` → ...)."""
    slug = _UNSAFE_RUN_CHARS.sub("_", run_id).strip("._")
    return slug or "run"


def relative_key(key: str) -> str:
    """Normalise an object key's path under its area, refusing anything that escapes it.

    Leading slashes and ``.`` segments are dropped, unicode is NFC-normalised, spaces are kept;
    a ``..`` segment that would climb out of the area raises :class:`UnsafeKeyError`.
    """
    key = unicodedata.normalize("NFC", key)
    parts: list[str] = []
    for part in key.split("/"):
        if part in ("", "."):
            continue
        if part == "..":
            if not parts:
                raise UnsafeKeyError(f"key {key!r} climbs out of its folder")
            parts.pop()
            continue
        parts.append(part)
    if not parts:
        raise UnsafeKeyError(f"key {key!r} has no file name")
    return "/".join(parts)


def error_key(run_id: str, raw_key: str) -> str:
    """Where a quarantined original goes: ``errors/<run>/<raw key>`` (raw prefix kept)."""
    return f"{ERRORS_PREFIX}{run_slug(run_id)}/{raw_key.lstrip('/')}"


def reasons_key(run_id: str) -> str:
    return f"{ERRORS_PREFIX}{run_slug(run_id)}/{REASONS_FILE}"


def model_prefix(group: str, version: int | str) -> str:
    return f"{group}/{version}/"


def model_artifact_key(group: str, version: int | str) -> str:
    return model_prefix(group, version) + MODEL_ARTIFACT


def evaluation_key(group: str, version: int | str) -> str:
    return model_prefix(group, version) + EVALUATION_FILE


def prediction_key(predicted_class: str, name: str) -> str:
    return f"{PREDICTIONS_PREFIX}{predicted_class}/{posixpath.basename(name)}"


def uncertain_key(name: str) -> str:
    return prediction_key(UNCERTAIN_CLASS, name)


def manifest_key(run_id: str) -> str:
    return f"{MANIFESTS_PREFIX}{run_slug(run_id)}.jsonl"


def catalog_manifest_key(run_id: str) -> str:
    return f"{CATALOG_PREFIX}{run_slug(run_id)}/products.jsonl"


def label_of(labeled_key: str) -> str:
    """The class of ``labeled/<class>/<name>``."""
    parts = labeled_key.split("/")
    if len(parts) < 3 or parts[0] + "/" != LABELED_PREFIX:
        raise ValueError(f"{labeled_key!r} is not under {LABELED_PREFIX}<class>/")
    return parts[1]
