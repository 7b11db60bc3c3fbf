"""Evaluate a model artifact on a labelled test folder → ``evaluation.json``.

``image-mlops train`` runs it as a subprocess, on a laptop: the artifact is evaluated through
its *own* ``code/inference.py`` (``model_fn`` → ``input_fn`` → ``predict_fn``), imported in
this process. The pipeline does not run it: ``train_and_register`` evaluates a model in its
own serving container (a Batch Transform job, ``image_mlops.training.evaluation``), and
both compute the report with ``image_mlops.training.metrics``.

Inputs (arguments win over the environment):

* ``--model`` (``SM_CHANNEL_MODEL``): ``model.tar.gz`` or an extracted artifact folder;
* ``--test`` (``SM_CHANNEL_TEST``): one sub-folder per class;
* ``--output`` (``SM_OUTPUT_DATA_DIR``/evaluation.json): where to write the report.

``evaluation.json`` carries both SageMaker's model-quality shape (so ``ModelMetrics`` can
point at it) and flat keys for the pipeline::

    {"multiclass_classification_metrics": {
        "accuracy": {"value": 0.97, "standard_deviation": "NaN"},
        "weighted_f1": {...}, "macro_f1": {...},
        "confusion_matrix": {"<true>": {"<predicted>": n, ...}, ...}},
     "accuracy": 0.97, "macro_f1": 0.97, "n_test": 90, "n_errors": 0,
     "labels": ["book", ...],
     "per_class": {"mug": {"precision": .., "recall": .., "f1": .., "true_positives": n,
                           "support": n}, ...},
     "confusion_matrix": [[...], ...]   # rows: true label, columns: predicted, order = labels
    }
"""

from __future__ import annotations

import argparse
import base64
import importlib.util
import json
import os
import sys
import tarfile
import tempfile
from pathlib import Path

from image_mlops.training.metrics import classification_report

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}
BATCH = 64


def load_handlers(model_dir: Path):
    """Import the artifact's own ``code/inference.py`` under a private module name."""
    code = model_dir / "code"
    spec = importlib.util.spec_from_file_location(
        f"artifact_inference_{abs(hash(str(model_dir)))}", code / "inference.py"
    )
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(code))
    try:
        sys.modules.pop("features", None)  # the artifact's own features.py
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(code))
    return module


def extract_artifact(model: Path, into: Path) -> Path:
    if model.is_dir():
        return model
    with tarfile.open(model, "r:gz") as tar:
        tar.extractall(into, filter="data")
    return into


def list_images(root: Path) -> list[tuple[Path, str]]:
    items = []
    for folder in sorted(p for p in root.iterdir() if p.is_dir()):
        for path in sorted(folder.rglob("*")):
            if path.is_file() and path.suffix.lower() in IMAGE_SUFFIXES:
                items.append((path, folder.name))
    return items


def predict_files(handlers, model, paths: list[Path]) -> list[dict]:
    out: list[dict] = []
    for start in range(0, len(paths), BATCH):
        chunk = paths[start : start + BATCH]
        body = json.dumps(
            {"instances": [{"b64": base64.b64encode(p.read_bytes()).decode()} for p in chunk]}
        ).encode()
        out.extend(handlers.predict_fn(handlers.input_fn(body, "application/json"), model))
    return out


def evaluate(model_path: Path, test_dir: Path) -> dict:
    with tempfile.TemporaryDirectory(prefix="evaluate-") as tmp:
        model_dir = extract_artifact(Path(model_path), Path(tmp))
        handlers = load_handlers(model_dir)
        model = handlers.model_fn(str(model_dir))
        items = list_images(Path(test_dir))
        predictions = predict_files(handlers, model, [p for p, _ in items])
    true = [label for _, label in items]
    classes = list(model["classes"]) if isinstance(model, dict) and "classes" in model else []
    labels = classes + sorted({t for t in true} - set(classes))
    report = classification_report(true, [p["label"] for p in predictions], labels)
    report["model_classes"] = classes
    return report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="evaluate a model artifact on a test folder")
    parser.add_argument("--model", default=os.environ.get("SM_CHANNEL_MODEL"))
    parser.add_argument("--test", default=os.environ.get("SM_CHANNEL_TEST"))
    parser.add_argument("--output")
    args = parser.parse_args(argv)
    if not args.model or not args.test:
        parser.error("need --model (or SM_CHANNEL_MODEL) and --test (or SM_CHANNEL_TEST)")
    model = Path(args.model)
    if model.is_dir() and not (model / "code").is_dir():
        tars = sorted(model.glob("*.tar.gz"))  # a SageMaker channel holding model.tar.gz
        model = tars[0] if tars else model
    report = evaluate(model, Path(args.test))
    output = args.output or os.path.join(
        os.environ.get("SM_OUTPUT_DATA_DIR", "."), "evaluation.json"
    )
    Path(output).parent.mkdir(parents=True, exist_ok=True)
    Path(output).write_text(json.dumps(report, indent=2, sort_keys=True))
    print(json.dumps({k: report[k] for k in ("accuracy", "macro_f1", "n_test", "n_errors")}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
