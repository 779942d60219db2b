"""Full-batch training through ``scipy.optimize.minimize`` (L-BFGS-B, CG, TNC).

Cost and gradient are computed on the parameters' device; only the flat parameter vector and the
flat gradient cross to the host (scipy works in float64 on the host). SciPy is imported on first
use, so ``import bpnn_xp`` stays cheap.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import backends
from ..errors import canonical_name

METHODS = {"lbfgs": "L-BFGS-B", "cg": "CG", "tnc": "TNC"}  # our name -> scipy's
ALIASES = {"l_bfgs": "lbfgs", "l_bfgs_b": "lbfgs", "lbfgsb": "lbfgs"}


@dataclass
class MinimizeResult:
    """What scipy reports, plus the cost after every iteration."""

    success: bool
    message: str
    iterations: int
    evaluations: int
    cost: float
    history: list[float] = field(default_factory=list)


class _Objective:
    """Cost and flat gradient of a network at a host parameter vector; counts evaluations."""

    def __init__(self, network: Any, X: Any, Y: Any, l2: float, l1: float) -> None:
        self.network, self.X, self.Y, self.l2, self.l1 = network, X, Y, l2, l1
        self.evaluations = 0
        self.last_cost = float("nan")

    def load(self, theta: Any) -> None:
        """Put a host parameter vector into the network, on its device and dtype."""
        like = self.network.weights[0]
        self.network.load_flat(backends.from_host(theta, like, dtype=like.dtype))

    def __call__(self, theta: Any) -> tuple[float, Any]:
        self.load(theta)
        cost, grads = self.network.backprop(self.X, self.Y, l2=self.l2, l1=self.l1)
        self.evaluations += 1
        self.last_cost = float(cost)
        return self.last_cost, backends.to_numpy(self.network.flatten(grads)).astype("float64")


def minimize(
    network: Any,
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
    import scipy.optimize

    key = canonical_name("scipy method", method, METHODS, ALIASES)
    objective = _Objective(network, X, Y, l2, l1)
    history: list[float] = []

    def on_iteration(theta: Any) -> None:
        history.append(objective.last_cost)
        if callback is not None:
            callback(len(history), objective.last_cost)

    x0 = backends.to_numpy(network.flatten()).astype("float64")
    options = {"maxiter": int(max_iter)} if key != "tnc" else {"maxfun": int(max_iter)}
    result = scipy.optimize.minimize(objective, x0, jac=True, method=METHODS[key], options=options, callback=on_iteration)
    objective.load(result.x)
    return MinimizeResult(
        success=bool(result.success),
        message=str(result.message),
        iterations=int(getattr(result, "nit", len(history))),
        evaluations=objective.evaluations,
        cost=float(result.fun),
        history=history,
    )
