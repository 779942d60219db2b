"""The numba kernels with oneMKL's matrix products (``mkl_blas``): the CPU fast path where MKL is installed.

Products and column sums go to MKL once a product of 4M+ multiply-adds has loaded it (``activate``: a
digits run never pays MKL's ~0.15 s load); everything else is the numba/NumPy fast path. One layout rule
comes from measurement: a gradient ``A^T B`` whose output has far fewer columns than rows (the
course network's X^T d, 400x25; a wide layer's a^T d into 10 outputs) runs 1.8-2.9x faster as
``(B^T A)^T``, computed into scratch and copied out (a 10k-element copy).

Results are MKL's: equal to OpenBLAS's products within float rounding, not bit for bit (each
library orders its sums its own way), and reproducible run to run (see ``mkl_blas``). The fused
loops run on all usable CPUs here: MKL's threads are libgomp's, the same pool as numba's, so no
second BLAS pool spins on the other core (with OpenBLAS they are held to half, see ``numba_kernels``).
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np

from . import mkl_blas
from .numba_kernels import PARALLEL_MIN, NumbaKernels


def _all_threads() -> int:
    """Every usable CPU, capped by NUMBA_NUM_THREADS."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        usable = os.cpu_count() or 1
    return max(1, min(usable, numba.config.NUMBA_NUM_THREADS))


THREADS = _all_threads()
ACTIVATE_MACS = 1 << 22  # m*k*n of the first product that loads MKL (~4M multiply-adds, ~0.1 ms of work)
_STATE: dict[str, Any] = {"active": False, "failed": None}  # per process: once MKL is in, every product uses it


def activate() -> bool:
    """Load MKL for this process (once); False, remembered, where it cannot load."""
    if _STATE["active"]:
        return True
    if _STATE["failed"] is None:
        try:
            mkl_blas.library()
            _STATE["active"] = True
        except mkl_blas.MklUnavailable as why:
            _STATE["failed"] = str(why)
    return _STATE["active"]


def active() -> bool:
    """Whether this process's products go to MKL now."""
    return _STATE["active"]


class MklKernels(NumbaKernels):
    """NumbaKernels whose matrix products and column sums are oneMKL's."""

    name = "mkl"

    def _run(self, kernel: Any, n: int, *args: Any) -> None:
        """A fused loop on every usable CPU once MKL runs the products (one thread for small arrays);
        before that, OpenBLAS's pool is the one spinning, so the numba kernels' thread rule holds."""
        if not _STATE["active"]:
            return super()._run(kernel, n, *args)
        numba.set_num_threads(THREADS if n >= PARALLEL_MIN else 1)
        kernel(*args)

    def matmul_into(self, out: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b by MKL into ``out`` (or a new array); NumPy's matmul where MKL cannot take the operands,
        and for every product until one of ``ACTIVATE_MACS`` multiply-adds loads MKL (a digits run never
        pays MKL's ~0.15 s load)."""
        if not mkl_blas.usable(a, b) or a.shape[1] != b.shape[0] or not _wants_mkl(a, b):
            return super().matmul_into(out, a, b)
        shape = (a.shape[0], b.shape[1])
        if out is None:
            out = np.empty(shape, a.dtype)
        elif out.shape != shape or out.dtype != a.dtype or not out.flags.c_contiguous or _overlaps(out, a, b):
            return super().matmul_into(out, a, b)
        if _transpose_pays(a, b):
            scratch = self._transposed_scratch(shape, a.dtype)
            if mkl_blas.gemm(b.T, a.T, scratch):
                np.copyto(out, scratch.T)
                return out
        return out if mkl_blas.gemm(a, b, out) else super().matmul_into(out, a, b)

    def sum_rows_into(self, out: np.ndarray | None, a: np.ndarray) -> np.ndarray:
        """Column sums as MKL's GEMV ``ones @ a``; the NumPy path for anything else."""
        if not _STATE["active"] or not mkl_blas.usable(a) or a.shape[0] == 0:
            return super().sum_rows_into(out, a)
        if out is None:
            out = np.empty(a.shape[1], a.dtype)
        elif out.shape != (a.shape[1],) or out.dtype != a.dtype or out.strides != (a.itemsize,):
            return super().sum_rows_into(out, a)
        return out if mkl_blas.column_sums(a, self._ones_for(a.shape[0], a.dtype), out) else super().sum_rows_into(out, a)

    def _ones_for(self, rows: int, dtype: np.dtype) -> np.ndarray:
        """A cached vector of ``rows`` ones."""
        key = (rows, dtype)
        ones = self._ones.get(key)
        if ones is None:
            ones = self._ones[key] = np.ones(rows, dtype)
        return ones

    def _transposed_scratch(self, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        """Reusable scratch for (B^T A), the transpose of an output of ``shape``."""
        return self.scratch((shape[1], shape[0]), dtype, "transposed product")


def _wants_mkl(a: np.ndarray, b: np.ndarray) -> bool:
    """MKL is in use, or this product is big enough to load it."""
    return _STATE["active"] or (a.shape[0] * a.shape[1] * b.shape[1] >= ACTIVATE_MACS and activate())


def _transpose_pays(a: np.ndarray, b: np.ndarray) -> bool:
    """a is a transposed view, b row-major and the output at least 4x taller than wide (see the docstring)."""
    return a.strides[0] == a.itemsize and b.strides[1] == b.itemsize and 4 * b.shape[1] <= a.shape[0]


def _overlaps(out: np.ndarray, *inputs: np.ndarray) -> bool:
    """``out`` may share memory with an input (BLAS must not write over what it reads)."""
    return any(np.may_share_memory(out, x) for x in inputs)
