"""Per-class KPIs from predictions joined with ground-truth feedback.

``compute_kpis(predictions, labels)`` is pure: ``predictions`` are rows of the predictions
table (dicts with ``source_key``, ``predicted_class``, ``confidence``, ``uncertain``,
``error_reason``), ``labels`` maps ``incoming/<name>`` to the true class.
"""

from __future__ import annotations

import csv
import io
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field


@dataclass
class ClassKpis:
    tp: int = 0
    fp: int = 0
    fn: int = 0
    predicted: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 0.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 0.0


@dataclass
class Kpis:
    per_class: dict[str, ClassKpis] = field(default_factory=dict)
    predictions: int = 0
    labeled: int = 0
    correct: int = 0
    errors: int = 0
    uncertain: int = 0
    confidence_sum: float = 0.0

    @property
    def accuracy(self) -> float:
        return self.correct / self.labeled if self.labeled else 0.0

    @property
    def mean_confidence(self) -> float:
        return self.confidence_sum / self.predictions if self.predictions else 0.0

    @property
    def uncertain_share(self) -> float:
        return self.uncertain / self.predictions if self.predictions else 0.0

    def class_mix(self) -> dict[str, int]:
        return {cls: k.predicted for cls, k in self.per_class.items()}

    def summary(self) -> dict:
        """Small JSON-able summary (for XCom and the report)."""
        return {
            "predictions": self.predictions,
            "labeled": self.labeled,
            "accuracy": round(self.accuracy, 4),
            "errors": self.errors,
            "mean_confidence": round(self.mean_confidence, 4),
            "uncertain_share": round(self.uncertain_share, 4),
            "per_class": {
                cls: {
                    "tp": k.tp,
                    "fp": k.fp,
                    "fn": k.fn,
                    "precision": round(k.precision, 4),
                    "recall": round(k.recall, 4),
                    "predicted": k.predicted,
                }
                for cls, k in sorted(self.per_class.items())
            },
        }


def compute_kpis(
    predictions: Iterable[Mapping], labels: Mapping[str, str], classes: Iterable[str] = ()
) -> Kpis:
    kpis = Kpis(per_class={cls: ClassKpis() for cls in classes})

    def of(cls: str) -> ClassKpis:
        return kpis.per_class.setdefault(cls, ClassKpis())

    for row in predictions:
        if row.get("error_reason"):
            kpis.errors += 1
            continue
        predicted = row.get("predicted_class")
        kpis.predictions += 1
        kpis.confidence_sum += float(row.get("confidence") or 0.0)
        kpis.uncertain += bool(row.get("uncertain"))
        if predicted:
            of(predicted).predicted += 1
        truth = labels.get(row["source_key"])
        if truth is None:
            continue
        kpis.labeled += 1
        if predicted == truth:
            kpis.correct += 1
            of(truth).tp += 1
        else:
            of(truth).fn += 1
            if predicted:
                of(predicted).fp += 1
    return kpis


def confusion(
    predictions: Iterable[Mapping], labels: Mapping[str, str]
) -> dict[tuple[str, str], int]:
    """``{(true class, predicted class): count}`` over the labelled predictions, counted as
    :func:`compute_kpis` counts them (an uncertain prediction keeps its top class)."""
    cells: dict[tuple[str, str], int] = {}
    for row in predictions:
        truth = labels.get(row["source_key"])
        predicted = row.get("predicted_class")
        if row.get("error_reason") or truth is None or not predicted:
            continue
        cells[truth, predicted] = cells.get((truth, predicted), 0) + 1
    return cells


def parse_feedback(files: Iterable[tuple[str, str]]) -> tuple[dict[str, str], Counter]:
    """``key → label`` from ``(s3 key, csv text)`` pairs, later files winning.

    Returns the labels and a counter of skipped rows by reason (``bad_header``,
    ``empty_label``, ``bad_key``) so nothing is dropped silently.
    """
    labels: dict[str, str] = {}
    skipped: Counter = Counter()
    for _key, text in sorted(files):
        reader = csv.DictReader(io.StringIO(text))
        if not reader.fieldnames or {"key", "label"} - {f.strip() for f in reader.fieldnames}:
            skipped["bad_header"] += 1
            continue
        for row in reader:
            key = (row.get("key") or "").strip()
            label = (row.get("label") or "").strip()
            if not key.startswith("incoming/"):
                skipped["bad_key"] += 1
            elif not label:
                skipped["empty_label"] += 1
            else:
                labels[key] = label
    return labels, skipped
