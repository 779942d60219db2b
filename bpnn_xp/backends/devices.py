"""Devices: a device string ("cpu", "cuda:1", "array-api-strict:device1", "torch:mps", ...) resolves
to a :class:`Backend`, an array-API namespace plus a device. With the kernels seam, this package is
the only place that names NumPy, CuPy or torch; the engine takes ``xp`` from its inputs and calls the
helpers here to move host arrays in and out and to run inside the arrays' device context.
"""

from __future__ import annotations

import contextlib
import importlib.util
import operator
import warnings
from dataclasses import dataclass, field
from typing import Any

import array_api_compat
import numpy as np

from ..errors import BpnnValueError, DeviceDtypeError, DeviceError, unknown_name
from . import gpu_probe

DEVICE_HELP = "cpu, cuda, cuda:N, auto, array-api-strict[:DEVICE], torch, torch:cuda:N, torch:mps"
DTYPES = ("float32", "float64")


@dataclass(frozen=True)
class Backend:
    """An array namespace and a device on it; arrays made through it land on that device."""

    name: str
    xp: Any
    device: Any
    library: str  # "numpy", "cupy", "array_api_strict" or "torch"
    _context: Any = field(default=None, compare=False, repr=False)

    def asarray(self, host: Any, dtype: str | None = None) -> Any:
        """Copy a host (NumPy) array or nested list to this backend's device, optionally casting."""
        host = np.asarray(host)
        if dtype is not None:
            self.check_dtype(dtype if isinstance(dtype, str) else np.dtype(dtype).name)
            host = host.astype(dtype, copy=False)
        if self.library == "torch":
            host = np.ascontiguousarray(host)  # torch refuses negative strides
        return self.xp.asarray(host, device=self.device)

    def dtype(self, name: str) -> Any:
        """The namespace's dtype object for "float32" or "float64"."""
        if name not in DTYPES:
            raise unknown_name("dtype", name, DTYPES)
        self.check_dtype(name)
        return getattr(self.xp, name)

    def check_dtype(self, name: str) -> None:
        """A DeviceError naming the device and the dtype when the device cannot hold that dtype (array-api-strict's
        no_float64 device, Apple's MPS without float64...); other libraries' devices are asked through the array
        API's inspection namespace, NumPy is never asked."""
        if self.library == "numpy" or name not in DTYPES:
            return
        held = _device_dtypes(self)
        if held is not None and name not in held:
            other = next((d for d in DTYPES if d != name and d in held), None)
            fix = f"use dtype {other} or another device" if other else "use another device"
            raise DeviceDtypeError(f"device {self.name} cannot hold {name} arrays; {fix}", "device", "dtype")

    def use(self) -> contextlib.AbstractContextManager:
        """A context that makes this device current (needed by CuPy on a GPU other than 0)."""
        return self._context() if self._context is not None else contextlib.nullcontext()

    def synchronize(self) -> None:
        """Wait for queued device work (for honest timings); a no-op on the CPU."""
        if self.library == "cupy":
            import cupy

            cupy.cuda.Device(self.device.id).synchronize()
        elif self.library == "torch" and self.device.type == "cuda":
            import torch

            torch.cuda.synchronize(self.device)


def as_backend(device: str | Backend) -> Backend:
    """A Backend from a device string, or the Backend itself."""
    return device if isinstance(device, Backend) else resolve_device(device)


def device_context(array: Any) -> contextlib.AbstractContextManager:
    """A context that makes ``array``'s device current, so new arrays land beside it.

    CuPy (and torch on CUDA) allocate ``zeros_like``/``asarray(copy=True)`` on the *current* GPU and
    array-api-compat ignores ``device=`` for CuPy: without this, a cuda:1 network gets arrays on GPU 0.
    """
    if array_api_compat.is_cupy_array(array):
        return array.device
    if array_api_compat.is_torch_array(array) and array.device.type == "cuda":
        import torch

        return torch.cuda.device(array.device)
    return contextlib.nullcontext()


def resolve_device(spec: str = "cpu") -> Backend:
    """Turn a device string into a Backend, or raise DeviceError naming what is available."""
    spec = (spec or "cpu").strip().lower()
    if spec in ("cpu", "numpy"):
        return _numpy_backend()
    if spec == "auto":
        return _auto_backend()
    if spec == "cuda" or spec.startswith("cuda:") or spec == "cupy":
        return _cupy_backend(_device_index(spec), probe=True)
    if spec == "array-api-strict" or spec.startswith("array-api-strict:"):
        return _strict_backend(spec.partition(":")[2])
    if spec == "torch" or spec.startswith("torch:"):
        return _torch_backend(spec.partition(":")[2] or "cpu")
    raise DeviceError(f"unknown device {spec!r}; use one of: {DEVICE_HELP}")


