"""Data augmentation for digit images: random shifts, rotations, scaling and elastic distortion (host side: NumPy, SciPy).

Every epoch can see a freshly distorted copy of the training images, which is how small training sets reach the accuracy
of larger ones. The elastic distortion is Simard, Steinkraus and Platt (2003), "Best practices for convolutional neural
networks applied to visual document analysis": a random displacement field of uniform(-1, 1) values per pixel, smoothed
by a Gaussian of standard deviation ``sigma`` pixels and scaled by ``alpha`` (alpha 34, sigma 4 on 28x28 MNIST).

Pixel quantities (``shift``, ``alpha``, ``sigma``) are given for a 28-pixel side and scaled with the image's side, so one
setting means the same relative distortion on 28x28 MNIST, 20x20 course digits and 8x8 scikit-learn digits (where a
shift of 2 becomes 0.57 px). The smoothed field's size goes as alpha / sigma (about 1.4 px for 34 / 4), so alpha is scaled
by the side squared and sigma by the side. All images are resampled together by bilinear interpolation (what
``scipy.ndimage.map_coordinates`` gives with order 1 and pixels outside the image read as 0, in a few NumPy passes over
the whole batch), and the result is clipped to [0, 1]. The same Generator state gives the same output.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from .. import checks
from ..errors import BpnnValueError, SettingError

REFERENCE_SIDE = 28  # pixel quantities are given for a 28-pixel side (MNIST) and scaled with the image's side
GAUSSIAN_TRUNCATE = 3.0  # the elastic field's smoothing kernel reaches 3 sigma (scipy's default is 4; 3 is faster, same field)
FORMAT_HELP = "none, standard, light, strong, or key=value pairs like shift=2,rotate=10,scale=0.1,elastic=34:4,p=1"


@dataclass(frozen=True)
class Augmentation:
    """Random distortions drawn per image: shift, rotation, scaling, elastic field; each image is distorted with probability p."""

    shift: float = 0.0  # largest shift in pixels (of a 28-pixel side), uniform in [-shift, shift] per axis
    rotate: float = 0.0  # largest rotation in degrees, uniform in [-rotate, rotate]
    scale: float = 0.0  # size factor uniform in [1 - scale, 1 + scale]
    alpha: float = 0.0  # elastic strength (Simard's alpha, 28-pixel side): moves ink ~alpha / (6 sigma) px rms per axis; 0 = off
    sigma: float = 4.0  # smoothness of the elastic field: the Gaussian's standard deviation in pixels (of a 28-pixel side)
    p: float = 1.0  # probability that an image is distorted at all; the others are passed through unchanged

    def __post_init__(self) -> None:
        """Every knob finite and in range, so a bad setting fails here rather than as odd images."""
        for name, low, high in (("shift", 0, 28), ("rotate", 0, 180), ("scale", 0, 0.9), ("alpha", 0, 1000),
                                ("sigma", 0.1, 100), ("p", 0, 1)):  # fmt: skip
            checks.real(f"augmentation {name}", getattr(self, name), low, high)

    @property
    def is_identity(self) -> bool:
        """True when no image would change, so callers can skip the work."""
        return self.p == 0 or (self.shift == 0 and self.rotate == 0 and self.scale == 0 and self.alpha == 0)

    def describe(self) -> str:
        """The setting as parse_augment text, for logs and saved configs."""
        elastic = f"{self.alpha:g}:{self.sigma:g}" if self.alpha else "off"
        return f"shift={self.shift:g},rotate={self.rotate:g},scale={self.scale:g},elastic={elastic},p={self.p:g}"

    def apply(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Distorted copies of ``images`` (n, H, W) with values in [0, 1], drawn from ``rng``; float32 or float64 as given."""
        images = _check_images(images)
        n, height, width = images.shape
        if self.is_identity or n == 0:
            return images.copy()
        factor = min(height, width) / REFERENCE_SIDE
        shifts = rng.uniform(-self.shift, self.shift, size=(n, 2)) * factor
        angles = rng.uniform(-self.rotate, self.rotate, size=n)
        scales = rng.uniform(1.0 - self.scale, 1.0 + self.scale, size=n)
        displacement = None
        if self.alpha > 0:
            # the smoothed field's size goes as alpha / sigma, so alpha scales with the side squared to shrink it with the side
            displacement = elastic_field(rng, (n, height, width), self.alpha * factor**2, self.sigma * factor)
        chosen = rng.random(n) < self.p
        out = warp(images, shifts, angles, scales, displacement)
        out[~chosen] = images[~chosen]
        return out

    def apply_flat(self, X: np.ndarray, image_shape: tuple[int, int], rng: np.random.Generator) -> np.ndarray:
        """``apply`` on rows of flattened images (n, H*W), as the data sets store them."""
        height, width = (int(s) for s in image_shape)
        if X.ndim != 2 or X.shape[1] != height * width:
            raise BpnnValueError(f"augmentation needs rows of {height}x{width}={height * width} pixels, got shape {X.shape}")
        return self.apply(X.reshape(-1, height, width), rng).reshape(X.shape)


