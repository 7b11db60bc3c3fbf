"""Classification metrics from labels and predictions: plain Python, no ML framework.

The worker computes them from a Batch Transform job's output (:mod:`.evaluation`); the local
``evaluate.py`` (``image-mlops train``) computes them from the predictions it makes itself.
"""

from __future__ import annotations


def classification_report(true: list[str], predicted: list[str | None], labels: list[str]) -> dict:
    """Accuracy, macro-F1, per-class precision/recall/F1/TP/support, confusion matrix.

    ``evaluation.json``'s shape: SageMaker's model-quality statistics
    (``multiclass_classification_metrics``, so ``ModelMetrics`` can point at it) and flat
    keys for the pipeline. A prediction that is ``None`` (the model could not read the
    image) or not among ``labels`` counts as wrong (``n_errors``)."""
    index = {label: i for i, label in enumerate(labels)}
    n = len(labels)
    matrix = [[0] * n for _ in range(n)]
    errors = 0
    for t, p in zip(true, predicted, strict=True):
        if p is None or p not in index:
            errors += 1
            continue
        matrix[index[t]][index[p]] += 1
    per_class = {}
    for label, i in index.items():
        tp = matrix[i][i]
        support = sum(1 for t in true if t == label)
        predicted_as = sum(matrix[r][i] for r in range(n))
        precision = tp / predicted_as if predicted_as else 0.0
        recall = tp / support if support else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        per_class[label] = {
            "precision": round(precision, 6),
            "recall": round(recall, 6),
            "f1": round(f1, 6),
            "true_positives": tp,
            "support": support,
        }
    correct = sum(matrix[i][i] for i in range(n))
    accuracy = correct / len(true) if true else 0.0
    present = [c for c in labels if per_class[c]["support"] > 0]
    macro_f1 = sum(per_class[c]["f1"] for c in present) / len(present) if present else 0.0
    weighted_f1 = (
        sum(per_class[c]["f1"] * per_class[c]["support"] for c in present) / len(true)
        if true
        else 0.0
    )
    return {
        "multiclass_classification_metrics": {
            "accuracy": {"value": round(accuracy, 6), "standard_deviation": "NaN"},
            "macro_f1": {"value": round(macro_f1, 6), "standard_deviation": "NaN"},
            "weighted_f1": {"value": round(weighted_f1, 6), "standard_deviation": "NaN"},
            "confusion_matrix": {
                t: {p: matrix[index[t]][index[p]] for p in labels} for t in labels
            },
        },
        "accuracy": round(accuracy, 6),
        "macro_f1": round(macro_f1, 6),
        "n_test": len(true),
        "n_errors": errors,
        "labels": labels,
        "per_class": per_class,
        "confusion_matrix": matrix,
    }
