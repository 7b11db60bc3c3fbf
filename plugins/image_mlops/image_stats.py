"""Simple input statistics of an image, the same everywhere they are computed.

Used for the training baseline (``train_and_register``) and for every classified image
(``classify_images``), so monitoring can test the live distribution against the baseline.
"""

from __future__ import annotations

import functools
import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import numpy as np
    from PIL import Image

#: The statistics monitoring tests for drift, in this order.
STAT_NAMES = ("brightness", "contrast", "saturation", "width", "height")
#: Images are measured on a thumbnail of at most this many pixels a side.
THUMBNAIL = 128


def input_stats(image: Image.Image) -> dict[str, float]:
    """Mean brightness, contrast (std of luminance), mean saturation (0-255), size.

    The numbers ``ImageStat.Stat`` gives for the thumbnail's L and HSV S channels, to the bit.
    """
    import numpy as np

    width, height = image.size
    small = _thumbnail(image)
    brightness, contrast = _mean_and_stddev(np.array(small.convert("L").histogram()))
    return {
        "brightness": round(brightness, 3),
        "contrast": round(contrast, 3),
        "saturation": round(_mean_saturation(small), 3),
        "width": float(width),
        "height": float(height),
    }


def _thumbnail(image: Image.Image) -> Image.Image:
    """The image as RGB, at most :data:`THUMBNAIL` px a side (``Image.thumbnail``)."""
    if image.mode == "RGB" and max(image.size) <= THUMBNAIL:
        return image  # what convert + thumbnail would return, without the copy
    small = image.convert("RGB")
    small.thumbnail((THUMBNAIL, THUMBNAIL))
    return small


def _mean_and_stddev(histogram: np.ndarray) -> tuple[float, float]:
    """Mean and standard deviation of a 256-bin histogram, computed like ``ImageStat.Stat``
    (exact integer sums, the same float operations) without its Python loops."""
    import numpy as np

    levels = np.arange(256, dtype=np.int64)
    count = int(histogram.sum())
    total = int(histogram @ levels)
    squares = int(histogram @ (levels * levels))
    variance = (squares - total**2 / count) / count
    return total / count, math.sqrt(variance)


def _mean_saturation(rgb: Image.Image) -> float:
    """Mean of ``rgb.convert("HSV")``'s S channel, ~3x cheaper.

    Pillow's saturation depends only on a pixel's largest and smallest channel, so it is
    looked up in a table Pillow itself filled (:func:`_saturation_table`).
    """
    import numpy as np

    red, green, blue = (np.asarray(band) for band in rgb.split())  # contiguous: cheaper
    index = np.maximum(np.maximum(red, green), blue).astype(np.uint16)
    index <<= 8
    index |= np.minimum(np.minimum(red, green), blue)
    saturation = _saturation_table()[index]
    return int(saturation.sum(dtype=np.int64)) / saturation.size


@functools.cache
def _saturation_table() -> np.ndarray:
    """Pillow's HSV saturation of a pixel, by ``max << 8 | min`` of its channels."""
    import numpy as np
    from PIL import Image

    high, low = np.meshgrid(np.arange(256), np.arange(256), indexing="ij")
    pixels = np.stack([high, np.minimum(low, high), np.minimum(low, high)], axis=-1)
    hsv = np.asarray(Image.fromarray(pixels.astype(np.uint8)).convert("HSV"))
    table = hsv[..., 1].reshape(-1).copy()
    table.flags.writeable = False
    return table
