"""A user's own data (--data PATH): every accepted form read into a Dataset that records its input convention,
every conversion checked against an independent computation, every bad input one DataFileError line."""

from __future__ import annotations

import io
import zipfile

import numpy as np
import pytest
import scipy.io
from PIL import Image

from bpnn_xp.data import idx, load_dataset
from bpnn_xp.data.matfile import load_course_mat
from bpnn_xp.data.normalize import normalize_digit
from bpnn_xp.data.scaling import detect_pixel_scale, scale_like_training
from bpnn_xp.data.userdata import check_compatible, encode_labels, load_user_data
from bpnn_xp.errors import BpnnValueError, DataFileError


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20240612)


def one_line_error(call, match: str, error: type[Exception] = DataFileError) -> str:
    """Run ``call``; it must raise ``error`` with a one-line message matching ``match``."""
    with pytest.raises(error, match=match) as info:
        call()
    assert "\n" not in str(info.value), str(info.value)
    return str(info.value)


# ---------------------------------------------------------------- scaling


@pytest.mark.parametrize(
    ("array", "expected"),
    [
        (np.array([True, False]), 1.0),
        (np.array([0, 1, 1], dtype=np.uint8), 1.0),  # binary integers are not pixels
        (np.array([0, 7, 16], dtype=np.int64), 16.0),
        (np.array([0, 17, 200], dtype=np.uint8), 255.0),
        (np.array([0.0, 0.5, 1.0]), 1.0),
        (np.array([0.0, 12.0, 16.0]), 16.0),
        (np.array([0.0, 3.0, 255.0], dtype=np.float32), 255.0),
        (np.array([0.0, 3.5, 200.0]), 1.0),  # fractional: not pixels
        (np.array([-1.0, 0.0, 2.0]), 1.0),  # negative: not pixels
        (np.array([0.0, 256.0]), 1.0),  # beyond 0..255: not pixels
        (np.zeros((0, 3)), 1.0),
    ],
)
def test_detect_pixel_scale(array, expected):
    assert detect_pixel_scale(array) == expected


@pytest.mark.parametrize(
    ("array", "match"),
    [
        (np.array([0, 256], dtype=np.int64), "integers from 0 to 256"),
        (np.array([-3, 5], dtype=np.int16), "integers from -3 to 5"),
        (np.array([0.0, np.nan]), "NaN or infinite"),
        (np.array([0.0, np.inf]), "NaN or infinite"),
        (np.array(["1", "2"]), "text"),
        (np.array([1 + 2j]), "complex"),
    ],
)
def test_detect_pixel_scale_refuses(array, match):
    one_line_error(lambda: detect_pixel_scale(array, "DATA"), match)


def test_scale_like_training_conversions():
    pixels = np.array([0, 51, 255], dtype=np.uint8)
    assert np.allclose(scale_like_training(pixels, 255.0), [0.0, 0.2, 1.0])
    digits = np.array([[0, 8, 16]], dtype=np.int64)
    assert np.allclose(scale_like_training(digits, 16.0), [[0.0, 0.5, 1.0]])
    big = np.array([0, 102, 204], dtype=np.uint8)  # a 0..255 image given to an 8x8 digits model
    assert np.allclose(scale_like_training(big, 16.0), [0.0, 0.4, 0.8])
    unit = np.array([0.0, 0.25, 1.0], dtype=np.float32)
    out = scale_like_training(unit, 255.0)
    assert out.dtype == np.float64 and np.allclose(out, [0.0, 0.25, 1.0])
    floats255 = np.array([0.0, 127.5, 255.0], dtype=np.float32)
    out = scale_like_training(floats255, 255.0)
    assert out.dtype == np.float64 and np.allclose(out, [0.0, 0.5, 1.0])
    assert scale_like_training(np.array([True, False]), 255.0).tolist() == [1.0, 0.0]
    raw = np.array([-4.5, 300.0, 1e6])  # a model of non-pixel features takes values as they are
    assert np.array_equal(scale_like_training(raw, 1.0), raw)


