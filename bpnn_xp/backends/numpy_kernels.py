"""NumPy fast paths: the reference kernels' operations, in the same order, with ``out=`` scratch.

The array API has no ``out=`` argument, so the generic code allocates a temporary per operation;
on the CPU at small batch those allocations cost as much as the matrix products. Each method here
does exactly the reference's operations in the same order, so results are equal bit for bit.
"""

from __future__ import annotations

import numpy as np

from .kernels import Kernels


class NumpyKernels(Kernels):
    """Kernels for NumPy arrays: scratch buffers are kept here, one per (shape, dtype)."""

    name = "numpy"

    def __init__(self, xp: object) -> None:
        super().__init__(xp)
        self._scratch: dict[tuple[tuple[int, ...], np.dtype], np.ndarray] = {}

    def scratch_like(self, array: np.ndarray) -> np.ndarray:
        """A reusable scratch array of ``array``'s shape and dtype (contents undefined)."""
        key = (array.shape, array.dtype)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = self._scratch[key] = np.empty_like(array)
        return buffer

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float, beta2: float,
             lr_t: float, eps_t: float) -> None:  # fmt: skip
        """The reference Adam update written into one scratch buffer."""
        s = self.scratch_like(p)
        m *= beta1
        np.multiply(g, 1.0 - beta1, out=s)
        m += s
        v *= beta2
        np.multiply(g, g, out=s)
        s *= 1.0 - beta2
        v += s
        np.sqrt(v, out=s)
        s += eps_t
        np.divide(m, s, out=s)
        s *= lr_t
        p -= s
