"""Real (not synthetic) labelled image sets that this machine has offline, as class folders.

* **Fashion-MNIST** (Zalando's product photos: 10 classes of clothes, shoes and bags, 28 px
  grey), from Debian's package ``dataset-fashion-mnist`` (``/usr/share/datasets/fashion-mnist``);
* **handwritten digits** (UCI, 10 classes, 8 px grey), which scikit-learn ships.

Both are small grey images; they are enlarged (nearest neighbour, no new detail) to sizes
validation accepts and written as RGB PNGs, ``<out>/<set>/{train,test}/<class>/<n>.png``.
"""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import numpy as np

FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")
FASHION_CLASSES = (
    "tshirt",
    "trouser",
    "pullover",
    "dress",
    "coat",
    "sandal",
    "shirt",
    "sneaker",
    "bag",
    "boot",
)


def _idx(path: Path) -> np.ndarray:
    """An IDX file (the MNIST format): big-endian dimensions, then unsigned bytes."""
    with gzip.open(path) as handle:
        data = handle.read()
    dims = data[3]
    shape = [int.from_bytes(data[4 + 4 * i : 8 + 4 * i], "big") for i in range(dims)]
    return np.frombuffer(data, np.uint8, offset=4 + 4 * dims).reshape(shape)


def _write(images, labels, names, out: Path, per_class: int, seed: int, scale: int) -> int:
    from PIL import Image

    by_class: dict[int, list[int]] = {}
    for index, label in enumerate(labels):
        by_class.setdefault(int(label), []).append(index)
    rng = random.Random(seed)
    written = 0
    for label, indices in sorted(by_class.items()):
        rng.shuffle(indices)
        folder = out / names[label]
        folder.mkdir(parents=True, exist_ok=True)
        for index in indices[:per_class]:
            pixels = images[index]
            image = Image.fromarray(pixels).convert("RGB")
            size = (pixels.shape[1] * scale, pixels.shape[0] * scale)
            image.resize(size, Image.Resampling.NEAREST).save(folder / f"{index}.png")
            written += 1
    return written


def fashion_available() -> bool:
    return (FASHION_DIR / "train-images-idx3-ubyte.gz").exists()


def write_fashion(out: Path, *, train_per_class: int = 100, test_per_class: int = 100) -> Path:
    """Fashion-MNIST's own train and test splits, ``train_per_class`` / ``test_per_class``
    images of each class drawn from them at random (fixed seeds)."""
    if not fashion_available():
        raise FileNotFoundError(f"{FASHION_DIR} is missing: apt-get install dataset-fashion-mnist")
    root = out / "fashion-mnist"
    for split, per_class, seed in (
        ("train", train_per_class, 0),
        ("t10k", test_per_class, 1),
    ):
        images = _idx(FASHION_DIR / f"{split}-images-idx3-ubyte.gz")
        labels = _idx(FASHION_DIR / f"{split}-labels-idx1-ubyte.gz")
        folder = root / ("train" if split == "train" else "test")
        _write(images, labels, FASHION_CLASSES, folder, per_class, seed, scale=4)
    return root


def write_digits(out: Path) -> Path:
    """scikit-learn's 1,797 digits, 70 % train and 30 % test (fixed seed)."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = (digits.images * 16).clip(0, 255).astype(np.uint8)
    order = list(range(len(images)))
    random.Random(0).shuffle(order)
    cut = int(len(order) * 0.7)
    root = out / "digits"
    names = [str(i) for i in range(10)]
    for split, indices in (("train", order[:cut]), ("test", order[cut:])):
        _write(images[indices], digits.target[indices], names, root / split, 10_000, 0, scale=8)
    return root
