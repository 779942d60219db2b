"""Every data file we read is untrusted: IDX (plain and gzipped), the course .mat file, .npy arrays and
images given to predict. Each bad input is one DataFileError naming the file and the problem; never a
traceback, a MemoryError or silently wrong numbers."""

from __future__ import annotations

import gzip
import io
import struct
import tracemalloc
import zlib

import numpy as np
import pytest
import scipy.io
import scipy.sparse
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from bpnn_xp.data import matfile
from bpnn_xp.data.idx import TYPE_CODES, load_mnist, parse_idx, read_idx, write_idx
from bpnn_xp.data.images import load_inputs
from bpnn_xp.data.matfile import load_course_mat
from bpnn_xp.errors import DataFileError


def idx_bytes(code: int, shape: tuple[int, ...], data: bytes = b"") -> bytes:
    """Raw IDX bytes with any type code and claimed shape, followed by ``data``."""
    return struct.pack(">HBB", 0, code, len(shape)) + struct.pack(f">{len(shape)}I", *shape) + data


def write_mnist(path, train_shape=(4, 28, 28), test_shape=(3, 28, 28)) -> None:
    """A tiny valid MNIST folder (gzipped) with the given image shapes."""
    for prefix, shape in (("train", train_shape), ("t10k", test_shape)):
        write_idx(path / f"{prefix}-images-idx3-ubyte.gz", np.zeros(shape, dtype=np.uint8))
        write_idx(path / f"{prefix}-labels-idx1-ubyte.gz", np.zeros(shape[0], dtype=np.uint8))


# ---------------------------------------------------------------- IDX


@pytest.mark.parametrize("shape", [(2**31, 2**31, 2**31), (2**32 - 1,) * 3, (60000, 28, 28 * 1000)])
@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_absurd_idx_sizes_are_corrupt_before_any_allocation(tmp_path, shape, suffix):
    raw = idx_bytes(0x08, shape, b"\x00" * 16)
    with pytest.raises(DataFileError, match=r"claims a .* array of \d+ bytes, over the \d+ byte limit; its header is corrupt"):
        parse_idx(raw, "f")
    path = tmp_path / f"huge{suffix}"
    path.write_bytes(gzip.compress(raw) if suffix else raw)
    with pytest.raises(DataFileError, match=f"{path.name} claims"):
        read_idx(path)


