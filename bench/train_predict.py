"""Training time (N demo images at 128 px), model size, prediction images/s (batch vs one).

.venv/bin/python bench/train_predict.py [--images 1000] [--quick]
"""

from __future__ import annotations

import argparse
import base64
import json
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "plugins"))
sys.path.insert(0, str(ROOT / "dev"))
sys.path.insert(0, str(ROOT / "plugins/image_mlops/include/scripts"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--images", type=int, default=1000)
    parser.add_argument("--quick", action="store_true", help="300 images")
    args = parser.parse_args()
    n = 300 if args.quick else args.images
    from PIL import Image

    from image_mlops.training import artifact
    from image_mlops_dev.demo_data import generate

    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        generate(root / "demo", per_class=max(1, n // 6), incoming=0, seed=7)
        for path in (root / "demo" / "labeled").rglob("*.*"):
            image = Image.open(path).convert("RGB").resize((128, 128))
            image.save(path.with_suffix(".png"))
            if path.suffix != ".png":
                path.unlink()
        start = time.perf_counter()
        artifact.train_local(root / "demo" / "labeled", root / "model", hyperparameters={})
        train_s = time.perf_counter() - start
        size = (
            artifact.pack(root / "model", root / "model.tar.gz")
            and (root / "model.tar.gz").stat().st_size
        )
        import evaluate

        h = evaluate.load_handlers(root / "model")
        model = h.model_fn(str(root / "model"))
        files = sorted((root / "demo" / "labeled").rglob("*.png"))[:200]
        data = [f.read_bytes() for f in files]
        start = time.perf_counter()
        for d in data:
            h.output_fn(h.predict_fn(h.input_fn(d, "image/png"), model))
        one_s = time.perf_counter() - start
        body = json.dumps({"instances": [{"b64": base64.b64encode(d).decode()} for d in data]})
        start = time.perf_counter()
        h.output_fn(h.predict_fn(h.input_fn(body.encode(), "application/json"), model))
        batch_s = time.perf_counter() - start
    count = len(list(range(max(1, n // 6) * 6)))
    print(f"training on {count} images of 128 px: {train_s:.1f} s (target < 60 s)")
    print(f"model.tar.gz: {size / 1024:.0f} KiB")
    print(f"prediction one at a time: {len(data) / one_s:.0f} images/s (baseline)")
    print(f"prediction JSON batch of {len(data)}: {len(data) / batch_s:.0f} images/s")


if __name__ == "__main__":
    main()
