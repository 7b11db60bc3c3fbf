"""include/scripts: determinism with a seed, the inference contract, the gate, the split."""

from __future__ import annotations

import base64
import hashlib
import json
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    from image_mlops_dev.demo_data import generate

    out = tmp_path_factory.mktemp("demo")
    counts = generate(out, per_class=12, incoming=6, seed=5)
    return out, counts


@pytest.fixture(scope="module")
def artifact_path(demo, tmp_path_factory):
    from image_mlops.training import artifact

    tmp = tmp_path_factory.mktemp("model")
    artifact.train_local(demo[0] / "labeled", tmp / "m1", hyperparameters={"seed": 1})
    return tmp / "m1"


def test_demo_data_is_deterministic(demo, tmp_path):
    from image_mlops_dev.demo_data import generate

    out, counts = demo
    again = generate(tmp_path, per_class=12, incoming=6, seed=5)
    assert again["labeled"] == counts["labeled"] == 72

    def digest(root):
        return {
            p.relative_to(root).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(root.rglob("*"))
            if p.is_file()
        }

    assert digest(out) == digest(tmp_path)
    lines = (out / "feedback" / "feedback.csv").read_text().splitlines()
    assert lines[0] == "key,label" and len(lines) == 1 + 3
    assert all((out / line.split(",")[0]).exists() for line in lines[1:])


def test_training_is_deterministic(demo, artifact_path, tmp_path):
    from image_mlops.training import artifact

    artifact.train_local(demo[0] / "labeled", tmp_path / "m2", hyperparameters={"seed": 1})
    sha1 = artifact.pack(artifact_path, tmp_path / "a.tar.gz")
    sha2 = artifact.pack(tmp_path / "m2", tmp_path / "b.tar.gz")
    assert sha1 == sha2
    assert (artifact_path / "code" / "inference.py").exists()
    assert json.loads((artifact_path / "metadata.json").read_text())["classes"] == sorted(
        ["mug", "shirt", "shoe", "lamp", "bottle", "book"]
    )


def _handlers(model_dir):
    sys.path.insert(0, str(ROOT / "plugins/image_mlops/include/scripts"))
    import evaluate

    return evaluate.load_handlers(model_dir)


def test_inference_contract(demo, artifact_path):
    h = _handlers(artifact_path)
    model = h.model_fn(str(artifact_path))
    image = next((demo[0] / "labeled" / "mug").glob("*.jpg")).read_bytes()
    single = json.loads(
        h.output_fn(h.predict_fn(h.input_fn(image, "image/jpeg"), model), "application/json")
    )
    [p] = single["predictions"]
    assert p["error"] is None and p["label"] in model["classes"]
    assert 0 < p["confidence"] <= 1 and len(p["top_k"]) == 3
    assert p["top_k"][0] == {"label": p["label"], "score": p["confidence"]}

    body = json.dumps(
        {
            "instances": [
                {"b64": base64.b64encode(image).decode()},
                {"b64": base64.b64encode(b"not an image").decode()},
                {"nothing": 1},
                {"b64": base64.b64encode(image).decode()},
            ]
        }
    ).encode()
    batch = json.loads(h.output_fn(h.predict_fn(h.input_fn(body, "application/json"), model)))
    preds = batch["predictions"]
    assert len(preds) == 4
    assert preds[0] == preds[3] == p
    for bad in preds[1:3]:
        assert bad["label"] is None and bad["confidence"] is None and bad["error"]
    with pytest.raises(ValueError):
        h.input_fn(b"x", "text/csv")


def test_evaluation_report_format(demo, artifact_path, tmp_path):
    from image_mlops.training import artifact

    report = artifact.evaluate_local(artifact_path, demo[0] / "labeled", tmp_path / "e.json")
    assert report["n_test"] == 72
    mcm = report["multiclass_classification_metrics"]
    assert mcm["accuracy"]["value"] == report["accuracy"]
    assert sum(map(sum, report["confusion_matrix"])) == 72
    for label, row in zip(report["labels"], report["confusion_matrix"], strict=True):
        assert report["per_class"][label]["true_positives"] == row[report["labels"].index(label)]
        assert report["per_class"][label]["support"] == sum(row)


def test_split_is_stratified_and_deterministic():
    from image_mlops.training.dataset import assign_splits, fingerprint

    items = [
        {"key": f"labeled/{c}/{i}.jpg", "label": c, "sha256": f"{c}{i}"}
        for c in ("a", "b")
        for i in range(20)
    ]
    one, two = assign_splits(items, 0), assign_splits(list(reversed(items)), 0)
    assert one == two
    assert fingerprint(items) == fingerprint(list(reversed(items)))
    for c in ("a", "b"):
        splits = [i["split"] for i in one if i["label"] == c]
        assert splits.count("test") == 3 and splits.count("validation") == 3
    assert assign_splits(items, 1) != one


def test_quality_gate_decisions():
    from image_mlops.training.gate import decide

    ok = decide({"accuracy": 0.9}, None, min_accuracy=0.8, max_regression=0.02)
    assert ok.passed and "no production model" in ok.notes[0]
    low = decide({"accuracy": 0.7}, None, min_accuracy=0.8, max_regression=0.02)
    assert not low.passed and "below the minimum" in low.reasons[0]
    worse = decide({"accuracy": 0.9}, {"accuracy": 0.95}, min_accuracy=0.8, max_regression=0.02)
    assert not worse.passed and "production" in worse.reasons[0]
    close = decide({"accuracy": 0.94}, {"accuracy": 0.95}, min_accuracy=0.8, max_regression=0.02)
    assert close.passed


def test_features_find_the_product_on_a_speckled_background_and_decode_jpeg_drafts():
    import io

    import numpy as np
    from PIL import Image, ImageDraw

    sys.path.insert(0, str(ROOT / "plugins/image_mlops/include/scripts"))
    import features

    image = Image.new("RGB", (640, 480), (220, 220, 210))
    draw = ImageDraw.Draw(image)
    rng = np.random.default_rng(3)
    for x, y in rng.integers(0, 640, size=(60, 2)):  # speckles: not the product
        draw.ellipse((x - 4, y - 4, x + 4, y + 4), fill=(190, 190, 180))
    draw.rectangle((320, 120, 479, 359), fill=(40, 60, 160))  # the product
    (x0, y0, x1, y1), mask = features.object_box(image)
    assert abs(x0 - 0.5) < 0.03 and abs(x1 - 0.75) < 0.03
    assert abs(y0 - 0.25) < 0.03 and abs(y1 - 0.75) < 0.03
    assert 0.08 < mask.mean() < 0.14  # the rectangle is 1/8 of the picture, speckles are gone

    data = io.BytesIO()
    image.resize((800, 600)).save(data, "JPEG", quality=90)
    decoded = features.decode(data.getvalue())
    assert decoded.mode == "RGB"
    assert decoded.size == (400, 300)  # libjpeg scaled by 1/2 while decoding, sides >= 256
    assert min(decoded.size) >= features.DRAFT_SIDE
    vector = features.extract(decoded)
    assert vector.dtype == np.float32 and np.isfinite(vector).all()
