"""A stand-in for CuPy 14 on a machine without a working GPU: it fails where and as the real one does.

Recorded by installing cupy-cuda12x 14.2.0 on a machine without a driver and by reading the libraries'
messages: ``getDeviceCount`` raises ``cupy_backends.cuda.api.runtime.CUDARuntimeError`` with
``cudaErrorInsufficientDriver: ...``; with a driver but no ``[ctk]`` wheels, the first elementwise kernel
raises cuda-pathfinder's ``DynamicLibNotFoundError`` (``Failure finding "libnvrtc.so.13 or libnvrtc.so.12"``)
and the first product an ``ImportError`` naming libcublasLt; without libnccl, ``cupy.cuda.nccl`` imports
with ``available = False`` and no other attribute.
"""

from __future__ import annotations

import importlib.machinery
import sys
import types
from typing import Any

import numpy as np


class CUDARuntimeError(RuntimeError):
    pass


class DynamicLibNotFoundError(RuntimeError):
    pass


class CompileException(Exception):
    pass


CUDARuntimeError.__module__ = "cupy_backends.cuda.api.runtime"
DynamicLibNotFoundError.__module__ = "cuda.pathfinder._dynamic_libs.load_dl_common"
CompileException.__module__ = "cupy.cuda.compiler"

# failure name -> (where it strikes, the exception CuPy raises there)
FAILURES: dict[str, tuple[str, BaseException]] = {
    "no-driver": ("count", CUDARuntimeError(
        "cudaErrorInsufficientDriver: CUDA driver version is insufficient for CUDA runtime version")),
    "no-device": ("count", CUDARuntimeError("cudaErrorNoDevice: no CUDA-capable device is detected")),
    "no-nvrtc": ("elementwise", DynamicLibNotFoundError(
        'Failure finding "libnvrtc.so.13 or libnvrtc.so.12": No such file: libnvrtc.so.13 or libnvrtc.so.12')),
    "no-cublas": ("product", ImportError(
        'Failure finding "libcublasLt.so.13 or libcublasLt.so.12": No such file: libcublasLt.so.13 or libcublasLt.so.12')),
    "compile": ("elementwise", CompileException("nvrtc: error: invalid value for --gpu-architecture (-arch)")),
    "wrong-numbers": ("product-value", None),  # type: ignore[dict-item]
}


def fake_cupy(failure: str | None = None, gpus: int = 1, nccl_available: bool = True) -> dict[str, types.ModuleType]:
    """The modules (cupy, cupy.cuda, cupy.cuda.nccl) of a CuPy that fails with ``failure`` (None: works)."""
    where, error = FAILURES[failure] if failure else (None, None)

    def strike(stage: str) -> None:
        if where == stage:
            raise error

    class FakeArray:
        def __init__(self, data: np.ndarray) -> None:
            self.data = np.asarray(data)

        def __mul__(self, other: Any) -> FakeArray:
            strike("elementwise")
            return FakeArray(self.data * other)

        def __add__(self, other: Any) -> FakeArray:
            strike("elementwise")
            return FakeArray(self.data + other)

        def __matmul__(self, other: FakeArray) -> FakeArray:
            strike("product")
            product = self.data @ other.data
            return FakeArray(product + 1.0 if where == "product-value" else product)

    class Device:
        def __init__(self, index: int = 0) -> None:
            self.id = index

        def __enter__(self) -> Device:
            return self

        def __exit__(self, *exc: Any) -> None:
            return None

    def get_device_count() -> int:
        strike("count")
        return gpus

    cupy = types.ModuleType("cupy")
    cupy.__spec__ = importlib.machinery.ModuleSpec("cupy", None)
    cupy.__version__ = "14.2.0-fake"
    cuda = types.ModuleType("cupy.cuda")
    cuda.__spec__ = importlib.machinery.ModuleSpec("cupy.cuda", None)
    cuda.runtime = types.SimpleNamespace(getDeviceCount=get_device_count,
                                         getDeviceProperties=lambda i: {"name": b"Fake GPU"})  # fmt: skip
    cuda.Device = Device
    nccl = types.ModuleType("cupy.cuda.nccl")
    nccl.__spec__ = importlib.machinery.ModuleSpec("cupy.cuda.nccl", None)
    nccl.available = nccl_available
    if nccl_available:
        nccl.NCCL_FLOAT32, nccl.NCCL_FLOAT64, nccl.NCCL_SUM = 7, 8, 0
    cuda.nccl = nccl
    cupy.cuda = cuda
    cupy.asarray = lambda host: FakeArray(np.array(host))
    cupy.asnumpy = lambda array: np.array(array.data)
    return {"cupy": cupy, "cupy.cuda": cuda, "cupy.cuda.nccl": nccl}


def install(monkeypatch: Any, failure: str | None = None, gpus: int = 1, nccl_available: bool = True) -> types.ModuleType:
    """Put the fake CuPy in sys.modules for one test, with a fresh probe cache; returns the cupy module."""
    from bpnn_xp.backends import gpu_probe

    for name, module in fake_cupy(failure, gpus, nccl_available).items():
        monkeypatch.setitem(sys.modules, name, module)
    gpu_probe.clear_probe_cache()
    monkeypatch.setattr(gpu_probe, "_PROBED", {})
    return sys.modules["cupy"]