# Presets, measured on mnist5k (scripts/mnist5k_study.py; figures in scripts/results/mnist5k_study.md). "standard" is
# Simard et al.'s elastic field with small affine changes: with 100 epochs and 256,256 or 512 hidden units it adds about
# 2.5 points of test accuracy (98.3% vs 95.8%); it needs those epochs and units, so "light" (no elastic field) suits
# short runs; "strong" over-regularizes a 256-unit network in 60 epochs.
PRESETS: dict[str, Augmentation] = {
    "light": Augmentation(shift=1.0, rotate=5.0, scale=0.05),
    "standard": Augmentation(shift=2.0, rotate=10.0, scale=0.1, alpha=34.0, sigma=4.0),
    "strong": Augmentation(shift=3.0, rotate=15.0, scale=0.15, alpha=40.0, sigma=4.0),
}
_ALIASES = {"on": "standard", "default": "standard"}
_OFF = ("none", "off", "no", "false", "0", "")


def elastic_field(rng: np.random.Generator, shape: tuple[int, int, int], alpha: float, sigma: float) -> np.ndarray:
    """Simard et al.'s displacement fields (n, 2, H, W): uniform(-1, 1) noise, Gaussian-smoothed per image, times alpha.

    The smoothing is ``ndimage.gaussian_filter(mode="constant", truncate=3)`` written as two small matrix products
    (G_rows @ noise @ G_cols.T, with G the filter's response to each unit impulse): the same numbers, several times faster.
    """
    n, height, width = shape
    noise = rng.uniform(-1.0, 1.0, size=(n, 2, height, width)).astype(np.float32)
    smooth_rows, smooth_cols = (_smoothing_matrix(side, sigma) for side in (height, width))
    return (smooth_rows @ noise @ smooth_cols.T) * np.float32(alpha)


def _smoothing_matrix(side: int, sigma: float) -> np.ndarray:
    """The (side, side) matrix of scipy's 1-D Gaussian filter with zero padding: column j is the filtered impulse at j."""
    eye = np.eye(side, dtype=np.float64)
    from scipy import ndimage  # imported when augmenting, not when a config is checked

    return ndimage.gaussian_filter1d(eye, sigma, axis=0, mode="constant", truncate=GAUSSIAN_TRUNCATE).astype(np.float32)