@pytest.mark.parametrize(
    ("array", "scale", "match"),
    [
        (np.array([0, 300]), 255.0, r"values from 0 to 300; this model expects pixels in 0..255"),
        (np.array([-1.0, 0.5]), 16.0, r"values from -1 to 0.5; this model expects pixels in 0..16"),
        (np.array([0.0, np.nan]), 255.0, "NaN or infinite"),
        (np.array([0.0, np.inf]), 1.0, "NaN or infinite"),
        (np.array([0.0, 1e39]), 1.0, "beyond float32's range"),
        (np.array(["a"]), 1.0, "text"),
    ],
)
def test_scale_like_training_refuses(array, scale, match):
    one_line_error(lambda: scale_like_training(array, scale, "INPUT"), "INPUT holds|INPUT contains")
    one_line_error(lambda: scale_like_training(array, scale, "INPUT"), match)


def test_scale_like_training_refuses_a_bad_scale():
    one_line_error(lambda: scale_like_training(np.zeros(2), 0.5), "pixel_scale must be", BpnnValueError)


# ---------------------------------------------------------------- labels


def test_encode_labels():
    labels, names, k = encode_labels(np.array([2, 0, 1, 2]), "L")
    assert labels.tolist() == [2, 0, 1, 2] and names is None and k == 3
    text = np.array(["dog", "cat", "dog", "emu"])
    labels, names, k = encode_labels(text, "L")
    assert k == 3 and names == ["cat", "dog", "emu"] and [names[i] for i in labels] == text.tolist()
    labels, names, k = encode_labels(np.array([7, 3, 7]), "L")  # not 0..K-1: indices into the names
    assert names == ["3", "7"] and labels.tolist() == [1, 0, 1]
    labels, names, k = encode_labels(np.array(["10", "9", "2"]), "L")  # whole numbers sorted numerically
    assert names == ["2", "9", "10"] and labels.tolist() == [2, 1, 0]
    assert encode_labels(np.array([1.0, 0.0]), "L")[0].tolist() == [1, 0]


@pytest.mark.parametrize(
    ("values", "match"),
    [
        (np.array([0, -1]), "labels must be class indices >= 0"),
        (np.array([0.5, 1.0]), "whole numbers"),
        (np.array(["a", " "]), "label of row 2 is empty"),
        (np.arange(2000), "2000 different values"),
        (np.zeros((2, 2)), "one value per row"),
    ],
)
def test_encode_labels_refuses(values, match):
    one_line_error(lambda: encode_labels(values, "L"), match)


# ---------------------------------------------------------------- .npz


def test_npz_uint8_square_rows_are_images(tmp_path, rng):
    X = rng.integers(0, 256, size=(12, 784), dtype=np.uint8)
    y = np.arange(12) % 3
    np.savez(tmp_path / "mine.npz", X=X, y=y)
    data = load_user_data(tmp_path / "mine.npz")
    assert data.pixel_scale == 255.0 and data.image_shape == (28, 28) and data.n_classes == 3
    assert np.allclose(data.X, X.astype(np.float64) / 255.0) and data.labels.tolist() == y.tolist()
    assert data.name == "mine" and data.source == str(tmp_path / "mine.npz") and data.class_names is None


def test_npz_float_features_used_as_they_are(tmp_path, rng):
    X = rng.normal(size=(10, 5)).astype(np.float32)
    y = np.array(["yes", "no"] * 5)
    np.savez_compressed(tmp_path / "f.npz", X=X, y=y)
    data = load_user_data(tmp_path / "f.npz")
    assert data.pixel_scale == 1.0 and data.image_shape is None and data.X.dtype == np.float64
    assert np.array_equal(data.X, X.astype(np.float64))
    assert data.class_names == ["no", "yes"] and [data.class_names[i] for i in data.labels] == y.tolist()


