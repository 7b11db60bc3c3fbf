"""Deterministic demo data: product-like images drawn with Pillow, no download needed.

``generate(out_dir)`` writes::

    out_dir/labeled/<class>/<class>-<nnnn>.jpg|.png   labelled training images
    out_dir/incoming/<nnnn>-<hex>.jpg                 unlabelled images (names hide the class)
    out_dir/feedback/feedback.csv                     ground truth for about half of them:
                                                      ``key,label`` with key ``incoming/<name>``

Six classes (mug, shirt, shoe, lamp, bottle, book), each a recognisable silhouette with its
own parts (handle, sleeves, sole, shade, neck, spine) over random backgrounds (flat, gradient,
stripes, speckles), with colour, position, scale, rotation, blur and noise jitter, sizes from
64 to 640 px, JPEG and PNG. The same seed gives the same bytes.

``shifted=True`` draws a drifted distribution for the monitoring demo: darker, low-contrast
pictures, mostly small and wide, and mugs without their handle (taller, bottle-like), so
the mug class loses true positives.
"""

from __future__ import annotations

import csv
import hashlib
import io
import random
from collections.abc import Callable
from pathlib import Path
from typing import Any

CLASSES = ("mug", "shirt", "shoe", "lamp", "bottle", "book")
SIZES = (64, 80, 96, 128, 160, 200, 256, 320, 400, 480, 560, 640)
SHIFTED_SIZES = (64, 72, 80, 96, 112, 128)

Color = tuple[int, int, int]


# --- small drawing helpers ---------------------------------------------------------------------
def _color(rng: random.Random, lo: int = 20, hi: int = 235) -> Color:
    return (rng.randint(lo, hi), rng.randint(lo, hi), rng.randint(lo, hi))


def _shade(color: Color, factor: float) -> Color:
    return tuple(max(0, min(255, int(c * factor))) for c in color)  # type: ignore[return-value]


def _background(rng: random.Random, width: int, height: int):
    from PIL import Image, ImageDraw

    base = _color(rng, 150, 250)
    image = Image.new("RGB", (width, height), base)
    draw = ImageDraw.Draw(image)
    kind = rng.choice(("flat", "gradient", "stripes", "speckles"))
    if kind == "gradient":
        other = _color(rng, 120, 250)
        steps = max(height, 1)
        for y in range(0, height, 2):
            t = y / steps
            row = tuple(int(a * (1 - t) + b * t) for a, b in zip(base, other, strict=True))
            draw.rectangle((0, y, width, y + 1), fill=row)
    elif kind == "stripes":
        other = _shade(base, rng.uniform(0.85, 0.95))
        step = max(4, int(min(width, height) * rng.uniform(0.05, 0.12)))
        for x in range(-height, width, step * 2):
            draw.polygon(
                [(x, 0), (x + step, 0), (x + step + height, height), (x + height, height)],
                fill=other,
            )
    elif kind == "speckles":
        for _ in range(rng.randint(20, 60)):
            r = max(1, int(min(width, height) * rng.uniform(0.005, 0.02)))
            x, y = rng.randint(0, width), rng.randint(0, height)
            draw.ellipse((x - r, y - r, x + r, y + r), fill=_shade(base, rng.uniform(0.75, 0.95)))
    return image


# --- the classes: each draws into a square RGBA layer of side ``s`` ---------------------------
def _mug(draw, s: int, rng: random.Random, color: Color, shifted: bool) -> None:
    if shifted:  # drifted look: no handle, tall and narrow (bottle-like)
        x0, x1, y0, y1 = 0.36 * s, 0.64 * s, 0.12 * s, 0.9 * s
    else:
        x0, x1, y0, y1 = 0.2 * s, 0.62 * s, 0.25 * s, 0.82 * s
    if not shifted:
        w = 0.07 * s
        draw.ellipse((x1 - 0.08 * s, 0.36 * s, x1 + 0.22 * s, 0.7 * s), outline=color, width=int(w))
    draw.rectangle((x0, y0, x1, y1), fill=color)
    draw.ellipse((x0, y1 - 0.05 * s, x1, y1 + 0.05 * s), fill=color)
    draw.ellipse((x0, y0 - 0.05 * s, x1, y0 + 0.05 * s), fill=_shade(color, 0.55))
    if rng.random() < 0.5:  # a printed logo
        cx, cy, r = (x0 + x1) / 2, (y0 + y1) / 2, 0.08 * s
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=_color(rng))


