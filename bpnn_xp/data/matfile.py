"""The classic course exercise's MATLAB file: X (m x 400, 20x20 images column-major), y in 1..10."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io

from ..errors import DataFileError


def load_course_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, labels) with X rows as row-major 20x20 images and labels 0..9 (the file's 10 means 0)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f".mat file {path} does not exist")
    try:
        contents = scipy.io.loadmat(path)
    except Exception as exc:  # scipy raises several types for corrupt files
        raise DataFileError(f"{path} is not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None
    if "X" not in contents or "y" not in contents:
        found = sorted(k for k in contents if not k.startswith("__"))
        raise DataFileError(f"{path} must hold variables X and y (the course format); found {found}")
    X = np.asarray(contents["X"], dtype=np.float64)
    y = np.asarray(contents["y"]).reshape(-1)
    if X.ndim != 2 or X.shape[1] != 400 or X.shape[0] != y.shape[0]:
        raise DataFileError(f"{path}: X must be m x 400 with one label per row; got X {X.shape}, y {y.shape}")
    if y.size and (y.min() < 1 or y.max() > 10 or np.any(y != np.round(y))):
        raise DataFileError(f"{path}: y must hold labels 1..10 (10 means digit 0); found {y.min()}..{y.max()}")
    labels = y.astype(np.int64) % 10  # the course's label 10 is the digit 0
    images = X.reshape(-1, 20, 20).transpose(0, 2, 1)  # MATLAB stored each image column-major
    return images.reshape(-1, 400), labels