@pytest.mark.parametrize(
    "damage,detail",
    [
        (lambda gz: gz[:-8] + struct.pack("<I", zlib.crc32(b"x")) + gz[-4:], "CRC check failed"),
        (lambda gz: gz[: len(gz) // 2], "ended before the end-of-stream marker"),
        (lambda gz: gz[:10] + b"\xff" * 40, ""),
        (lambda gz: gz + b"garbage after the stream", ""),
    ],
    ids=["bad-crc", "truncated", "garbage-after-header", "trailing-garbage"],
)
def test_corrupt_gzip_streams_are_clean_errors(tmp_path, damage, detail):
    good = gzip.compress(idx_bytes(0x08, (3, 4), bytes(range(12))))
    path = tmp_path / "x.gz"
    path.write_bytes(damage(good))
    with pytest.raises(DataFileError, match=f"x.gz is not a readable gzip file .*{detail}.*download it again"):
        read_idx(path)


def test_gzip_bomb_stops_inflating_at_the_header_size(tmp_path):
    path = tmp_path / "bomb.gz"
    path.write_bytes(gzip.compress(idx_bytes(0x08, (10,), bytes(64 << 20)), compresslevel=1))  # 64 MB of zeros
    tracemalloc.start()
    try:
        with pytest.raises(DataFileError, match=r"bomb.gz is longer than its header says: header \(10,\) needs 10 data bytes"):
            read_idx(path)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 8 << 20, f"inflated {peak} bytes: the bomb was not stopped early"


def test_mnist_without_images_is_refused(tmp_path):
    write_mnist(tmp_path, train_shape=(0, 28, 28))
    with pytest.raises(DataFileError, match=r"train-images-idx3-ubyte.gz holds no images \(shape \(0, 28, 28\)\)"):
        load_mnist(tmp_path)


def test_mnist_labels_and_images_must_be_unsigned_bytes(tmp_path):
    write_mnist(tmp_path)
    labels = tmp_path / "train-labels-idx1-ubyte.gz"
    labels.write_bytes(gzip.compress(idx_bytes(0x0D, (4,), np.zeros(4, ">f4").tobytes())))
    with pytest.raises(DataFileError, match="train-labels-idx1-ubyte.gz holds float32 values; labels must be unsigned bytes"):
        load_mnist(tmp_path)
    write_mnist(tmp_path)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(gzip.compress(idx_bytes(0x0B, (3, 28, 28), np.zeros((3, 28, 28), ">i2").tobytes())))
    with pytest.raises(DataFileError, match="t10k-images-idx3-ubyte.gz holds int16 pixels; MNIST images must be unsigned bytes"):
        load_mnist(tmp_path)


def test_mnist_train_and_test_image_shapes_must_agree(tmp_path):
    write_mnist(tmp_path, test_shape=(3, 20, 20))
    with pytest.raises(DataFileError, match="train images are 28x28 but test images are 20x20"):
        load_mnist(tmp_path)


SAMPLES = [
    idx_bytes(0x08, (3, 4, 5), bytes(range(60))),
    idx_bytes(0x0B, (2, 3), np.arange(6, dtype=">i2").tobytes()),
    idx_bytes(0x0D, (4,), np.linspace(0, 1, 4, dtype=">f4").tobytes()),
    idx_bytes(0x0E, (1, 2), np.ones(2, dtype=">f8").tobytes()),
]


@settings(max_examples=40, derandomize=True, deadline=None)
@given(
    sample=st.sampled_from(SAMPLES),
    compress=st.booleans(),
    cut=st.integers(0, 200),
    at=st.integers(0, 200),
    junk=st.binary(max_size=6),
    tail=st.binary(max_size=12),
)
def test_damaged_idx_and_gzip_bytes_give_data_file_error_or_what_the_header_says(
    tmp_path_factory, sample, compress, cut, at, junk, tail
):
    blob = bytearray(gzip.compress(sample, mtime=0) if compress else sample)
    blob = blob[:cut] if cut < len(blob) else blob
    if blob:
        blob[at % len(blob) : at % len(blob) + len(junk)] = junk
    blob = bytes(blob + tail)
    path = tmp_path_factory.mktemp("fuzz") / ("f.gz" if compress else "f")
    path.write_bytes(blob)
    try:
        array = read_idx(path)
    except DataFileError:
        return
    assert_matches_header(array, gzip.decompress(blob) if compress else blob)
    if not compress:
        assert_matches_header(parse_idx(blob), blob)


def assert_matches_header(array: np.ndarray, payload: bytes) -> None:
    """``array`` has exactly the type, shape and byte count the IDX header in ``payload`` claims."""
    ndim = payload[3]
    assert array.shape == struct.unpack(f">{ndim}I", payload[4 : 4 + 4 * ndim])
    assert array.dtype == np.dtype(TYPE_CODES[payload[2]]).newbyteorder("=")
    assert array.nbytes == len(payload) - 4 - 4 * ndim


# ---------------------------------------------------------------- course .mat

X_OK, Y_OK = np.zeros((3, 400)), np.array([[1], [2], [10]])


@pytest.mark.parametrize(
    "variables,message",
    [
        ({"X": "some text", "y": Y_OK}, "X holds text"),
        ({"X": np.array([np.zeros(3), "a"], dtype=object), "y": Y_OK}, r"X holds a cell array \(save cell2mat\(X\)"),
        ({"X": X_OK, "y": {"labels": Y_OK}}, "y holds a struct"),
        ({"X": scipy.sparse.csr_matrix(X_OK), "y": Y_OK}, r"X holds a sparse matrix \(save full\(X\) instead\)"),
        ({"X": X_OK + 1j, "y": Y_OK}, "X holds complex numbers; it must be a plain real numeric matrix"),
        ({"X": X_OK, "y": np.ones((3, 1), dtype=bool)}, r"y holds logical \(true/false\) values"),
        ({"X": X_OK > 0, "y": Y_OK}, "X holds logical"),
        ({"X": np.zeros((3, 20, 20)), "y": Y_OK}, r"X must be an m x 400 matrix .*; got 3 x 20 x 20"),
        ({"X": np.zeros((3, 399)), "y": Y_OK}, "X must be an m x 400 matrix .*; got 3 x 399"),
        ({"X": X_OK, "y": np.ones((3, 2))}, "y must be a vector of labels .*; got a 3 x 2 matrix"),
        ({"X": np.full((3, 400), np.nan), "y": Y_OK}, "X contains NaN or infinite values"),
        ({"X": np.full((3, 400), -np.inf), "y": Y_OK}, "X contains NaN or infinite values"),
        (
            {"X": np.zeros((0, 400)), "y": np.zeros((0, 1))},
            "X must hold one image per label, at least one; got X 0 x 400 and 0 labels",
        ),
    ],
)
def test_course_mat_refuses_anything_but_real_numeric_matrices(tmp_path, variables, message):
    scipy.io.savemat(tmp_path / "ex4data1.mat", variables)
    with pytest.raises(DataFileError, match=f"ex4data1.mat: {message}"):
        load_course_mat(tmp_path / "ex4data1.mat")


def test_course_mat_v73_says_save_with_v7(tmp_path):
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116) + bytes(8) + b"\x00\x02IM"
    (tmp_path / "big.mat").write_bytes(header + b"\x89HDF\r\n\x1a\n" + bytes(64))
    with pytest.raises(DataFileError, match=r"big.mat is a MATLAB v7.3 \(HDF5\) file, which is not supported; .*'-v7'"):
        load_course_mat(tmp_path / "big.mat")


def test_course_mat_sizes_are_checked_before_loading(tmp_path, monkeypatch):
    scipy.io.savemat(tmp_path / "ex4data1.mat", {"X": X_OK, "y": Y_OK})
    monkeypatch.setattr(matfile, "MAX_VALUES", 100)
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: pytest.fail("loaded a file whose catalogue is too large"))
    with pytest.raises(DataFileError, match="X claims 1200 values, over the 100 limit"):
        load_course_mat(tmp_path / "ex4data1.mat")


