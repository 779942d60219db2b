"""Preparing host data for training: one-hot targets, pixel scaling, standardization, splits."""

from __future__ import annotations

import numpy as np

from ..errors import BpnnValueError


def one_hot(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Rows of 0/1 with a 1 in each label's column (float64), for the softmax cost.

    With ``n_classes=1`` the result is the single 0/1 column a sigmoid output needs.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1:
        raise BpnnValueError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if labels.size and (not np.issubdtype(labels.dtype, np.integer)):
        if not np.all(np.equal(np.mod(labels, 1), 0)):
            raise BpnnValueError("labels must be whole numbers (class indices 0..K-1)")
        labels = labels.astype(np.int64)
    k = int(n_classes) if n_classes is not None else int(labels.max(initial=-1)) + 1
    if labels.size and (labels.min() < 0 or labels.max() >= max(k, 2)):
        raise BpnnValueError(f"labels must lie in 0..{max(k, 2) - 1} for {k} class(es); found {labels.min()}..{labels.max()}")
    if k == 1:
        return labels.astype(np.float64).reshape(-1, 1)
    out = np.zeros((labels.shape[0], k))
    out[np.arange(labels.shape[0]), labels] = 1.0
    return out
