"""Classification reports: accuracy, per-class precision/recall/F1 and the confusion matrix (scikit-learn)."""

from __future__ import annotations

from typing import Any

import numpy as np


def confusion_matrix(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> np.ndarray:
    """Counts of (true class, predicted class) pairs: rows are true classes."""
    matrix = np.zeros((n_classes, n_classes), dtype=np.int64)
    np.add.at(matrix, (np.asarray(truth, np.int64), np.asarray(predicted, np.int64)), 1)
    return matrix


def classification_summary(truth: np.ndarray, predicted: np.ndarray, n_classes: int) -> dict[str, Any]:
    """Everything ``bpnn evaluate`` shows, as plain JSON-ready data."""
    from sklearn.metrics import classification_report

    labels = list(range(n_classes))
    report = classification_report(truth, predicted, labels=labels, output_dict=True, zero_division=0)
    return {
        "accuracy": float(np.mean(truth == predicted)),
        "samples": int(truth.shape[0]),
        "per_class": {
            str(k): {m: float(report[str(k)][m]) for m in ("precision", "recall", "f1-score", "support")} for k in labels
        },
        "confusion_matrix": confusion_matrix(truth, predicted, n_classes).tolist(),
        "text": classification_report(truth, predicted, labels=labels, digits=4, zero_division=0),
    }


def format_confusion(matrix: list[list[int]]) -> str:
    """The confusion matrix as aligned text, rows = true class, columns = predicted."""
    width = max(len(str(v)) for row in matrix for v in row) + 1
    header = "true\\pred " + "".join(f"{j:>{width}}" for j in range(len(matrix)))
    rows = [f"{i:>9} " + "".join(f"{v:>{width}}" for v in row) for i, row in enumerate(matrix)]
    return "\n".join([header, *rows])
