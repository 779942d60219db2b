"""Intel oneMKL's GEMM/GEMV for the NumPy kernels (``blas.MklBlas``), loaded with ctypes from the optional ``mkl`` wheel.

Why: on x86 MKL's products are faster than the OpenBLAS that NumPy's wheels carry (measured: docs/decisions.md).
It is an extra (``pip install "bpnn_xp[mkl]"``, ~700 MB on disk), not a default: a laptop user training the
digits would pay the download for no visible gain.

How: ``libmkl_rt`` is opened (RTLD_GLOBAL, after libgomp, as MKL's runtime dispatch needs) from the
environment's ``lib`` folder (where the wheel puts it), with the GNU OpenMP threading layer, so
MKL's threads are libgomp's, the pool numba's ``omp`` layer uses too: BLAS and the fused loops then
share one pool instead of two spinning against each other.
Conditional numerical reproducibility is ``MKL_CBWR_AUTO``: one code branch per machine, so a run repeats
itself and a resumed run repeats an uninterrupted one bit for bit (tested); ``MKL_CBWR_STRICT`` would also
pin results against alignment, at twice the time of a small product (docs/decisions.md).

Whether it is used is decided in one place, ``backends.selection.cpu_path`` (``BPNN_XP_BLAS``).
"""

from __future__ import annotations

import ctypes
import functools
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROW_MAJOR, NO_TRANS, TRANS = 101, 111, 112
GNU_THREADING, LP64 = 3, 0
CBWR_AUTO = 2
LIBRARY_NAMES = ("libmkl_rt.so.3", "libmkl_rt.so.2", "libmkl_rt.so")


class MklUnavailable(RuntimeError):
    """MKL is not installed, not loadable here, or turned off."""


def _candidate_paths() -> list[Path]:
    """Where the ``mkl`` wheel puts libmkl_rt: the environment's lib folder (and the base one)."""
    folders = dict.fromkeys(Path(prefix) / "lib" for prefix in (sys.prefix, sys.base_prefix))
    return [folder / name for folder in folders for name in LIBRARY_NAMES]


def _open_library() -> ctypes.CDLL:
    """libmkl_rt with the GNU OpenMP layer and 32-bit integers, or MklUnavailable."""
    if not sys.platform.startswith("linux"):
        raise MklUnavailable("the MKL path is wired for Linux only")
    path = find_library()
    if path is None:
        raise MklUnavailable('MKL is not installed (pip install "bpnn_xp[mkl]")')
    try:
        ctypes.CDLL("libgomp.so.1", mode=ctypes.RTLD_GLOBAL)  # MKL's GNU layer needs it loaded first
        library = ctypes.CDLL(str(path), mode=ctypes.RTLD_GLOBAL)
    except OSError as error:
        raise MklUnavailable(f"cannot load {path.name}: {error}") from None
    if library.MKL_Set_Threading_Layer(GNU_THREADING) != GNU_THREADING or library.MKL_Set_Interface_Layer(LP64) != LP64:
        raise MklUnavailable("MKL refused the GNU OpenMP threading layer")
    library.MKL_CBWR_Set(ctypes.c_int(CBWR_AUTO))
    _declare(library)
    return library


def _declare(library: ctypes.CDLL) -> None:
    """Argument types of the four BLAS routines used (LP64: int is 32-bit)."""
    i, p = ctypes.c_int, ctypes.c_void_p
    for name, real in (("cblas_sgemm", ctypes.c_float), ("cblas_dgemm", ctypes.c_double)):
        getattr(library, name).argtypes = [i, i, i, i, i, i, real, p, i, p, i, real, p, i]
        getattr(library, name).restype = None
    for name, real in (("cblas_sgemv", ctypes.c_float), ("cblas_dgemv", ctypes.c_double)):
        getattr(library, name).argtypes = [i, i, i, i, real, p, i, p, i, real, p, i]
        getattr(library, name).restype = None


@functools.cache
def library() -> ctypes.CDLL:
    """The loaded library (cached); raises MklUnavailable with the reason."""
    return _open_library()


def find_library() -> Path | None:
    """Where libmkl_rt is installed (cheap: nothing is loaded), or None."""
    if not sys.platform.startswith("linux"):
        return None
    return next((p for p in _candidate_paths() if p.exists()), None)


def _operand(a: np.ndarray) -> tuple[int, int] | None:
    """(transpose flag, leading dimension) of a 2-D row-major operand, or None if BLAS cannot read it."""
    item = a.itemsize
    if a.strides[1] == item and a.strides[0] >= max(1, a.shape[1]) * item and a.strides[0] % item == 0:
        return NO_TRANS, max(1, a.strides[0] // item)
    if a.strides[0] == item and a.strides[1] >= max(1, a.shape[0]) * item and a.strides[1] % item == 0:
        return TRANS, max(1, a.strides[1] // item)  # a transposed view of a row-major array
    return None


INT_MAX = 2**31 - 1  # LP64: every size and leading dimension is a C int


def gemm(a: np.ndarray, b: np.ndarray, out: np.ndarray) -> bool:
    """out = a @ b for 2-D float32/float64 arrays MKL can read; False (nothing written) otherwise."""
    op_a, op_b = _operand(a), _operand(b)
    if op_a is None or op_b is None or 0 in a.shape or b.shape[1] == 0:
        return False
    if max(*a.shape, b.shape[1], op_a[1], op_b[1]) > INT_MAX:
        return False
    (m, k), n = a.shape, b.shape[1]
    routine = library().cblas_sgemm if a.dtype == np.float32 else library().cblas_dgemm
    routine(ROW_MAJOR, op_a[0], op_b[0], m, n, k, 1.0, a.ctypes.data, op_a[1], b.ctypes.data, op_b[1],
            0.0, out.ctypes.data, n)  # fmt: skip
    return True


def column_sums(a: np.ndarray, ones: np.ndarray, out: np.ndarray) -> bool:
    """out = ones @ a (a row-major 2-D, out contiguous); False where a is not row-major."""
    operand = _operand(a)
    if operand is None or operand[0] != NO_TRANS or a.shape[0] == 0 or max(*a.shape, operand[1]) > INT_MAX:
        return False
    m, n = a.shape
    routine = library().cblas_sgemv if a.dtype == np.float32 else library().cblas_dgemv
    routine(ROW_MAJOR, TRANS, m, n, 1.0, a.ctypes.data, operand[1], ones.ctypes.data, 1, 0.0, out.ctypes.data, 1)
    return True


def usable(*arrays: Any) -> bool:
    """Aligned NumPy float32/float64 2-D arrays of one dtype (what the wrappers take)."""
    first = arrays[0]
    return all(
        isinstance(x, np.ndarray) and x.ndim == 2 and x.dtype == first.dtype and x.dtype in (np.float32, np.float64)
        and x.flags.aligned
        for x in arrays
    )
