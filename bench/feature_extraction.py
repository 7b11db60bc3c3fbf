"""Feature extraction speed of the built-in model (``include/scripts/features.py``).

.venv/bin/python bench/feature_extraction.py [--images 120] [--rounds 3]

Prints, per 128 px image, the time to locate the product (``object_box``) and the whole
extraction (``extract``), and the training features' rate on the demo's full-size JPEGs and
PNGs (decode + extract, as ``train.py`` reads them). Each next to a baseline in the same run:
the object box with a 5 x 5 median filter of the 96 px colour image first (how the product
was located before the mask's majority vote), and the full-size decode of every JPEG (no
draft mode). Best of ``--rounds``; the CPU time of one process, so one core.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))
sys.path.insert(0, str(ROOT / "plugins/image_mlops/include/scripts"))


def best(rounds: int, run) -> float:
    """The fastest of ``rounds`` runs of ``run()``, in CPU seconds of this process."""
    times = []
    for _ in range(rounds):
        start = time.process_time()
        run()
        times.append(time.process_time() - start)
    return min(times)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=120, help="demo images (all classes)")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import features
    from PIL import Image, ImageFilter

    from image_mlops_dev.demo_data import CLASSES, generate

    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp), per_class=max(1, args.images // len(CLASSES)), incoming=0, seed=7)
        files = sorted(p for p in (Path(tmp) / "labeled").rglob("*.*"))
        data = [p.read_bytes() for p in files]
    images = [features.decode(d) for d in data]
    small = [image.resize((128, 128)) for image in images]
    n = len(files)
    sides = [side for d in data for side in Image.open(io.BytesIO(d)).size]
    jpegs = sum(d[:2] == b"\xff\xd8" for d in data)

    def box_with_median_filter(image):
        # the baseline: a median filter of the colour work image before locating the product
        image.resize((96, 96), Image.Resampling.BILINEAR).filter(ImageFilter.MedianFilter(5))
        features.object_box(image)

    def full_decode(raw: bytes):
        image = Image.open(io.BytesIO(raw))
        image.load()
        return image.convert("RGB")

    box = best(args.rounds, lambda: [features.object_box(im) for im in small]) / n
    box_median = best(args.rounds, lambda: [box_with_median_filter(im) for im in small]) / n
    whole = best(args.rounds, lambda: [features.extract(im) for im in small]) / n
    train = best(args.rounds, lambda: features.extract_batch([features.decode(d) for d in data]))
    train_full = best(args.rounds, lambda: features.extract_batch([full_decode(d) for d in data]))

    print(f"{n} demo images ({jpegs} JPEG, {n - jpegs} PNG; sides {min(sides)}-{max(sides)} px)")
    print(
        f"object box per 128 px image: {box * 1000:.2f} ms "
        f"(baseline with a 5x5 median filter first: {box_median * 1000:.2f} ms)"
    )
    print(f"whole extraction per 128 px image: {whole * 1000:.2f} ms")
    print(
        f"training features on the full-size demo images: {n / train:.0f} images/s "
        f"(baseline, every JPEG decoded at full size: {n / train_full:.0f} images/s)"
    )


if __name__ == "__main__":
    main()
