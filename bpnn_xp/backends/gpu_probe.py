"""Can this GPU, NCCL or MPI really do the work? Each check answers ``None`` (yes) or one line naming the fix.

Counting GPUs is not enough: CuPy imports and counts devices with only a driver, then fails at the first
kernel (NVRTC missing), the first product (cuBLAS missing), or at the first call when the driver is too old.
So a device is tried once per process with a tiny elementwise op and a 2x2 product, checked against NumPy.
The messages are matched by the text CuPy 14 and cuda-pathfinder put in their exceptions, so the advice
works without importing their exception types (and is tested with a fake CuPy that raises the same text).
"""

from __future__ import annotations

import ctypes
import importlib
import importlib.util
import os
import warnings
from typing import Any

import numpy as np

CUDA_EXTRA = "pip install 'bpnn_xp[cuda12]' (or [cuda13] for a CUDA 13 driver)"
TRUST_CUDA_AWARE = "BPNN_XP_CUDA_AWARE_MPI"  # =1: the user vouches for an MPI that cannot be asked
_PROBED: dict[int, str | None] = {}  # GPU index -> problem (None: works); one trial per process


def clear_probe_cache() -> None:
    """Forget earlier trials (tests swap the CuPy they see)."""
    _PROBED.clear()


def cuda_problem(index: int = 0) -> str | None:
    """None when CuPy computes correctly on GPU ``index``; else one line saying what is wrong and the fix."""
    if index not in _PROBED:
        _PROBED[index] = _try_cupy(index)
    return _PROBED[index]


def _try_cupy(index: int) -> str | None:
    if importlib.util.find_spec("cupy") is None:
        return f"CuPy is not installed; {CUDA_EXTRA}"
    try:
        import cupy

        count = int(cupy.cuda.runtime.getDeviceCount())
    except Exception as exc:  # no driver, or a driver older than CuPy's CUDA
        return gpu_failure_advice(exc)
    if count == 0:
        return "CuPy sees no CUDA GPU on this machine (nvidia-smi lists the GPUs the driver sees)"
    if index >= count:
        return f"GPU index {index} is out of range: this machine has {count} GPU(s), cuda:0..cuda:{count - 1}"
    try:
        got, expected = _trial_product(cupy, index)
    except Exception as exc:
        return gpu_failure_advice(exc)
    if not np.allclose(got, expected, rtol=1e-5):
        return f"cuda:{index} computed a wrong 2x2 product ({got.tolist()} instead of {expected.tolist()}); check the driver"
    return None


def _trial_product(cupy: Any, index: int) -> tuple[np.ndarray, np.ndarray]:
    """An elementwise kernel (compiled by NVRTC) and a product (cuBLAS) on GPU ``index``, and NumPy's answer."""
    host = np.array([[1.0, 2.0], [3.0, 4.0]], dtype=np.float32)
    with cupy.cuda.Device(index):
        a = cupy.asarray(host)
        b = a * 2.0 + 1.0
        got = cupy.asnumpy(a @ b)
    return np.asarray(got), host @ (host * 2.0 + 1.0)


def gpu_failure_advice(exc: BaseException) -> str:
    """One line for a CUDA library failure (driver, NVRTC, cuBLAS, kernel compile) with the fix."""
    text = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = f"{type(exc).__name__} {text}".lower()
    if "insufficientdriver" in lowered:
        return (f"no NVIDIA driver, or one older than CuPy's CUDA ({text}); install or update the driver, or the CuPy for "
                f"your driver's CUDA: {CUDA_EXTRA}")  # fmt: skip
    if "nodevice" in lowered or "no cuda-capable device" in lowered:
        return "the driver sees no CUDA GPU (cudaErrorNoDevice); check nvidia-smi and CUDA_VISIBLE_DEVICES"
    if "compileexception" in lowered:
        return f"CuPy could not compile a kernel for this GPU ({text}); install a CuPy whose CUDA supports it: {CUDA_EXTRA}"
    for library, what in (("libnvrtc", "NVRTC, which compiles CuPy's kernels"), ("libcublas", "cuBLAS, which does the products")):
        if library in lowered:
            return f"CuPy cannot load {what} ({text}); install the CUDA libraries with CuPy: {CUDA_EXTRA}"
    return f"the GPU failed a trial computation ({type(exc).__name__}: {text}); check nvidia-smi and the CuPy install"


