"""The classic course exercise's MATLAB file: X (m x 400, 20x20 images column-major), y in 1..10.

The file is untrusted: its catalogue (names, MATLAB classes, shapes) is checked before anything is
loaded, and only plain real numeric matrices X and y are ever used.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from ..errors import DataFileError

NUMERIC_CLASSES = {"double", "single", "int8", "uint8", "int16", "uint16", "int32", "uint32", "int64", "uint64"}
CLASS_NAMES = {  # what to call a MATLAB class in a message, and how to fix it
    "char": "text (char)",
    "cell": "a cell array (save cell2mat({name}) instead)",
    "struct": "a struct (save its numeric field instead)",
    "sparse": "a sparse matrix (save full({name}) instead)",
    "logical": "logical (true/false) values (save double({name}) instead)",
    "object": "a MATLAB object",
    "function": "a function handle",
}
MAX_VALUES = 1 << 27  # 1 GiB as float64; the course file holds 2 million values
PIXELS = 400


def load_course_mat(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(X, labels) with X rows as row-major 20x20 images and labels 0..9 (the file's 10 means 0)."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f".mat file {path} does not exist")
    X, y = read_matrices(path, ("X", "y"), "the course format")
    if X.ndim != 2 or X.shape[1] != PIXELS:
        raise DataFileError(f"{path}: X must be an m x {PIXELS} matrix (one 20x20 image per row); got {dims(X)}")
    if y.ndim > 2 or min(y.shape) > 1:
        raise DataFileError(f"{path}: y must be a vector of labels (one column); got a {dims(y)} matrix")
    y = y.reshape(-1)
    if X.shape[0] == 0 or X.shape[0] != y.shape[0]:
        raise DataFileError(f"{path}: X must hold one image per label, at least one; got X {dims(X)} and {y.size} labels")
    if y.min() < 1 or y.max() > 10 or np.any(y != np.round(y)):
        raise DataFileError(f"{path}: y must hold labels 1..10 (10 means digit 0); found {y.min()}..{y.max()}")
    labels = y.astype(np.int64) % 10  # the course's label 10 is the digit 0
    images = X.reshape(-1, 20, 20).transpose(0, 2, 1)  # MATLAB stored each image column-major
    return images.reshape(-1, PIXELS), labels


def _scipy(path: Path, function: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """``function(*args, **kwargs)`` from scipy.io, any failure on a corrupt file turned into one DataFileError."""
    try:
        return function(*args, **kwargs)
    except Exception as exc:  # scipy raises many types (ValueError, TypeError, zlib.error, MemoryError...) for bad files
        raise DataFileError(f"{path} is not a readable MATLAB .mat file ({type(exc).__name__}: {exc})") from None


def read_matrices(path: Path, names: tuple[str, ...], described: str) -> list[np.ndarray]:
    """The named variables of an existing .mat file as finite float64 arrays; its catalogue is checked before loading.

    ``described`` says which file this should be, for the message when a variable is missing.
    """
    if _scipy(path, scipy.io.matlab.matfile_version, path)[0] == 2:
        raise DataFileError(f"{path} is a MATLAB v7.3 (HDF5) file, which is not supported; save it with save(..., '-v7')")
    _check_catalogue(path, names, described)
    contents = _scipy(path, scipy.io.loadmat, path, variable_names=list(names), appendmat=False)
    return [_numeric(path, name, contents[name]) for name in names]


def _check_catalogue(path: Path, names: tuple[str, ...], described: str) -> None:
    """Refuse a file without the named variables, or where one is not a plain numeric matrix of sane size, before loading it."""
    catalogue = {name: (shape, kind) for name, shape, kind in _scipy(path, scipy.io.whosmat, path, appendmat=False)}
    missing = [name for name in names if name not in catalogue]
    if missing:
        raise DataFileError(
            f"{path} must hold variables {' and '.join(names)} ({described}); "
            f"{' and '.join(missing)} missing, found {sorted(catalogue)}"
        )
    for name in names:
        shape, kind = catalogue[name]
        if kind not in NUMERIC_CLASSES:
            what = CLASS_NAMES.get(kind, f"MATLAB class {kind!r}").replace("{name}", name)
            raise DataFileError(f"{path}: {name} holds {what}; it must be a plain numeric matrix (double)")
        if math.prod(shape) > MAX_VALUES:
            raise DataFileError(f"{path}: {name} claims {math.prod(shape)} values, over the {MAX_VALUES} limit; it is corrupt")


def _numeric(path: Path, name: str, value: object) -> np.ndarray:
    """``value`` as a finite float64 array if scipy gave a real numeric ndarray, else an error saying what it is."""
    kind = value.dtype.kind if isinstance(value, np.ndarray) else None
    if kind not in ("i", "u", "f"):
        what = "complex numbers" if kind == "c" else f"a {type(value).__name__} of {getattr(value, 'dtype', 'objects')}"
        raise DataFileError(f"{path}: {name} holds {what}; it must be a plain real numeric matrix (double)")
    array = value.astype(np.float64)
    if not np.all(np.isfinite(array)):
        raise DataFileError(f"{path}: {name} contains NaN or infinite values")
    return array


def dims(array: np.ndarray) -> str:
    """MATLAB-style size, e.g. '5 x 400'."""
    return " x ".join(map(str, array.shape))
