"""bpnn_xp: backpropagation networks written once against the array API, run on NumPy, CuPy and more.

Layers, each importing only those below it: ``backends`` (devices, host <-> device, kernels),
``engine`` (array-API math), ``data`` (host-side loaders), and the app layer (``config``,
``workflow``, ``checkpoint``, ``reports``, ``plots``, ``cli``). The names below are imported on
first use (PEP 562), so ``bpnn --help`` and Ctrl-C during start-up stay cheap.
"""

from __future__ import annotations

import importlib
from importlib.metadata import PackageNotFoundError, version
from typing import Any

try:
    __version__ = version("bpnn_xp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

_PUBLIC = {  # name -> module that defines it
    "Backend": "backends",
    "resolve_device": "backends",
    "to_numpy": "backends",
    "History": "engine",
    "Network": "engine",
    "Trainer": "engine",
    "evaluate": "engine",
    "get_activation": "engine",
    "get_cost": "engine",
    "get_optimizer": "engine",
    "gradient_check": "engine",
    "minimize": "engine",
    "numerical_gradient": "engine",
    "relative_difference": "engine",
    "BpnnError": "errors",
    "BpnnTypeError": "errors",
    "BpnnValueError": "errors",
    "DataFileError": "errors",
    "DeviceError": "errors",
    "DivergenceError": "errors",
    "load": "sklearn",  # a saved run as a fitted scikit-learn estimator
}
__all__ = ["__version__", *sorted(_PUBLIC)]


def __getattr__(name: str) -> Any:
    """Import a public name from its module the first time it is asked for."""
    if name in _PUBLIC:
        value = getattr(importlib.import_module(f".{_PUBLIC[name]}", __name__), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'bpnn_xp' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted([*globals(), *_PUBLIC])
