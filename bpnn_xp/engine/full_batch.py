"""Full-batch training through ``scipy.optimize.minimize`` (L-BFGS-B, CG, TNC).

Cost and gradient are computed on the parameters' device; only the flat parameter vector and the
flat gradient cross to the host (scipy works in float64 on the host). SciPy is imported on first
use, so ``import bpnn_xp`` stays cheap.

Data-parallel (a communicator with more than one rank): every rank holds the whole data set but
evaluates cost and gradient on its contiguous share of the rows; the shares, weighted by their row
counts, are summed with one allreduce per evaluation (gradient and cost in one buffer), so every
rank hands scipy the same numbers and scipy takes the same steps everywhere.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from .. import backends
from ..backends.distributed import SingleProcess
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


def shard_bounds(n: int, rank: int, size: int) -> tuple[int, int]:
    """[start, stop) of rank's contiguous share of n rows (sizes differ by at most one)."""
    return n * rank // size, n * (rank + 1) // size


class _Objective:
    """Cost and flat gradient of a network at a host parameter vector; counts evaluations."""

    def __init__(self, network: Any, X: Any, Y: Any, l2: float, l1: float, comm: Any = None, row_weights: Any = None,
                 penalty_n: float | None = None) -> None:  # fmt: skip
        self.network, self.l2, self.l1 = network, l2, l1
        self.comm = comm if comm is not None else SingleProcess()
        self.n = X.shape[0]
        self.penalty_n = penalty_n or self.n  # the sum of the sample weights in a weighted fit
        start, stop = shard_bounds(self.n, self.comm.rank, self.comm.size)
        self.X, self.Y = (X, Y) if self.comm.size == 1 else (X[start:stop, ...], Y[start:stop, ...])
        self.w = row_weights if row_weights is None or self.comm.size == 1 else row_weights[start:stop]
        self.evaluations = 0
        self.last_cost = float("nan")
        self.workspace = network.kernels.workspace()  # each evaluation's temporaries, reused by the next

    def load(self, theta: Any) -> None:
        """Put a host parameter vector into the network, on its device and dtype."""
        like = self.network.weights[0]
        self.network.load_flat(backends.from_host(theta, like, dtype=like.dtype))

    def __call__(self, theta: Any) -> tuple[float, Any]:
        self.load(theta)
        if self.comm.size == 1:
            cost, grads = self.network.backprop(self.X, self.Y, self.l2, self.l1, self.penalty_n, self.workspace,
                                                row_weights=self.w)
            packed = getattr(grads, "flat", None)  # the workspace's gradient buffer: astype below copies it
            gradient = backends.to_numpy(packed if packed is not None else self.network.flatten(grads))
        else:
            cost, gradient = self._reduced()
        self.evaluations += 1
        self.last_cost = float(cost)
        return self.last_cost, gradient.astype("float64")  # always a new array (scipy keeps it)

    def _reduced(self) -> tuple[float, Any]:
        """(cost, host gradient) over all ranks: this rank's share weighted by its rows, one allreduce."""
        network, xp, m = self.network, self.network.xp, self.X.shape[0]
        with backends.device_context(network.weights[0]):
            if m == 0:  # more ranks than rows: this rank adds nothing
                buffer = xp.zeros((network.n_params + 1,), dtype=network.dtype, device=network.device)
            else:
                cost, grads = network.backprop(self.X, self.Y, self.l2, self.l1, self.penalty_n, self.workspace,
                                               row_weights=self.w)
                cost = xp.asarray(cost, dtype=network.dtype, device=network.device)
                buffer = xp.concat([network.flatten(grads), xp.reshape(cost, (1,))])
                buffer *= m / self.n  # the penalty's share too: the weights sum to 1 over the ranks
            self.comm.allreduce_sum(buffer)
            host = backends.to_numpy(buffer)
        return float(host[-1]), host[:-1]


def minimize(
    network: Any,
    X: Any,
    Y: Any,
    method: str = "lbfgs",
    max_iter: int = 100,
    l2: float = 0.0,
    l1: float = 0.0,
    callback: Callable[[int, float], None] | None = None,
    comm: Any = None,
    row_weights: Any = None,
    penalty_n: float | None = None,
) -> MinimizeResult:
    """Train ``network`` in place on the full batch (X, Y) with a scipy method; returns a summary.

    ``max_iter`` bounds iterations for L-BFGS-B and CG; scipy's TNC has no iteration limit, so
    there it bounds cost evaluations (its ``maxfun``), as in the course notes. With a communicator
    of several ranks (``backends.distributed``), the cost and gradient are summed over the ranks.
    ``row_weights`` (mean 1 over the rows) weight each row's loss; the penalty is divided by ``penalty_n`` (default n).
    """
    import scipy.optimize

    key = canonical_name("scipy method", method, METHODS, ALIASES)
    objective = _Objective(network, X, Y, l2, l1, comm, row_weights, penalty_n)
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
