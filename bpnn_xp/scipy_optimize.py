"""Full-batch training through ``scipy.optimize.minimize`` (L-BFGS-B, CG, TNC).

Cost and gradient are computed on the parameters' device; only the flat parameter vector and the
flat gradient cross to the host (scipy works in float64 on the host).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import scipy.optimize

from . import backend as backends
from .errors import unknown_name
from .network import Network

METHODS = {"lbfgs": "L-BFGS-B", "cg": "CG", "tnc": "TNC"}


@dataclass
class MinimizeResult:
    """What scipy reports, plus the cost after every iteration."""

    success: bool
    message: str
    iterations: int
    evaluations: int
    cost: float
    history: list[float] = field(default_factory=list)


def minimize(
    network: Network,
    X: Any,
    Y: Any,
    method: str = "lbfgs",
    max_iter: int = 100,
    l2: float = 0.0,
    l1: float = 0.0,
    callback: Callable[[int, float], None] | None = None,
) -> MinimizeResult:
    """Train ``network`` in place on the full batch (X, Y) with a scipy method; returns a summary.

    ``max_iter`` bounds iterations for L-BFGS-B and CG; scipy's TNC has no iteration limit, so
    there it bounds cost evaluations (its ``maxfun``), as in the course notes.
    """
    key = str(method).lower().replace("-", "_")
    key = {"l_bfgs_b": "lbfgs", "l_bfgs": "lbfgs"}.get(key, key)
    if key not in METHODS:
        raise unknown_name("scipy method", method, list(METHODS))
    like = network.weights[0]
    dtype = network.dtype
    last = {"cost": float("nan")}
    evaluations = [0]

    def cost_and_gradient(theta: Any) -> tuple[float, Any]:
        network.load_flat(backends.from_host(theta, like, dtype=dtype))
        cost, grads = network.backprop(X, Y, l2=l2, l1=l1)
        evaluations[0] += 1
        last["cost"] = float(cost)
        return last["cost"], backends.to_numpy(network.flatten(grads)).astype("float64")

    history: list[float] = []

    def on_iteration(theta: Any) -> None:
        history.append(last["cost"])
        if callback is not None:
            callback(len(history), last["cost"])

    x0 = backends.to_numpy(network.flatten()).astype("float64")
    options = {"maxiter": int(max_iter)} if key != "tnc" else {"maxfun": int(max_iter)}
    result = scipy.optimize.minimize(cost_and_gradient, x0, jac=True, method=METHODS[key], options=options, callback=on_iteration)
    network.load_flat(backends.from_host(result.x, like, dtype=dtype))
    return MinimizeResult(
        success=bool(result.success),
        message=str(result.message),
        iterations=int(getattr(result, "nit", len(history))),
        evaluations=evaluations[0],
        cost=float(result.fun),
        history=history,
    )
