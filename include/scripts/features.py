"""Image features shared by training and inference (shipped in ``code/`` of the artifact).

Standalone: numpy + Pillow only (no Airflow, no image_mlops, no scikit-learn), so the
artifact's inference code runs in any container that has those two.

An image becomes one float32 vector:

* the product is located first (background = a plane fitted to the border pixels; the rest
  is the product's mask) and cropped to a square around it, so position and scale do not
  matter;
* gradient-orientation histograms (HOG-like): the crop, resized to ``size`` x ``size``
  grey, split into ``cells`` x ``cells`` cells, 9 unsigned orientation bins per cell,
  magnitude-weighted, each 2x2 block of cells L2-normalised — the silhouette of the product;
  (and again with 4 x 4 cells); a global orientation histogram (18 signed bins);
* the silhouette: the product's mask as a 16 x 16 thumbnail, plus box aspect and fill;
* colour: an 8-bin hue histogram weighted by saturation, plus mean/std of each RGB channel.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image, ImageFilter

FEATURE_VERSION = "hog-color-v2"
DEFAULT_SIZE = 64
DEFAULT_CELLS = 8
MAX_PIXELS = 40_000_000
# JPEGs are decoded at a reduced scale (1/2, 1/4 or 1/8, libjpeg's DCT scaling) as long as
# both sides stay >= this: the features never look at more than a 64 px crop of the product.
DRAFT_SIDE = 256


def decode(data: bytes) -> Image.Image:
    """Bytes → RGB image, refusing pixel bombs and files that do not fully decode.

    Large JPEGs are decoded in draft mode (scaled down by libjpeg while decoding, both sides
    still >= ``DRAFT_SIDE``): several times faster and the features do not need the detail.
    """
    image = Image.open(io.BytesIO(data))
    width, height = image.size
    if width * height > MAX_PIXELS:
        raise ValueError(f"image too large: {width}x{height} pixels")
    if image.format == "JPEG":
        image.draft("RGB", (DRAFT_SIDE, DRAFT_SIDE))
    image.load()
    return image.convert("RGB")


def _hog(grey: np.ndarray, cells: int) -> np.ndarray:
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


def _color(rgb: np.ndarray) -> np.ndarray:
    hsv = np.asarray(Image.fromarray(rgb).convert("HSV"), dtype=np.float64)
    hue, sat = hsv[..., 0], hsv[..., 1] / 255.0
    bins = np.minimum((hue / 256 * 8).astype(np.int64), 7)
    hist = np.bincount(bins.reshape(-1), weights=sat.reshape(-1), minlength=8)
    hist = hist / (hist.sum() + 1e-6)
    channels = rgb.reshape(-1, 3).astype(np.float64) / 255.0
    return np.concatenate([hist, channels.mean(axis=0), channels.std(axis=0)])


def object_box(
    image: Image.Image, work: int = 96
) -> tuple[tuple[float, float, float, float], np.ndarray]:
    """The product's bounding box (fractions of width/height) and its mask at ``work`` px.

    The background is modelled as a plane per colour channel fitted to the border pixels
    (flat and gradient backgrounds); pixels far from it are the product. Speckles and noise
    are removed from the mask by a 7 x 7 majority vote (a box blur of the binary mask,
    thresholded at one half: the binary median filter, ~50x cheaper than a median filter of
    the colour image).
    """
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


def extract(
    image: Image.Image, size: int = DEFAULT_SIZE, cells: int = DEFAULT_CELLS, flip: bool = False
) -> np.ndarray:
    """One image → its feature vector (float32): crop the product, then describe it."""
    image = image.convert("RGB")
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (x0, y0, x1, y1), mask = object_box(image)
    width, height = image.size
    side = max((x1 - x0) * width, (y1 - y0) * height) * 1.1
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    box = tuple(round(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    crop = image.crop(box).resize((size, size), Image.Resampling.BILINEAR)
    rgb = np.asarray(crop, dtype=np.uint8)
    grey = np.asarray(crop.convert("L"), dtype=np.float64) / 255.0
    # Normalise contrast so darker / flatter pictures keep their shape information.
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
            _hog(grey, cells),
            _hog(grey, 4),
            _color(rgb),
            np.asarray(silhouette, dtype=np.float64).reshape(-1) / 255.0,
            shape,
        ]
    ).astype(np.float32)


def extract_many(images, size: int = DEFAULT_SIZE, cells: int = DEFAULT_CELLS) -> np.ndarray:
    return np.stack([extract(image, size, cells) for image in images])
