"""First-order optimizers written once for any array-API namespace.

Each optimizer updates a list of parameter arrays in place from a matching list of gradients.
State (velocities, moments) is created with ``zeros_like`` so it lives on the parameters' device.
Hyper-parameters stay Python floats: a float32 array times a Python float stays float32 (NumPy 2
promotion), so nothing is silently promoted to float64. Update rules match torch.optim's.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from array_api_compat import array_namespace

from .errors import BpnnValueError, unknown_name


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place; ``state`` holds arrays."""

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float) -> None:
        self.lr = _positive("learning rate", lr)
        self.t = 0  # steps taken
        self.state: dict[str, list[Any]] = {}
        self.xp: Any = None

    def step(self, params: Sequence[Any], grads: Sequence[Any]) -> None:
        """One update of every parameter from its gradient."""
        if self.xp is None:  # looked up once, on the first step
            self.xp = array_namespace(*params)
        if not self.state and self.state_names:
            self.state = {k: [self.xp.zeros_like(p) for p in params] for k in self.state_names}
        self.t += 1
        for i, (p, g) in enumerate(zip(params, grads)):
            self._update(self.xp, i, p, g)

    def _update(self, xp: Any, i: int, p: Any, g: Any) -> None:
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, float]:
        """The float settings, for checkpoints and reports."""
        return {k: v for k, v in vars(self).items() if isinstance(v, float) and not k.startswith("_")}

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters().items())
        return f"{self.name}({settings})"


class SGD(Optimizer):
    """Plain (minibatch) gradient descent: p -= lr * g. Full batch makes it classic gradient descent."""

    name = "sgd"

    def _update(self, xp: Any, i: int, p: Any, g: Any) -> None:
        p -= g * self.lr


class Momentum(Optimizer):
    """Heavy-ball momentum (torch form): v = mu v + g; p -= lr v."""

    name = "momentum"
    state_names = ("velocity",)

    def __init__(self, lr: float, momentum: float = 0.9) -> None:
        super().__init__(lr)
        self.momentum = _fraction("momentum", momentum)

    def _update(self, xp: Any, i: int, p: Any, g: Any) -> None:
        v = self.state["velocity"][i]
        v *= self.momentum
        v += g
        p -= v * self.lr


class Nesterov(Momentum):
    """Nesterov momentum (torch form): v = mu v + g; p -= lr (g + mu v)."""

    name = "nesterov"

    def _update(self, xp: Any, i: int, p: Any, g: Any) -> None:
        v = self.state["velocity"][i]
        v *= self.momentum
        v += g
        p -= (g + v * self.momentum) * self.lr


class RMSProp(Optimizer):
    """RMSProp: s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)."""

    name = "rmsprop"
    state_names = ("square_avg",)

    def __init__(self, lr: float, rho: float = 0.9, eps: float = 1e-8) -> None:
        super().__init__(lr)
        self.rho = _fraction("rho", rho)
        self.eps = _positive("eps", eps)

    def _update(self, xp: Any, i: int, p: Any, g: Any) -> None:
        s = self.state["square_avg"][i]
        s *= self.rho
        s += (g * g) * (1.0 - self.rho)
        denom = xp.sqrt(s)
        denom += self.eps
        p -= (g / denom) * self.lr


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps), torch's eps placement.

    The two corrections are folded into scalars, lr_t = lr sqrt(1-b2^t)/(1-b1^t) and
    eps_t = eps sqrt(1-b2^t), which saves a pass over every parameter. A backend may register a
    fused update in FAST_PATHS (NumPy does, with preallocated scratch); ``fast=False`` forces the
    generic code, and tests prove both give the same numbers.
    """

    name = "adam"
    state_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, fast: bool = True) -> None:
        super().__init__(lr)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.eps = _positive("eps", eps)
        self.fast = fast
        self._fast_update: Callable[..., None] | None = None

    def step(self, params: Sequence[Any], grads: Sequence[Any]) -> None:
        if self.xp is None and self.fast:
            self._fast_update = FAST_PATHS.get(("adam", array_namespace(*params).__name__))
        super().step(params, grads)

    def _update(self, xp: Any, i: int, p: Any, g: Any) -> None:
        correction = math.sqrt(1.0 - self.beta2**self.t)
        lr_t = self.lr * correction / (1.0 - self.beta1**self.t)
        eps_t = self.eps * correction
        m, v = self.state["m"][i], self.state["v"][i]
        if self._fast_update is not None:
            self._fast_update(self, i, p, g, m, v, lr_t, eps_t)
            return
        m *= self.beta1
        m += g * (1.0 - self.beta1)
        v *= self.beta2
        v += (g * g) * (1.0 - self.beta2)
        denom = xp.sqrt(v)
        denom += eps_t
        p -= (m / denom) * lr_t


# Optional backend-specific updates, keyed by (optimizer name, namespace module name); each takes the
# generic update's arguments and must give the same numbers (tests/test_fast_paths.py).
FAST_PATHS: dict[tuple[str, str], Callable[..., None]] = {}


OPTIMIZERS: dict[str, type[Optimizer]] = {c.name: c for c in (SGD, Momentum, Nesterov, RMSProp, Adam)}
SCIPY_METHODS = ("lbfgs", "cg", "tnc")
DEFAULT_LR = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "rmsprop": 1e-3, "adam": 1e-3}  # used when lr is None
ALIASES = {"gd": "sgd", "gradient_descent": "sgd", "l-bfgs": "lbfgs", "l-bfgs-b": "lbfgs", "l_bfgs_b": "lbfgs"}


def canonical_optimizer_name(name: str) -> str:
    """The canonical optimizer name (first-order or scipy), or an error listing the valid ones."""
    key = str(name).lower().replace("-", "_")
    key = ALIASES.get(key, ALIASES.get(str(name).lower(), key))
    if key not in OPTIMIZERS and key not in SCIPY_METHODS:
        raise unknown_name("optimizer", name, [*OPTIMIZERS, *SCIPY_METHODS])
    return key


def get_optimizer(name: str, lr: float | None = None, **settings: float) -> Optimizer:
    """A first-order optimizer from its name, with its default learning rate when ``lr`` is None."""
    key = canonical_optimizer_name(name)
    if key in SCIPY_METHODS:
        raise BpnnValueError(f"{key} is a full-batch scipy method; use bpnn_xp.scipy_optimize.minimize for it")
    return OPTIMIZERS[key](DEFAULT_LR[key] if lr is None else lr, **settings)


def _positive(what: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value <= 0:
        raise BpnnValueError(f"{what} must be a positive number, got {value}")
    return value


def _fraction(what: str, value: float) -> float:
    value = float(value)
    if not 0.0 <= value < 1.0:
        raise BpnnValueError(f"{what} must be in [0, 1), got {value}")
    return value
