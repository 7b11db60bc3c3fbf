"""Accuracy of the built-in model on real image sets, next to a raw-pixel baseline.

.venv/bin/python bench/real_images.py [--train-per-class 100]

In the default image's container profile (scikit-learn 1.4.2, numpy 2.1 on Python 3.12, as
SageMaker trains it), the scripts and the baseline run with the image's Python:

PYTHONPATH=plugins "$(.venv/bin/python -m image_mlops_dev.emulator.images --path \
    sklearn-1.4-2-py312)/bin/python" bench/real_images.py

Sets (``image_mlops_dev.real_images``): Fashion-MNIST (product photos; Debian's
``dataset-fashion-mnist``) and scikit-learn's handwritten digits. The built-in model is
trained and evaluated exactly as ``image-mlops train`` / ``image-mlops evaluate`` do
(``include/scripts/train.py`` and ``evaluate.py``); the baseline is a logistic regression on
the 16 x 16 grey pixels of the whole image, fitted in this run on the same images.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))


def _pixels(folder: Path):
    import numpy as np
    from PIL import Image

    rows, labels = [], []
    for path in sorted(folder.rglob("*.png")):
        with Image.open(path) as image:
            grey = image.convert("L").resize((16, 16), Image.Resampling.BILINEAR)
        rows.append(np.asarray(grey, np.float32).ravel() / 255.0)
        labels.append(path.parent.name)
    return np.stack(rows), np.array(labels)


def baseline_accuracy(train: Path, test: Path) -> float:
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    x, y = _pixels(train)
    xt, yt = _pixels(test)
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=0.1, max_iter=3000).fit(scaler.transform(x), y)
    return float((model.predict(scaler.transform(xt)) == yt).mean())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--train-per-class", type=int, default=100, help="Fashion-MNIST")
    args = parser.parse_args()
    from image_mlops.training import artifact
    from image_mlops_dev import real_images

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        sets = [real_images.write_digits(root)]
        if real_images.fashion_available():
            sets.append(real_images.write_fashion(root, train_per_class=args.train_per_class))
        else:
            print("Fashion-MNIST left out: apt-get install dataset-fashion-mnist")
        for folder in sets:
            train, test = folder / "train", folder / "test"
            n_train = sum(1 for _ in train.rglob("*.png"))
            started = time.perf_counter()
            artifact.train_local(train, root / f"{folder.name}-model", hyperparameters={})
            train_s = time.perf_counter() - started
            report = artifact.evaluate_local(
                root / f"{folder.name}-model", test, root / f"{folder.name}.json"
            )
            rows.append(
                (
                    folder.name,
                    n_train,
                    report["n_test"],
                    report["accuracy"],
                    report["macro_f1"],
                    baseline_accuracy(train, test),
                    train_s,
                )
            )
    print(
        f"{'set':<14} {'train':>6} {'test':>5} {'accuracy':>9} {'macro F1':>9} "
        f"{'baseline':>9} {'train s':>8}"
    )
    for name, n_train, n_test, accuracy, f1, baseline, seconds in rows:
        print(
            f"{name:<14} {n_train:>6} {n_test:>5} {accuracy:>9.4f} {f1:>9.4f} "
            f"{baseline:>9.4f} {seconds:>8.1f}"
        )
    print("baseline: logistic regression on the 16 x 16 grey pixels, same images, this run")


if __name__ == "__main__":
    main()
