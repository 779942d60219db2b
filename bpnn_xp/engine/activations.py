"""Activation functions g(z) with their derivatives; each formula is written once, in the kernels seam.

Each activation has ``fn(z)`` (the forward value), ``derivative(z)`` (g'(z), for tests and plots)
and ``backward(z, a, grad_a)``, the fused product ``grad_a * g'(z)`` that backprop needs; it may
reuse the forward value ``a`` (sigmoid and tanh do) and may overwrite ``grad_a`` in place.
The arithmetic is the kernels' (``backends.kernels.Kernels.relu`` etc.): an activation names its own
method there (``forward``/``backward`` take the kernels object), so a backend's fast path overrides
one method and no table maps names to code. Without kernels, the generic reference runs.
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ..backends.kernels import Kernels
from ..errors import BpnnValueError, canonical_name


class Activation:
    """Base class; subclasses set ``name`` and implement ``forward`` and ``backward`` on a kernels object."""

    name = "activation"

    def fn(self, z: Any, xp: Any = None) -> Any:
        """g(z), elementwise (z itself is left alone)."""
        return self.forward(Kernels(xp or array_namespace(z)), z)

    def derivative(self, z: Any, xp: Any = None) -> Any:
        """g'(z), elementwise (computed through ``backward`` so both share one formula)."""
        kernels = Kernels(xp or array_namespace(z))
        return self.backward(kernels, z, self.forward(kernels, z), kernels.xp.ones_like(z))

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        """g(z + bias) through ``kernels`` (z += bias in place first), into ``out`` where the kernels can."""
        raise NotImplementedError

    def backward(self, kernels: Any, z: Any, a: Any, grad_a: Any) -> Any:
        """grad_a * g'(z) through ``kernels``; may overwrite grad_a."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class Sigmoid(Activation):
    """Logistic 1/(1+e^-z), computed as (1 + tanh(z/2))/2: no overflow for any z, no warnings."""

    name = "sigmoid"

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        return kernels.sigmoid(z, out, bias)

    def backward(self, kernels: Any, z: Any, a: Any, grad_a: Any) -> Any:
        return kernels.sigmoid_backward(z, a, grad_a)


class Tanh(Activation):
    """Hyperbolic tangent; g'(z) = 1 - tanh(z)^2."""

    name = "tanh"

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        return kernels.tanh(z, out, bias)

    def backward(self, kernels: Any, z: Any, a: Any, grad_a: Any) -> Any:
        return kernels.tanh_backward(z, a, grad_a)


class ReLU(Activation):
    """max(z, 0); the derivative at exactly 0 is taken as 0."""

    name = "relu"

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        return kernels.relu(z, out, bias)

    def backward(self, kernels: Any, z: Any, a: Any, grad_a: Any) -> Any:
        return kernels.relu_backward(z, a, grad_a)


class LeakyReLU(Activation):
    """z for z > 0, slope*z otherwise (slope 0.01 by default), so no unit ever stops learning."""

    name = "leaky_relu"

    def __init__(self, slope: float = 0.01) -> None:
        if not 0.0 <= slope < 1.0:
            raise BpnnValueError(f"leaky_relu slope must be in [0, 1), got {slope}")
        self.slope = float(slope)

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        return kernels.leaky_relu(z, self.slope, out, bias)

    def backward(self, kernels: Any, z: Any, a: Any, grad_a: Any) -> Any:
        return kernels.leaky_relu_backward(z, a, grad_a, self.slope)


class Softmax(Activation):
    """Row-wise softmax, shifted by the row maximum so exp never overflows (an output layer only)."""

    name = "softmax"

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        xp, z = kernels.xp, kernels.identity(z, None, bias)
        e = xp.exp(z - xp.max(z, axis=1, keepdims=True))
        e /= xp.sum(e, axis=1, keepdims=True)
        return e


class Identity(Activation):
    """No activation, g(z) = z: a stack of these is one linear map (the linear-network experiment)."""

    name = "identity"

    def forward(self, kernels: Any, z: Any, out: Any = None, bias: Any = None) -> Any:
        return kernels.identity(z, out, bias)

    def backward(self, kernels: Any, z: Any, a: Any, grad_a: Any) -> Any:
        return kernels.identity_backward(z, a, grad_a)


ACTIVATIONS: dict[str, type[Activation]] = {cls.name: cls for cls in (Sigmoid, Tanh, ReLU, LeakyReLU, Identity)}
ALIASES = {"linear": "identity", "none": "identity", "logistic": "sigmoid", "leakyrelu": "leaky_relu"}


def get_activation(name: str | Activation) -> Activation:
    """An Activation from its name (or the object itself); unknown names list the valid ones."""
    if isinstance(name, Activation):
        return name
    return ACTIVATIONS[canonical_name("activation", name, sorted(ACTIVATIONS), ALIASES)]()