def _shirt(draw, s: int, rng: random.Random, color: Color, shifted: bool) -> None:
    pts = [
        (0.35 * s, 0.15 * s),
        (0.44 * s, 0.15 * s),
        (0.5 * s, 0.22 * s),
        (0.56 * s, 0.15 * s),
        (0.65 * s, 0.15 * s),
        (0.9 * s, 0.3 * s),
        (0.8 * s, 0.45 * s),
        (0.7 * s, 0.38 * s),
        (0.7 * s, 0.88 * s),
        (0.3 * s, 0.88 * s),
        (0.3 * s, 0.38 * s),
        (0.2 * s, 0.45 * s),
        (0.1 * s, 0.3 * s),
    ]
    draw.polygon(pts, fill=color)
    if rng.random() < 0.5:  # stripes
        stripe = _shade(color, 0.6)
        for y in range(int(0.42 * s), int(0.86 * s), max(3, int(0.08 * s))):
            draw.rectangle((0.3 * s, y, 0.7 * s, y + max(1, int(0.025 * s))), fill=stripe)
    draw.line(
        [(0.44 * s, 0.15 * s), (0.5 * s, 0.22 * s), (0.56 * s, 0.15 * s)],
        fill=_shade(color, 0.5),
        width=max(1, int(0.02 * s)),
    )


def _shoe(draw, s: int, rng: random.Random, color: Color, shifted: bool) -> None:
    sole = _shade(color, 0.35) if rng.random() < 0.5 else (235, 235, 235)
    upper = [
        (0.1 * s, 0.62 * s),
        (0.12 * s, 0.38 * s),
        (0.3 * s, 0.36 * s),
        (0.38 * s, 0.45 * s),
        (0.6 * s, 0.5 * s),
        (0.85 * s, 0.56 * s),
        (0.92 * s, 0.64 * s),
        (0.9 * s, 0.68 * s),
        (0.1 * s, 0.68 * s),
    ]
    draw.polygon(upper, fill=color)
    draw.rounded_rectangle((0.07 * s, 0.66 * s, 0.94 * s, 0.76 * s), radius=0.04 * s, fill=sole)
    lace = _shade(color, 1.6) if sum(color) < 300 else _shade(color, 0.4)
    for i in range(4):
        x = (0.34 + 0.06 * i) * s
        draw.line(
            [(x, 0.44 * s + i * 0.015 * s), (x + 0.05 * s, 0.5 * s + i * 0.01 * s)],
            fill=lace,
            width=max(1, int(0.015 * s)),
        )


def _lamp(draw, s: int, rng: random.Random, color: Color, shifted: bool) -> None:
    shade = [(0.3 * s, 0.12 * s), (0.7 * s, 0.12 * s), (0.85 * s, 0.42 * s), (0.15 * s, 0.42 * s)]
    draw.polygon(shade, fill=color)
    metal = _color(rng, 60, 200)
    draw.rectangle((0.47 * s, 0.42 * s, 0.53 * s, 0.82 * s), fill=metal)
    draw.ellipse((0.28 * s, 0.78 * s, 0.72 * s, 0.9 * s), fill=_shade(metal, 0.8))
    if rng.random() < 0.5:  # glow under the shade
        draw.ellipse((0.4 * s, 0.38 * s, 0.6 * s, 0.48 * s), fill=(255, 240, 160))


def _bottle(draw, s: int, rng: random.Random, color: Color, shifted: bool) -> None:
    draw.rounded_rectangle((0.36 * s, 0.38 * s, 0.64 * s, 0.92 * s), radius=0.05 * s, fill=color)
    draw.polygon(
        [(0.36 * s, 0.4 * s), (0.45 * s, 0.26 * s), (0.55 * s, 0.26 * s), (0.64 * s, 0.4 * s)],
        fill=color,
    )
    draw.rectangle((0.45 * s, 0.14 * s, 0.55 * s, 0.27 * s), fill=color)
    draw.rectangle((0.44 * s, 0.08 * s, 0.56 * s, 0.15 * s), fill=_color(rng))
    draw.rectangle((0.36 * s, 0.55 * s, 0.64 * s, 0.72 * s), fill=_color(rng, 180, 255))


def _book(draw, s: int, rng: random.Random, color: Color, shifted: bool) -> None:
    draw.polygon(
        [
            (0.22 * s, 0.18 * s),
            (0.72 * s, 0.18 * s),
            (0.82 * s, 0.26 * s),
            (0.82 * s, 0.9 * s),
            (0.32 * s, 0.9 * s),
            (0.22 * s, 0.82 * s),
        ],
        fill=(245, 242, 230),
    )
    for i in range(6):  # page edges
        y = (0.26 + i * 0.11) * s
        draw.line(
            [(0.74 * s, y), (0.82 * s, y + 0.04 * s)],
            fill=(180, 175, 160),
            width=max(1, int(0.008 * s)),
        )
    draw.rectangle((0.22 * s, 0.18 * s, 0.72 * s, 0.82 * s), fill=color)
    draw.rectangle((0.22 * s, 0.18 * s, 0.29 * s, 0.82 * s), fill=_shade(color, 0.6))
    title = _color(rng, 180, 255)
    draw.rectangle((0.36 * s, 0.3 * s, 0.64 * s, 0.36 * s), fill=title)
    draw.rectangle((0.4 * s, 0.4 * s, 0.6 * s, 0.43 * s), fill=title)


