"""The S3 layout of ARCHITECTURE.md ("Data contracts") as functions: one place builds keys.

raw:        s3://RAW/labeled/<class>/<name>, s3://RAW/incoming/<name>
errors:     s3://RAW/errors/<run>/<name>, s3://RAW/errors/<run>/_reasons.jsonl
validated:  s3://VALIDATED/labeled/<class>/<name>, s3://VALIDATED/incoming/<name>
models:     s3://MODELS/<group>/<version>/model.tar.gz, evaluation.json
outputs:    s3://OUTPUT/predictions/<class>/<path under incoming/>, predictions/_uncertain/<path>
            (the relative path is kept: two images never share an output key),
            s3://OUTPUT/predictions/_manifests/<run>.jsonl
feedback:   s3://RAW/feedback/*.csv
catalogue:  s3://RAW/catalog/<run>/products.jsonl, catalog/<run>/chunks|results/part-<n>.jsonl,
            s3://RAW/catalog/texts/product-<id>.txt (description for the classifier),
            s3://RAW/incoming/product-<id>.<ext> (main image), s3://RAW/catalog-media/ (demo)
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
CATALOG_TEXTS_PREFIX = CATALOG_PREFIX + "texts/"
CATALOG_MEDIA_PREFIX = "catalog-media/"
PREDICTIONS_PREFIX = "predictions/"
UNCERTAIN_CLASS = "_uncertain"
MANIFESTS_PREFIX = PREDICTIONS_PREFIX + "_manifests/"
#: SageMaker data capture of the endpoints (output bucket): <endpoint>/<variant>/yyyy/mm/dd/hh/
DATA_CAPTURE_PREFIX = "data-capture/"
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


#: S3's limit on an object key, in UTF-8 bytes.
MAX_KEY_BYTES = 1024
LONG_KEYS_SEGMENT = "_long-keys/"


def hashed_path(path: str) -> str:
    """A stand-in for a path too long for a key: ``_long-keys/<sha256 of path><ext>``."""
    import hashlib

    extension = posixpath.splitext(path)[1][:16]
    return f"{LONG_KEYS_SEGMENT}{hashlib.sha256(path.encode()).hexdigest()}{extension}"


def _fitting(prefix: str, path: str) -> str:
    """``prefix + path``, or ``prefix`` + :func:`hashed_path` when that exceeds S3's limit."""
    key = prefix + path
    return key if len(key.encode()) <= MAX_KEY_BYTES else prefix + hashed_path(path)


def error_key(run_id: str, raw_key: str) -> str:
    """Where a quarantined original goes: ``errors/<run>/<raw key>`` (raw prefix kept).

    A raw key too long for that (S3 allows 1,024 bytes) goes to ``errors/<run>/_long-keys/
    <sha256 of the key><ext>``; ``_reasons.jsonl`` names the original key.
    """
    return _fitting(f"{ERRORS_PREFIX}{run_slug(run_id)}/", raw_key.lstrip("/"))


def reasons_key(run_id: str) -> str:
    return f"{ERRORS_PREFIX}{run_slug(run_id)}/{REASONS_FILE}"


def model_prefix(group: str, version: int | str) -> str:
    return f"{group}/{version}/"


def model_artifact_key(group: str, version: int | str) -> str:
    return model_prefix(group, version) + MODEL_ARTIFACT


def evaluation_key(group: str, version: int | str) -> str:
    return model_prefix(group, version) + EVALUATION_FILE


def incoming_path(source_key: str) -> str:
    """An image's path below ``incoming/`` (``incoming/shopA/1.jpg`` → ``shopA/1.jpg``).

    This relative path is the image's identity in the output bucket: two images of one
    basename in different folders get different output keys.
    """
    rel = relative_key(source_key)
    return rel.removeprefix(INCOMING_PREFIX) or rel


def prediction_key(predicted_class: str, source_key: str) -> str:
    """``predictions/<class>/<path under incoming/>`` of a validated image (a path too long
    for S3 beside its class folder: ``predictions/<class>/_long-keys/<sha256><ext>``)."""
    return _fitting(f"{PREDICTIONS_PREFIX}{predicted_class}/", incoming_path(source_key))


