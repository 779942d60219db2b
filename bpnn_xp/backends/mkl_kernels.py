"""The numba kernels with oneMKL's matrix products (``mkl_blas``): the CPU fast path where MKL is installed.

Products and column sums go to MKL, which loads at the first product (``activate``, ~0.15 s, so
``import bpnn_xp`` stays cheap); everything else is the numba/NumPy fast path. One layout rule
comes from measurement: a gradient ``A^T B`` whose output has far fewer columns than rows (the
course network's X^T d, 400x25; a wide layer's a^T d into 10 outputs) runs 1.8-2.9x faster as
``(B^T A)^T``, computed into scratch and copied out (a 10k-element copy).

Results are MKL's: equal to OpenBLAS's products within float rounding, not bit for bit (each
library orders its sums its own way), and reproducible run to run (see ``mkl_blas``). The fused
loops run on all usable CPUs where numba's threading layer is ``omp``: MKL's threads are then
libgomp's, the same pool as numba's, and no second BLAS pool spins on the other core. Where numba
chose TBB or workqueue, they keep ``numba_kernels``' rule (half the CPUs).
"""

from __future__ import annotations

from typing import Any

import numba
import numpy as np

from . import mkl_blas
from .numba_kernels import PARALLEL_MIN, NumbaKernels, usable_cpus

THREADS = max(1, min(usable_cpus(), numba.config.NUMBA_NUM_THREADS))  # every usable CPU, capped by numba
_STATE: dict[str, Any] = {"active": False, "failed": None}  # per process: MKL loaded, or why it cannot be


def activate() -> bool:
    """Load MKL for this process (once, at the first product); False, remembered, where it cannot load."""
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


def _shared_pool() -> bool:
    """numba's loops run on libgomp, the pool MKL's GNU layer uses (numba may pick TBB where it loads)."""
    try:
        return numba.threading_layer() == "omp"
    except ValueError:  # no parallel loop has run yet: the layer is not chosen
        return False


class MklKernels(NumbaKernels):
    """NumbaKernels whose matrix products and column sums are oneMKL's."""

    name = "mkl"

    def _run(self, kernel: Any, n: int, *args: Any) -> None:
        """A fused loop on every usable CPU once MKL runs the products on the same libgomp pool (one
        thread for small arrays); otherwise the numba kernels' thread rule (another pool may spin)."""
        if not _STATE["active"] or not _shared_pool():
            return super()._run(kernel, n, *args)
        numba.set_num_threads(THREADS if n >= PARALLEL_MIN else 1)
        kernel(*args)

    def matmul_into(self, out: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b by MKL into ``out`` (or a new array); NumPy's matmul where MKL cannot take the operands
        or cannot load. Every product MKL can take goes to it, whatever its size, so a network's numbers
        never depend on what the process computed before."""
        if not mkl_blas.usable(a, b) or a.shape[1] != b.shape[0] or not activate():
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
        if not mkl_blas.usable(a) or a.shape[0] == 0 or not activate():
            return super().sum_rows_into(out, a)
        if out is None:
            out = np.empty(a.shape[1], a.dtype)
        elif out.shape != (a.shape[1],) or out.dtype != a.dtype or out.strides != (a.itemsize,):
            return super().sum_rows_into(out, a)
        return out if mkl_blas.column_sums(a, self._ones_vector(a.shape[0], a.dtype), out) else super().sum_rows_into(out, a)

    def _transposed_scratch(self, shape: tuple[int, int], dtype: np.dtype) -> np.ndarray:
        """Reusable scratch for (B^T A), the transpose of an output of ``shape``."""
        return self.scratch((shape[1], shape[0]), dtype, "transposed product")


def _transpose_pays(a: np.ndarray, b: np.ndarray) -> bool:
    """a is a transposed view, b row-major and the output at least 4x taller than wide (see the docstring)."""
    return a.strides[0] == a.itemsize and b.strides[1] == b.itemsize and 4 * b.shape[1] <= a.shape[0]


def _overlaps(out: np.ndarray, *inputs: np.ndarray) -> bool:
    """``out`` may share memory with an input (BLAS must not write over what it reads)."""
    return any(np.may_share_memory(out, x) for x in inputs)
