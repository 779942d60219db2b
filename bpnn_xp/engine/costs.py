"""Costs with their output layer and fused output delta (Nielsen's ``fn`` and ``delta``).

The cross-entropies' arithmetic is the kernels seam's (``Kernels.softmax_xent``, ``sigmoid_xent``): a cost
names its method there (``on_kernels``), so a fast path overrides one method; ``fn_and_delta`` runs the reference.

A cost owns the output activation that fits it, so the output delta is the classic ``a_L - y``
for softmax + categorical cross-entropy and sigmoid + binary cross-entropy. Costs are computed
from the logits z (log-sum-exp, softplus), so log(0) never happens. Values are means over samples;
``delta`` is per sample (backprop divides by m once, in the gradient).
"""

from __future__ import annotations

from typing import Any

from array_api_compat import array_namespace

from ..backends.kernels import Kernels
from ..errors import canonical_name
from .activations import Activation, Identity, Sigmoid, Softmax, get_activation


class Cost:
    """Base class: ``output`` maps logits to predictions, ``fn`` is the mean cost, ``delta`` dJ/dz."""

    name = "cost"
    output: Activation

    def fn(self, z: Any, y: Any, xp: Any = None) -> Any:
        """Mean cost over the batch (a 0-d array on the device), from the output logits z."""
        return self.fn_and_delta(z, y, xp)[0]

    def predict(self, z: Any, xp: Any = None) -> Any:
        """Output activations (probabilities for the cross-entropies)."""
        return self.output.fn(z, xp)

    # The one place that says which class an output row means (predictions, accuracy, reports).
    def classes(self, z: Any, xp: Any = None) -> Any:
        """Predicted class per row from logits: argmax, or output > 0.5 for a single output."""
        xp = xp or array_namespace(z)
        if z.shape[1] == 1:
            return xp.astype(self.predict(z, xp)[:, 0] > 0.5, xp.int64)
        return xp.argmax(z, axis=1)  # the output activations are monotone: argmax of z is argmax of a

    def class_probabilities(self, z: Any, xp: Any = None) -> Any:
        """(m, classes) scores per class: the outputs, or [1 - a, a] for a single output."""
        xp = xp or array_namespace(z)
        a = self.predict(z, xp)
        return xp.concat([1.0 - a, a], axis=1) if a.shape[1] == 1 else a

    @staticmethod
    def target_classes(y: Any, xp: Any = None) -> Any:
        """Class per row of a target matrix: argmax of one-hot rows, y > 0.5 for a single column."""
        xp = xp or array_namespace(y)
        if y.shape[1] == 1:
            return xp.astype(y[:, 0] > 0.5, xp.int64)
        return xp.argmax(y, axis=1)

    def fn_and_delta(self, z: Any, y: Any, xp: Any = None) -> tuple[Any, Any]:
        """(mean cost, per-sample delta), sharing the work both need (the generic reference kernels)."""
        return self.on_kernels(Kernels(xp or array_namespace(z)), z, y)

    def on_kernels(self, kernels: Any, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        """(mean cost, per-sample delta) through ``kernels``, the delta into ``out`` where they can."""
        raise NotImplementedError

    def row_losses(self, z: Any, y: Any, xp: Any = None) -> Any:
        """The loss of each row (shape (m,)), whose mean is ``fn``: what sample weights multiply."""
        raise NotImplementedError

    def __repr__(self) -> str:
        return self.name


class SoftmaxCrossEntropy(Cost):
    """Softmax output + categorical cross-entropy -sum_k y_k log a_k; delta = a - y for one-hot
    (or probability) rows, and a sum(y) - y in general. Needs at least two outputs.
    """

    name = "softmax_cross_entropy"
    output = Softmax()

    def on_kernels(self, kernels: Any, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        return kernels.softmax_xent(z, y, out)

    def row_losses(self, z: Any, y: Any, xp: Any = None) -> Any:
        xp = xp or array_namespace(z)
        shifted = z - xp.max(z, axis=1, keepdims=True)
        total = xp.sum(xp.exp(shifted), axis=1)
        return xp.log(total) * xp.sum(y, axis=1) - xp.sum(shifted * y, axis=1)


class SigmoidCrossEntropy(Cost):
    """Sigmoid outputs + binary (multi-label) cross-entropy, the course notes' J(Theta).

    loss = sum_k [softplus(z_k) - y_k z_k], equal to -y log a - (1-y) log(1-a) without log(0);
    delta = a - y.
    """

    name = "sigmoid_cross_entropy"
    output = Sigmoid()

    def on_kernels(self, kernels: Any, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        return kernels.sigmoid_xent(z, y, out)

    def row_losses(self, z: Any, y: Any, xp: Any = None) -> Any:
        xp = xp or array_namespace(z)
        softplus = xp.maximum(z, 0.0) + xp.log1p(xp.exp(-xp.abs(z)))
        return xp.sum(softplus - y * z, axis=1)

    def classes(self, z: Any, xp: Any = None) -> Any:
        """sigmoid(z) > 0.5 is z > 0: no activation needed."""
        xp = xp or array_namespace(z)
        return xp.astype(z[:, 0] > 0.0, xp.int64) if z.shape[1] == 1 else xp.argmax(z, axis=1)


class MeanSquaredError(Cost):
    """Squared error 1/2 ||a - y||^2 per sample with any output activation; delta = (a - y) g'(z)."""

    name = "mse"

    def __init__(self, output: str | Activation = "identity") -> None:
        self.output = get_activation(output)

    def on_kernels(self, kernels: Any, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        a = self.output.forward(kernels, z)
        error = a - y
        cost = kernels.xp.sum(error * error) * (0.5 / z.shape[0])
        return cost, self.output.backward(kernels, z, a, error)

    def row_losses(self, z: Any, y: Any, xp: Any = None) -> Any:
        xp = xp or array_namespace(z)
        error = self.output.fn(z, xp) - y
        return xp.sum(error * error, axis=1) * 0.5

    def __repr__(self) -> str:
        return f"mse({self.output.name})"


COSTS = ("softmax_cross_entropy", "sigmoid_cross_entropy", "mse")
ALIASES = {  # keys as errors.normalize_name leaves them
    "cross_entropy": "softmax_cross_entropy",
    "softmax": "softmax_cross_entropy",
    "ce": "softmax_cross_entropy",
    "binary_cross_entropy": "sigmoid_cross_entropy",
    "bce": "sigmoid_cross_entropy",
    "sigmoid": "sigmoid_cross_entropy",
    "squared_error": "mse",
}


def get_cost(name: str | Cost, output: str | Activation | None = None) -> Cost:
    """A Cost from its name; ``output`` picks the output activation of ``mse`` (identity by default)."""
    if isinstance(name, Cost):
        return name
    key = canonical_name("cost", name, COSTS, ALIASES)
    if key == "softmax_cross_entropy":
        return SoftmaxCrossEntropy()
    if key == "sigmoid_cross_entropy":
        return SigmoidCrossEntropy()
    return MeanSquaredError(output if output is not None else Identity())


__all__ = ["Cost", "MeanSquaredError", "SigmoidCrossEntropy", "SoftmaxCrossEntropy", "get_cost"]
