"""Small builders shared by the engine tests: random networks and data on a backend."""

from __future__ import annotations

from typing import Any

import numpy as np

from bpnn_xp import Network
from bpnn_xp.backends import Backend
from bpnn_xp.data import one_hot

ACTIVATION_NAMES = ["sigmoid", "tanh", "relu", "leaky_relu", "identity"]
COST_CASES = [  # (cost name, output activation for mse)
    ("softmax_cross_entropy", None),
    ("sigmoid_cross_entropy", None),
    ("mse", "identity"),
    ("mse", "sigmoid"),
    ("mse", "tanh"),
]
PENALTIES = [(0.0, 0.0), (0.7, 0.0), (0.0, 0.3), (0.5, 0.2)]


def make_cost(name: str, output: str | None) -> Any:
    from bpnn_xp.engine.costs import get_cost

    return get_cost(name, output)


def random_problem(
    backend: Backend, sizes: list[int], dtype: str = "float64", m: int = 9, seed: int = 0, multilabel: bool = False
) -> tuple[Any, Any]:
    """(X, Y) on ``backend``: Gaussian features and one-hot (or random multi-label) targets."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, sizes[0]))
    if multilabel:
        Y = (rng.uniform(size=(m, sizes[-1])) > 0.5).astype(np.float64)
    else:
        Y = one_hot(rng.integers(0, sizes[-1], size=m), sizes[-1])
    return backend.asarray(X, dtype), backend.asarray(Y, dtype)


def random_network(
    backend: Backend,
    sizes: list[int],
    activation: Any = "tanh",
    cost: Any = "softmax_cross_entropy",
    dtype: str = "float64",
    seed: int = 0,
) -> Network:
    """A network with non-zero random biases too, so bias gradients are exercised."""
    net = Network.create(sizes, activation, cost, init="glorot", seed=seed, device=backend, dtype=dtype)
    rng = np.random.default_rng(seed + 100)
    net.biases = [backend.asarray(rng.normal(scale=0.3, size=b.shape[0]), dtype) for b in net.biases]
    return net