def test_npz_3d_digits_images(tmp_path, rng):
    X = rng.integers(0, 17, size=(6, 8, 8)).astype(np.int64)
    X[0, 0, 0] = 16
    y = np.array([[0], [1], [0], [1], [0], [1]])  # a column vector is fine
    np.savez(tmp_path / "d.npz", X=X, y=y)
    data = load_user_data(tmp_path / "d.npz")
    assert data.pixel_scale == 16.0 and data.image_shape == (8, 8) and data.n_features == 64
    assert np.allclose(data.X, X.reshape(6, 64) / 16.0) and data.labels.tolist() == [0, 1, 0, 1, 0, 1]


def test_npz_scaled_like_a_models_training_data(tmp_path, rng):
    X = rng.random((4, 64))  # floats in [0, 1] given to a digits model (pixel scale 16) stay as they are
    np.savez(tmp_path / "t.npz", X=X, y=np.array([0, 1, 2, 3]))
    data = load_user_data(tmp_path / "t.npz", for_evaluation=True, pixel_scale=16.0)
    assert data.pixel_scale == 16.0 and np.array_equal(data.X, X) and data.image_shape == (8, 8)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array)
    return buffer.getvalue()


def test_npz_bad_inputs(tmp_path):
    np.savez(tmp_path / "nox.npz", features=np.zeros((2, 2)), y=np.zeros(2))
    one_line_error(lambda: load_user_data(tmp_path / "nox.npz"), r"must hold arrays X and y .* it holds features, y")
    np.savez(tmp_path / "obj.npz", X=np.array([[1, "a"]], dtype=object), y=np.zeros(1))
    one_line_error(lambda: load_user_data(tmp_path / "obj.npz"), "pickled objects, which bpnn_xp never loads")
    np.savez(tmp_path / "rows.npz", X=np.zeros((3, 2)), y=np.array([0, 1]))
    one_line_error(lambda: load_user_data(tmp_path / "rows.npz"), "X has 3 rows but y has 2 labels")
    np.savez(tmp_path / "neg.npz", X=np.zeros((2, 2)), y=np.array([0, -1]))
    one_line_error(lambda: load_user_data(tmp_path / "neg.npz"), "labels must be class indices >= 0")
    np.savez(tmp_path / "one.npz", X=np.zeros((2, 2)), y=np.array([1, 1]))
    one_line_error(lambda: load_user_data(tmp_path / "one.npz"), "only one class; training needs")
    assert load_user_data(tmp_path / "one.npz", for_evaluation=True).labels.tolist() == [0, 0]
    np.savez(tmp_path / "big.npz", X=np.array([[0, 300], [1, 2]]), y=np.array([0, 1]))
    one_line_error(lambda: load_user_data(tmp_path / "big.npz"), "integers from 0 to 300")
    np.savez(tmp_path / "nan.npz", X=np.array([[0.0, np.nan], [1, 2]]), y=np.array([0, 1]))
    one_line_error(lambda: load_user_data(tmp_path / "nan.npz"), "NaN or infinite")
    np.savez(tmp_path / "1d.npz", X=np.zeros(4), y=np.zeros(4))
    one_line_error(lambda: load_user_data(tmp_path / "1d.npz"), r"X has shape \(4,\)")
    np.savez(tmp_path / "empty.npz", X=np.zeros((0, 3)), y=np.zeros(0))
    one_line_error(lambda: load_user_data(tmp_path / "empty.npz"), "holds no data")
    np.save(tmp_path / "single.npy", np.zeros(3))
    (tmp_path / "single.npy").rename(tmp_path / "single.npz")
    one_line_error(lambda: load_user_data(tmp_path / "single.npz"), "single .npy array, not an .npz archive")
    (tmp_path / "junk.npz").write_bytes(b"PK\x03\x04 not really a zip")
    one_line_error(lambda: load_user_data(tmp_path / "junk.npz"), "not a readable .npz archive")