def placement_paths(source_key: str) -> set[str]:
    """The paths an image may have below any class folder (its own, or its hashed form)."""
    path = incoming_path(source_key)
    return {path, hashed_path(path)}


def uncertain_key(source_key: str) -> str:
    return prediction_key(UNCERTAIN_CLASS, source_key)


def placed_path(output_key: str) -> str | None:
    """The image path of ``predictions/<class>/<path>`` (``None`` for any other key)."""
    if not output_key.startswith(PREDICTIONS_PREFIX):
        return None
    _folder, sep, path = output_key.removeprefix(PREDICTIONS_PREFIX).partition("/")
    return path if sep and path else None


def manifest_key(run_id: str) -> str:
    return f"{MANIFESTS_PREFIX}{run_slug(run_id)}.jsonl"


def catalog_manifest_key(run_id: str) -> str:
    return f"{CATALOG_PREFIX}{run_slug(run_id)}/products.jsonl"


def catalog_chunk_key(run_id: str, index: int) -> str:
    """Products of one download batch, as extracted: ``catalog/<run>/chunks/part-<n>.jsonl``."""
    return f"{CATALOG_PREFIX}{run_slug(run_id)}/chunks/part-{index:05d}.jsonl"


def catalog_result_key(run_id: str, index: int) -> str:
    """The same batch with download outcomes: ``catalog/<run>/results/part-<n>.jsonl``."""
    return f"{CATALOG_PREFIX}{run_slug(run_id)}/results/part-{index:05d}.jsonl"


def catalog_text_key(product_id: int) -> str:
    """A product's description for the classifier (outside ``incoming/``, which is validated)."""
    return f"{CATALOG_TEXTS_PREFIX}product-{int(product_id)}.txt"


def catalog_image_key(product_id: int, extension: str) -> str:
    """Where a product's main image lands for validation: ``incoming/product-<id>.<ext>``."""
    return f"{INCOMING_PREFIX}product-{int(product_id)}.{extension}"


def catalog_media_key(name: str) -> str:
    """Demo product pictures the sample catalogue's URLs point at (never validated)."""
    return f"{CATALOG_MEDIA_PREFIX}{posixpath.basename(name)}"


def label_of(labeled_key: str) -> str:
    """The class of ``labeled/<class>/<name>``."""
    parts = labeled_key.split("/")
    if len(parts) < 3 or parts[0] + "/" != LABELED_PREFIX:
        raise ValueError(f"{labeled_key!r} is not under {LABELED_PREFIX}<class>/")
    return parts[1]


# --- classification work area (output bucket; not under predictions/, so class folders stay
# --- clean): batch manifests, per-batch results, Batch Transform input/output -------------------
WORK_PREFIX = "_work/"


def published_marker_key(kind: str, run_id: str) -> str:
    """Marker of one run's CloudWatch publication (``kind``: validation, monitoring)."""
    return f"{WORK_PREFIX}published/{kind}/{run_slug(run_id)}"


def classify_work_prefix(run_id: str) -> str:
    return f"{WORK_PREFIX}classify/{run_slug(run_id)}/"


def classify_batch_key(run_id: str, index: int) -> str:
    """The manifest of one classification batch (JSON list of images)."""
    return f"{classify_work_prefix(run_id)}batches/batch-{index:05d}.json"


def classify_results_key(run_id: str, index: int) -> str:
    """One batch's results (JSON lines), concatenated into the run manifest at the end."""
    return f"{classify_work_prefix(run_id)}results/batch-{index:05d}.jsonl"


def transform_input_key(run_id: str, index: int) -> str:
    """Batch Transform input of one batch: JSON lines of ``{"instances": [...]}`` requests."""
    return f"{classify_work_prefix(run_id)}transform-in/batch-{index:05d}.jsonl"


def transform_output_prefix(run_id: str) -> str:
    """Batch Transform writes ``<input name>.out`` here."""
    return f"{classify_work_prefix(run_id)}transform-out/"


