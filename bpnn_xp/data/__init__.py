"""Data sets and their preparation (host side: this package may use NumPy by name).

The user-data readers (``load_user_data``, ``check_compatible``) pull in SciPy and Pillow, so they are
imported on first use (PEP 562): training on a bundled data set does not pay for them.
"""

from __future__ import annotations

import importlib
from typing import Any

from .datasets import DATASETS, Dataset, Splits, canonical_dataset_name, load_dataset, make_splits
from .prep import Preprocessing, Split, one_hot, split_indices
from .scaling import detect_pixel_scale, scale_like_training
from .synthetic import blobs, linear, xor, xor_points

_LAZY = {"check_compatible": "userdata", "load_user_data": "userdata"}

__all__ = [
    "DATASETS",
    "Dataset",
    "canonical_dataset_name",
    "check_compatible",
    "detect_pixel_scale",
    "Preprocessing",
    "Split",
    "Splits",
    "blobs",
    "linear",
    "load_dataset",
    "load_user_data",
    "make_splits",
    "one_hot",
    "scale_like_training",
    "split_indices",
    "xor",
    "xor_points",
]


def __getattr__(name: str) -> Any:
    """Import the user-data readers the first time they are asked for."""
    if name in _LAZY:
        value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
