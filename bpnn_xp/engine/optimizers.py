"""First-order optimizers: hyper-parameters, state and step count; the update itself is a kernel.

Each optimizer updates a list of parameter arrays in place from a matching list of gradients. The
arithmetic lives behind the kernels seam (``backends.kernels``): a generic array-API reference and,
where proven equal, a backend's fast path. When parameters and gradients are both views into one
flat buffer (``FlatViews``, as a NumPy ``Network``'s ``params`` and gradients are), the state is flat
too (one buffer per state name, with per-parameter views) and each step is ONE kernel call over the
whole buffer; otherwise one call per parameter, with separate state arrays. ``state_dict`` gives
per-parameter arrays either way, the checkpoint layout. State is created inside the parameters'
device context. Hyper-parameters stay Python floats: a
float32 array times a Python float stays float32, so nothing is silently promoted to float64.
Update rules match torch.optim's.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace

from .. import backends, checks
from ..errors import BpnnValueError, canonical_name
from .full_batch import ALIASES as SCIPY_ALIASES
from .full_batch import METHODS as SCIPY_METHODS


class Optimizer:
    """Base class: ``step(params, grads)`` updates ``params`` in place; ``state`` holds arrays."""

    name = "optimizer"
    state_names: tuple[str, ...] = ()

    def __init__(self, lr: float, fast: bool = True) -> None:
        self.lr = _positive("learning rate", lr)
        self.t = 0  # steps taken
        self.state: dict[str, list[Any]] = {}
        self.fast = fast  # False forces the generic reference kernels
        self.kernels: backends.Kernels | None = None

    def step(self, params: Sequence[Any], grads: Sequence[Any], penalty: Any = None) -> None:
        """One update of every parameter from its gradient (one pass over flat buffers where given).

        ``penalty`` (``Network.penalty_fold``, flat buffers only): the L2/L1 gradient, added by the update
        kernel itself where ``kernels.folds_penalty`` (one pass instead of two per weight matrix)."""
        with backends.device_context(params[0]):
            kernels = self._kernels_for(params)
            flat = getattr(params, "flat", None) is not None and kernels.supports_views
            if not self.state and self.state_names:
                self.state = {k: self._zeros(kernels, params, flat) for k in self.state_names}
            self.t += 1
            flat_state = {k: getattr(v, "flat", None) for k, v in self.state.items()}
            if flat and getattr(grads, "flat", None) is not None and all(s is not None for s in flat_state.values()):
                self._update(kernels, params.flat, grads.flat, flat_state, penalty)
                return
            if penalty is not None:
                raise BpnnValueError("a folded penalty needs flat parameter, gradient and state buffers")
            for i, (p, g) in enumerate(zip(params, grads)):
                self._update(kernels, p, g, {k: v[i] for k, v in self.state.items()})

    def _kernels_for(self, params: Sequence[Any]) -> backends.Kernels:
        """The kernels for the parameters' namespace, looked up once, on the first step."""
        if self.kernels is None:
            self.kernels = backends.kernels_for(array_namespace(*params), self.fast)
        return self.kernels

    @staticmethod
    def _zeros(kernels: backends.Kernels, params: Sequence[Any], flat: bool) -> list[Any]:
        """Zero state per parameter: views into one flat buffer when ``flat``, else separate arrays."""
        xp = kernels.xp
        if flat:
            return kernels.views(xp.zeros_like(params.flat), [tuple(p.shape) for p in params])
        return [xp.zeros_like(p) for p in params]

    def _update(self, kernels: backends.Kernels, p: Any, g: Any, state: dict[str, Any], penalty: Any = None) -> None:
        """Update ``p`` (one parameter, or the whole flat buffer) from ``g`` with the matching ``state``."""
        raise NotImplementedError

    def hyperparameters(self) -> dict[str, float]:
        """The float settings, for checkpoints and reports."""
        return {k: v for k, v in vars(self).items() if isinstance(v, float) and not k.startswith("_")}

    def state_dict(self) -> dict[str, Any]:
        """Name, step count, settings and state as host NumPy arrays: what a checkpoint stores."""
        state = {k: [backends.to_numpy(a) for a in arrays] for k, arrays in self.state.items()}
        return {"name": self.name, "t": self.t, "hyperparameters": self.hyperparameters(), "state": state}

    def load_state_dict(self, saved: dict[str, Any], params: Sequence[Any]) -> None:
        """Put a ``state_dict`` back, on the device of ``params``; refuses state that does not fit them."""
        if saved.get("name") != self.name:
            raise BpnnValueError(f"the saved optimizer state is for {saved.get('name')!r}, not {self.name}")
        t = saved.get("t")
        if not checks.is_whole(t, 0):
            raise BpnnValueError(f"the saved optimizer step count must be a whole number >= 0, got {t!r}")
        arrays = saved.get("state") or {}
        if t and set(arrays) != set(self.state_names):
            raise BpnnValueError(f"the saved {self.name} state holds {sorted(arrays)}, expected {list(self.state_names)}")
        for key, values in arrays.items():
            _check_state_arrays(key, values, params)
        with backends.device_context(params[0]):
            kernels = self._kernels_for(params)
            packed = getattr(params, "flat", None) is not None and kernels.supports_views
            self.state = {}
            for key, values in arrays.items():
                state = [backends.from_host(a, like=p, dtype=p.dtype) for a, p in zip(values, params)]
                self.state[key] = kernels.pack(state) if packed else state
        self.t = t

    def __repr__(self) -> str:
        settings = ", ".join(f"{k}={v:g}" for k, v in self.hyperparameters().items())
        return f"{self.name}({settings})"


