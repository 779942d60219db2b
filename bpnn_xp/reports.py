"""Classification reports: accuracy, per-class precision/recall/F1 and the confusion matrix (scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np

from .errors import BpnnValueError


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: rows are true classes."""
    truth, predicted = np.asarray(truth, np.int64), np.asarray(predicted, np.int64)
    outside = [int(v) for v in np.unique(np.concatenate([truth, predicted])) if not 0 <= v < n_classes]
    if outside:
        raise BpnnValueError(f"class indices {outside[:10]} are outside the model's {n_classes} classes 0..{n_classes - 1}")
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def classification_summary(truth: np.ndarray, predicted: np.ndarray, n_classes: int,
                           class_names: list[str] | None = None) -> dict[str, Any]:  # fmt: skip
    """Everything ``bpnn evaluate`` shows, as plain JSON-ready data; classes are called by their names when given."""
    from sklearn.metrics import classification_report

    labels = list(range(n_classes))
    names = [str(n) for n in class_names] if class_names else [str(k) for k in labels]
    report = classification_report(truth, predicted, labels=labels, target_names=names, output_dict=True, zero_division=0)
    return {
        "accuracy": float(np.mean(truth == predicted)),
        "samples": int(truth.shape[0]),
        "per_class": {
            name: {m: float(report[name][m]) for m in ("precision", "recall", "f1-score", "support")} for name in names
        },
        "confusion_matrix": confusion_matrix(truth, predicted, n_classes).tolist(),
        "text": classification_report(truth, predicted, labels=labels, target_names=names, digits=4, zero_division=0),
    }


def format_confusion(matrix: list[list[int]], class_names: list[str] | None = None) -> str:
    """The confusion matrix as aligned text, rows = true class, columns = predicted (named when names are given)."""
    names = [str(n) for n in class_names] if class_names else [str(k) for k in range(len(matrix))]
    width = max(max(len(str(v)) for row in matrix for v in row), *(len(n) for n in names)) + 1
    label = max(9, *(len(n) for n in names))
    corner = "true\\pred"
    header = f"{corner:>{label}} " + "".join(f"{n:>{width}}" for n in names)
    rows = [f"{n:>{label}} " + "".join(f"{v:>{width}}" for v in row) for n, row in zip(names, matrix)]
    return "\n".join([header, *rows])
