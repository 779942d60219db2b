"""The engine: array-API math only. Imports no array library (it takes ``xp`` from its inputs) and
nothing from the app layer; it reaches devices and fast paths only through ``bpnn_xp.backends``."""

from .activations import ACTIVATIONS, Activation, get_activation
from .costs import COSTS, Cost, get_cost
from .full_batch import MinimizeResult, minimize
from .gradcheck import gradient_check, numerical_gradient, relative_difference
from .initializers import AUTO_INIT, INITIALIZERS, get_initializer, resolve_initializer
from .layers import validate_sizes
from .network import Network
from .optimizers import OPTIMIZER_NAMES, OPTIMIZERS, Optimizer, canonical_optimizer_name, get_optimizer, is_full_batch_method
from .schedules import LR_SCHEDULES, LrSchedule, check_lr_schedule, check_schedule_fits
from .stopping import EarlyStopping, ImprovementStopping, StoppingPolicy
from .training import DEFAULT_BATCH_SIZE, FULL_BATCH, BatchProgress, EpochRecord, History, Trainer, check_batch_size, evaluate

__all__ = [
    "ACTIVATIONS",
    "AUTO_INIT",
    "COSTS",
    "DEFAULT_BATCH_SIZE",
    "FULL_BATCH",
    "INITIALIZERS",
    "LR_SCHEDULES",
    "OPTIMIZERS",
    "OPTIMIZER_NAMES",
    "Activation",
    "BatchProgress",
    "Cost",
    "EarlyStopping",
    "EpochRecord",
    "History",
    "LrSchedule",
    "ImprovementStopping",
    "MinimizeResult",
    "Network",
    "Optimizer",
    "StoppingPolicy",
    "Trainer",
    "canonical_optimizer_name",
    "check_batch_size",
    "check_lr_schedule",
    "check_schedule_fits",
    "evaluate",
    "get_activation",
    "get_cost",
    "get_initializer",
    "get_optimizer",
    "gradient_check",
    "is_full_batch_method",
    "minimize",
    "numerical_gradient",
    "relative_difference",
    "resolve_initializer",
    "validate_sizes",
]
