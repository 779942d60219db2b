"""Backends: device strings to namespaces and devices, host <-> device copies, the seeded host RNG,
the device listing, and the kernels seam (``kernels``: the reference; ``selection``: which kernels a
namespace gets; ``cpu/`` and ``cuda/``: the fast paths). The only package that names NumPy, CuPy or torch."""

from . import gpu_probe
from .devices import (
    DEVICE_HELP,
    DTYPES,
    Backend,
    as_backend,
    available_device_names,
    backend_of,
    cupy_gpu_count,
    describe_backends,
    device_context,
    from_host,
    host_rng,
    resolve_device,
    to_numpy,
)
from .kernels import Kernels
from .selection import cpu_fast_path, cpu_path, kernels_for

__all__ = [
    "DEVICE_HELP",
    "DTYPES",
    "Backend",
    "Kernels",
    "as_backend",
    "available_device_names",
    "backend_of",
    "cpu_fast_path",
    "cpu_path",
    "cupy_gpu_count",
    "describe_backends",
    "device_context",
    "from_host",
    "gpu_probe",
    "host_rng",
    "kernels_for",
    "resolve_device",
    "to_numpy",
]
