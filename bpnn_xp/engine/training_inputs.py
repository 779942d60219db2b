"""What Trainer.fit accepts: the training arrays, the batch size, the sample weights and the penalty strengths,
each checked once with one line that names the problem and the fix."""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .. import backends, checks
from ..errors import BpnnTypeError, BpnnValueError, DeviceError, SettingError
from .network import Network

FULL_BATCH = "full"  # the one spelling of "every step sees the whole training set"
DEFAULT_BATCH_SIZE = 32  # shared with the launcher (config.TrainConfig)


def check_training_data(network: Network, X: Any, Y: Any) -> None:
    """The checks of ``_check_training_data``, inside the network's device context (on cuda:1 they must not touch GPU 0)."""
    with backends.device_context(network.weights[0]):
        _check_training_data(network, X, Y)


def _check_training_data(network: Network, X: Any, Y: Any) -> None:
    """(X, Y) fit the network: arrays on its namespace, device and dtype, matching shapes, finite
    values, and targets the cost can use. Otherwise one line that names the problem and the fix."""
    for name, array in (("X", X), ("Y", Y)):
        check_array(network, name, array)
    xp = network.xp
    if X.shape[0] == 0:
        raise BpnnValueError("the training data has zero samples")
    if X.shape[0] != Y.shape[0]:
        raise BpnnValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
    if X.shape[1] != network.sizes[0]:
        raise BpnnValueError(f"X has {X.shape[1]} features but the network's input layer has {network.sizes[0]}")
    if Y.shape[1] != network.sizes[-1]:
        raise BpnnValueError(f"Y has {Y.shape[1]} columns but the network has {network.sizes[-1]} outputs; match the class count")
    if not bool(xp.all(xp.isfinite(X))):
        raise BpnnValueError("X contains NaN or infinite values; remove or impute them before training")
    if not bool(xp.all(xp.isfinite(Y))):
        raise BpnnValueError("Y contains NaN or infinite values")
    cost = network.cost_function.name
    if cost in ("softmax_cross_entropy", "sigmoid_cross_entropy") and not bool(xp.all((Y >= 0.0) & (Y <= 1.0))):
        raise BpnnValueError(f"{cost} needs targets in [0, 1] (one-hot rows); got values outside")
    if cost == "softmax_cross_entropy" and not bool(xp.all(xp.abs(xp.sum(Y, axis=1) - 1.0) < 1e-3)):
        raise SettingError(
            "softmax_cross_entropy needs one class per sample (rows summing to 1); "
            "for multi-label targets set cost to sigmoid_cross_entropy", "cost"
        )


def check_array(network: Network, name: str, array: Any) -> None:
    """One training array is on the network's namespace, device and dtype, and 2-D."""
    xp = network.xp
    try:
        namespace = array_namespace(array)
    except TypeError:
        raise BpnnTypeError(f"{name} must be an array (NumPy, CuPy, ...), got {type(array).__name__}") from None
    if namespace is not xp or device_of(array) != network.device:
        raise DeviceError(
            f"{name} is on {namespace.__name__.split('.')[-1]}/{device_of(array)} but the network is on "
            f"{xp.__name__.split('.')[-1]}/{network.device}; move the data with Backend.asarray onto the network's device"
        )
    if not xp.isdtype(array.dtype, "real floating"):
        raise BpnnTypeError(f"{name} must hold floating-point numbers, got {array.dtype}; convert it with astype(float32)")
    if array.dtype != network.dtype:
        raise BpnnTypeError(f"{name} is {array.dtype} but the network is {network.dtype}; use one dtype for both")
    if array.ndim != 2:
        raise BpnnValueError(f"{name} must be 2-D (samples x {'features' if name == 'X' else 'outputs'}), got {array.ndim}-D")


def check_batch_size(batch_size: Any, name: str = "batch_size") -> int | str:
    """A positive whole number of samples per step, or ``"full"`` (every step sees all the data)."""
    if isinstance(batch_size, str) and batch_size.strip().lower() == FULL_BATCH:
        return FULL_BATCH
    if not checks.is_whole(batch_size, 1):
        raise SettingError(f"{name} must be a positive integer, or 'full' for full batch; got {batch_size!r}", name)
    return int(batch_size)


def whole_number(what: str, value: Any) -> int:
    """A whole number >= 0 (NumPy integer scalars welcome), or a clear error."""
    return checks.whole(what, value, 0)


def positive_number(what: str, value: Any) -> float:
    if isinstance(value, bool) or not checks.is_real(value) or float(value) <= 0:
        raise BpnnValueError(f"{what} must be a positive number, got {value!r}")
    return float(value)


def normalized_weights(network: Network, sample_weight: Any, n: int) -> tuple[Any, float | None]:
    """(the weights scaled to mean 1, their sum) for a weighted fit, or (None, None); bad weights are one clear error."""
    if sample_weight is None:
        return None, None
    xp = network.xp
    try:
        same = array_namespace(sample_weight) is xp and device_of(sample_weight) == network.device
    except TypeError:
        same = False
    if not same:
        raise DeviceError("sample_weight must be an array on the network's namespace and device; move it with Backend.asarray")
    if tuple(sample_weight.shape) != (n,):
        raise BpnnValueError(f"sample_weight must hold one number per training row ({n}), got shape {tuple(sample_weight.shape)}")
    if not bool(xp.all(xp.isfinite(sample_weight))) or bool(xp.any(sample_weight < 0)):
        raise BpnnValueError("sample_weight must be finite and >= 0")
    total = float(xp.sum(sample_weight))
    if total <= 0:
        raise BpnnValueError("sample_weight is 0 for every row: nothing to train on; give some rows a positive weight")
    return xp.astype(sample_weight * (n / total), network.dtype), total


def non_negative(what: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise BpnnValueError(f"penalty {what} must be >= 0, got {value}")
    return value


def host_float(value: Any) -> float:
    """A 0-d device array (or None, meaning no penalty) as a host float."""
    return 0.0 if value is None else float(value)


def warn_large_batch(batch_size: int | str, n: int) -> None:
    """A batch larger than the training set trains in full batches: say so (the caller of ``fit`` is named)."""
    if batch_size != FULL_BATCH and batch_size > n:
        warnings.warn(f"batch size {batch_size} is larger than the {n} training samples: training uses full batches",
                      stacklevel=3)  # fmt: skip


def inputs_for_epoch(network: Network, epoch_inputs: Callable[[int], Any] | None, epoch: int, X: Any) -> Any:
    """X itself, or what ``epoch_inputs`` gives for epoch ``epoch``, checked to fit like X."""
    if epoch_inputs is None:
        return X
    X_epoch = epoch_inputs(epoch)
    what = f"epoch_inputs({epoch})"
    check_array(network, what, X_epoch)
    if tuple(X_epoch.shape) != tuple(X.shape):
        raise BpnnValueError(f"{what} returned shape {tuple(X_epoch.shape)}; it must match X's {tuple(X.shape)}")
    if not bool(network.xp.all(network.xp.isfinite(X_epoch))):
        raise BpnnValueError(f"{what} returned NaN or infinite values")
    return X_epoch
