"""Generated data sets of the classic small experiments (lab and course notes): linear, XOR, blobs.

Each returns host arrays ``(X, labels)``: X float64 of shape (n, 2), labels int64 class indices.
"""

from __future__ import annotations

import numpy as np

from ..backends import host_rng

BLOB_CENTERS = ((0.0, -2.0), (2.0, 2.0), (-2.0, 2.0))


def linear(n: int = 100, seed: int | np.random.Generator | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Points uniform in the unit square, labelled 1 above the diagonal (x1 > x0), else 0."""
    X = host_rng(seed).uniform(0.0, 1.0, size=(n, 2))
    return X, (X[:, 1] > X[:, 0]).astype(np.int64)


def xor_points() -> tuple[np.ndarray, np.ndarray]:
    """The four corners of the unit square with the XOR of their coordinates as label."""
    X = np.array([[0.0, 0.0], [0.0, 1.0], [1.0, 0.0], [1.0, 1.0]])
    return X, np.array([0, 1, 1, 0], dtype=np.int64)


def xor(n_per_diagonal: int = 11) -> tuple[np.ndarray, np.ndarray]:
    """The lab's two-diagonal XOR pattern: (t, t) labelled 0 and (t, 1 - t) labelled 1, t in [0, 1].

    The centre point (0.5, 0.5) lies on both diagonals and is kept once, with label 0, as in the lab
    (21 points for the default 11 steps).
    """
    t = np.linspace(0.0, 1.0, n_per_diagonal)
    rising = np.stack([t, t], axis=1)
    falling = np.stack([t, 1.0 - t], axis=1)
    falling = falling[~np.isclose(falling[:, 0], falling[:, 1])]
    X = np.concatenate([rising, falling])
    labels = np.concatenate([np.zeros(len(rising), np.int64), np.ones(len(falling), np.int64)])
    return X, labels


def blobs(n_per_class: int = 500, std: float = 0.75, seed: int | np.random.Generator | None = 0) -> tuple[np.ndarray, np.ndarray]:
    """Three Gaussian classes around the notes' centres (0,-2), (2,2), (-2,2).

    The notes draw with std 1, where the classes overlap so much that no classifier exceeds about
    96.8% (the Bayes limit); the default 0.75 keeps the picture and makes ~99% reachable.
    """
    rng = host_rng(seed)
    X = np.concatenate([rng.normal(c, std, size=(n_per_class, 2)) for c in BLOB_CENTERS])
    labels = np.repeat(np.arange(len(BLOB_CENTERS), dtype=np.int64), n_per_class)
    return X, labels
