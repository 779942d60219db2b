"""Preparing host data for training: one-hot targets, pixel scaling, standardization, splits."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import BpnnTypeError, BpnnValueError


def label_array(labels: Any, name: str = "labels") -> np.ndarray:
    """``labels`` as a NumPy array; a ragged list (rows of different lengths) is one error naming ``name``."""
    try:
        return np.asarray(labels)
    except ValueError:
        raise BpnnValueError(f"{name} must be one label per sample (a flat list or 1-D array); got a ragged list whose "
                             "items have different lengths") from None


def one_hot(labels: np.ndarray, n_classes: int | None = None) -> np.ndarray:
    """Rows of 0/1 with a 1 in each label's column (float64), for the softmax cost.

    With ``n_classes=1`` the result is the single 0/1 column a sigmoid output needs.
    """
    labels = label_array(labels)
    if labels.ndim != 1:
        raise BpnnValueError(f"labels must be a 1-D array of class indices, got shape {labels.shape}")
    if labels.dtype.kind not in "biuf":
        raise BpnnTypeError(f"labels must be class indices (whole numbers), got {labels.dtype} values")
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


@dataclass
class Split:
    """Host features (float64) and integer labels of one part of a data set."""

    X: np.ndarray
    labels: np.ndarray

    def __len__(self) -> int:
        return int(self.labels.shape[0])


def split_indices(labels: np.ndarray, fractions: tuple[float, ...], seed: int) -> list[np.ndarray]:
    """Stratified, seeded split of row indices: one array per fraction, plus the rest first.

    Returns [rest, part_1, ...]; each class is divided in the same proportions.
    """
    for f in fractions:
        if not 0.0 <= f < 1.0:
            raise BpnnValueError(f"split fractions must be in [0, 1), got {f}")
    if sum(fractions) >= 1.0:
        raise BpnnValueError(f"validation and test fractions add up to {sum(fractions):g}; leave some data to train on")
    rng = np.random.default_rng(seed)
    parts: list[list[np.ndarray]] = [[] for _ in range(len(fractions) + 1)]
    for cls in np.unique(labels):
        rows = rng.permutation(np.flatnonzero(labels == cls))
        start = 0
        for i, f in enumerate(fractions):
            count = int(round(f * len(rows)))
            parts[i + 1].append(rows[start : start + count])
            start += count
        parts[0].append(rows[start:])
    return [np.sort(np.concatenate(p)) if p else np.zeros(0, np.int64) for p in parts]


@dataclass
class Preprocessing:
    """What is done to raw features before the network sees them; saved with a model.

    Pixel scaling happens in the loaders (features in [0, 1]). ``standardize`` then subtracts the
    training split's mean value and divides by its standard deviation: one number each, as is usual
    for MNIST, because per-pixel statistics blow up border pixels that are almost always dark.
    """

    standardize: bool = False
    mean: np.ndarray | None = None
    std: np.ndarray | None = None

    def fit(self, X: np.ndarray) -> Preprocessing:
        if self.standardize:
            self.mean = np.array([X.mean()])
            self.std = np.array([X.std() if X.std() > 1e-12 else 1.0])
        return self

    def apply(self, X: np.ndarray) -> np.ndarray:
        if not self.standardize:
            return X
        if self.mean is None or self.std is None:
            raise BpnnValueError("standardization was asked for but never fitted on training data")
        return (X - self.mean) / self.std

    def invert(self, X: np.ndarray) -> np.ndarray:
        """The features before ``apply`` (pixels for pictures)."""
        return X * self.std + self.mean if self.standardize else X

    def arrays(self) -> dict[str, np.ndarray]:
        return {"preprocess.mean": self.mean, "preprocess.std": self.std} if self.standardize else {}
