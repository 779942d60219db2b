"""Numerical gradient checking by central differences, as in the course notes.

The numerical gradient (J(theta + eps e_i) - J(theta - eps e_i)) / (2 eps) is compared with
backprop's through the relative difference ||num - ana|| / (||num|| + ||ana||): below 1e-9 in
float64 means backprop is right. The default step 1e-5 balances truncation (eps^2) against
rounding (1e-16/eps) error in float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from array_api_compat import array_namespace

from .. import backends
from .dropout import Masks
from .network import Network

Progress = Callable[[int, int], None]  # (parameters done, parameters in all)
PROGRESS_STEPS = 100  # progress is reported about this many times


def numerical_gradient(network: Network, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, eps: float = 1e-5,
                       masks: Masks | None = None, row_weights: Any = None, progress: Progress | None = None) -> Any:  # fmt: skip
    """Central-difference gradient of the cost, as a flat vector on the network's device.

    One pair of cost evaluations per parameter (each vectorized over the batch): for small networks. ``masks``
    (fixed dropout masks) and ``row_weights`` (a weight per row) enter the cost as in training;
    ``progress(done, total)`` is called now and then, for a display.
    """
    with backends.device_context(network.weights[0]):
        return _central_differences(network, X, Y, l2, l1, eps, masks, row_weights, progress)


def _central_differences(network: Network, X: Any, Y: Any, l2: float, l1: float, eps: float, masks: Masks | None,
                         row_weights: Any, progress: Progress | None = None) -> Any:  # fmt: skip
    xp = network.xp
    probe = network.copy()
    theta = network.flatten()
    values = []
    every = max(1, theta.shape[0] // PROGRESS_STEPS)
    for i in range(theta.shape[0]):
        if progress is not None and i % every == 0:
            progress(i, theta.shape[0])
        plus = xp.asarray(theta, copy=True)
        plus[i] += eps
        probe.load_flat(plus)
        cost_plus = probe.cost(X, Y, l2, l1, masks=masks, row_weights=row_weights)
        minus = xp.asarray(theta, copy=True)
        minus[i] -= eps
        probe.load_flat(minus)
        cost_minus = probe.cost(X, Y, l2, l1, masks=masks, row_weights=row_weights)
        values.append(xp.reshape((cost_plus - cost_minus) / (2.0 * eps), (1,)))
    return xp.concat(values)


def relative_difference(a: Any, b: Any) -> float:
    """||a - b|| / (||a|| + ||b||) for two flat vectors; 0.0 when both are zero."""
    xp = array_namespace(a)
    diff = float(xp.linalg.vector_norm(a - b))
    scale = float(xp.linalg.vector_norm(a)) + float(xp.linalg.vector_norm(b))
    return diff / scale if scale else 0.0


def gradient_check(network: Network, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, eps: float = 1e-5,
                   masks: Masks | None = None, row_weights: Any = None, progress: Progress | None = None) -> float:  # fmt: skip
    """Relative difference between the numerical and the backprop gradient of ``network`` on (X, Y), with fixed
    dropout ``masks`` and per-row ``row_weights`` when given."""
    with backends.device_context(network.weights[0]):  # the difference and norms allocate on the current GPU
        _, grads = network.backprop(X, Y, l2=l2, l1=l1, masks=masks, row_weights=row_weights)
        numerical = numerical_gradient(network, X, Y, l2, l1, eps, masks, row_weights, progress)
        return relative_difference(numerical, network.flatten(grads))