# --- validation (stage 1) -----------------------------------------------------------------
RUNS_PREFIX = "_runs/"
CLAIMS_PREFIX = "_claims/"
INDEX_PREFIX = "_index/sha256/"
RAW_AREAS = (LABELED_PREFIX, INCOMING_PREFIX)


def validated_key(raw_key: str) -> str:
    """``labeled/<class>/<name>`` or ``incoming/<name>`` of the validated bucket for a raw key.

    Normalised with :func:`relative_key`; raises :class:`UnsafeKeyError` when the key leaves
    its area (``incoming/../labeled/x``), has no class folder, or is not in a raw area.
    """
    rel = relative_key(raw_key)
    first = next(
        (p for p in unicodedata.normalize("NFC", raw_key).split("/") if p not in ("", ".")), ""
    )
    area, _, rest = rel.partition("/")
    if area + "/" not in RAW_AREAS or first != area or not rest:
        raise UnsafeKeyError(f"key {raw_key!r} is not under labeled/<class>/ or incoming/")
    if area + "/" == LABELED_PREFIX and "/" not in rest:
        raise UnsafeKeyError(f"labelled key {raw_key!r} has no <class>/ folder")
    return rel


def run_manifest_key(run_id: str, batch: int) -> str:
    """The list of raw keys of one validation batch: ``_runs/<run>/batch-0001.json``."""
    return f"{RUNS_PREFIX}{run_slug(run_id)}/batch-{batch:04d}.json"


def run_result_key(manifest: str) -> str:
    """The outcome of a batch, beside its manifest: ``...batch-0001.result.json``."""
    return manifest.removesuffix(".json") + ".result.json"


def run_reasons_part_key(manifest: str) -> str:
    """The reasons records of one batch (merged into ``errors/<run>/_reasons.jsonl``)."""
    return manifest.removesuffix(".json") + ".reasons.jsonl"


def claim_key(raw_key: str, etag: str) -> str:
    """Claim marker of one raw object version (validation in progress)."""
    import hashlib

    digest = hashlib.sha256(f"{raw_key}\n{etag.strip(chr(34))}".encode()).hexdigest()
    return f"{CLAIMS_PREFIX}{digest}"


def content_index_key(sha256: str) -> str:
    """Content-index marker in the validated bucket: value = the validated key."""
    return f"{INDEX_PREFIX}{sha256}"


MONITORING_REPORTS_PREFIX = "monitoring/reports/"


def monitoring_report_key(run_id: str) -> str:
    """The per-run monitoring report in the output bucket: ``monitoring/reports/<run>.html``."""
    return f"{MONITORING_REPORTS_PREFIX}{run_slug(run_id)}.html"


# --- training (room: train, evaluate, register) ------------------------------------------------
BASELINE_FILE = "baseline.json"
DATASETS_SEGMENT = "datasets"
CANDIDATES_SEGMENT = "candidates"
#: what SageMaker writes (training output): the only folder of the models bucket its role may write
JOBS_SEGMENT = "_jobs"


def baseline_key(group: str, version: int | str) -> str:
    return model_prefix(group, version) + BASELINE_FILE


def dataset_manifest_key(group: str, fingerprint: str) -> str:
    """``<group>/datasets/<fingerprint>/manifest.json``: one snapshot of validated/labeled/."""
    return f"{group}/{DATASETS_SEGMENT}/{fingerprint}/manifest.json"


def candidate_prefix(group: str, run_id: str) -> str:
    """Where one training run writes its artifact before the gate: ``<group>/candidates/<run>/``."""
    return f"{group}/{CANDIDATES_SEGMENT}/{run_slug(run_id)}/"


def job_output_prefix(group: str, run_id: str) -> str:
    """Where one run's training jobs write (``<group>/_jobs/<run>/``, then ``<job>/output/``).

    Apart from the candidates: the SageMaker execution role may write here and nowhere else in
    the models bucket (the template's ``WriteJobOutputAndCaptures``); the worker copies the
    artifact into the run's candidate folder.
    """
    return f"{group}/{JOBS_SEGMENT}/{run_slug(run_id)}/"
