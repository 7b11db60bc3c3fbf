"""``image-mlops train | evaluate | predict``: the training scripts and artifact, on a laptop.

Same ``image_mlops/include/scripts/`` and the same ``model.tar.gz`` as the
``train_and_register`` DAG.
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
from pathlib import Path

from image_mlops.commands import CommandError


def register(subparsers: argparse._SubParsersAction) -> None:
    train = subparsers.add_parser("train", help="train on DIR/<class>/ images → model.tar.gz")
    train.add_argument("--data", type=Path, required=True, help="one sub-folder per class")
    train.add_argument("--out", type=Path, default=Path("model.tar.gz"))
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--C", dest="c", type=float, default=0.01)
    train.set_defaults(func=run_train)

    evaluate = subparsers.add_parser("evaluate", help="metrics of a model.tar.gz on DIR/<class>/")
    evaluate.add_argument("--model", type=Path, required=True)
    evaluate.add_argument("--data", type=Path, required=True)
    evaluate.set_defaults(func=run_evaluate)

    predict = subparsers.add_parser("predict", help="classify image files (one JSON line each)")
    predict.add_argument("--model", type=Path, required=True)
    predict.add_argument("paths", type=Path, nargs="+")
    predict.set_defaults(func=run_predict)


def _check_dir(path: Path) -> None:
    if not path.is_dir() or not any(p.is_dir() for p in path.iterdir()):
        raise CommandError(f"{path} must be a folder with one sub-folder per class", 2)


def run_train(args: argparse.Namespace) -> int:
    from image_mlops.training import artifact, dataset

    _check_dir(args.data)
    with tempfile.TemporaryDirectory(prefix="image-mlops-train-") as tmp:
        root = Path(tmp)
        items = []
        for path in sorted(args.data.glob("*/*")):
            if path.is_file():
                items.append(
                    {
                        "key": str(path),
                        "label": path.parent.name,
                        "sha256": artifact.sha256_file(path),
                    }
                )
        manifest = dataset.build_manifest(items, bucket="", seed=args.seed)
        for item in manifest["items"]:
            target = root / item["split"] / item["label"] / Path(item["key"]).name
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(item["key"], target)
        try:
            artifact.train_local(
                root / "train",
                root / "model",
                validation_dir=root / "validation" if (root / "validation").exists() else None,
                hyperparameters={"seed": args.seed, "C": args.c},
            )
            sha = artifact.pack(root / "model", args.out)
            report = (
                artifact.evaluate_local(args.out, root / "test", root / "evaluation.json")
                if (root / "test").exists()
                else {}
            )
        except artifact.ScriptError as exc:
            raise CommandError(str(exc)) from exc
    summary = {
        "model": str(args.out),
        "sha256": sha,
        "fingerprint": manifest["fingerprint"],
        "split": manifest["counts"],
    }
    summary.update({k: report[k] for k in ("accuracy", "macro_f1", "n_test") if k in report})
    print(json.dumps(summary))
    return 0


def run_evaluate(args: argparse.Namespace) -> int:
    from image_mlops.training import artifact

    _check_dir(args.data)
    if not args.model.exists():
        raise CommandError(f"{args.model} does not exist", 2)
    with tempfile.TemporaryDirectory() as tmp:
        report = artifact.evaluate_local(args.model, args.data, Path(tmp) / "evaluation.json")
    print(json.dumps(report, indent=2))
    return 0


def run_predict(args: argparse.Namespace) -> int:
    import sys

    from image_mlops.training import artifact

    if not args.model.exists():
        raise CommandError(f"{args.model} does not exist", 2)
    sys.path.insert(0, str(artifact.SCRIPTS_DIR))
    import evaluate as evaluate_script  # include/scripts/evaluate.py: loads the artifact's code

    failures = 0
    with tempfile.TemporaryDirectory() as tmp:
        model_dir = artifact.unpack(args.model, Path(tmp))
        handlers = evaluate_script.load_handlers(model_dir)
        model = handlers.model_fn(str(model_dir))
        for path in args.paths:
            try:
                data = path.read_bytes()
            except OSError as exc:
                result = {"label": None, "confidence": None, "error": str(exc)}
            else:
                result = handlers.predict_fn(handlers.input_fn(data, "image/jpeg"), model)[0]
            failures += result["error"] is not None
            print(
                json.dumps(
                    {
                        "path": str(path),
                        "class": result["label"],
                        "confidence": result["confidence"],
                        "error": result["error"],
                    }
                )
            )
    return 1 if failures else 0
