"""TrainConfig: every setting of a training run, the one source of their defaults, and ``validate()``.

The launcher and the Python API build the same TrainConfig and call the same ``validate()``, so a bad
setting gets the same one-line error either way, before any data is loaded. A validated config holds
canonical names (``"L-BFGS"`` becomes ``"lbfgs"``) and is saved in every model file.

Defaults: the launcher's are the fields below (tuned on digits and mnist5k: 256 ReLU units, Adam
1e-3, batch 32, 40 epochs, L2 0.5; float32, but float64 for the scipy methods, which stall in
float32; light augmentation of images of 16x16 or more). ``Trainer`` in the engine shares the batch size (32) but
defaults to no penalty (``l2=0``), since a penalty only makes sense once the data is known.
"""

from __future__ import annotations

import math
import warnings
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path
from typing import Any

from .backends import DTYPES
from .data import DATASETS, canonical_dataset_name
from .engine import (
    ACTIVATIONS,
    COSTS,
    DEFAULT_BATCH_SIZE,
    INITIALIZERS,
    OPTIMIZER_NAMES,
    canonical_optimizer_name,
    check_batch_size,
    get_activation,
    get_cost,
    get_initializer,
    is_full_batch_method,
)
from .errors import BpnnValueError

AUTO = "auto"
FILE_DATASET = "file"  # the dataset name of a run trained on --data PATH
ARRAYS_DATASET = "arrays"  # the dataset name of a run fitted on arrays in Python (bpnn_xp.sklearn); its data is not on disk
AUTO_INIT = AUTO
CHOICES = {  # for help texts
    "dataset": list(DATASETS),
    "activation": list(ACTIVATIONS),
    "cost": list(COSTS),
    "optimizer": list(OPTIMIZER_NAMES),
    "init": [AUTO_INIT, *INITIALIZERS],
    "dtype": [AUTO, *DTYPES],
}


@dataclass
class TrainConfig:
    """Every setting of a training run; saved in the model so a run can be resumed or re-evaluated."""

    dataset: str = "digits"  # a bundled or named data set; "file" when ``data`` names the user's own file or folder
    data: str | None = None  # the user's data: .npz, .csv, image folder, IDX folder or course .mat (see data/userdata.py)
    label_column: str | None = None  # for a CSV: the label column's name or 1-based number (default: the first)
    data_dir: str | None = None
    download: bool = False
    device: str = "cpu"
    batch_size: int | str = DEFAULT_BATCH_SIZE  # a positive number or "full"
    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    cost: str = "softmax_cross_entropy"
    output_activation: str | None = None  # for mse only; identity by default
    optimizer: str = "adam"
    lr: float | None = None  # None: the optimizer's own default (adam 1e-3, sgd 0.5, ...)
    epochs: int = 40
    l2: float = 0.5
    l1: float = 0.0
    init: str = AUTO_INIT  # He for ReLU-like layers, Glorot otherwise
    dtype: str = AUTO  # float64 for the scipy methods (they stall in float32), float32 otherwise
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    early_stopping: int = 0  # epochs without validation improvement before stopping; 0 = off
    standardize: bool = True
    augment: str = AUTO  # distortions of training images each epoch: auto (light for images of 16x16 or more), none, a preset...
    out: str | None = None

    def validate(self) -> TrainConfig:
        """A copy with canonical names, or a BpnnValueError naming the first bad setting and the fix."""
        names = _canonical_names(self)
        _check_numbers(self)
        _check_structure(self, names["dataset"])
        batch_size = check_batch_size_option(self.batch_size)
        full_batch = is_full_batch_method(names["optimizer"])
        if full_batch:
            _note_unused_full_batch_settings(self, names["optimizer"], batch_size)
        dtype = ("float64" if full_batch else "float32") if self.dtype == AUTO else self.dtype
        hidden = [int(h) for h in self.hidden]
        data = str(Path(self.data).expanduser().resolve()) if self.data is not None else None  # evaluate/resume from anywhere
        return replace(self, **names, hidden=hidden, batch_size="full" if full_batch else batch_size, dtype=dtype, data=data)

    def initializer(self) -> str:
        """``auto`` means He for ReLU-like layers and Glorot otherwise."""
        if self.init != AUTO_INIT:
            return self.init
        return "he" if self.activation in ("relu", "leaky_relu") else "glorot"

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready settings (``download`` is not kept: a saved run never fetches again)."""
        return asdict(replace(self, download=False))

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> TrainConfig:
        """A TrainConfig from saved settings: unknown keys ignored, old spellings of full batch read."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in stored.items() if k in known}
        if values.get("batch_size") in (0, None):  # model files before 0.2 spelled full batch 0
            values["batch_size"] = "full"
        values.setdefault("augment", "none")  # runs from before --augment were trained undistorted; resume them so
        return cls(**values)


