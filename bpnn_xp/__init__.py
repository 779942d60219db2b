"""bpnn_xp: backpropagation networks written once against the array API, run on NumPy, CuPy and more.

Layers, each importing only those below it: ``backends`` (devices, host <-> device, kernels),
``engine`` (array-API math), ``data`` (host-side loaders), and the app layer (``config``,
``workflow``, ``checkpoint``, ``reports``, ``plots``, ``cli``).
"""

from importlib.metadata import PackageNotFoundError, version

from .backends import Backend, resolve_device, to_numpy
from .engine import (
    History,
    Network,
    Trainer,
    evaluate,
    get_activation,
    get_cost,
    get_optimizer,
    gradient_check,
    minimize,
    numerical_gradient,
    relative_difference,
)
from .errors import BpnnError, BpnnTypeError, BpnnValueError, DataFileError, DeviceError, DivergenceError

try:
    __version__ = version("bpnn_xp")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0+unknown"

__all__ = [
    "Backend",
    "BpnnError",
    "BpnnTypeError",
    "BpnnValueError",
    "DataFileError",
    "DeviceError",
    "DivergenceError",
    "History",
    "Network",
    "Trainer",
    "__version__",
    "evaluate",
    "get_activation",
    "get_cost",
    "get_optimizer",
    "gradient_check",
    "minimize",
    "numerical_gradient",
    "relative_difference",
    "resolve_device",
    "to_numpy",
]
