"""Which kernels a namespace gets: the one place that decides the CPU path, and the line that tells users.

``cpu_path()`` is the only answer to "which CPU fast path is in use": the loops (numba where it imports,
else NumPy ``out=``) and the BLAS (oneMKL where the ``[mkl]`` extra is installed and ``BPNN_XP_BLAS``
does not turn it off, else NumPy's own). The BLAS is passed into the kernels (``cpu.blas``), so MKL works
without numba. CuPy namespaces get ``cuda.CupyKernels``; anything else, and ``fast=False``, the reference.
Importing this module imports no fast path: each is imported when a network first asks for it.
"""

from __future__ import annotations

import functools
import importlib
import sys
import warnings
from dataclasses import dataclass
from typing import Any

import array_api_compat

from . import allocator, environment
from .kernels import Kernels


@dataclass(frozen=True)
class CpuPath:
    """The CPU fast path of this process: loops ("numba" or "numpy"), BLAS ("mkl" or "numpy") and why not MKL."""

    loops: str
    blas: str
    mkl_note: str  # "" where MKL is picked, else why not


@functools.cache
def cpu_path() -> CpuPath:
    """Decide once per process (cheap: MKL loads at the first product, numba compiles at the first call)."""
    try:
        importlib.import_module(f"{__package__}.cpu.numba_loops")  # numba, a numba/NumPy mismatch or no writable cache

        loops = "numba"
    except Exception:  # the out= path is exact and needs nothing
        loops = "numpy"
    from .cpu import mkl_blas

    if environment.blas() == "openblas":
        return CpuPath(loops, "numpy", "turned off by BPNN_XP_BLAS")
    if mkl_blas.find_library() is None:
        linux = sys.platform.startswith("linux")
        note = 'MKL is not installed (pip install "bpnn_xp[mkl]")' if linux else "the MKL path is wired for Linux only"
        if environment.blas() == "mkl":
            warnings.warn(f"BPNN_XP_BLAS=mkl, but oneMKL cannot be used ({note}); using NumPy's BLAS", UserWarning, stacklevel=4)
        return CpuPath(loops, "numpy", note)
    return CpuPath(loops, "mkl", "")


def cpu_kernels(xp: Any) -> Kernels:
    """The CPU fast path's kernels for NumPy namespace ``xp``, with glibc's malloc thresholds pinned once
    (``allocator.tune``: every NumPy fast path reuses freed memory instead of page-faulting it in)."""
    allocator.tune()
    path = cpu_path()
    from .cpu.blas import MklBlas, NumpyBlas

    blas = MklBlas() if path.blas == "mkl" else NumpyBlas()
    if path.loops == "numba":
        from .cpu.numba_loops import NumbaKernels

        return NumbaKernels(xp, blas)
    from .cpu.numpy_out import NumpyKernels

    return NumpyKernels(xp, blas)


def kernels_for(xp: Any, fast: bool = True) -> Kernels:
    """The fastest proven kernels for namespace ``xp`` (the generic reference with ``fast=False``)."""
    if fast and array_api_compat.is_numpy_namespace(xp):
        return cpu_kernels(xp)
    if fast and array_api_compat.is_cupy_namespace(xp):
        from .cuda.kernels import CupyKernels

        return CupyKernels(xp)
    return Kernels(xp)


def cpu_fast_path() -> str:
    """One line for users: which kernels NumPy networks get here, and whether oneMKL does the products."""
    import numpy as np

    path, kernels = cpu_path(), cpu_kernels(np)
    mkl = f"not used: {path.mkl_note}"
    if path.blas == "mkl":
        from .cpu import blas, mkl_blas

        mkl = f"in use ({mkl_blas.library()._name})" if blas.activate() else f"not used: {blas._STATE['failed']}"
    products = "oneMKL" if path.blas == "mkl" and mkl.startswith("in use") else "NumPy's BLAS"
    memory = allocator.tune()
    return f"{kernels.name} kernels, matrix products by {products} (oneMKL: {mkl}); loops: {path.loops}; memory: {memory}"
