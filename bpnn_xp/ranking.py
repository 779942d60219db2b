"""Ranking a model's class probabilities for people: the k most likely classes of each input, best first."""

from __future__ import annotations

import numpy as np

from . import checks
from .errors import BpnnValueError


def top_k(probabilities: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """(class indices, their probabilities), each n x min(k, classes), most likely first; ties go to the lower class index.

    A single probability vector is treated as one row. The sort is stable on the negated probabilities, so equal
    probabilities keep class order and the result is the same on every platform.
    """
    if not checks.is_whole(k, 1):
        raise BpnnValueError(f"top-k must be a whole number of at least 1, got {k!r}; ask for e.g. --top-k 3")
    table = np.asarray(probabilities, dtype=np.float64)
    if table.ndim == 1:
        table = table[None, :]
    if table.ndim != 2 or table.shape[1] == 0:
        raise BpnnValueError(f"probabilities must be an n x classes table, got shape {np.shape(probabilities)}")
    if not np.all(np.isfinite(table)):
        raise BpnnValueError("probabilities contain NaN or infinite values; the model's outputs are not usable")
    keep = min(int(k), table.shape[1])
    order = np.argsort(-table, axis=1, kind="stable")[:, :keep]
    return order, np.take_along_axis(table, order, axis=1)
