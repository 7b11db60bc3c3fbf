"""Batched features and input statistics against the per-image code they replaced.

The previous implementations are kept below, unchanged, as the reference: the batched
``features.extract_batch`` / ``inference.predict_fn`` must give the same vectors (float
tolerance) and the same predictions, and ``input_stats`` the same statistics, exactly.
"""

from __future__ import annotations

import base64
import importlib.util
import io
import json
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageFilter, ImageStat

ROOT = Path(__file__).resolve().parents[2]
SCRIPTS = ROOT / "plugins/image_mlops/include/scripts"


def _load(name: str, path: Path, features_module=None):
    """Import ``path`` under a private name (``inference`` imports ``features`` by name)."""
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    saved = sys.modules.get("features")
    if features_module is not None:
        sys.modules["features"] = features_module
    try:
        spec.loader.exec_module(module)
    finally:
        if saved is None:
            sys.modules.pop("features", None)
        else:
            sys.modules["features"] = saved
    return module


features = _load("features_under_test", SCRIPTS / "features.py")
inference = _load("inference_under_test", SCRIPTS / "inference.py", features)


# --- the reference: features.py's per-image extract() before batching, unchanged ---------


def _reference_hog(grey: np.ndarray, cells: int) -> np.ndarray:
    gy, gx = np.gradient(grey)
    magnitude = np.hypot(gx, gy)
    angle = np.arctan2(gy, gx)
    unsigned = np.mod(angle, np.pi)
    bins = np.minimum((unsigned / np.pi * 9).astype(np.int64), 8)
    size = grey.shape[0]
    step = size // cells
    hist = np.zeros((cells, cells, 9), dtype=np.float64)
    rows = np.minimum(np.arange(size) // step, cells - 1)
    cell_index = (rows[:, None] * cells + rows[None, :]) * 9 + bins
    np.add.at(hist.reshape(-1), cell_index.reshape(-1), magnitude.reshape(-1))
    blocks = []
    for r in range(cells - 1):
        for c in range(cells - 1):
            block = hist[r : r + 2, c : c + 2].reshape(-1)
            blocks.append(block / (np.linalg.norm(block) + 1e-6))
    signed_bins = np.minimum(((angle + np.pi) / (2 * np.pi) * 18).astype(np.int64), 17)
    glob = np.bincount(signed_bins.reshape(-1), weights=magnitude.reshape(-1), minlength=18)
    glob = glob / (glob.sum() + 1e-6)
    return np.concatenate([np.concatenate(blocks), glob])


def _reference_color(rgb: np.ndarray) -> np.ndarray:
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"), dtype=np.float64)
    hue, sat = hsv[..., 0], hsv[..., 1] / 255.0
    bins = np.minimum((hue / 256 * 8).astype(np.int64), 7)
    hist = np.bincount(bins.reshape(-1), weights=sat.reshape(-1), minlength=8)
    hist = hist / (hist.sum() + 1e-6)
    channels = rgb.reshape(-1, 3).astype(np.float64) / 255.0
    return np.concatenate([hist, channels.mean(axis=0), channels.std(axis=0)])


def _reference_object_box(image: Image.Image, work: int = 96):
    small = image.resize((work, work), Image.Resampling.BILINEAR)
    pixels = np.asarray(small, dtype=np.float64)
    yy, xx = np.mgrid[0:work, 0:work] / (work - 1)
    edge = np.zeros((work, work), dtype=bool)
    edge[:2] = edge[-2:] = True
    edge[:, :2] = edge[:, -2:] = True
    design = np.stack([np.ones(edge.sum()), xx[edge], yy[edge]], axis=1)
    coef, *_ = np.linalg.lstsq(design, pixels[edge], rcond=None)
    background = coef[0] + xx[..., None] * coef[1] + yy[..., None] * coef[2]
    distance = np.sqrt(((pixels - background) ** 2).sum(axis=-1))
    threshold = max(20.0, float(np.percentile(distance[edge], 95)) * 1.5)
    raw = Image.fromarray((distance > threshold).astype(np.uint8) * 255)
    mask = np.asarray(raw.filter(ImageFilter.BoxBlur(3))) > 127
    rows = np.where(mask.mean(axis=1) > 0.02)[0]
    cols = np.where(mask.mean(axis=0) > 0.02)[0]
    if len(rows) < 3 or len(cols) < 3:
        return (0.0, 0.0, 1.0, 1.0), mask
    return (cols[0] / work, rows[0] / work, (cols[-1] + 1) / work, (rows[-1] + 1) / work), mask


def reference_extract(
    image: Image.Image, size: int = 64, cells: int = 8, flip: bool = False
) -> np.ndarray:
    image = image.convert("RGB")
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (x0, y0, x1, y1), mask = _reference_object_box(image)
    width, height = image.size
    side = max((x1 - x0) * width, (y1 - y0) * height) * 1.1
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    box = tuple(round(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    crop = image.crop(box).resize((size, size), Image.Resampling.BILINEAR)
    rgb = np.asarray(crop, dtype=np.uint8)
    grey = np.asarray(crop.convert("L"), dtype=np.float64) / 255.0
    grey = (grey - grey.mean()) / (grey.std() + 1e-3)
    silhouette = (
        Image.fromarray((mask * 255).astype(np.uint8))
        .resize(image.size, Image.Resampling.NEAREST)
        .crop(box)
        .resize((16, 16), Image.Resampling.BILINEAR)
    )
    bw, bh = x1 - x0, y1 - y0
    shape = np.array([bw / (bh + 1e-6), bh / (bw + 1e-6), mask.mean() / (bw * bh + 1e-6)])
    return np.concatenate(
        [
            _reference_hog(grey, cells),
            _reference_hog(grey, 4),
            # the 16 x 16 thumbnail: the mean of each 4 x 4 block of the normalised grey crop
            np.array(
                [
                    [grey[4 * i : 4 * i + 4, 4 * j : 4 * j + 4].mean() for j in range(16)]
                    for i in range(16)
                ]
            ).reshape(-1),
            _reference_color(rgb),
            np.asarray(silhouette, dtype=np.float64).reshape(-1) / 255.0,
            shape,
        ]
    ).astype(np.float32)


# --- the reference: image_stats.input_stats before, unchanged ------------------------------


def reference_input_stats(image: Image.Image) -> dict[str, float]:
    width, height = image.size
    small = image.convert("RGB")
    small.thumbnail((128, 128))
    luminance = ImageStat.Stat(small.convert("L"))
    saturation = ImageStat.Stat(small.convert("HSV").getchannel("S"))
    return {
        "brightness": round(luminance.mean[0], 3),
        "contrast": round(luminance.stddev[0], 3),
        "saturation": round(saturation.mean[0], 3),
        "width": float(width),
        "height": float(height),
    }


# --- inputs ---------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    from image_mlops_dev.demo_data import generate

    out = tmp_path_factory.mktemp("demo")
    generate(out, per_class=8, incoming=12, seed=11)
    return out


@pytest.fixture(scope="module")
def demo_images(demo) -> list[Image.Image]:
    """Every demo picture (JPEG and PNG, several sizes and aspects) as the model decodes it."""
    paths = sorted(p for p in demo.rglob("*") if p.suffix in (".jpg", ".png"))
    assert len(paths) == 6 * 8 + 12
    return [features.decode(p.read_bytes()) for p in paths]


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def odd_images() -> list[Image.Image]:
    """Tiny, very wide/tall, flat, noisy, and grey / palette / RGBA images."""
    rng = np.random.default_rng(3)
    noise = [
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        for w, h in [(1, 1), (3, 3), (640, 64), (64, 640), (2, 300)]
    ]
    flat = [
        Image.new("RGB", size, colour)
        for size in [(1, 1), (3, 3), (640, 64), (128, 128)]
        for colour in [(0, 0, 0), (255, 255, 255), (120, 30, 200)]
    ]
    grey = Image.fromarray(rng.integers(0, 256, (70, 50), dtype=np.uint8), "L")
    rgba = Image.fromarray(rng.integers(0, 256, (60, 90, 4), dtype=np.uint8), "RGBA")
    palette = noise[2].convert("P", palette=Image.Palette.ADAPTIVE)
    modes = [grey, rgba, palette]
    decoded = [features.decode(_png(image)) for image in modes]
    return noise + flat + modes + decoded


def _assert_same_features(images: list[Image.Image], flip: bool = False) -> None:
    reference = np.stack([reference_extract(image, flip=flip) for image in images])
    batched = features.extract_batch(images, flip=flip)
    assert batched.dtype == np.float32 and batched.shape == reference.shape
    np.testing.assert_allclose(batched, reference, rtol=1e-5, atol=1e-6)


# --- tests ----------------------------------------------------------------------------------


@pytest.mark.parametrize("flip", [False, True])
def test_batched_features_equal_the_per_image_reference_on_demo_data(demo_images, flip):
    _assert_same_features(demo_images, flip)


def test_batched_features_equal_the_reference_on_odd_images():
    _assert_same_features(odd_images())


def test_single_and_many_are_the_batch(demo_images):
    batch = features.extract_batch(demo_images[:5])
    np.testing.assert_array_equal(features.extract_many(iter(demo_images[:5])), batch)
    for image, row in zip(demo_images[:5], batch, strict=True):
        np.testing.assert_allclose(features.extract(image), row, rtol=1e-5, atol=1e-6)


def test_a_batch_spanning_several_chunks_is_described_in_order(demo_images):
    count = 2 * features.DESCRIBE_CHUNK + 3
    images = (demo_images * 2)[:count]
    chunked = features.describe([features.product(image) for image in images])
    one_by_one = np.concatenate([features.extract_batch([image]) for image in images])
    np.testing.assert_allclose(chunked, one_by_one, rtol=1e-5, atol=1e-6)


@pytest.fixture(scope="module")
def model(demo, tmp_path_factory) -> dict:
    from image_mlops.training import artifact

    model_dir = tmp_path_factory.mktemp("model") / "m"
    artifact.train_local(demo / "labeled", model_dir, hyperparameters={"seed": 1})
    return inference.model_fn(str(model_dir))


def _body(images: list[Image.Image]) -> bytes:
    instances = [{"b64": base64.b64encode(_png(image)).decode()} for image in images]
    return json.dumps({"instances": instances}).encode()


def test_predictions_are_the_reference_predictions(demo_images, model):
    images = demo_images + odd_images()
    items = inference.input_fn(_body(images), "application/json")
    predictions = json.loads(inference.output_fn(inference.predict_fn(items, model)))
    reference = inference.predict_proba(
        model, np.stack([reference_extract(item["image"]) for item in items])
    )
    labels = [model["classes"][i] for i in reference.argmax(axis=1)]
    assert [p["label"] for p in predictions["predictions"]] == labels
    confidences = [p["confidence"] for p in predictions["predictions"]]
    np.testing.assert_allclose(confidences, reference.max(axis=1), atol=2e-6)


def test_an_image_whose_features_fail_gets_its_own_error(demo_images, model, monkeypatch):
    product = features.product

    def fails_for_tiny_images(image, size=features.DEFAULT_SIZE, flip=False):
        if image.size == (3, 3):
            raise ValueError("cannot crop")
        return product(image, size, flip)

    monkeypatch.setattr(features, "product", fails_for_tiny_images)
    tiny = Image.new("RGB", (3, 3), (9, 9, 9))
    images = [demo_images[0], tiny, demo_images[1]]
    items = [{"image": image, "error": None} for image in images]
    first, failed, last = inference.predict_fn(items, model)
    assert failed == {
        "label": None,
        "confidence": None,
        "top_k": [],
        "error": "cannot extract features: ValueError: cannot crop",
    }
    alone = [inference.predict_fn([item], model)[0] for item in (items[0], items[2])]
    assert [first, last] == alone and first["error"] is None and last["error"] is None


def test_percentile_is_numpys_bit_for_bit():
    rng = np.random.default_rng(5)
    for size in (1, 2, 3, 10, 752, 1001):
        values = rng.normal(size=size) * 40
        for q in (0, 5, 50, 95, 99.9, 100):
            assert features._percentile(values, q) == float(np.percentile(values, q))


def test_mod_pi_is_numpys_bit_for_bit():
    rng = np.random.default_rng(6)
    steps = rng.integers(-3, 4, size=(2, 50_000)).astype(np.float64) / 255
    signed_zero = np.array([[0.0, -0.0, 0.0, -0.0, 0.0, -0.0], [1.0, 1.0, -1.0, -1.0, 0.0, 0.0]])
    gy, gx = np.concatenate([steps, rng.normal(size=(2, 1000)), signed_zero], axis=1)
    angle = np.arctan2(gy, gx)
    assert {np.pi, -np.pi, 0.0} <= set(angle.tolist())
    folded = features._mod_pi(angle)
    np.testing.assert_array_equal(folded, np.mod(angle, np.pi))
    assert not np.signbit(folded).any()  # np.mod never returns -0.0 either


def test_input_stats_equal_the_imagestat_reference(demo, demo_images):
    from image_mlops.image_stats import input_stats

    rng = np.random.default_rng(7)
    opened = []
    for path in sorted(p for p in demo.rglob("*") if p.suffix in (".jpg", ".png")):
        with Image.open(path) as image:
            image.load()
            opened.append(image.copy())
    big_noise = Image.fromarray(rng.integers(0, 256, (300, 200, 3), dtype=np.uint8))
    others = [Image.new(mode, (50, 70)) for mode in ("L", "P", "RGBA", "1", "CMYK", "I", "LA")]
    for image in opened + demo_images + odd_images() + [big_noise] + others:
        assert input_stats(image) == reference_input_stats(image), (image.mode, image.size)


def test_saturation_lookup_is_pillows_hsv_saturation():
    from image_mlops import image_stats

    rng = np.random.default_rng(8)
    pixels = rng.integers(0, 256, (512, 512, 3), dtype=np.uint8)
    pixels[0, :256, :] = np.arange(256)[:, None]  # greys: no saturation
    image = Image.fromarray(pixels)
    pillow = np.asarray(image.convert("HSV"))[..., 1]
    table = image_stats._saturation_table()
    index = pixels.max(axis=2).astype(np.intp) * 256 + pixels.min(axis=2)
    np.testing.assert_array_equal(table[index], pillow)
    assert image_stats._mean_saturation(image) == ImageStat.Stat(Image.fromarray(pillow)).mean[0]
