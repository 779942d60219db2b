"""What the user-data formats share: the forms bpnn_xp reads, a data set's short name, and labels encoded as
class indices (integers sorted numerically, text sorted as text) with their class names."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

from ..errors import DataFileError, SettingFileError

ACCEPTED = (
    "an .npz file with arrays X and y, a .csv file (a label column and numeric features), a folder holding one "
    "sub-folder of images per class, a folder of MNIST IDX files, or the course .mat file"
)
MAX_CLASSES = 1000  # more distinct labels than this means the wrong label column, not a classification task


def short_name(path: Path) -> str:
    """A short name for reports: the file's stem or the folder's name."""
    return (path.stem if path.is_file() else path.resolve().name) or "data"


def encode_labels(values: np.ndarray, where: str) -> tuple[np.ndarray, list[str] | None, int]:
    """(class indices, class names or None, class count) from integer, whole-float or text labels.

    Integers 0..K-1 (all present) stay as they are with no names; other integers and text become indices into
    their sorted distinct values (numerically sorted when all are whole numbers), which are the class names.
    """
    try:
        values = np.asarray(values)
    except ValueError:
        raise DataFileError(f"{where}: labels must be one value per row; got a ragged list whose items differ in "
                            "length") from None
    if values.ndim != 1:
        raise DataFileError(f"{where}: labels must be one value per row (a vector); got shape {values.shape}")
    if values.dtype.kind in ("U", "S"):
        values = _text_labels(values, where)
    whole = _whole_labels(values, where)
    classes = np.unique(whole)
    if classes.size > MAX_CLASSES:
        raise DataFileError(
            f"{where}: labels take {classes.size} different values (over {MAX_CLASSES}); is the label column right?"
        )
    if whole.dtype.kind != "U" and whole.size and classes[-1] == classes.size - 1:
        return whole, None, int(classes.size)
    return np.searchsorted(classes, whole).astype(np.int64), [str(c) for c in classes], int(classes.size)


def _text_labels(values: np.ndarray, where: str) -> np.ndarray:
    """Text labels as integers when all are whole numbers, else as stripped text with sorted distinct values."""
    try:
        text = np.char.strip(values.astype(np.str_))
    except UnicodeDecodeError:
        raise DataFileError(f"{where}: labels are bytes that are not text; save them as strings or integers") from None
    if np.any(text == ""):
        row = int(np.flatnonzero(text == "")[0])
        raise DataFileError(f"{where}: the label of row {row + 1} is empty; every row needs a label")
    distinct = np.unique(text)
    if all(re.fullmatch(r"[+-]?\d{1,18}", str(t)) for t in distinct):
        return text.astype(np.int64)
    if all(is_number(str(t)) for t in distinct):  # '1.0' from a float column is class 1; '0.25' stays a name
        numbers = text.astype(np.float64)
        if np.all(np.isfinite(numbers)) and np.all(numbers == np.round(numbers)) and np.all(np.abs(numbers) < 2**53):
            return numbers.astype(np.int64)
        example = next(str(t) for t in distinct if float(t) != round(float(t)))
        raise SettingFileError(
            f"{where}: the label column holds fractional numbers (e.g. {example!r}), which are measurements, not classes; "
            "name the label column with label_column NAME (or a position: 0 = first, -1 = last)", "label_column"
        )
    return text  # names; _whole_labels passes text through


def _whole_labels(values: np.ndarray, where: str) -> np.ndarray:
    """Labels as int64 when numeric (whole, >= 0), text passed through."""
    kind = values.dtype.kind
    if kind == "U":
        return values
    if kind not in ("b", "i", "u", "f"):
        raise DataFileError(f"{where}: labels hold {values.dtype} values; give integers 0..K-1 or class names")
    if kind == "f" and not (np.all(np.isfinite(values)) and np.all(values == np.round(values))):
        raise DataFileError(f"{where}: labels must be whole numbers (class indices) or names; found fractional or NaN values")
    if values.size and values.min() < 0:
        raise DataFileError(f"{where}: labels must be class indices >= 0 (or names); found {values.min():g}")
    return values.astype(np.int64)


def is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True
