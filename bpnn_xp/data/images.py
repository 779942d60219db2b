"""Turning user inputs for ``bpnn predict`` into feature rows the model was trained on.

``.npy`` arrays (n x features, n x H x W or one H x W image; integer pixels 0..255 are divided by 255)
and image files (PNG, JPEG, ...: the first frame, composited onto white where transparent, converted
to grayscale, resized to the model's image size, scaled to [0, 1] and inverted when the background is
light, since training digits are light on dark). A folder stands for the inputs inside it. Every file is
untrusted: whatever cannot become correct pixels is a DataFileError naming the file and the problem.
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..errors import DataFileError

if TYPE_CHECKING:
    from PIL import Image as PILImage

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm"}
INPUT_SUFFIXES = IMAGE_SUFFIXES | {".npy"}
WIDE_MODES = {"I;16", "I;16L", "I;16B", "I;16N", "I"}  # 16-bit (and 32-bit integer) grayscale, scaled by 65535
ALPHA_MODES = {"RGBA", "RGBa", "LA", "La", "PA"}
FLOAT32_MAX = float(np.finfo(np.float32).max)
KIND_NAMES = {"c": "complex numbers", "V": "structured records", "U": "text", "S": "bytes", "M": "dates", "m": "time spans"}


def load_inputs(paths: list[Path], n_features: int, image_shape: tuple[int, int] | None) -> tuple[np.ndarray, list[str]]:
    """(feature rows, a name per row) from .npy files, image files and folders of them."""
    rows, names = [], []
    for path in _expand(paths):
        if path.suffix.lower() == ".npy":
            block = _from_npy(path, n_features, image_shape)
            rows.append(block)
            names += [f"{path.name}[{i}]" for i in range(len(block))]
        elif path.suffix.lower() in IMAGE_SUFFIXES:
            if image_shape is None:
                raise DataFileError(f"{path}: this model was not trained on images; give a .npy array of {n_features} features")
            rows.append(_from_image(path, image_shape)[None, :])
            names.append(path.name)
        else:
            raise DataFileError(f"{path}: unsupported input; give .npy arrays or images ({', '.join(sorted(IMAGE_SUFFIXES))})")
    return np.concatenate(rows), names


def _expand(paths: list[Path]) -> list[Path]:
    """The inputs, each folder replaced by the .npy and image files directly inside it, sorted by name."""
    if not paths:
        raise DataFileError("no inputs given; pass .npy arrays, images or folders of them")
    expanded = []
    for path in paths:
        if path.is_dir():
            inside = sorted(p for p in path.iterdir() if p.suffix.lower() in INPUT_SUFFIXES and p.is_file() and p.name[0] != ".")
            if not inside:
                raise DataFileError(f"folder {path} holds no .npy or image files ({', '.join(sorted(INPUT_SUFFIXES))})")
            expanded += inside
        elif path.is_file():
            expanded.append(path)
        else:
            raise DataFileError(f"input {path} does not exist")
    return expanded


def _from_npy(path: Path, n_features: int, image_shape: tuple[int, int] | None) -> np.ndarray:
    """Feature rows from a .npy array, its values checked and scaled to what the model expects."""
    array = _load_npy(path)
    scaled = _as_features(path, array)
    if image_shape is not None and scaled.shape[-2:] == tuple(image_shape):
        scaled = scaled.reshape(-1, n_features)
    if scaled.ndim == 1 and scaled.shape[0] == n_features:
        scaled = scaled[None, :]
    if scaled.ndim != 2 or scaled.shape[1] != n_features:
        expect = f"n x {n_features}" + (f" or n x {image_shape[0]} x {image_shape[1]}" if image_shape else "")
        raise DataFileError(f"{path} has shape {array.shape}; this model needs {expect}")
    return scaled


def _load_npy(path: Path) -> np.ndarray:
    """The array in a .npy file, never unpickled; memory-mapped first, so a header that claims more data
    than the file holds fails before anything is allocated, and only a plain numeric array is copied in."""
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow note on an absurd header shape
            mapped = np.load(path, mmap_mode="r", allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "pickle" in str(exc) or "Python objects" in str(exc):  # never relay NumPy's hint to load pickles
            raise DataFileError(f"{path} holds pickled objects, which bpnn_xp never loads; save a numeric array") from None
        raise DataFileError(f"{path} is not a readable .npy array ({exc}); it is truncated or corrupt") from None
    if not isinstance(mapped, np.ndarray):
        mapped.close()
        raise DataFileError(f"{path} is an .npz archive, not a .npy array; save one array with numpy.save")
    kind = mapped.dtype.kind
    if kind not in ("b", "i", "u", "f"):
        raise DataFileError(f"{path} holds {KIND_NAMES.get(kind, 'values')} ({mapped.dtype}); give a real numeric array")
    if mapped.size == 0:
        raise DataFileError(f"{path} holds an empty array (shape {mapped.shape}); give at least one input")
    return np.array(mapped)


def _as_features(path: Path, array: np.ndarray) -> np.ndarray:
    """``array`` as float64: bools as 0/1, integers 0..255 divided by 255, finite floats within float32's range."""
    if array.dtype.kind == "b":
        return array.astype(np.float64)
    if array.dtype.kind in ("i", "u"):
        low, high = int(array.min()), int(array.max())
        if low < 0 or high > 255:
            raise DataFileError(
                f"{path} holds integers from {low} to {high}; integer pixels must lie in 0..255 (or save floats in [0, 1])"
            )
        return array / 255.0
    if not np.all(np.isfinite(array)):
        raise DataFileError(f"{path} contains NaN or infinite values")
    peak = float(np.max(np.abs(array)))
    if peak > FLOAT32_MAX:
        raise DataFileError(f"{path} holds values up to {peak:.3g}, beyond float32's range ({FLOAT32_MAX:.3g}) the model may use")
    return array.astype(np.float64)


