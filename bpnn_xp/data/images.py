"""Turning user inputs for ``bpnn predict`` into feature rows the model was trained on.

``.npy`` arrays (n x features, n x H x W or one H x W image; uint8 values are divided by 255) and
image files (PNG, JPEG, ...: converted to grayscale, resized to the model's image size, scaled to
[0, 1] and inverted when the background is light, since training digits are light on dark).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..errors import DataFileError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif", ".tif", ".tiff", ".pgm"}


def load_inputs(paths: list[Path], n_features: int, image_shape: tuple[int, int] | None) -> tuple[np.ndarray, list[str]]:
    """(feature rows, a name per row) from .npy files and image files."""
    rows, names = [], []
    for path in paths:
        if not path.is_file():
            raise DataFileError(f"input {path} does not exist")
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


def _from_npy(path: Path, n_features: int, image_shape: tuple[int, int] | None) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (ValueError, OSError, EOFError) as exc:
        if "pickle" in str(exc):  # never relay NumPy's hint to load pickles
            raise DataFileError(f"{path} holds pickled objects, which bpnn_xp never loads; save a numeric array") from None
        raise DataFileError(f"{path} is not a readable .npy array ({exc})") from None
    if not (np.issubdtype(array.dtype, np.number) or array.dtype == bool):
        raise DataFileError(f"{path} holds {array.dtype} values; give a numeric array")
    scaled = array / 255.0 if array.dtype == np.uint8 else array.astype(np.float64)
    if image_shape is not None and scaled.shape[-2:] == tuple(image_shape):
        scaled = scaled.reshape(-1, n_features)
    if scaled.ndim == 1 and scaled.shape[0] == n_features:
        scaled = scaled[None, :]
    if scaled.ndim != 2 or scaled.shape[1] != n_features:
        expect = f"n x {n_features}" + (f" or n x {image_shape[0]} x {image_shape[1]}" if image_shape else "")
        raise DataFileError(f"{path} has shape {array.shape}; this model needs {expect}")
    if not np.all(np.isfinite(scaled)):
        raise DataFileError(f"{path} contains NaN or infinite values")
    return scaled


def _from_image(path: Path, image_shape: tuple[int, int]) -> np.ndarray:
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            gray = image.convert("L").resize((image_shape[1], image_shape[0]), Image.Resampling.LANCZOS)
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFileError(f"{path} is not a readable image ({exc})") from None
    pixels = np.asarray(gray, dtype=np.float64) / 255.0
    if pixels.mean() > 0.5:  # dark ink on a light page: flip to light ink on dark, like the training data
        pixels = 1.0 - pixels
    return pixels.reshape(-1)