# ---------------------------------------------------------------- .npy arrays for predict


def save_npy(path, array):
    np.save(path, array)
    return path


@pytest.mark.parametrize(
    "array,message",
    [
        (np.zeros((2, 64), dtype=complex), r"holds complex numbers \(complex128\); give a real numeric array"),
        (np.full((1, 64), 1e300), r"holds values up to 1e\+300, beyond float32's range"),
        (np.zeros((0, 64)), r"holds an empty array \(shape \(0, 64\)\)"),
        (np.zeros(2, dtype=[("a", "f4"), ("b", "i4")]), "holds structured records"),
        (np.array(["a", "b"]), "holds text"),
        (np.full((1, 64), np.inf), "contains NaN or infinite values"),
        (np.full((1, 64), 300, dtype=np.int16), r"holds values from 300 to 300; this model expects pixels in 0..255"),
        (np.full((1, 64), -1, dtype=np.int64), "holds values from -1 to -1"),
    ],
)
def test_npy_inputs_refuse_what_cannot_be_pixels(tmp_path, array, message):
    path = save_npy(tmp_path / "x.npy", array)
    with pytest.raises(DataFileError, match=f"x.npy {message}"):
        load_inputs([path], 64, (8, 8), pixel_scale=255.0)


@pytest.mark.parametrize("shape", [(2**20, 64), (2**40, 2**40)], ids=["8-TiB", "overflowing"])
def test_npy_headers_claiming_more_than_the_file_holds(tmp_path, shape):
    header = io.BytesIO()
    np.lib.format.write_array_header_1_0(header, {"descr": "<f8", "fortran_order": False, "shape": shape})
    (tmp_path / "huge.npy").write_bytes(header.getvalue() + bytes(64 * 8))
    with pytest.raises(DataFileError, match="huge.npy is not a readable .npy array .*truncated or corrupt"):
        load_inputs([tmp_path / "huge.npy"], 64, None)


def test_npy_files_that_are_truncated_or_archives(tmp_path):
    good = save_npy(tmp_path / "good.npy", np.zeros((4, 64))).read_bytes()
    (tmp_path / "short.npy").write_bytes(good[:-40])
    with pytest.raises(DataFileError, match="short.npy is not a readable .npy array .*truncated or corrupt"):
        load_inputs([tmp_path / "short.npy"], 64, None)
    np.savez(tmp_path / "archive.npy", x=np.zeros(64))
    (tmp_path / "archive.npy.npz").rename(tmp_path / "archive.npy")
    with pytest.raises(DataFileError, match="archive.npy is an .npz archive"):
        load_inputs([tmp_path / "archive.npy"], 64, None)


@pytest.mark.parametrize(
    "array,expected",
    [
        (np.eye(8, dtype=bool), np.eye(8).reshape(1, 64)),
        (np.full((2, 64), 255, dtype=np.int64), np.ones((2, 64))),
        (np.full((1, 64), 51, dtype=np.uint16), np.full((1, 64), 0.2)),
        (np.full((1, 8, 8), 51, dtype=np.uint8), np.full((1, 64), 0.2)),
        (np.full((1, 64), 0.5, dtype=np.float32), np.full((1, 64), 0.5)),
    ],
)
def test_npy_bools_and_integers_become_pixels_in_unit_range(tmp_path, array, expected):
    X, names = load_inputs([save_npy(tmp_path / "x.npy", array)], 64, (8, 8), pixel_scale=255.0)
    assert X.dtype == np.float64 and np.allclose(X, expected) and names[0] == "x.npy[0]"


# ---------------------------------------------------------------- images for predict


def stroke_image(mode: str) -> Image.Image:
    """A canvas export: an opaque black stroke on fully transparent pixels whose hidden colour is black."""
    rgba = np.zeros((8, 8, 4), dtype=np.uint8)
    rgba[2:6, 3:5, 3] = 255
    return Image.fromarray(rgba).convert(mode)


