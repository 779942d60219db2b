"""Pixel scale: what a data set's raw values were divided by, found once on the training data and applied again
to every input given to the trained model, so uint8 images, raw 0..255 arrays and float arrays all work.

A scale of 255 means 0..255 pixels, 16 scikit-learn's 0..16 digits, 1 already-scaled pixels or features that are
not pixels at all (used as they are).
"""

from __future__ import annotations

import numpy as np

from ..errors import BpnnValueError, DataFileError

FLOAT32_MAX = float(np.finfo(np.float32).max)
PIXEL_SCALES = (16.0, 255.0)  # the integer pixel ranges we recognise, smallest first
KIND_NAMES = {"c": "complex numbers", "V": "structured records", "U": "text", "S": "bytes", "M": "dates", "m": "time spans"}


def _check_numeric(array: np.ndarray, name: str) -> None:
    """An error unless ``array`` holds real numbers (bool, integers or floats)."""
    kind = array.dtype.kind
    if kind not in ("b", "i", "u", "f"):
        raise DataFileError(f"{name} holds {KIND_NAMES.get(kind, 'non-numeric values')} ({array.dtype}); give real numbers")


def _check_finite(array: np.ndarray, name: str) -> None:
    """An error on NaN, infinity, or a magnitude beyond float32 (which the model may compute in)."""
    if array.dtype.kind != "f" or array.size == 0:
        return
    if not np.all(np.isfinite(array)):
        raise DataFileError(f"{name} contains NaN or infinite values; remove or replace them")
    peak = float(np.max(np.abs(array)))
    if peak > FLOAT32_MAX:
        raise DataFileError(f"{name} holds values up to {peak:.3g}, beyond float32's range ({FLOAT32_MAX:.3g}); rescale them")


def _integer_scale(low: float, high: float) -> float | None:
    """The pixel scale whose 0..scale range holds integers from ``low`` to ``high``, or None if none does."""
    if low < 0:
        return None
    return next((scale for scale in PIXEL_SCALES if high <= scale), None)


def detect_pixel_scale(array: np.ndarray, name: str = "the data") -> float:
    """What a whole training array's raw values should be divided by: 255 or 16 for integer pixels, else 1.

    bool -> 1; integers 0..1 -> 1 (binary features, not pixels); integers up to 16 -> 16; up to 255 -> 255;
    other integers -> DataFileError. Floats in [0, 1] -> 1; whole-number floats 0..16 or 0..255 (pixels saved
    as floats) -> 16 or 255; any other floats -> 1, meaning "not pixels, used as they are".
    """
    array = np.asarray(array)
    _check_numeric(array, name)
    _check_finite(array, name)
    if array.dtype.kind == "b" or array.size == 0:
        return 1.0
    low, high = float(array.min()), float(array.max())
    if array.dtype.kind in ("i", "u"):
        if low >= 0 and high <= 1:
            return 1.0
        scale = _integer_scale(low, high)
        if scale is None:
            raise DataFileError(
                f"{name} holds integers from {int(low)} to {int(high)}; integer pixels must lie in 0..255 "
                "(save other features as floats to use them as they are)"
            )
        return scale
    if low >= 0 and high <= 1:
        return 1.0
    if np.all(array == np.round(array)):
        return _integer_scale(low, high) or 1.0
    return 1.0


def scale_like_training(array: np.ndarray, pixel_scale: float, name: str = "the input") -> np.ndarray:
    """``array`` as float64 scaled the way the model's training data was (``pixel_scale`` from detect_pixel_scale).

    bool -> 0/1. With pixel_scale > 1: values already in [0, 1] stay, values within 0..pixel_scale are divided by
    it, values within 0..255 by 255 (a 0..255 image given to an 8x8 digits model); anything else is an error.
    With pixel_scale 1 the values are used as they are, after the finite and float32-range checks.
    """
    if not np.isfinite(pixel_scale) or pixel_scale < 1:
        raise BpnnValueError(f"pixel_scale must be a finite number >= 1, got {pixel_scale!r}")
    array = np.asarray(array)
    _check_numeric(array, name)
    _check_finite(array, name)
    if array.dtype.kind == "b" or array.size == 0:
        return array.astype(np.float64)
    if pixel_scale == 1:
        return array.astype(np.float64)
    low, high = float(array.min()), float(array.max())
    if low >= 0 and high <= 1:
        return array.astype(np.float64)
    for divisor in (float(pixel_scale), 255.0):
        if low >= 0 and high <= divisor:
            return array.astype(np.float64) / divisor
    raise DataFileError(
        f"{name} holds values from {low:g} to {high:g}; this model expects pixels in 0..{pixel_scale:g} "
        "(or 0..255, or floats in [0, 1])"
    )
