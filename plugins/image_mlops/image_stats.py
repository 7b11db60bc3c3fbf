"""Simple input statistics of an image, the same everywhere they are computed.

Used for the training baseline (``train_and_register``) and for every classified image
(``classify_images``), so monitoring can test the live distribution against the baseline.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from PIL import Image

#: The statistics monitoring tests for drift, in this order.
STAT_NAMES = ("brightness", "contrast", "saturation", "width", "height")


def input_stats(image: Image.Image) -> dict[str, float]:
    """Mean brightness, contrast (std of luminance), mean saturation (0-255), size."""
    from PIL import ImageStat

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