def test_npz_header_claiming_a_huge_array_is_refused_before_allocating(tmp_path):
    # a valid .npy header claiming 32 GB, followed by 32 bytes of data
    fake = io.BytesIO()
    np.lib.format.write_array_header_1_0(fake, {"descr": "<f8", "fortran_order": False, "shape": (4_000_000_000,)})
    with zipfile.ZipFile(tmp_path / "huge.npz", "w") as archive:
        archive.writestr("X.npy", fake.getvalue() + bytes(32))
        archive.writestr("y.npy", _npy_bytes(np.zeros(1)))
    one_line_error(lambda: load_user_data(tmp_path / "huge.npz"), r"X claims a \(4000000000,\) array of 32000000000 bytes")


# ---------------------------------------------------------------- .csv


def test_csv_with_header_and_named_label_column(tmp_path):
    (tmp_path / "h.csv").write_text("a,digit,b\n0,3,255\n10,7,0\n20,3,128\n")
    data = load_user_data(tmp_path / "h.csv", label_column="Digit")  # names match ignoring case
    assert data.pixel_scale == 255.0 and data.class_names == ["3", "7"] and data.labels.tolist() == [0, 1, 0]
    assert np.allclose(data.X, np.array([[0, 255], [10, 0], [20, 128]]) / 255.0)


def test_csv_without_header_label_first_by_default(tmp_path):
    (tmp_path / "n.csv").write_text("1,0.5,0.25\n0,0.0,1.0\n\n1,0.75,0.5\n")  # a blank line is skipped
    data = load_user_data(tmp_path / "n.csv")
    assert data.labels.tolist() == [1, 0, 1] and data.class_names is None and data.pixel_scale == 1.0
    assert np.array_equal(data.X, [[0.5, 0.25], [0.0, 1.0], [0.75, 0.5]])
    with pytest.raises(DataFileError, match="fractional numbers .*label_column"):  # a measurement column is not labels
        load_user_data(tmp_path / "n.csv", label_column="-1", for_evaluation=True)


def test_csv_string_labels_semicolons_and_bom(tmp_path):
    (tmp_path / "s.csv").write_text("\ufeffspecies;x;y\ncat;-1.5;2\ndog;0.5;3.25\ncat;2;-1\n", encoding="utf-8")
    data = load_user_data(tmp_path / "s.csv", label_column="species")
    assert data.class_names == ["cat", "dog"] and data.labels.tolist() == [0, 1, 0]
    assert np.array_equal(data.X, [[-1.5, 2], [0.5, 3.25], [2, -1]]) and data.pixel_scale == 1.0


def test_csv_header_detected_with_text_labels_in_first_row(tmp_path):
    (tmp_path / "t.csv").write_text("cat,1,2\ndog,3,4\n")  # text label, numeric features: data, not a header
    data = load_user_data(tmp_path / "t.csv")
    assert data.labels.size == 2 and data.class_names == ["cat", "dog"]


@pytest.mark.parametrize(
    ("text", "kwargs", "match"),
    [
        ("label,a,b\n0,1,2\n1,3\n", {}, r"line 3: 2 fields where the header has 3"),
        ("0,1,2\n1,3,4,5\n", {}, r"line 2: 4 fields where the first line has 3"),
        ("label,a,b\n0,1,2\n1,abc,4\n", {}, r"line 3: feature 1 is 'abc', not a number"),
        ("label,a,b\n0,1,2\n1,3,nan\n", {}, r"line 3: feature 2 is 'nan'; features must be finite"),
        ("label,a,b\n0,1,2\n1,3,4\n", {"label_column": "target"}, r"no column named 'target'; its columns are: label, a, b"),
        ("0,1,2\n1,3,4\n", {"label_column": "target"}, r"no header row .* must be a position"),
        ("0,1,2\n1,3,4\n", {"label_column": "5"}, r"has 3 columns; label column position 5 is outside"),
        ("label\n0\n1\n", {}, "single column"),
        ("label,a\n", {}, "holds no data"),
        ("", {}, "holds no data"),
        ("label,a\n-1,2\n0,3\n", {}, "class indices >= 0"),
        ('label,a\n0,"unterminated\n', {}, "line"),
    ],
)
def test_csv_bad_inputs(tmp_path, text, kwargs, match):
    (tmp_path / "bad.csv").write_text(text)
    one_line_error(lambda: load_user_data(tmp_path / "bad.csv", **kwargs), match)


