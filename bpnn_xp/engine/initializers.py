"""Weight initializers: draw a (fan_in, fan_out) matrix from the seeded host Generator.

Every initializer draws on the host in float64 from a ``numpy.random.Generator`` passed in, so all
backends start from identical numbers whatever device the weights are then moved to.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from ..errors import canonical_name

COURSE_EPSILON = 0.12


def uniform(rng: Any, fan_in: int, fan_out: int, epsilon: float = COURSE_EPSILON) -> Any:
    """Uniform in [-epsilon, epsilon], epsilon = 0.12 as in the course notes."""
    return rng.uniform(-epsilon, epsilon, size=(fan_in, fan_out))


def uniform_scaled(rng: Any, fan_in: int, fan_out: int) -> Any:
    """Uniform +-sqrt(6)/sqrt(fan_in + fan_out): the course notes' rule for choosing epsilon."""
    return uniform(rng, fan_in, fan_out, math.sqrt(6.0) / math.sqrt(fan_in + fan_out))


def normal(rng: Any, fan_in: int, fan_out: int) -> Any:
    """Gaussian with standard deviation 1/sqrt(fan_in) (Nielsen's default initializer)."""
    return rng.normal(0.0, 1.0 / math.sqrt(fan_in), size=(fan_in, fan_out))


def glorot(rng: Any, fan_in: int, fan_out: int) -> Any:
    """Glorot/Xavier normal: std sqrt(2/(fan_in+fan_out)), keeps activation variance for tanh/sigmoid."""
    return rng.normal(0.0, math.sqrt(2.0 / (fan_in + fan_out)), size=(fan_in, fan_out))


def he(rng: Any, fan_in: int, fan_out: int) -> Any:
    """He normal: std sqrt(2/fan_in), keeps activation variance for ReLU layers."""
    return rng.normal(0.0, math.sqrt(2.0 / fan_in), size=(fan_in, fan_out))


def zeros(rng: Any, fan_in: int, fan_out: int) -> Any:
    """All zeros. Kept to show the symmetry problem: every hidden unit gets the same gradient,
    so the units stay identical forever and the layer acts like a single unit. Do not train with it."""
    return rng.uniform(0.0, 0.0, size=(fan_in, fan_out))


INITIALIZERS: dict[str, Callable[..., Any]] = {
    "uniform": uniform,
    "uniform_scaled": uniform_scaled,
    "normal": normal,
    "glorot": glorot,
    "he": he,
    "zeros": zeros,
}
ALIASES = {"xavier": "glorot", "course": "uniform", "kaiming": "he", "zero": "zeros"}


AUTO_INIT = "auto"  # He for ReLU-like layers, Glorot otherwise
RELU_LIKE = ("relu", "leaky_relu")


def resolve_initializer(init: str, activation: str) -> str:
    """The initializer ``init`` names; ``auto`` means He for ReLU-like hidden layers and Glorot otherwise."""
    if init != AUTO_INIT:
        return init
    return "he" if activation in RELU_LIKE else "glorot"


def get_initializer(name: str) -> Callable[..., Any]:
    """An initializer from its name; unknown names list the valid ones."""
    return INITIALIZERS[canonical_name("initializer", name, sorted(INITIALIZERS), ALIASES)]
