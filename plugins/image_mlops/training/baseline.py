"""The monitoring baseline of a model: class mix and input statistics of its training split."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

from image_mlops.image_stats import STAT_NAMES, input_stats

IMAGE_SUFFIXES = {".jpg", ".jpeg", ".png", ".webp"}


def compute_baseline(train_dir: Path) -> dict[str, Any]:
    """``{"classes", "class_distribution", "input_stats": {stat: [values...]}}``."""
    from PIL import Image

    labels: Counter[str] = Counter()
    stats: dict[str, list[float]] = {name: [] for name in STAT_NAMES}
    for path in sorted(train_dir.rglob("*")):
        if not path.is_file() or path.suffix.lower() not in IMAGE_SUFFIXES:
            continue
        label = path.relative_to(train_dir).parts[0]
        try:
            with Image.open(path) as image:
                values = input_stats(image)
        except Exception:  # validated images decode; a broken one is skipped
            continue
        labels[label] += 1
        for name in STAT_NAMES:
            stats[name].append(values[name])
    total = sum(labels.values()) or 1
    classes = sorted(labels)
    return {
        "classes": classes,
        "class_distribution": {c: round(labels[c] / total, 6) for c in classes},
        "input_stats": stats,
        "n_images": sum(labels.values()),
    }
