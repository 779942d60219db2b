"""The matrix products of the NumPy kernels, as a part passed in: NumPy's own BLAS, or oneMKL's (``mkl_blas``).

Composition, not inheritance: ``NumpyKernels(xp, blas=MklBlas())`` works with or without numba, and the
loops never need to know which library multiplies. The column sums (the bias gradient) are one GEMV,
``ones @ a``, rather than ``np.sum(axis=0)``, which loops over rows (several times slower at 5000 rows;
timings in docs/decisions.md); both sum the rows in order (error ~m eps of the column's absolute sum,
tested within 4 eps up to 60,000 rows).

oneMKL loads at the first product (``activate``, ~0.15 s, so ``import bpnn_xp`` stays cheap). A gradient
``A^T B`` whose output is at least 4x taller than wide runs faster as ``(B^T A)^T`` into scratch (measured:
docs/decisions.md). MKL's products equal OpenBLAS's within float rounding, not bit for bit, and repeat run
to run (see ``mkl_blas``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import mkl_blas

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


class NumpyBlas:
    """NumPy's matmul (the BLAS its wheel carries, OpenBLAS) and GEMV column sums."""

    name = "numpy"

    def active(self) -> bool:
        """Whether this library runs the products now (NumPy's always does)."""
        return True

    def matmul_into(self, out: np.ndarray | None, a: np.ndarray, b: np.ndarray, kernels: Any) -> np.ndarray:
        """a @ b straight into ``out`` (the same BLAS call as ``@``)."""
        return np.matmul(a, b, out=out)

    def sum_rows_into(self, out: np.ndarray | None, a: np.ndarray, kernels: Any) -> np.ndarray:
        """Column sums into ``out`` as one GEMV, ``ones @ a`` (np.sum for what BLAS cannot take)."""
        if a.ndim != 2 or a.dtype not in (np.float32, np.float64) or a.shape[0] == 0:
            return np.sum(a, axis=0, out=out)
        return np.matmul(kernels.ones_vector(a.shape[0], a.dtype), a, out=out)


class MklBlas(NumpyBlas):
    """oneMKL's GEMM/GEMV where it can take the operands and loads; NumPy's otherwise."""

    name = "mkl"

    def active(self) -> bool:
        """Whether this process's products go to MKL now (loaded at the first product)."""
        return _STATE["active"]

    def matmul_into(self, out: np.ndarray | None, a: np.ndarray, b: np.ndarray, kernels: Any) -> np.ndarray:
        """a @ b by MKL into ``out`` (or a new array); NumPy's matmul where MKL cannot take the operands
        or cannot load. Every product MKL can take goes to it, whatever its size, so a network's numbers
        never depend on what the process computed before."""
        if not mkl_blas.usable(a, b) or a.shape[1] != b.shape[0] or not activate():
            return super().matmul_into(out, a, b, kernels)
        shape = (a.shape[0], b.shape[1])
        if out is None:
            out = np.empty(shape, a.dtype)
        elif out.shape != shape or out.dtype != a.dtype or not out.flags.c_contiguous or _overlaps(out, a, b):
            return super().matmul_into(out, a, b, kernels)
        if _transpose_pays(a, b):
            scratch = kernels.scratch((shape[1], shape[0]), a.dtype, "transposed product")
            if mkl_blas.gemm(b.T, a.T, scratch):
                np.copyto(out, scratch.T)
                return out
        return out if mkl_blas.gemm(a, b, out) else super().matmul_into(out, a, b, kernels)

    def sum_rows_into(self, out: np.ndarray | None, a: np.ndarray, kernels: Any) -> np.ndarray:
        """Column sums as MKL's GEMV ``ones @ a``; the NumPy path for anything else."""
        if not mkl_blas.usable(a) or a.shape[0] == 0 or not activate():
            return super().sum_rows_into(out, a, kernels)
        if out is None:
            out = np.empty(a.shape[1], a.dtype)
        elif out.shape != (a.shape[1],) or out.dtype != a.dtype or out.strides != (a.itemsize,):
            return super().sum_rows_into(out, a, kernels)
        ones = kernels.ones_vector(a.shape[0], a.dtype)
        return out if mkl_blas.column_sums(a, ones, out) else super().sum_rows_into(out, a, kernels)


def _transpose_pays(a: np.ndarray, b: np.ndarray) -> bool:
    """a is a transposed view, b row-major and the output at least 4x taller than wide (docs/decisions.md)."""
    return a.strides[0] == a.itemsize and b.strides[1] == b.itemsize and 4 * b.shape[1] <= a.shape[0]


def _overlaps(out: np.ndarray, *inputs: np.ndarray) -> bool:
    """``out`` may share memory with an input (BLAS must not write over what it reads)."""
    return any(np.may_share_memory(out, x) for x in inputs)