@pytest.mark.parametrize("mode", ["RGBA", "LA"])
def test_transparent_canvas_exports_are_composited_on_white(tmp_path, mode):
    stroke_image(mode).save(tmp_path / "drawn.png")
    X, _ = load_inputs([tmp_path / "drawn.png"], 64, (8, 8), normalize=False)
    pixels = X.reshape(8, 8)
    assert np.allclose(pixels[2:6, 3:5], 1.0) and pixels.sum() == pytest.approx(8.0)  # light stroke on dark, nothing else


def test_palette_transparency_is_composited_on_white(tmp_path):
    palette = np.zeros((8, 8), dtype=np.uint8)
    palette[2:6, 3:5] = 1  # index 0: transparent black, index 1: opaque black
    image = Image.frombytes("P", (8, 8), palette.tobytes())
    image.putpalette([0, 0, 0] * 2)
    image.save(tmp_path / "drawn.png", transparency=0)
    X, _ = load_inputs([tmp_path / "drawn.png"], 64, (8, 8), normalize=False)
    assert np.allclose(X.reshape(8, 8)[2:6, 3:5], 1.0) and X.sum() == pytest.approx(8.0)


@pytest.mark.parametrize("suffix,dtype", [(".png", np.uint16), (".tif", np.int32)])
def test_wide_images_are_scaled_by_their_full_range(tmp_path, suffix, dtype):
    raw = np.zeros((8, 8), dtype=dtype)
    raw[2:6, 3:5] = 30000
    Image.fromarray(raw).save(tmp_path / f"deep{suffix}")
    X, _ = load_inputs([tmp_path / f"deep{suffix}"], 64, (8, 8), normalize=False)
    assert np.allclose(X.reshape(8, 8)[2:6, 3:5], 30000 / 65535) and X.max() < 0.5  # not clipped to 1 at 255


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height pixels, with almost no data behind it."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"")) + chunk(b"IEND", b"")


def test_decompression_bombs_name_the_pixel_limit(tmp_path, monkeypatch):
    (tmp_path / "bomb.png").write_bytes(png_claiming(30000, 30000))
    with pytest.raises(
        DataFileError, match=r"bomb.png is too large to decode safely: over PIL.Image.MAX_IMAGE_PIXELS = \d+ pixels"
    ):
        load_inputs([tmp_path / "bomb.png"], 64, (8, 8))
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(tmp_path / "small.png")
    monkeypatch.setattr(Image, "MAX_IMAGE_PIXELS", 50)  # 64 pixels: over the limit, under twice it (the warning case)
    with pytest.raises(
        DataFileError, match=r"small.png is too large to decode safely: over PIL.Image.MAX_IMAGE_PIXELS = 50 pixels"
    ):
        load_inputs([tmp_path / "small.png"], 64, (8, 8))


def test_images_that_fail_to_decode_are_clean_errors(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (32, 32), dtype=np.uint8)
    Image.fromarray(noise).save(tmp_path / "full.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "full.png").read_bytes()[:300])
    (tmp_path / "junk.png").write_bytes(b"not an image at all")
    for name in ("cut.png", "junk.png"):
        with pytest.raises(DataFileError, match=f"{name} is not a readable image"):
            load_inputs([tmp_path / name], 64, (8, 8))


def test_animated_gif_uses_its_first_frame(tmp_path):
    first = np.zeros((8, 8), dtype=np.uint8)
    first[2:6, 3:5] = 255
    frames = [Image.fromarray(first), Image.fromarray(np.full((8, 8), 128, dtype=np.uint8))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    X, _ = load_inputs([tmp_path / "anim.gif"], 64, (8, 8), normalize=False)
    assert np.allclose(X.reshape(8, 8), first / 255.0)


def test_folders_expand_to_their_inputs_sorted(tmp_path):
    folder = tmp_path / "inputs"
    folder.mkdir()
    Image.fromarray(np.zeros((8, 8), dtype=np.uint8)).save(folder / "b.png")
    np.save(folder / "a.npy", np.zeros((2, 64)))
    (folder / "notes.txt").write_text("not an input")
    (folder / ".hidden.png").write_bytes(b"editor junk")
    X, names = load_inputs([folder], 64, (8, 8))
    assert names == ["a.npy[0]", "a.npy[1]", "b.png"] and X.shape == (3, 64)
    (folder / "a.npy").unlink()
    (folder / "b.png").unlink()
    with pytest.raises(DataFileError, match="folder .*inputs holds no .npy or image files"):
        load_inputs([folder], 64, (8, 8))
    with pytest.raises(DataFileError, match="no inputs given"):
        load_inputs([], 64, (8, 8))
