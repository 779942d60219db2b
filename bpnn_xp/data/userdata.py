"""A user's own data for train, evaluate and plot (``--data PATH``), read into a :class:`Dataset` that records its
input convention (pixel scale, image shape, class names) so that a trained model can apply it again.

Accepted: an ``.npz`` with arrays X and y (npz.py); a ``.csv`` with one label column and numeric features (csvfile.py);
a folder with one sub-folder of images per class (imagefolder.py); a folder of MNIST-style IDX files (idxfolder.py);
the course ``.mat`` file (matfile.py). This module picks the reader, scales the values and checks the classes. Every
file is untrusted: nothing is unpickled, and whatever cannot become correct numbers is one DataFileError line naming
the file and the fix.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from ..errors import BpnnValueError, DataFileError, SettingFileError
from . import matfile
from .csvfile import read_csv_layout
from .datasets import Dataset
from .idxfolder import from_idx_folder, idx_files
from .imagefolder import from_image_folder
from .npz import read_npz
from .prep import Split
from .scaling import detect_pixel_scale, scale_like_training
from .userforms import ACCEPTED, encode_labels, short_name


def load_user_data(
    path: str | Path,
    label_column: str | None = None,
    image_shape: tuple[int, int] | None = None,
    for_evaluation: bool = False,
    pixel_scale: float | None = None,
    reading: dict | None = None,
) -> Dataset:
    """The data at ``path`` as a Dataset (see the module docstring for the forms).

    ``label_column``: the CSV label column (a header name, or a position: 0 = first, -1 = last; default first).
    ``image_shape``: the size image folders are normalised to (default 28x28; give the model's when evaluating).
    ``for_evaluation``: the data will be scored, not trained on: one class is enough, an IDX folder may hold only
    its t10k pair, and X/labels are the rows to score (the t10k pair when an IDX folder holds both).
    ``pixel_scale``: a trained model's; .npz/.csv values are then scaled like its training data instead of detected.
    ``reading``: how a model's training file was read (a CSV's label column, delimiter...), applied unless overridden.
    """
    path = Path(path)
    if not path.exists():
        raise DataFileError(f"data {path} does not exist; give {ACCEPTED}")
    if label_column is not None and (path.is_dir() or path.suffix.lower() != ".csv"):
        raise SettingFileError(f"label_column is read for .csv files only; {path} is not one, so drop label_column",
                               "label_column")
    if path.is_dir():
        found = idx_files(path)
        dataset = from_idx_folder(path, found, for_evaluation) if found else from_image_folder(path, image_shape)
    elif path.suffix.lower() == ".csv":
        raw, values, layout = read_csv_layout(path, label_column, reading)
        dataset = _from_arrays(path, raw, values, image_shape, pixel_scale)
        dataset.reading = layout.recipe()
        _check_classes(dataset, for_evaluation)
        layout.say(path)  # said once the file is accepted: a refused file gets its one error line alone
    elif path.suffix.lower() == ".npz":
        raw, values, shape = read_npz(path)
        dataset = _from_arrays(path, raw, values, shape or image_shape, pixel_scale)
    elif path.suffix.lower() == ".mat":
        X, labels = matfile.load_course_mat(path)
        dataset = Dataset(short_name(path), X, labels, 10, (20, 20), pixel_scale=1.0, source=str(path))
    else:
        raise DataFileError(f"{path} is not a data file bpnn_xp reads; give {ACCEPTED}")
    _check_classes(dataset, for_evaluation)
    return dataset


def _check_classes(dataset: Dataset, for_evaluation: bool) -> None:
    """Training needs rows of at least two classes; evaluation at least one row."""
    present = np.unique(dataset.labels).size
    if dataset.labels.size == 0:
        raise DataFileError(f"{dataset.source} holds no rows; give at least one labelled example")
    if not for_evaluation and present < 2:
        raise DataFileError(f"{dataset.source} holds only one class; training needs examples of at least two classes")


# ---------------------------------------------------------------- arrays (.npz, .csv)


def _from_arrays(
    path: Path, raw: np.ndarray, values: np.ndarray, image_shape: tuple[int, int] | None, pixel_scale: float | None
) -> Dataset:
    """A Dataset from raw feature rows and labels: values scaled (detected, or like a model's training data)."""
    where = str(path)
    if raw.shape[0] != values.shape[0]:
        raise DataFileError(f"{where}: X has {raw.shape[0]} rows but y has {values.shape[0]} labels; give one label per row")
    if raw.shape[0] == 0 or raw.shape[1] == 0:
        raise DataFileError(
            f"{where} holds no data (features of shape {raw.shape}); give at least one row of at least one feature"
        )
    labels, class_names, n_classes = encode_labels(values, where)
    if pixel_scale is None:
        pixel_scale = detect_pixel_scale(raw, where)
        X = raw.astype(np.float64) / pixel_scale if pixel_scale != 1 else raw.astype(np.float64)
    else:
        X = scale_like_training(raw, pixel_scale, where)
    shape = _image_shape(raw.shape[1], image_shape, pixel_scale)
    return Dataset(
        short_name(path), X, labels, n_classes, shape, pixel_scale=float(pixel_scale), class_names=class_names, source=where
    )


def _image_shape(n_features: int, given: tuple[int, int] | None, pixel_scale: float) -> tuple[int, int] | None:
    """The rows' image shape: the one given when it fits, else square images when the values are pixels."""
    if given is not None and int(given[0]) * int(given[1]) == n_features:
        return int(given[0]), int(given[1])
    side = math.isqrt(n_features)
    if side * side != n_features or side < 2:
        return None
    # flattened images: 0..255 pixels in a square, or 0..16 pixels in 8x8 (scikit-learn's digits); other counts are tables
    return (side, side) if pixel_scale == 255 or (pixel_scale == 16 and side == 8) else None


# ---------------------------------------------------------------- a model's data


def check_compatible(
    dataset: Dataset, n_features: int, n_classes: int, image_shape: tuple[int, int] | None, class_names: list[str] | None
) -> None:
    """One-line DataFileError naming both sides unless ``dataset`` fits the model; then its labels (and test
    labels) are re-indexed IN PLACE to the model's class order, and its n_classes/class_names set to the model's.

    A data set holding a subset of the model's classes is fine; a label the model does not know is not.
    """
    where = dataset.source or dataset.name
    if dataset.n_features != n_features:
        raise DataFileError(
            f"{where} has {_features(dataset.n_features, dataset.image_shape)} "
            f"but the model takes {_features(n_features, image_shape)}"
        )
    if dataset.image_shape and image_shape and tuple(dataset.image_shape) != tuple(image_shape):
        raise DataFileError(f"{where} holds {_size(dataset.image_shape)} images but the model takes {_size(image_shape)} images")
    lookup = class_lookup(dataset, n_classes, class_names)
    dataset.labels = lookup[dataset.labels]
    if dataset.test is not None:
        dataset.test = Split(dataset.test.X, lookup[dataset.test.labels])
    dataset.n_classes, dataset.class_names = n_classes, ([str(n) for n in class_names] if class_names else None)


def class_lookup(dataset: Dataset, n_classes: int, class_names: list[str] | None) -> np.ndarray:
    """Model class index of each of ``dataset``'s classes (by name); a class the model never saw is one error naming it."""
    where = dataset.source or dataset.name
    model_names = [str(n) for n in class_names] if class_names else [str(i) for i in range(n_classes)]
    if len(model_names) != n_classes:
        raise BpnnValueError(f"the model's {len(model_names)} class names do not match its {n_classes} classes")
    data_names = dataset.class_names or [str(i) for i in range(dataset.n_classes)]
    index = {name: i for i, name in enumerate(model_names)}
    present = np.unique(np.concatenate([dataset.labels] + ([dataset.test.labels] if dataset.test else [])))
    unknown = [data_names[i] for i in present if data_names[i] not in index]
    if unknown:
        shown = ", ".join(unknown[:10]) + (", ..." if len(unknown) > 10 else "")
        raise DataFileError(f"{where} has class(es) {shown} that the model does not know; it knows {_classes(model_names)}")
    return np.array([index.get(name, -1) for name in data_names], dtype=np.int64)


def _features(n: int, shape: tuple[int, int] | None) -> str:
    return f"{n} features" + (f" ({_size(shape)} images)" if shape else "")


def _size(shape: tuple[int, int]) -> str:
    return "x".join(str(int(n)) for n in shape)


def _classes(names: list[str]) -> str:
    """'0..9' for default names, else the names (the first 10)."""
    if names == [str(i) for i in range(len(names))]:
        return f"{len(names)} classes 0..{len(names) - 1}"
    return f"{len(names)} classes: " + ", ".join(names[:10]) + (", ..." if len(names) > 10 else "")