def is_gpu_library_error(exc: BaseException) -> bool:
    """True for the exceptions CUDA libraries raise (so a caller can print advice instead of a traceback)."""
    module = type(exc).__module__ or ""
    return module.startswith(("cupy", "cupy_backends", "cuda.pathfinder")) or type(exc).__name__ in (
        "CUDARuntimeError", "CompileException", "CUBLASError", "CUDADriverError", "DynamicLibNotFoundError",
    )  # fmt: skip


def nccl_problem() -> str | None:
    """None when CuPy can load NCCL; else the line that says how to get it."""
    if importlib.util.find_spec("cupy") is None:
        return f"--gpu-reduce nccl needs CuPy with NCCL; {CUDA_EXTRA}, or use --gpu-reduce host"
    try:
        with warnings.catch_warnings():  # CuPy warns (many lines) when libnccl is missing: we say it in one
            warnings.simplefilter("ignore")
            nccl = importlib.import_module("cupy.cuda.nccl")
    except Exception as exc:
        return f"--gpu-reduce nccl: CuPy's NCCL module fails to import ({type(exc).__name__}: {exc}); use --gpu-reduce host"
    if not getattr(nccl, "available", False):
        return ("--gpu-reduce nccl: CuPy cannot load NCCL (libnccl.so.2); pip install 'nvidia-nccl-cu12>=2.18.1,<3' "
                "(or -cu13; both come with bpnn_xp[cuda12]/[cuda13]), or use --gpu-reduce host")  # fmt: skip
    return None


def cuda_aware_mpi_problem(mpi_module: Any, environ: dict[str, str] | None = None) -> str | None:
    """None when the MPI says it takes GPU buffers (MPIX_Query_cuda_support, MPICH >= 4 and Open MPI); else the fix."""
    environ = dict(os.environ) if environ is None else environ
    if environ.get(TRUST_CUDA_AWARE, "").strip() == "1":
        return None
    answer = query_cuda_support(mpi_module)
    library = " ".join((mpi_module.Get_library_version().splitlines() or ["an unknown MPI"])[0].split())
    if answer == 1:
        return None
    if answer == 0:
        why = "says it is not CUDA-aware (MPIX_Query_cuda_support() = 0; the mpich wheel of [mpi-local] never is)"
    else:
        why = "cannot be asked whether it is CUDA-aware (no MPIX_Query_cuda_support)"
    return (f"--gpu-reduce cuda-aware: this MPI ({library}) {why}; use --gpu-reduce nccl or host, "
            f"or set {TRUST_CUDA_AWARE}=1 if you know it takes GPU buffers")  # fmt: skip


def query_cuda_support(mpi_module: Any) -> int | None:
    """MPIX_Query_cuda_support() of the MPI library mpi4py loaded: 1, 0, or None when the MPI lacks it."""
    try:
        library = ctypes.CDLL(mpi_module.__file__)  # dlsym searches the extension and the libmpi it links
        query = library.MPIX_Query_cuda_support
    except (OSError, AttributeError, TypeError):
        return None
    query.restype, query.argtypes = ctypes.c_int, []
    return int(query())


def torch_cuda_problem() -> str | None:
    """None when torch computes on a CUDA GPU here; else why not (a CUDA build of torch needs no GPU to import)."""
    if importlib.util.find_spec("torch") is None:
        return "torch is not installed"
    import torch

    try:
        if not torch.cuda.is_available():
            return "torch sees no usable CUDA GPU (torch.cuda.is_available() is False)"
        value = float((torch.ones(2, device="cuda") * 2.0).sum())
    except Exception as exc:  # e.g. cudaErrorInsufficientDriver from a CUDA build on a machine without a GPU
        return f"torch cannot compute on CUDA ({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    return None if value == 4.0 else f"torch computed 2+2 = {value} on CUDA"