def warp(images: np.ndarray, shifts: np.ndarray, angles: np.ndarray, scales: np.ndarray,
         displacement: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
    """Images (n, H, W) moved by ``shifts`` (n, 2: rows, cols) px, rotated ``angles`` degrees counter-clockwise and scaled
    by ``scales`` about their centre, then displaced by ``displacement`` (n, 2, H, W) px; bilinear, outside reads 0."""
    images = _check_images(images)
    n, height, width = images.shape
    rows, cols = np.meshgrid(np.arange(height, dtype=np.float64), np.arange(width, dtype=np.float64), indexing="ij")
    centre_r, centre_c = (height - 1) / 2.0, (width - 1) / 2.0
    # output pixel p samples the input at centre + R(-angle) (p - centre - shift) / scale: the inverse of the forward map
    dr = rows[None] - centre_r - np.asarray(shifts, dtype=np.float64)[:, 0, None, None]
    dc = cols[None] - centre_c - np.asarray(shifts, dtype=np.float64)[:, 1, None, None]
    theta = np.deg2rad(np.asarray(angles, dtype=np.float64))[:, None, None]
    inv_scale = 1.0 / np.asarray(scales, dtype=np.float64)[:, None, None]
    cos, sin = np.cos(theta) * inv_scale, np.sin(theta) * inv_scale
    src_r = centre_r + cos * dr + sin * dc  # rows grow downwards, so counter-clockwise on screen flips the sin signs
    src_c = centre_c - sin * dr + cos * dc
    if displacement is not None:
        src_r += displacement[:, 0]
        src_c += displacement[:, 1]
    return np.clip(bilinear(images, src_r, src_c), 0.0, 1.0)


def bilinear(images: np.ndarray, src_r: np.ndarray, src_c: np.ndarray) -> np.ndarray:
    """images[i] read at (src_r[i], src_c[i]) by bilinear interpolation, zero outside: what
    ``ndimage.map_coordinates(order=1, mode="grid-constant")`` gives per image, for all images in a few array passes."""
    n, height, width = images.shape
    stride = width + 2
    padded = np.zeros((n, height + 2, stride), dtype=images.dtype)  # a ring of zeros around each image
    padded[:, 1:-1, 1:-1] = images
    inside = (src_r > -1) & (src_r < height) & (src_c > -1) & (src_c < width)  # farther out, all four neighbours are 0
    r0 = np.floor(np.clip(src_r, -1, height - 1))
    c0 = np.floor(np.clip(src_c, -1, width - 1))
    fr, fc = (src_r - r0).astype(images.dtype), (src_c - c0).astype(images.dtype)
    corner = (r0.astype(np.intp) + 1) * stride + (c0.astype(np.intp) + 1)  # row r of an image is row r + 1 of padded
    corner += (np.arange(n, dtype=np.intp) * ((height + 2) * stride))[:, None, None]
    flat = padded.ravel()
    top = flat[corner]
    top += (flat[corner + 1] - top) * fc
    bottom = flat[corner + stride]
    bottom += (flat[corner + stride + 1] - bottom) * fc
    top += (bottom - top) * fr
    top *= inside
    return top


def _check_images(images: np.ndarray) -> np.ndarray:
    """A floating (n, H, W) array, or one line saying what shape is expected."""
    images = np.asarray(images)
    if images.ndim != 3:
        raise BpnnValueError(f"augmentation needs images of shape (n, height, width), got shape {images.shape}")
    if not np.issubdtype(images.dtype, np.floating):
        images = images.astype(np.float64)
    return images


def parse_augment(text: str | None) -> Augmentation | None:
    """The ``--augment`` value as an Augmentation, None for none/off; a preset name may be followed by key=value changes."""
    if text is None or str(text).strip().lower() in _OFF:
        return None
    parts = [part.strip() for part in str(text).split(",") if part.strip()]
    base = Augmentation()
    if parts and "=" not in parts[0]:
        name = parts.pop(0).lower()
        name = _ALIASES.get(name, name)
        if name not in PRESETS:
            raise SettingError(f"augment: unknown preset {name!r}; use {FORMAT_HELP}", "augment")
        base = PRESETS[name]
    changes: dict[str, float] = {}
    for part in parts:
        changes.update(_parse_pair(part))
    try:
        return replace(base, **changes)
    except BpnnValueError as exc:
        raise SettingError(f"augment: {exc}", "augment") from None


def _parse_pair(part: str) -> dict[str, float]:
    """One key=value of ``--augment`` as Augmentation fields; elastic takes alpha:sigma, alpha alone, or off."""
    key, sep, value = (s.strip() for s in part.partition("="))
    key = key.lower()
    keys = {"shift", "rotate", "rotation", "scale", "elastic", "p", "prob", "probability", "alpha", "sigma"}
    if not sep or key not in keys:
        raise SettingError(f"augment: cannot read {part!r}; use {FORMAT_HELP}", "augment")
    try:
        if key == "elastic":
            if value.lower() in _OFF:
                return {"alpha": 0.0}
            alpha, _, sigma = value.partition(":")
            return {"alpha": float(alpha)} | ({"sigma": float(sigma)} if sigma else {})
        name = {"rotation": "rotate", "prob": "p", "probability": "p"}.get(key, key)
        return {name: float(value)}
    except ValueError:
        raise SettingError(f"augment: {key} needs a number in {part!r}; use {FORMAT_HELP}", "augment") from None


__all__ = ["PRESETS", "Augmentation", "bilinear", "elastic_field", "parse_augment", "warp"]