def test_csv_not_utf8(tmp_path):
    (tmp_path / "latin.csv").write_bytes(b"label,caf\xe9\n0,1\n")
    one_line_error(lambda: load_user_data(tmp_path / "latin.csv"), "not UTF-8 text")


def test_csv_large_file_reads_in_blocks(tmp_path, rng):
    X = rng.integers(0, 256, size=(5000, 16))
    y = rng.integers(0, 4, size=5000)
    np.savetxt(tmp_path / "big.csv", np.column_stack([y, X]), fmt="%d", delimiter=",")
    data = load_user_data(tmp_path / "big.csv")
    assert np.allclose(data.X, X / 255.0) and data.labels.tolist() == y.tolist() and data.image_shape == (4, 4)


# ---------------------------------------------------------------- image folders


def _digit_png(path, vertical: bool, size=(40, 30)) -> np.ndarray:
    """A dark stroke on a white page, saved as PNG; returns its gray pixels in [0, 1]."""
    page = np.full(size, 255, dtype=np.uint8)
    if vertical:
        page[5:35, 12:17] = 0
    else:
        page[18:23, 4:26] = 20
    Image.fromarray(page).save(path)
    return page / 255.0


def test_image_folder_two_classes(tmp_path):
    expected = {}
    for name, vertical in (("10", True), ("9", False)):
        (tmp_path / name).mkdir()
        for i in range(2):
            expected[(name, i)] = _digit_png(tmp_path / name / f"{i}.png", vertical)
    (tmp_path / "9" / "notes.txt").write_text("not an image")  # ignored
    data = load_user_data(tmp_path)
    assert data.class_names == ["9", "10"]  # numeric order
    assert data.labels.tolist() == [0, 0, 1, 1] and data.image_shape == (28, 28) and data.n_classes == 2
    for row, key in enumerate([("9", 0), ("9", 1), ("10", 0), ("10", 1)]):
        assert np.allclose(data.X[row], normalize_digit(expected[key], (28, 28)).reshape(-1), atol=1e-6)
    small = load_user_data(tmp_path, image_shape=(8, 8))
    assert small.X.shape == (4, 64) and small.image_shape == (8, 8)
    assert np.allclose(small.X[2], normalize_digit(expected[("10", 0)], (8, 8)).reshape(-1), atol=1e-6)