class SGD(Optimizer):
    """Plain (minibatch) gradient descent: p -= lr * g. Full batch makes it classic gradient descent."""

    name = "sgd"

    def _update(self, kernels: backends.Kernels, p: Any, g: Any, state: dict[str, Any], penalty: Any = None) -> None:
        kernels.sgd(p, g, self.lr, penalty)


class Momentum(Optimizer):
    """Heavy-ball momentum (torch form): v = mu v + g; p -= lr v."""

    name = "momentum"
    state_names = ("velocity",)
    nesterov = False

    def __init__(self, lr: float, momentum: float = 0.9, fast: bool = True) -> None:
        super().__init__(lr, fast)
        self.momentum = _fraction("momentum", momentum)

    def _update(self, kernels: backends.Kernels, p: Any, g: Any, state: dict[str, Any], penalty: Any = None) -> None:
        kernels.momentum(p, g, state["velocity"], self.lr, self.momentum, self.nesterov, penalty)


class Nesterov(Momentum):
    """Nesterov momentum (torch form): v = mu v + g; p -= lr (g + mu v)."""

    name = "nesterov"
    nesterov = True


class RMSProp(Optimizer):
    """RMSProp: s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)."""

    name = "rmsprop"
    state_names = ("square_avg",)

    def __init__(self, lr: float, rho: float = 0.9, eps: float = 1e-8, fast: bool = True) -> None:
        super().__init__(lr, fast)
        self.rho = _fraction("rho", rho)
        self.eps = _positive("eps", eps)

    def _update(self, kernels: backends.Kernels, p: Any, g: Any, state: dict[str, Any], penalty: Any = None) -> None:
        kernels.rmsprop(p, g, state["square_avg"], self.lr, self.rho, self.eps, penalty)


class Adam(Optimizer):
    """Adam with bias correction (Kingma & Ba): m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2;
    p -= lr/(1-b1^t) * m / (sqrt(v/(1-b2^t)) + eps), torch's eps placement.

    The two corrections are folded into scalars, lr_t = lr sqrt(1-b2^t)/(1-b1^t) and
    eps_t = eps sqrt(1-b2^t), which saves a pass over every parameter.
    """

    name = "adam"
    state_names = ("m", "v")

    def __init__(self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8, fast: bool = True) -> None:
        super().__init__(lr, fast)
        self.beta1 = _fraction("beta1", beta1)
        self.beta2 = _fraction("beta2", beta2)
        self.eps = _positive("eps", eps)

    def _update(self, kernels: backends.Kernels, p: Any, g: Any, state: dict[str, Any], penalty: Any = None) -> None:
        correction = math.sqrt(1.0 - self.beta2**self.t)
        lr_t = self.lr * correction / (1.0 - self.beta1**self.t)
        eps_t = self.eps * correction
        kernels.adam(p, g, state["m"], state["v"], self.beta1, self.beta2, lr_t, eps_t, penalty)


OPTIMIZERS: dict[str, type[Optimizer]] = {c.name: c for c in (SGD, Momentum, Nesterov, RMSProp, Adam)}
OPTIMIZER_NAMES = (*OPTIMIZERS, *SCIPY_METHODS)
DEFAULT_LR = {"sgd": 0.5, "momentum": 0.1, "nesterov": 0.1, "rmsprop": 1e-3, "adam": 1e-3}  # used when lr is None
ALIASES = {"gd": "sgd", "gradient_descent": "sgd", **SCIPY_ALIASES}


def canonical_optimizer_name(name: str) -> str:
    """The canonical optimizer name (first-order or scipy), or an error listing the valid ones."""
    return canonical_name("optimizer", name, OPTIMIZER_NAMES, ALIASES)


def is_full_batch_method(name: str) -> bool:
    """True for the scipy methods (lbfgs, cg, tnc), which always use the whole training set."""
    return canonical_optimizer_name(name) in SCIPY_METHODS


def get_optimizer(name: str, lr: float | None = None, **settings: Any) -> Optimizer:
    """A first-order optimizer from its name, with its default learning rate when ``lr`` is None."""
    key = canonical_optimizer_name(name)
    if key in SCIPY_METHODS:
        raise BpnnValueError(f"{key} is a full-batch scipy method; use bpnn_xp.minimize (or Trainer) for it")
    return OPTIMIZERS[key](DEFAULT_LR[key] if lr is None else lr, **settings)


def _check_state_arrays(key: str, values: Any, params: Sequence[Any]) -> None:
    """One finite array per parameter, of the parameter's shape."""
    if not isinstance(values, (list, tuple)) or len(values) != len(params):
        raise BpnnValueError(f"the saved optimizer state {key!r} must hold {len(params)} arrays")
    for i, (a, p) in enumerate(zip(values, params)):
        try:
            xp = array_namespace(a)
        except TypeError:
            xp = None
        if xp is None or tuple(a.shape) != tuple(p.shape) or not xp.isdtype(a.dtype, "real floating"):
            raise BpnnValueError(f"the saved optimizer state {key}.{i} must be a float array of shape {tuple(p.shape)}")
        if not bool(xp.all(xp.isfinite(a))):
            raise BpnnValueError(f"the saved optimizer state {key}.{i} holds NaN or infinite values")


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