def check_batch_size_option(value: Any) -> int | str:
    """The engine's batch-size check, with the launcher's option name in the message."""
    try:
        return check_batch_size(value)
    except BpnnValueError:
        raise BpnnValueError(f"--batch-size must be a positive integer, or 'full' for full batch; got {value!r}") from None


def _canonical_names(config: TrainConfig) -> dict[str, Any]:
    """Every name setting looked up once through the shared name helper."""
    names = {
        "dataset": FILE_DATASET if config.data is not None else _dataset_name(config.dataset),
        "activation": get_activation(config.activation).name,
        "cost": get_cost(config.cost).name,
        "optimizer": canonical_optimizer_name(config.optimizer),
    }
    if config.output_activation is not None:
        names["output_activation"] = get_activation(config.output_activation).name
    if config.init != AUTO_INIT:
        get_initializer(config.init)
    if config.data is not None and not (isinstance(config.data, str) and config.data.strip()):
        raise BpnnValueError(f"--data must name a file or folder, got {config.data!r}")
    if not isinstance(config.augment, str):
        raise BpnnValueError(f"--augment takes auto, none, a preset (light, standard) or key=value pairs, not {config.augment!r}")
    if config.augment.strip().lower() != AUTO:
        from .data.augment import parse_augment

        parse_augment(config.augment)
    if config.dtype not in (AUTO, *DTYPES):
        raise BpnnValueError(f"--dtype must be auto, float32 or float64, got {config.dtype!r}")
    return names


def _dataset_name(name: str) -> str:
    """A registered data set's name, or the marker of a run fitted on in-memory arrays."""
    return ARRAYS_DATASET if name == ARRAYS_DATASET else canonical_dataset_name(name)


def _check_numbers(config: TrainConfig) -> None:
    """Learning rate, penalties, counts and fractions are in range."""
    if config.lr is not None and not (_is_number(config.lr) and math.isfinite(config.lr) and config.lr > 0):
        raise BpnnValueError(f"--lr must be a positive number, got {config.lr}")
    for name in ("l2", "l1"):
        value = getattr(config, name)
        if not (_is_number(value) and math.isfinite(value) and value >= 0):
            raise BpnnValueError(f"--{name} must be a number >= 0, got {value}")
    for name, least in (("epochs", 1), ("early_stopping", 0), ("seed", 0)):
        value = getattr(config, name)
        if isinstance(value, bool) or not hasattr(value, "__index__") or int(value) < least:
            raise BpnnValueError(f"--{name.replace('_', '-')} must be a whole number >= {least}, got {value!r}")
    for name in ("val_fraction", "test_fraction"):
        value = getattr(config, name)
        if not (_is_number(value) and 0.0 <= value < 1.0):
            raise BpnnValueError(f"--{name.replace('_', '-')} must be in [0, 1), got {value}")
    if config.val_fraction + config.test_fraction >= 1.0:
        raise BpnnValueError("--val-fraction and --test-fraction leave no data to train on; make them add up to less than 1")


def _check_structure(config: TrainConfig, dataset: str) -> None:
    """Hidden sizes, splits, early stopping and optimizer settings fit together."""
    if not isinstance(config.hidden, (list, tuple)) or any(
        isinstance(h, bool) or not hasattr(h, "__index__") or int(h) <= 0 for h in config.hidden
    ):
        raise BpnnValueError(f"--hidden takes positive integers, like 256,128 (or none); got {config.hidden!r}")
    if config.test_fraction <= 0 and dataset != "mnist":  # mnist brings its own test set
        raise BpnnValueError("--test-fraction 0 leaves no test data to report on; give --test-fraction > 0 (e.g. 0.2)")
    if config.early_stopping and config.val_fraction <= 0:
        raise BpnnValueError("--early-stopping watches the validation cost; give --val-fraction > 0")
    if is_full_batch_method(config.optimizer) and config.augment.strip().lower() not in (AUTO, "none", "off"):
        raise BpnnValueError(f"--augment changes the images every epoch, but {config.optimizer} minimises one fixed cost; "
                             "use a minibatch optimizer (adam, sgd...) or drop --augment")  # fmt: skip
    if config.early_stopping and is_full_batch_method(config.optimizer):
        raise BpnnValueError(f"--early-stopping works with the minibatch optimizers, not {config.optimizer}")


def _note_unused_full_batch_settings(config: TrainConfig, optimizer: str, batch_size: int | str) -> None:
    """Say (as a warning the CLI prints as a note) which settings a scipy method does not use."""
    unused = []
    if config.lr is not None:
        unused.append("--lr (it chooses its own step lengths)")
    if batch_size not in ("full", DEFAULT_BATCH_SIZE):
        unused.append(f"--batch-size {batch_size} (it always uses the whole training set)")
    if unused:
        warnings.warn(f"{optimizer} ignores " + " and ".join(unused), UserWarning, stacklevel=3)


def _is_number(value: Any) -> bool:
    return (
        isinstance(value, (int, float))
        and not isinstance(value, bool)
        or hasattr(value, "__float__")
        and not isinstance(value, (str, bytes, bool))
    )