def test_image_folder_bad_inputs(tmp_path):
    one_line_error(lambda: load_user_data(tmp_path), "holds no class sub-folders of images and no IDX files; give an .npz")
    _digit_png(tmp_path / "loose.png", True)
    one_line_error(lambda: load_user_data(tmp_path), "holds images but no class sub-folders")
    (tmp_path / "a").mkdir()
    (tmp_path / "b").mkdir()
    _digit_png(tmp_path / "a" / "x.png", True)
    one_line_error(lambda: load_user_data(tmp_path), r"class folder .*b holds no images")
    (tmp_path / "b" / "broken.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    one_line_error(lambda: load_user_data(tmp_path), "broken.png is not a readable image")


# ---------------------------------------------------------------- IDX folders


def _write_pair(folder, prefix: str, images: np.ndarray, labels: np.ndarray, gz: bool = True) -> None:
    suffix = ".gz" if gz else ""
    idx.write_idx(folder / f"{prefix}-images-idx3-ubyte{suffix}", images.astype(np.uint8))
    idx.write_idx(folder / f"{prefix}-labels-idx1-ubyte{suffix}", labels.astype(np.uint8))


def test_idx_folder_both_pairs(tmp_path, rng):
    train_x, test_x = rng.integers(0, 256, (6, 5, 4)), rng.integers(0, 256, (3, 5, 4))
    train_y, test_y = np.array([0, 1, 2, 0, 1, 2]), np.array([2, 2, 0])
    _write_pair(tmp_path, "train", train_x, train_y)
    _write_pair(tmp_path, "t10k", test_x, test_y, gz=False)
    data = load_user_data(tmp_path)
    assert data.pixel_scale == 255.0 and data.image_shape == (5, 4) and data.n_classes == 3
    assert np.allclose(data.X, train_x.reshape(6, 20) / 255.0) and data.labels.tolist() == train_y.tolist()
    assert np.allclose(data.test.X, test_x.reshape(3, 20) / 255.0) and data.test.labels.tolist() == test_y.tolist()
    scored = load_user_data(tmp_path, for_evaluation=True)  # the rows to score: the t10k pair
    assert scored.test is None and np.allclose(scored.X, test_x.reshape(3, 20) / 255.0)


def test_idx_folder_only_the_test_pair(tmp_path, rng):
    test_x = rng.integers(0, 256, (4, 28, 28))
    _write_pair(tmp_path, "t10k", test_x, np.array([3, 7, 7, 3]))
    one_line_error(lambda: load_user_data(tmp_path), "holds only a test pair .* enough for evaluate")
    data = load_user_data(tmp_path, for_evaluation=True)
    assert np.allclose(data.X, test_x.reshape(4, -1) / 255.0) and data.class_names == ["3", "7"]
    check_compatible(data, 784, 10, (28, 28), None)  # a subset of the model's 10 classes, mapped back to 3 and 7
    assert data.labels.tolist() == [3, 7, 7, 3] and data.n_classes == 10 and data.class_names is None


def test_idx_folder_other_names_and_bad_pairs(tmp_path, rng):
    idx.write_idx(tmp_path / "train-images.idx3-ubyte", rng.integers(0, 256, (2, 3, 3)).astype(np.uint8))
    one_line_error(lambda: load_user_data(tmp_path), "holds train-images.idx3-ubyte but no matching train labels file")
    idx.write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([0, 1], dtype=np.uint8))
    assert load_user_data(tmp_path).labels.tolist() == [0, 1]  # the Kaggle spelling with a dot
    idx.write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([0, 1, 1], dtype=np.uint8))
    one_line_error(lambda: load_user_data(tmp_path), r"train images \(2\) and labels \(3\) differ in count")
    idx.write_idx(tmp_path / "train-labels.idx1-ubyte", np.array([0, 1], dtype=np.uint8))
    _write_pair(tmp_path, "t10k", np.zeros((1, 4, 4)), np.zeros(1))
    one_line_error(lambda: load_user_data(tmp_path), "train images are 3x3 but test images are 4x4")


# ---------------------------------------------------------------- .mat and other paths


def test_course_mat_file(tmp_path, rng):
    X = rng.random((6, 400))
    y = np.array([[10], [1], [2], [10], [5], [9]], dtype=np.float64)
    scipy.io.savemat(tmp_path / "ex4data1.mat", {"X": X, "y": y})
    data = load_user_data(tmp_path / "ex4data1.mat")
    oracle_X, oracle_labels = load_course_mat(tmp_path / "ex4data1.mat")
    assert np.array_equal(data.X, oracle_X) and data.labels.tolist() == oracle_labels.tolist() == [0, 1, 2, 0, 5, 9]
    assert data.pixel_scale == 1.0 and data.image_shape == (20, 20) and data.n_classes == 10


