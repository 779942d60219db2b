"""bpnn_xp: backpropagation networks written once against the array API, run on NumPy, CuPy and more."""

from . import fast_numpy  # noqa: F401  (registers the optional NumPy fast paths)
from .activations import get_activation
from .backend import Backend, resolve_device, to_numpy
from .costs import get_cost
from .errors import BpnnError, BpnnTypeError, BpnnValueError, DataFileError, DeviceError, DivergenceError
from .gradcheck import gradient_check, numerical_gradient, relative_difference
from .network import Network
from .optimizers import get_optimizer
from .scipy_optimize import minimize
from .training import History, Trainer, evaluate, train

__version__ = "0.1.0"

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
    "train",
]
