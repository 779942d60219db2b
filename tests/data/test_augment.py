"""Augmentation: seeded, shape- and range-keeping, geometrically right (checked against np.roll, centres of mass and
rotations by quarter turns), elastic fields as Simard et al. describe them, and the --augment text parsed or refused."""

from __future__ import annotations

import numpy as np
import pytest
from scipy import ndimage

from bpnn_xp.data.augment import PRESETS, Augmentation, bilinear, elastic_field, parse_augment, warp
from bpnn_xp.errors import BpnnValueError


def blobs(n: int = 6, side: int = 28, seed: int = 0) -> np.ndarray:
    """Soft random strokes kept away from the border, so no transform here pushes ink off the canvas."""
    rng = np.random.default_rng(seed)
    images = np.zeros((n, side, side))
    margin = side // 4
    for image in images:
        for _ in range(3):
            r, c = rng.integers(margin, side - margin, size=2)
            image[r, c] = 1.0
        image[:] = ndimage.gaussian_filter(image, side / 28 * 1.5)
        edge = max(1, side // 7)  # an empty border: shifts of up to side / 7 px lose no ink and np.roll wraps only zeros
        image[:edge], image[-edge:], image[:, :edge], image[:, -edge:] = 0.0, 0.0, 0.0, 0.0
        image /= image.max()
    return images


def test_same_seed_same_output_and_different_seed_different_output():
    images = blobs()
    aug = PRESETS["standard"]
    first = aug.apply(images, np.random.default_rng(7))
    again = aug.apply(images, np.random.default_rng(7))
    other = aug.apply(images, np.random.default_rng(8))
    np.testing.assert_array_equal(first, again)
    assert np.abs(first - other).max() > 0.1


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("side", [8, 28])
def test_shape_dtype_and_range_are_kept(dtype, side):
    images = blobs(side=side).astype(dtype)
    out = PRESETS["strong"].apply(images, np.random.default_rng(0))
    assert out.shape == images.shape and out.dtype == images.dtype
    assert out.min() >= 0.0 and out.max() <= 1.0
    assert not np.array_equal(out, images)


def test_input_is_not_modified():
    images = blobs()
    kept = images.copy()
    PRESETS["standard"].apply(images, np.random.default_rng(0))
    np.testing.assert_array_equal(images, kept)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_bilinear_matches_scipy_map_coordinates_inside_at_the_edges_and_outside(dtype):
    """The batched resampler against scipy's order-1 map_coordinates with zeros outside, one image at a time."""
    rng = np.random.default_rng(4)
    images = rng.random((5, 9, 11)).astype(dtype)
    src_r, src_c = rng.uniform(-2.5, 11.5, size=(2, 5, 9, 11))
    src_r[0, 0, :6] = [-1.0, -0.5, 0.0, 8.0, 8.5, 9.0]  # exactly on and just past the borders
    expected = np.stack([ndimage.map_coordinates(image.astype(np.float64), [r, c], order=1, mode="grid-constant", prefilter=False)
                         for image, r, c in zip(images, src_r, src_c)])  # fmt: skip
    out = bilinear(images, src_r, src_c)
    assert out.dtype == dtype
    np.testing.assert_allclose(out, expected, atol=1e-6 if dtype == np.float32 else 1e-12)


def test_zero_settings_are_the_identity():
    images = blobs()
    n = len(images)
    np.testing.assert_allclose(warp(images, np.zeros((n, 2)), np.zeros(n), np.ones(n)), images, atol=1e-12)
    assert Augmentation().is_identity and Augmentation(shift=2, p=0).is_identity
    np.testing.assert_array_equal(Augmentation().apply(images, np.random.default_rng(0)), images)


@pytest.mark.parametrize("shift", [(2, -3), (-1, 4)])
def test_whole_pixel_shift_equals_np_roll_and_moves_the_centre_of_mass(shift):
    images = blobs()
    n = len(images)
    out = warp(images, np.tile(shift, (n, 1)).astype(float), np.zeros(n), np.ones(n))
    np.testing.assert_allclose(out, np.roll(images, shift, axis=(1, 2)), atol=1e-12)
    for before, after in zip(images, out):
        np.testing.assert_allclose(np.subtract(ndimage.center_of_mass(after), ndimage.center_of_mass(before)), shift, atol=1e-9)


def test_fractional_shift_moves_the_centre_of_mass_by_that_amount():
    images = blobs()
    n = len(images)
    out = warp(images, np.full((n, 2), 0.5), np.zeros(n), np.ones(n))
    for before, after in zip(images, out):
        np.testing.assert_allclose(np.subtract(ndimage.center_of_mass(after), ndimage.center_of_mass(before)), 0.5, atol=1e-9)


def test_drawn_shifts_stay_within_the_limit_scaled_to_the_image_side():
    """shift=2 is given for 28 px; on 14 px images the centres of mass move by at most 1 px."""
    images = blobs(n=40, side=14)
    out = Augmentation(shift=2.0).apply(images, np.random.default_rng(3))
    moves = np.array([np.subtract(ndimage.center_of_mass(a), ndimage.center_of_mass(b)) for a, b in zip(out, images)])
    assert np.abs(moves).max() <= 1.0 + 1e-6
    assert np.abs(moves).max() > 0.5  # the range is used, not just tiny shifts


def test_quarter_turn_equals_np_rot90_counter_clockwise():
    images = blobs(side=27)  # odd side: the centre is a pixel, so a quarter turn maps pixels onto pixels
    n = len(images)
    out = warp(images, np.zeros((n, 2)), np.full(n, 90.0), np.ones(n))
    np.testing.assert_allclose(out, np.rot90(images, 1, axes=(1, 2)), atol=1e-9)


def test_scaling_spreads_ink_about_the_centre():
    """Doubling the size doubles the spread of the ink around its centre of mass (second moment x4)."""
    rng = np.random.default_rng(0)
    images = np.zeros((4, 56, 56))
    for image in images:
        for r, c in rng.integers(22, 34, size=(3, 2)):
            image[r, c] = 1.0
        image[:] = ndimage.gaussian_filter(image, 2.0)
    n = len(images)
    out = warp(images, np.zeros((n, 2)), np.zeros(n), np.full(n, 2.0))

    def spread(image):
        rows, cols = np.indices(image.shape)
        r, c = ndimage.center_of_mass(image)
        return float((image * ((rows - r) ** 2 + (cols - c) ** 2)).sum() / image.sum())

    ratios = [spread(a) / spread(b) for a, b in zip(out, images)]
    np.testing.assert_allclose(ratios, 4.0, rtol=0.05)


def test_elastic_field_is_smoothed_uniform_noise_scaled_by_alpha():
    """The field equals alpha x the Gaussian-smoothed uniform(-1, 1) noise drawn from the same Generator."""
    field = elastic_field(np.random.default_rng(5), (3, 28, 28), alpha=34.0, sigma=4.0)
    noise = np.random.default_rng(5).uniform(-1.0, 1.0, size=(3, 2, 28, 28))
    expected = 34.0 * np.stack([[ndimage.gaussian_filter(plane, 4.0, mode="constant", truncate=3.0) for plane in pair]
                                for pair in noise])  # fmt: skip
    assert field.shape == (3, 2, 28, 28)
    np.testing.assert_allclose(field, expected, atol=1e-4)
    assert 0.5 < float(np.abs(field).mean()) < 3.0  # about a pixel of displacement, as in the paper


def test_elastic_distortion_keeps_ink_mass_roughly_and_changes_the_image():
    """The field has zero mean, so ink squeezed in one place is stretched in another: mass is kept on average."""
    images = blobs(n=50)
    out = Augmentation(alpha=34.0, sigma=4.0).apply(images, np.random.default_rng(1))
    ratio = out.sum(axis=(1, 2)) / images.sum(axis=(1, 2))
    assert abs(ratio.mean() - 1.0) < 0.05 and np.median(np.abs(ratio - 1.0)) < 0.2, ratio
    assert np.all((ratio > 0.4) & (ratio < 1.8)), ratio
    assert np.abs(out - images).max() > 0.1


def test_probability_leaves_the_other_images_unchanged():
    images = blobs(n=200, side=8)
    out = Augmentation(shift=3.0, p=0.5).apply(images, np.random.default_rng(0))
    unchanged = np.all(out == images, axis=(1, 2))
    assert 60 < unchanged.sum() < 140


def test_apply_flat_matches_apply():
    images = blobs(side=8)
    flat = images.reshape(len(images), -1)
    np.testing.assert_array_equal(
        PRESETS["standard"].apply_flat(flat, (8, 8), np.random.default_rng(2)).reshape(images.shape),
        PRESETS["standard"].apply(images, np.random.default_rng(2)),
    )
    with pytest.raises(BpnnValueError, match="8x8=64"):
        PRESETS["standard"].apply_flat(flat[:, :60], (8, 8), np.random.default_rng(2))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("none", None),
        ("OFF", None),
        ("standard", PRESETS["standard"]),
        ("on", PRESETS["standard"]),
        ("shift=2,rotate=10,scale=0.1,elastic=34:4", Augmentation(shift=2, rotate=10, scale=0.1, alpha=34, sigma=4)),
        ("standard, elastic=off", Augmentation(shift=2, rotate=10, scale=0.1, alpha=0, sigma=4)),
        ("light,p=0.5", Augmentation(shift=1, rotate=5, scale=0.05, p=0.5)),
        ("elastic=20", Augmentation(alpha=20)),
    ],
)
def test_parse_augment_reads_presets_and_pairs(text, expected):
    assert parse_augment(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("heavy", "unknown preset 'heavy'"),
        ("shift=2,twist=3", "cannot read 'twist=3'"),
        ("shift", "unknown preset 'shift'"),
        ("standard,shift", "cannot read 'shift'"),
        ("shift=two", "shift needs a number"),
        ("elastic=34:x", "elastic needs a number"),
        ("rotate=-5", "rotate must be a number in"),
        ("scale=1.5", "scale must be a number in"),
        ("p=nan", "p must be a number in"),
    ],
)
def test_parse_augment_refuses_bad_text_in_one_line(text, message):
    with pytest.raises(BpnnValueError, match=message) as info:
        parse_augment(text)
    assert "\n" not in str(info.value) and str(info.value).startswith("augment")


def test_describe_round_trips_through_parse():
    for aug in [*PRESETS.values(), Augmentation(shift=1.5, p=0.25)]:
        assert parse_augment(aug.describe()) == aug


def test_bad_image_shape_is_refused():
    with pytest.raises(BpnnValueError, match=r"\(n, height, width\)"):
        PRESETS["standard"].apply(np.zeros((4, 64)), np.random.default_rng(0))


def test_elastic_displacement_shrinks_with_the_image_side():
    """The same setting moves ink by the same fraction of the side: about 4x less on 7 px images than on 28 px ones."""
    aug = Augmentation(alpha=34.0, sigma=4.0)

    def mean_move(side):
        images = np.zeros((200, side, side))
        images[:, side // 2, side // 2] = 1.0  # one bright pixel: its centre of mass follows the field at the centre
        out = aug.apply(images, np.random.default_rng(0))
        return np.mean([np.hypot(*np.subtract(ndimage.center_of_mass(o), (side // 2, side // 2))) for o in out])

    ratio = mean_move(28) / mean_move(7)
    assert 2.5 < ratio < 6.0, ratio