def test_other_paths_list_the_accepted_forms(tmp_path):
    one_line_error(lambda: load_user_data(tmp_path / "missing.npz"), "does not exist; give an .npz file with arrays X and y")
    (tmp_path / "model.json").write_text("{}")
    one_line_error(lambda: load_user_data(tmp_path / "model.json"), "not a data file bpnn_xp reads; give .*course .mat file")


# ---------------------------------------------------------------- a model's data


def test_check_compatible_features_and_image_shapes(tmp_path, rng):
    np.savez(tmp_path / "d.npz", X=rng.integers(0, 17, (4, 8, 8)), y=np.array([0, 1, 0, 1]))
    data = load_user_data(tmp_path / "d.npz")
    message = one_line_error(lambda: check_compatible(data, 784, 10, (28, 28), None), "has 64 features")
    assert message == f"{tmp_path / 'd.npz'} has 64 features (8x8 images) but the model takes 784 features (28x28 images)"
    one_line_error(lambda: check_compatible(data, 64, 10, (4, 16), None), "holds 8x8 images but the model takes 4x16 images")
    check_compatible(data, 64, 10, (8, 8), None)
    assert data.labels.tolist() == [0, 1, 0, 1] and data.n_classes == 10


def test_check_compatible_classes(tmp_path):
    (tmp_path / "s.csv").write_text("kind,a\ndog,1\ndog,2\n")
    data = load_user_data(tmp_path / "s.csv", for_evaluation=True)
    check_compatible(data, 1, 3, None, ["cat", "dog", "emu"])  # a subset, re-indexed to the model's order
    assert data.labels.tolist() == [1, 1] and data.class_names == ["cat", "dog", "emu"] and data.n_classes == 3
    (tmp_path / "u.csv").write_text("kind,a\nyak,1\ndog,2\n")
    data = load_user_data(tmp_path / "u.csv")
    one_line_error(
        lambda: check_compatible(data, 1, 3, None, ["cat", "dog", "emu"]),
        "has class\\(es\\) yak that the model does not know; it knows 3 classes: cat, dog, emu",
    )
    (tmp_path / "i.csv").write_text("0,1\n12,2\n")
    data = load_user_data(tmp_path / "i.csv")
    one_line_error(
        lambda: check_compatible(data, 1, 10, None, None),
        "has class\\(es\\) 12 that the model does not know; it knows 10 classes 0..9",
    )
    one_line_error(
        lambda: check_compatible(data, 1, 3, None, ["a", "b"]), "2 class names do not match its 3 classes", BpnnValueError
    )


def test_registry_datasets_record_their_pixel_scale():
    digits = load_dataset("digits")
    assert digits.pixel_scale == 16.0 and digits.class_names is None and digits.source is None
    assert load_dataset("xor").pixel_scale == 1.0


def test_idx_load_pair_is_public(tmp_path):
    _write_pair(tmp_path, "t10k", np.zeros((2, 3, 3)), np.array([4, 200]))
    images, labels = idx.load_pair(
        tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz", "t10k", max_label=None
    )
    assert images.shape == (2, 3, 3) and labels.tolist() == [4, 200] and labels.dtype == np.int64
    one_line_error(
        lambda: idx.load_pair(
            tmp_path / "t10k-images-idx3-ubyte.gz", tmp_path / "t10k-labels-idx1-ubyte.gz", "t10k", max_label=9
        ),
        "t10k labels go up to 200",
    )


def test_csv_bad_value_after_the_first_block_is_named_by_its_line(tmp_path):
    lines = [f"{i % 2},{i},{i + 1}" for i in range(5000)]
    lines[4500] = "1,7,oops"
    (tmp_path / "late.csv").write_text("\n".join(["y,a,b", *lines]) + "\n")
    one_line_error(lambda: load_user_data(tmp_path / "late.csv"), r"late.csv, line 4502: feature 2 is 'oops', not a number")