DRAWERS: dict[str, Callable[..., None]] = {
    "mug": _mug,
    "shirt": _shirt,
    "shoe": _shoe,
    "lamp": _lamp,
    "bottle": _bottle,
    "book": _book,
}


def draw_image(label: str, rng: random.Random, *, shifted: bool = False):
    """One product picture of class ``label`` (a PIL RGB image)."""
    import numpy as np
    from PIL import Image, ImageDraw, ImageEnhance, ImageFilter

    side = rng.choice(SHIFTED_SIZES if shifted else SIZES)
    aspect = rng.choice((1.0, 1.0, 1.0, 4 / 3, 3 / 4, 1.5)) if not shifted else 1.6
    width, height = (
        (side, max(64, int(side / aspect))) if aspect >= 1 else (max(64, int(side * aspect)), side)
    )
    image = _background(rng, width, height)

    scale = rng.uniform(0.7, 0.95)
    s = max(32, int(min(width, height) * scale))
    layer = Image.new("RGBA", (s, s), (0, 0, 0, 0))
    DRAWERS[label](ImageDraw.Draw(layer), s, rng, _color(rng), shifted and label == "mug")
    if rng.random() < 0.5:
        layer = layer.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    layer = layer.rotate(rng.uniform(-15, 15), resample=Image.Resampling.BICUBIC, expand=False)
    x = rng.randint(0, max(0, width - s))
    y = rng.randint(0, max(0, height - s))
    image.paste(layer, (x, y), layer)

    if rng.random() < 0.2:
        image = image.filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    if shifted:
        image = ImageEnhance.Brightness(image).enhance(rng.uniform(0.3, 0.5))
        image = ImageEnhance.Contrast(image).enhance(rng.uniform(0.4, 0.6))
    sigma = rng.uniform(2, 8)
    noise_rng = np.random.default_rng(rng.getrandbits(32))
    pixels = np.asarray(image, dtype=np.float32)
    pixels = pixels + noise_rng.normal(0, sigma, pixels.shape)
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8), "RGB")


def encode(image, fmt: str, rng: random.Random) -> bytes:
    buffer = io.BytesIO()
    if fmt == "JPEG":
        image.save(buffer, "JPEG", quality=rng.randint(70, 95))
    else:
        image.save(buffer, "PNG", optimize=False)
    return buffer.getvalue()


def generate(
    out_dir: Path,
    *,
    per_class: int = 60,
    incoming: int = 60,
    seed: int = 0,
    shifted: bool = False,
) -> dict[str, Any]:
    """Write the demo data set under ``out_dir``; returns the counts written."""
    out_dir = Path(out_dir)
    rng = random.Random(f"image-mlops-demo-{seed}-{'shifted' if shifted else 'base'}")
    labeled = 0
    for label in CLASSES:
        folder = out_dir / "labeled" / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(per_class):
            fmt = "PNG" if rng.random() < 0.3 else "JPEG"
            ext = "png" if fmt == "PNG" else "jpg"
            image = draw_image(label, rng, shifted=shifted)
            (folder / f"{label}-{i:04d}.{ext}").write_bytes(encode(image, fmt, rng))
            labeled += 1

    (out_dir / "incoming").mkdir(parents=True, exist_ok=True)
    truth: list[tuple[str, str]] = []
    prefix = "s" if shifted else "n"
    for i in range(incoming):
        label = rng.choice(CLASSES)
        image = draw_image(label, rng, shifted=shifted)
        digest = hashlib.sha256(f"{seed}-{prefix}-{i}".encode()).hexdigest()[:8]
        name = f"{prefix}{seed}-{i:04d}-{digest}.jpg"
        (out_dir / "incoming" / name).write_bytes(encode(image, "JPEG", rng))
        truth.append((name, label))

    feedback_dir = out_dir / "feedback"
    feedback_dir.mkdir(parents=True, exist_ok=True)
    rows = [(f"incoming/{name}", label) for i, (name, label) in enumerate(truth) if i % 2 == 0]
    with (feedback_dir / "feedback.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["key", "label"])
        writer.writerows(rows)
    # every incoming image's class, for the demo's reviewer (never uploaded)
    with (out_dir / "truth.csv").open("w", newline="") as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow(["key", "label"])
        writer.writerows((f"incoming/{name}", label) for name, label in truth)
    return {
        "out_dir": str(out_dir),
        "classes": list(CLASSES),
        "labeled": labeled,
        "incoming": incoming,
        "feedback": len(rows),
        "shifted": shifted,
        "seed": seed,
    }
