"""`image-mlops train | evaluate | predict`: the data scientist's loop on local folders,
with the same scripts and artifact as the DAG."""

from __future__ import annotations

import json
import tarfile

import pytest

from image_mlops.cli import main
from image_mlops_dev.demo_data import generate


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-data")
    generate(root / "train", per_class=20, incoming=0, seed=3)
    generate(root / "holdout", per_class=8, incoming=6, seed=4)
    return root


def test_train_evaluate_predict(data, tmp_path, capsys):
    model = tmp_path / "model.tar.gz"
    assert main(["train", "--data", str(data / "train" / "labeled"), "--out", str(model)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert summary["model"] == str(model) and len(summary["sha256"]) == 64
    assert summary["accuracy"] >= 0.8 and summary["n_test"] > 0
    with tarfile.open(model) as tar:
        names = tar.getnames()
    assert "code/inference.py" in names and "code/features.py" in names

    assert (
        main(["evaluate", "--model", str(model), "--data", str(data / "holdout" / "labeled")]) == 0
    )
    report = json.loads(capsys.readouterr().out)
    assert report["n_test"] == 6 * 8
    assert report["accuracy"] >= 0.8

    images = sorted((data / "holdout" / "incoming").iterdir())
    assert main(["predict", "--model", str(model), *map(str, images)]) == 0
    lines = [json.loads(line) for line in capsys.readouterr().out.splitlines() if line.strip()]
    assert [line["path"] for line in lines] == [str(p) for p in images]
    assert all(
        line["class"] in report["per_class"] and 0 < line["confidence"] <= 1 for line in lines
    )


def test_train_refuses_a_folder_without_classes(tmp_path, capsys):
    (tmp_path / "a.jpg").write_bytes(b"x")
    assert main(["train", "--data", str(tmp_path), "--out", str(tmp_path / "m.tar.gz")]) != 0
    assert capsys.readouterr().err.strip()
