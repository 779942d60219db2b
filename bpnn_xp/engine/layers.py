"""What a Network is built from and fed: layer sizes, parameter arrays of one library and dtype, inputs of
the right width; the device context its methods run in; the row blocks that scoring walks to bound memory."""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterator, Sequence
from typing import Any, TypeVar

from array_api_compat import array_namespace

from .. import backends, checks
from ..errors import BpnnTypeError, BpnnValueError

Method = TypeVar("Method", bound=Callable[..., Any])


def on_network_device(method: Method) -> Method:
    """Run a Network method inside its arrays' device context (CuPy allocates on the current GPU)."""

    @functools.wraps(method)
    def wrapper(self: Any, *args: Any, **kwargs: Any) -> Any:
        with backends.device_context(self._weights[0]):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


def one_namespace(weights: Sequence[Any], biases: Sequence[Any]) -> Any:
    """The one array library of the parameters; arrays from two libraries are one error naming them."""
    try:
        return array_namespace(*weights, *biases)
    except TypeError:
        libraries = sorted({type(a).__module__.split(".")[0] for a in (*weights, *biases)})
        raise BpnnTypeError(f"weights and biases must come from one array library, got arrays of {', '.join(libraries)}; "
                            "move them all to one (e.g. with bpnn_xp.to_numpy)") from None


def check_inputs(n_inputs: int, X: Any) -> None:
    """X must be a 2-D batch with one column per network input."""
    if getattr(X, "ndim", None) != 2 or X.shape[1] != n_inputs:
        raise BpnnValueError(f"X must have shape (n_samples, {n_inputs}) for this network's {n_inputs} inputs, "
                             f"got {getattr(X, 'shape', type(X).__name__)}")  # fmt: skip


def check_layers(xp: Any, weights: Sequence[Any], biases: Sequence[Any]) -> None:
    """One dtype (float32 or float64) throughout, (fan_in, fan_out) weights, matching biases and widths."""
    for i, (w, b) in enumerate(zip(weights, biases)):
        if not (w.dtype in (xp.float32, xp.float64) and w.dtype == b.dtype == weights[0].dtype):
            reason = " (float16 is too coarse for training and cannot be saved)" if "16" in str(w.dtype) else ""
            raise BpnnValueError(f"layer {i + 1}: parameters must all be float32 or all float64, got {w.dtype}/{b.dtype}"
                                 f"{reason}")  # fmt: skip
        if w.ndim != 2 or b.ndim != 1 or b.shape[0] != w.shape[1]:
            raise BpnnValueError(f"layer {i + 1}: weights must be (fan_in, fan_out) and bias (fan_out,)")
        if i and w.shape[0] != weights[i - 1].shape[1]:
            raise BpnnValueError(f"layer {i + 1} takes {w.shape[0]} inputs but layer {i} gives {weights[i - 1].shape[1]}")


PREDICT_BATCH = 8192  # rows per forward pass when scoring or predicting, to bound device memory


def row_batches(n: int, size: int = PREDICT_BATCH) -> Iterator[tuple[int, int]]:
    """(start, stop) of consecutive row blocks of at most ``size`` rows covering ``n`` rows."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def validate_sizes(sizes: Sequence[Any]) -> list[int]:
    """Layer sizes as a list of positive ints (at least input and output), or a clear error."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise BpnnValueError(f"a network needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if not checks.is_whole(s, 1):
            raise BpnnValueError(f"layer sizes must be positive integers, got {s!r} in {sizes}")
    return [int(s) for s in sizes]
