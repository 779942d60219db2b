"""Scoring a network on labelled data: mean cost with penalties and accuracy, in batches, read once."""

from __future__ import annotations

from typing import Any

from .. import backends
from ..errors import BpnnValueError
from .layers import PREDICT_BATCH, row_batches
from .network import Network


def evaluate(
    network: Network, X: Any, Y: Any, batch_size: int = PREDICT_BATCH, l2: float = 0.0, l1: float = 0.0, n: int | None = None
) -> tuple[float, float]:
    """(mean cost incl. penalties, accuracy) of ``network`` on (X, Y), in batches to bound memory.

    ``n`` is the training-set size the penalties are normalized by, so validation and training
    costs are comparable; it defaults to the number of rows in X.
    """
    xp, cost_function = network.xp, network.cost_function
    m = X.shape[0]
    if m == 0:
        raise BpnnValueError("cannot evaluate on zero samples")
    with backends.device_context(network.weights[0]):
        labels = cost_function.target_classes(Y, xp)
        cost_sum = xp.zeros((), dtype=network.dtype, device=network.device)
        correct = xp.zeros((), dtype=xp.int64, device=network.device)
        for start, stop in row_batches(m, batch_size):  # the array API leaves out-of-bounds slices undefined
            z = network.logits(X[start:stop, ...])
            cost_sum += cost_function.fn(z, Y[start:stop, ...], xp) * float(stop - start)
            correct += xp.sum(xp.astype(cost_function.classes(z, xp) == labels[start:stop], xp.int64))
        cost = float(cost_sum) / m + float(network.penalty(l2, l1, n or m))
    return cost, int(correct) / m