def _from_image(path: Path, image_shape: tuple[int, int]) -> np.ndarray:
    """One image as a row of light-on-dark pixels in [0, 1], resized to ``image_shape``."""
    from PIL import Image

    raw = _decode(path)
    full_scale = 255.0 if raw.dtype == np.uint8 else 65535.0
    if raw.min() < 0 or raw.max() > full_scale:
        raise DataFileError(f"{path} holds pixel values from {raw.min()} to {raw.max()}; 16-bit images must lie in 0..65535")
    gray = Image.fromarray((raw / full_scale).astype(np.float32))
    resized = gray.resize((image_shape[1], image_shape[0]), Image.Resampling.LANCZOS)
    pixels = np.clip(np.asarray(resized, dtype=np.float64), 0.0, 1.0)  # Lanczos overshoots at sharp edges
    if pixels.mean() > 0.5:  # dark ink on a light page: flip to light ink on dark, like the training data
        pixels = 1.0 - pixels
    return pixels.reshape(-1)


def _decode(path: Path) -> np.ndarray:
    """The first frame of an image file as one gray channel (uint8, or wider integers for 16-bit images)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as image:
                image.seek(0)  # animated GIF/TIFF: the first frame
                return _gray_pixels(image)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        limit = Image.MAX_IMAGE_PIXELS
        raise DataFileError(
            f"{path} is too large to decode safely: over PIL.Image.MAX_IMAGE_PIXELS = {limit} pixels (a decompression bomb?)"
        ) from None
    except Exception as exc:  # Pillow raises many types (OSError, SyntaxError, ValueError...) for corrupt files
        raise DataFileError(f"{path} is not a readable image ({type(exc).__name__}: {exc})") from None


def _gray_pixels(image: PILImage.Image) -> np.ndarray:
    """A decoded frame as gray pixels; transparency is composited onto white (the page colour) first, since
    a canvas export is dark strokes on transparent pixels whose hidden colour is often black."""
    from PIL import Image

    if image.mode in WIDE_MODES:
        return np.asarray(image)
    if image.mode in ALPHA_MODES or "transparency" in image.info:
        rgba = image.convert("RGBA")
        image = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(image.convert("L"))