def _device_index(spec: str) -> int:
    index = spec.partition(":")[2] or "0"
    if not index.isdigit():
        raise DeviceError(f"bad GPU index in device {spec!r}; write cuda:N with N a number, e.g. cuda:0")
    return int(index)


def _auto_backend() -> Backend:
    """GPU 0 when CuPy computes correctly there, else the CPU (with a note when CuPy is installed but fails)."""
    problem = gpu_probe.cuda_problem(0)
    if problem is None:
        return _cupy_backend(0, probe=False)
    if importlib.util.find_spec("cupy") is not None:
        warnings.warn(f"--device auto: using the CPU because {problem}", UserWarning, stacklevel=3)
    return _numpy_backend()


def _numpy_backend() -> Backend:
    import array_api_compat.numpy as xp

    return Backend("cpu", xp, "cpu", "numpy")


def cupy_gpu_count() -> int:
    """How many GPUs CuPy can see; 0 when CuPy is missing or has no working driver."""
    if importlib.util.find_spec("cupy") is None:
        return 0
    try:
        import cupy

        return int(cupy.cuda.runtime.getDeviceCount())
    except Exception:  # CuPy installed but no driver / no GPU: treat as no GPU
        return 0


def _cupy_backend(index: int, probe: bool = False) -> Backend:
    """GPU ``index`` through CuPy; with ``probe``, first a trial computation (once per process) that must pass."""
    if importlib.util.find_spec("cupy") is None:
        raise DeviceError(
            "device 'cuda' needs CuPy, which is not installed; install it with "
            "pip install 'bpnn_xp[cuda12]' (or [cuda13]), or use --device cpu. "
            f"Available here: {', '.join(available_device_names())}"
        )
    count = cupy_gpu_count()
    if count == 0:
        reason = (gpu_probe.cuda_problem(0) if probe else None) or "no driver or no device"
        raise DeviceError(
            f"CuPy sees no usable CUDA GPU: {reason}; or use --device cpu (available here: {', '.join(available_device_names())})"
        )
    if index >= count:
        raise DeviceError(f"GPU index {index} is out of range: this machine has {count} GPU(s), cuda:0..cuda:{count - 1}")
    problem = gpu_probe.cuda_problem(index) if probe else None
    if problem is not None:
        raise DeviceError(f"cuda:{index} cannot be used: {problem}; or use --device cpu")
    import array_api_compat.cupy as xp  # array_namespace(cupy.empty(0)) would touch GPU 0
    import cupy

    device = cupy.cuda.Device(index)
    return Backend(f"cuda:{index}", xp, device, "cupy", lambda: cupy.cuda.Device(index))


def _strict_backend(device_name: str) -> Backend:
    if importlib.util.find_spec("array_api_strict") is None:
        raise DeviceError("device 'array-api-strict' needs pip install array-api-strict")
    import array_api_strict as xs

    names = _strict_device_names()
    if not device_name:
        device = xs.__array_namespace_info__().default_device()
    elif device_name in names:
        device = names[device_name]
    else:
        raise DeviceError(f"array-api-strict has no device {device_name!r}; choose one of: {', '.join(names)}")
    label = "array-api-strict" + (f":{device_name}" if device_name else "")
    return Backend(label, xs, device, "array_api_strict")


def _strict_device_names() -> dict[str, Any]:
    """array-api-strict's devices by the name ``resolve_device`` takes after "array-api-strict:" (cpu_device, device1...)."""
    import array_api_strict as xs

    return {d._device.lower(): d for d in xs.__array_namespace_info__().devices()}


def _torch_backend(device_name: str) -> Backend:
    if importlib.util.find_spec("torch") is None:
        raise DeviceError("device 'torch' needs PyTorch: pip install 'bpnn_xp[torch]'")
    import torch

    try:
        device = torch.device(device_name)
    except RuntimeError as exc:
        raise DeviceError(f"bad torch device {device_name!r}: {exc}; use torch, torch:cuda:N or torch:mps") from None
    if device.type == "cuda":
        count = torch.cuda.device_count()
        index = device.index or 0
        if index >= count:
            raise DeviceError(f"torch sees {count} CUDA GPU(s); torch:cuda:{index} is not available")
    if device.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("torch:mps asked for but Apple's MPS is not available here; use torch or cpu")
    import array_api_compat.torch as xp

    return Backend(f"torch:{device}" if device.type != "cpu" else "torch", xp, device, "torch")


def backend_of(array: Any) -> Backend:
    """The Backend an existing array lives on (namespace and device)."""
    device = array_api_compat.device(array)
    if array_api_compat.is_numpy_array(array):
        return _numpy_backend()
    if array_api_compat.is_cupy_array(array):
        return _cupy_backend(device.id)
    if array_api_compat.is_torch_array(array):
        import array_api_compat.torch as xp

        return Backend("torch" if device.type == "cpu" else f"torch:{device}", xp, device, "torch")
    xp = array_api_compat.array_namespace(array)
    name = next((n for n, d in _strict_device_names().items() if d == device), str(device))
    return Backend(f"array-api-strict:{name}", xp, device, "array_api_strict")  # a name resolve_device reads back


