"""Checks of single values, each with one meaning, shared by every layer.

A whole number is anything ``operator.index`` accepts except a bool (Python and NumPy integers, not 3.0
nor "3"); a real number is a finite int/float/NumPy scalar, not a bool or a string. A failed check is
one SettingError that names the setting (the CLI turns the name into its flag, the estimator into its
parameter) and the allowed range.
"""

from __future__ import annotations

import math
import operator
from typing import Any

from .errors import SettingError


def is_whole(value: Any, least: int = 0) -> bool:
    """Whether ``value`` is a whole number (not a bool) of at least ``least``."""
    if isinstance(value, bool):
        return False
    try:
        return operator.index(value) >= least
    except TypeError:
        return False


def whole(name: str, value: Any, least: int = 0) -> int:
    """``value`` as an int when it is a whole number >= ``least``, else one error naming ``name``."""
    if not is_whole(value, least):
        raise SettingError(f"{name} must be a whole number >= {least}, got {value!r}", name)
    return operator.index(value)


def is_real(value: Any) -> bool:
    """Whether ``value`` is a finite real number (not a bool, not text)."""
    if isinstance(value, (bool, str, bytes)) or not hasattr(value, "__float__"):
        return False
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return False


def real(name: str, value: Any, low: float = -math.inf, high: float = math.inf, *, low_open: bool = False,
         high_open: bool = False) -> float:  # fmt: skip
    """``value`` as a float when it is a finite number in the interval, else one error naming ``name``."""
    if is_real(value):
        number = float(value)
        above = number > low if low_open else number >= low
        below = number < high if high_open else number <= high
        if above and below:
            return number
    raise SettingError(f"{name} must be {_interval(low, high, low_open, high_open)}, got {value!r}", name)


def _interval(low: float, high: float, low_open: bool, high_open: bool) -> str:
    """'a number >= 0', 'a positive number' or 'a number in [0, 1)' for a message."""
    if high == math.inf:
        return "a positive number" if (low, low_open) == (0, True) else f"a number {'>' if low_open else '>='} {low:g}"
    return f"a number in {'(' if low_open else '['}{low:g}, {high:g}{')' if high_open else ']'}"


def hidden_sizes(name: str, value: Any) -> list[int]:
    """Hidden layer sizes: a list or tuple of whole numbers >= 1 (empty for no hidden layer), as a list of ints."""
    if not isinstance(value, (list, tuple)) or not all(is_whole(h, 1) for h in value):
        raise SettingError(f"{name} takes positive integers, like 256,128 (or none for no hidden layer); got {value!r}", name)
    return [operator.index(h) for h in value]


def parse_hidden(name: str, text: str) -> list[int]:
    """'256,128' -> [256, 128]; 'none' -> [] (no hidden layer); anything else one error naming ``name``."""
    if text.strip().lower() == "none":
        return []
    parts = [part.strip() for part in text.split(",")]
    if not all(part.isascii() and part.isdigit() and int(part) > 0 for part in parts):
        raise SettingError(f"{name} takes positive integers separated by commas, like 256,128 (or none): {text!r} is not a list "
                           "of positive sizes", name)  # fmt: skip
    return [int(part) for part in parts]
