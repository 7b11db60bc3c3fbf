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
* colour: an 8-bin hue histogram weighted by saturation, plus mean/std of each RGB channel;
* appearance: the contrast-normalised grey crop itself as a 16 x 16 thumbnail (the mean of
  each 4 x 4 block of the 64 px crop) — what the histograms leave out: where the light and
  dark parts are.

Locating and cropping the product is Pillow work, one image at a time (:func:`product`);
describing the crops is numpy work, done for a batch of images at once (:func:`describe`).
:func:`extract_batch` is both; :func:`extract` is the same for one image.
"""

from __future__ import annotations

import functools
import io
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from PIL import Image, ImageFilter

FEATURE_VERSION = "hog-color-thumb-v3"
DEFAULT_SIZE = 64
DEFAULT_CELLS = 8
THUMB_SIDE = 16
MAX_PIXELS = 40_000_000
# JPEGs are decoded at a reduced scale (1/2, 1/4 or 1/8, libjpeg's DCT scaling) as long as
# both sides stay >= this: the features never look at more than a 64 px crop of the product.
DRAFT_SIDE = 256
# Images described together by one numpy pass. Bigger chunks save nothing more per image,
# and their temporaries (> ~2 MB each) are handed back to the OS after every call and
# page-faulted in again, which cost more than the computation itself (measured at 64).
DESCRIBE_CHUNK = 16


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
    return image if image.mode == "RGB" else image.convert("RGB")


class Product(NamedTuple):
    """One image's product, as the per-image (Pillow) steps hand it to :func:`describe`."""

    crop: np.ndarray  # size x size x 3 uint8: the square around the product
    silhouette: np.ndarray  # 16 x 16 uint8: the product's mask over the same square
    box_shape: np.ndarray  # box aspect (both ways) and how much of the box the mask fills


class _BackgroundFit(NamedTuple):
    border: np.ndarray  # flat indices of the border pixels (2 px wide)
    design: np.ndarray  # (3, pixels): 1, x and y (0..1) of every pixel, row by row
    border_pinv: np.ndarray  # pseudo-inverse of the border pixels' [1, x, y] rows


@functools.lru_cache(maxsize=4)
def _background_fit(work: int) -> _BackgroundFit:
    """What fitting a background plane to the border of a ``work`` px image needs.

    Every image of a work size fits its plane on the same border pixels, so the least-squares
    solve is one product with a pseudo-inverse computed once (the same solution as
    ``np.linalg.lstsq``, within float rounding).
    """
    yy, xx = np.mgrid[0:work, 0:work] / (work - 1)
    edge = np.zeros((work, work), dtype=bool)
    edge[:2] = edge[-2:] = True
    edge[:, :2] = edge[:, -2:] = True
    border = np.flatnonzero(edge)
    design = np.stack([np.ones(work * work), xx.reshape(-1), yy.reshape(-1)])
    fit = _BackgroundFit(border, design, np.linalg.pinv(design[:, border].T))
    for array in fit:
        array.flags.writeable = False  # shared by every call
    return fit


def _percentile(values: np.ndarray, q: float) -> float:
    """``np.percentile(values, q)`` of a 1-D array, bit for bit (the same linear
    interpolation between the same two order statistics), without its overhead."""
    position = (len(values) - 1) * (q / 100)
    low = int(position)
    high = min(low + 1, len(values) - 1)
    a, b = np.partition(values, (low, high))[[low, high]]
    gamma, diff = position - low, b - a
    return float(a + diff * gamma if gamma < 0.5 else b - diff * (1 - gamma))


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
    fit = _background_fit(work)
    small = image.resize((work, work), Image.Resampling.BILINEAR)
    # channel by channel (3, pixels): every step below then runs over contiguous memory
    planes = np.asarray(small).reshape(-1, 3).T.astype(np.float64, order="C")
    planes -= (planes[:, fit.border] @ fit.border_pinv.T) @ fit.design
    planes *= planes
    distance = np.sqrt(planes[0] + planes[1] + planes[2])
    threshold = max(20.0, _percentile(distance[fit.border], 95) * 1.5)
    far = (distance > threshold).view(np.uint8).reshape(work, work) * np.uint8(255)
    mask = np.asarray(Image.fromarray(far).filter(ImageFilter.BoxBlur(3))) > 127
    rows = np.flatnonzero(mask.sum(axis=1) / work > 0.02)
    cols = np.flatnonzero(mask.sum(axis=0) / work > 0.02)
    if len(rows) < 3 or len(cols) < 3:
        return (0.0, 0.0, 1.0, 1.0), mask
    return (cols[0] / work, rows[0] / work, (cols[-1] + 1) / work, (rows[-1] + 1) / work), mask


