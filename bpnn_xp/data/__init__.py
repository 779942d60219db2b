"""Data sets: generated experiments now; bundled digits, MNIST and course files in their own modules."""

from .prep import one_hot
from .synthetic import blobs, linear, xor, xor_points

__all__ = ["one_hot", "blobs", "linear", "xor", "xor_points"]