def from_host(host: Any, like: Any, dtype: Any = None) -> Any:
    """Copy a host NumPy array onto the namespace and device of the array ``like``."""
    xp = array_api_compat.array_namespace(like)
    host = np.ascontiguousarray(host)
    return xp.asarray(host, device=array_api_compat.device(like), dtype=dtype)


def to_numpy(array: Any) -> np.ndarray:
    """Copy any supported array (NumPy, CuPy, torch, array-api-strict on any device) to host NumPy."""
    if isinstance(array, np.ndarray) or np.isscalar(array):
        return np.asarray(array)
    if array_api_compat.is_cupy_array(array):
        return array.get()
    if array_api_compat.is_torch_array(array):
        return array.detach().cpu().numpy()
    if array_api_compat.is_array_api_strict_namespace(array_api_compat.array_namespace(array)):
        import array_api_strict as xs

        array = array_api_compat.to_device(array, xs.__array_namespace_info__().default_device())
    return np.asarray(array)


_DTYPES_HELD: dict[str, frozenset[str] | None] = {}


def _device_dtypes(backend: Backend) -> frozenset[str] | None:
    """The dtype names a backend's device holds (asked once per device), or None when the library cannot say."""
    key = f"{backend.library}:{backend.device}"
    if key not in _DTYPES_HELD:
        try:
            info = backend.xp.__array_namespace_info__()
            _DTYPES_HELD[key] = frozenset(info.dtypes(device=backend.device))
        except Exception:  # noqa: BLE001 - a library without (device-aware) inspection: nothing to check
            _DTYPES_HELD[key] = None
    return _DTYPES_HELD[key]


def host_rng(seed: int | np.random.Generator | None) -> np.random.Generator:
    """The seeded host random Generator all randomness (init, shuffling) comes from."""
    if isinstance(seed, np.random.Generator):
        return seed
    if seed is not None and (isinstance(seed, bool) or not hasattr(seed, "__index__") or operator.index(seed) < 0):
        raise BpnnValueError(f"seed must be a whole number >= 0 (or a numpy Generator), got {seed!r}")
    return np.random.default_rng(seed)


def available_device_names() -> list[str]:
    """Device strings that resolve on this machine right now."""
    names = ["cpu"]
    names += [f"cuda:{i}" for i in range(cupy_gpu_count())]
    if importlib.util.find_spec("array_api_strict") is not None:
        names.append("array-api-strict")
    if importlib.util.find_spec("torch") is not None:
        names.append("torch")
        import torch

        names += [f"torch:cuda:{i}" for i in range(torch.cuda.device_count())]
        if torch.backends.mps.is_available():
            names.append("torch:mps")
    return names


def describe_backends() -> list[dict[str, str]]:
    """One row per backend library: whether it is usable here, its version and its devices."""
    rows = [{"backend": "numpy", "version": np.__version__, "usable": "yes", "devices": "cpu"}]
    for module, label in (("cupy", "cupy"), ("array_api_strict", "array-api-strict"), ("torch", "torch")):
        if importlib.util.find_spec(module) is None:
            rows.append({"backend": label, "version": "-", "usable": "not installed", "devices": "-"})
            continue
        try:
            lib = importlib.import_module(module)
            version = str(getattr(lib, "__version__", "?"))
        except Exception as exc:  # a broken install is reported, not raised
            rows.append({"backend": label, "version": "?", "usable": f"import fails: {exc}", "devices": "-"})
            continue
        devices = [n for n in available_device_names() if n.startswith(label.split("-")[0])]
        if module == "cupy":
            usable, devices = _cupy_usable()
        else:
            usable = "yes"
        rows.append({"backend": label, "version": version, "usable": usable, "devices": ", ".join(devices) or "-"})
    return rows


def _cupy_usable() -> tuple[str, list[str]]:
    """'yes' when every GPU passes the trial computation (else the first problem), and the GPUs by name."""
    indices = range(cupy_gpu_count())
    if not indices:
        return f"no: {gpu_probe.cuda_problem(0)}", []
    problems = [p for p in (gpu_probe.cuda_problem(i) for i in indices) if p is not None]
    return ("yes" if not problems else f"no: {problems[0]}"), [f"cuda:{i} ({_cupy_device_name(i)})" for i in indices]


def _cupy_device_name(index: int) -> str:
    import cupy

    props = cupy.cuda.runtime.getDeviceProperties(index)
    name = props["name"]
    return name.decode() if isinstance(name, bytes) else str(name)