def product(image: Image.Image, size: int = DEFAULT_SIZE, flip: bool = False) -> Product:
    """The Pillow steps of one image: find the product, crop a square around it."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    if flip:
        image = image.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    (x0, y0, x1, y1), mask = object_box(image)
    width, height = image.size
    side = max((x1 - x0) * width, (y1 - y0) * height) * 1.1
    cx, cy = (x0 + x1) / 2 * width, (y0 + y1) / 2 * height
    box = tuple(round(v) for v in (cx - side / 2, cy - side / 2, cx + side / 2, cy + side / 2))
    crop = image.crop(box).resize((size, size), Image.Resampling.BILINEAR)
    silhouette = (
        Image.fromarray(mask.view(np.uint8) * np.uint8(255))
        .resize(image.size, Image.Resampling.NEAREST)
        .crop(box)
        .resize((16, 16), Image.Resampling.BILINEAR)
    )
    bw, bh = x1 - x0, y1 - y0
    box_shape = np.array([bw / (bh + 1e-6), bh / (bw + 1e-6), mask.mean() / (bw * bh + 1e-6)])
    return Product(np.asarray(crop), np.asarray(silhouette), box_shape)


def _binned(bins: np.ndarray, weights: np.ndarray, nbins: int) -> np.ndarray:
    """Weighted histogram of each image: ``bins`` (n, ...) in [0, nbins) → (n, nbins).

    One ``np.bincount`` over indices offset by image (it adds in the same order as
    ``np.add.at`` did, and is far faster).
    """
    n = bins.shape[0]
    offsets = (np.arange(n) * nbins).reshape(n, *([1] * (bins.ndim - 1)))
    counts = np.bincount(
        (bins + offsets).reshape(-1), weights=weights.reshape(-1), minlength=n * nbins
    )
    return counts.reshape(n, nbins)


def _normalised(hist: np.ndarray) -> np.ndarray:
    return hist / (hist.sum(axis=-1, keepdims=True) + 1e-6)


def _cell_blocks(magnitude: np.ndarray, bins: np.ndarray, cells: int) -> np.ndarray:
    """9-bin histograms of ``cells`` x ``cells`` cells, each 2 x 2 block L2-normalised:
    (n, (cells - 1)^2 * 36), blocks row by row, each block's cells row by row."""
    n, size = magnitude.shape[:2]
    step = size // cells
    rows = np.minimum(np.arange(size) // step, cells - 1)
    cell_bins = (rows[:, None] * cells + rows[None, :]) * 9 + bins
    hist = _binned(cell_bins, magnitude, cells * cells * 9).reshape(n, cells, cells, 9)
    blocks = np.stack(
        [hist[:, :-1, :-1], hist[:, :-1, 1:], hist[:, 1:, :-1], hist[:, 1:, 1:]], axis=3
    ).reshape(n, cells - 1, cells - 1, 36)
    norms = np.sqrt(np.einsum("...i,...i->...", blocks, blocks))
    return (blocks / (norms[..., None] + 1e-6)).reshape(n, -1)


def _mod_pi(angle: np.ndarray) -> np.ndarray:
    """``np.mod(angle, np.pi)`` for angles from ``np.arctan2`` (in [-pi, pi]), bit for bit,
    several times cheaper: a negative angle gets pi added (the others 0.0, which turns -0.0
    into 0.0 as np.mod does), pi itself becomes 0."""
    folded = angle + np.where(angle < 0, np.pi, 0.0)
    folded[angle == np.pi] = 0.0
    return folded


def _hogs(grey: np.ndarray, cells: tuple[int, ...]) -> list[np.ndarray]:
    """Per cell grid: its block histograms, then the global 18-bin signed orientation histogram.

    The gradients are the same for every grid, so they are computed once.
    """
    gy, gx = np.gradient(grey, axis=(1, 2))
    magnitude = np.sqrt(gx * gx + gy * gy)  # np.hypot within an ulp, several times cheaper
    angle = np.arctan2(gy, gx)
    unsigned = np.minimum((_mod_pi(angle) / np.pi * 9).astype(np.int64), 8)
    signed = np.minimum(((angle + np.pi) / (2 * np.pi) * 18).astype(np.int64), 17)
    orientation = _normalised(_binned(signed, magnitude, 18))
    return [
        part for grid in cells for part in (_cell_blocks(magnitude, unsigned, grid), orientation)
    ]


def _colours(crops: np.ndarray, hsv: np.ndarray) -> np.ndarray:
    """8-bin hue histogram weighted by saturation, mean and std of each RGB channel: (n, 14)."""
    # hue / 256 * 8 rounded down (0..7), in integers
    hue_bins = (hsv[..., 0] >> 5).astype(np.int64)
    hue = _normalised(_binned(hue_bins, hsv[..., 1] / 255.0, 8))
    mean, std = _channel_moments(crops)
    return np.concatenate([hue, mean, std], axis=1)


def _channel_moments(crops: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean and standard deviation of each RGB channel (0..1) of each crop: (n, 3) each.

    From the sums of the 0..255 values and of their squares: whole numbers, exact in float64,
    so the variance has no cancellation error (and it is much cheaper than mean() + std()).
    """
    # channel by channel in memory: sums along contiguous rows are what numpy does fastest
    values = crops.reshape(len(crops), -1, 3).transpose(0, 2, 1).astype(np.float64, order="C")
    count = values.shape[2]
    total = values.sum(axis=2)
    squares = np.einsum("nck,nck->nc", values, values)
    variance = (squares * count - total * total) / (count * count)
    return total / (count * 255.0), np.sqrt(variance) / 255.0


def describe(products: Sequence[Product], cells: int = DEFAULT_CELLS) -> np.ndarray:
    """The feature vectors of products that share one crop size: (n, features) float32,
    computed with numpy for :data:`DESCRIBE_CHUNK` products at a time."""
    return np.concatenate(
        [
            _describe_chunk(products[start : start + DESCRIBE_CHUNK], cells)
            for start in range(0, len(products), DESCRIBE_CHUNK)
        ]
    )


def _describe_chunk(products: Sequence[Product], cells: int) -> np.ndarray:
    """:func:`describe` of a few products, each step over all of them at once."""
    crops = np.stack([p.crop for p in products])
    # Pillow converts pixel by pixel: the crops stacked into one tall image convert in one call
    tall = Image.fromarray(crops.reshape(-1, *crops.shape[2:]))
    grey = np.asarray(tall.convert("L")).reshape(crops.shape[:3]) / 255.0
    # Normalise contrast so darker / flatter pictures keep their shape information.
    mean = grey.mean(axis=(1, 2), keepdims=True)
    std = grey.std(axis=(1, 2), keepdims=True)
    grey = (grey - mean) / (std + 1e-3)
    silhouettes = np.stack([p.silhouette for p in products]).reshape(len(products), -1)
    n, side = grey.shape[0], grey.shape[1]
    block = side // THUMB_SIDE
    thumbs = grey[:, : block * THUMB_SIDE, : block * THUMB_SIDE].reshape(
        n, THUMB_SIDE, block, THUMB_SIDE, block
    )
    return np.concatenate(
        [
            *_hogs(grey, (cells, 4)),
            thumbs.mean(axis=(2, 4)).reshape(n, -1),
            _colours(crops, np.asarray(tall.convert("HSV")).reshape(crops.shape)),
            silhouettes / 255.0,
            np.stack([p.box_shape for p in products]),
        ],
        axis=1,
    ).astype(np.float32)


def extract_batch(
    images: Sequence[Image.Image],
    size: int = DEFAULT_SIZE,
    cells: int = DEFAULT_CELLS,
    flip: bool = False,
) -> np.ndarray:
    """Images → their feature vectors (n, features) float32: crop each product (Pillow, one
    image at a time), then describe them all at once (numpy)."""
    return describe([product(image, size, flip) for image in images], cells)


def extract(
    image: Image.Image, size: int = DEFAULT_SIZE, cells: int = DEFAULT_CELLS, flip: bool = False
) -> np.ndarray:
    """One image → its feature vector (float32): crop the product, then describe it."""
    return extract_batch([image], size, cells, flip)[0]


def extract_many(images, size: int = DEFAULT_SIZE, cells: int = DEFAULT_CELLS) -> np.ndarray:
    return extract_batch(list(images), size, cells)
