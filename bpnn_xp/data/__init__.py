"""Data sets and their preparation (host side: this package may use NumPy by name)."""

from .datasets import DATASETS, Dataset, Splits, canonical_dataset_name, load_dataset, make_splits
from .prep import Preprocessing, Split, one_hot, split_indices
from .synthetic import blobs, linear, xor, xor_points

__all__ = [
    "DATASETS",
    "Dataset",
    "canonical_dataset_name",
    "Preprocessing",
    "Split",
    "Splits",
    "blobs",
    "linear",
    "load_dataset",
    "make_splits",
    "one_hot",
    "split_indices",
    "xor",
    "xor_points",
]
