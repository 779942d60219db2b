"""The multilayer perceptron: feedforward, backprop, penalties and parameter (un)flattening.

Layout follows the classic notes with samples in rows: ``z_l = a_{l-1} W_l + b_l``, ``a_l = g(z_l)``,
``W_l`` of shape (fan_in, fan_out). The output activation belongs to the cost, so the output delta
is the fused ``a_L - y``; hidden deltas are ``delta_l = (delta_{l+1} W_{l+1}^T) * g'(z_l)`` and the
gradients ``a_{l-1}^T delta_l / m``. Penalties (L2, L1) apply to weights only, never biases.

Parameter order, used by ``params``, ``backprop``'s gradients and ``flatten``: W_1, b_1, W_2, b_2, ...
each flattened row-major (C order).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .. import backends
from ..errors import BpnnValueError
from .activations import Activation, get_activation
from .costs import Cost, get_cost
from .initializers import get_initializer

Method = TypeVar("Method", bound=Callable[..., Any])


def on_network_device(method: Method) -> Method:
    """Run a Network method inside its arrays' device context (CuPy allocates on the current GPU)."""

    @functools.wraps(method)
    def wrapper(self: Network, *args: Any, **kwargs: Any) -> Any:
        with backends.device_context(self.weights[0]):
            return method(self, *args, **kwargs)

    return wrapper  # type: ignore[return-value]


class Network:
    """An MLP whose parameters live on one namespace and device; ``xp`` is looked up once, here."""

    def __init__(
        self,
        weights: Sequence[Any],
        biases: Sequence[Any],
        activations: Sequence[str | Activation] | str | Activation = "sigmoid",
        cost: str | Cost = "softmax_cross_entropy",
    ) -> None:
        if len(weights) == 0 or len(weights) != len(biases):
            raise BpnnValueError("a network needs one bias vector per weight matrix and at least one layer")
        self.weights = list(weights)
        self.biases = list(biases)
        self.xp = array_namespace(*self.weights, *self.biases)
        self.device = device_of(self.weights[0])
        if isinstance(activations, (str, Activation)):
            activations = [activations] * (len(self.weights) - 1)
        if len(activations) != len(self.weights) - 1:
            raise BpnnValueError(f"{len(self.weights) - 1} hidden layer(s) need as many activations, got {len(activations)}")
        self.activations = [get_activation(a) for a in activations]
        self.cost_function = get_cost(cost)
        if self.cost_function.name == "softmax_cross_entropy" and self.weights[-1].shape[1] < 2:
            raise BpnnValueError("softmax_cross_entropy needs at least 2 outputs; for one output use sigmoid_cross_entropy")
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            if not (self.xp.isdtype(w.dtype, "real floating") and w.dtype == b.dtype == self.weights[0].dtype):
                raise BpnnValueError(f"layer {i + 1}: parameters must all be float32 or all float64, got {w.dtype}/{b.dtype}")
            if w.ndim != 2 or b.ndim != 1 or b.shape[0] != w.shape[1]:
                raise BpnnValueError(f"layer {i + 1}: weights must be (fan_in, fan_out) and bias (fan_out,)")
            if i and w.shape[0] != self.weights[i - 1].shape[1]:
                raise BpnnValueError(
                    f"layer {i + 1} takes {w.shape[0]} inputs but layer {i} gives {self.weights[i - 1].shape[1]}"
                )

    # ------------------------------------------------------------------ construction
    @classmethod
    def create(
        cls,
        sizes: Sequence[int],
        activation: str | Activation | Sequence[str | Activation] = "sigmoid",
        cost: str | Cost = "softmax_cross_entropy",
        init: str = "uniform",
        seed: Any = 0,
        device: str | backends.Backend = "cpu",
        dtype: str = "float32",
    ) -> Network:
        """A new network with layer ``sizes`` (input first), weights drawn on the host from ``seed``.

        Biases start at zero; the weights' random draw breaks the symmetry between hidden units.
        """
        sizes = validate_sizes(sizes)
        backend = backends.as_backend(device)
        backend.dtype(dtype)  # refuses anything but float32/float64
        rng = backends.host_rng(seed)
        draw = get_initializer(init)
        weights, biases = [], []
        with backend.use():
            for fan_in, fan_out in zip(sizes[:-1], sizes[1:]):
                weights.append(backend.asarray(draw(rng, fan_in, fan_out), dtype))
                biases.append(backend.asarray([0.0] * fan_out, dtype))
        return cls(weights, biases, activation, cost)

    @property
    def sizes(self) -> list[int]:
        """Layer widths, input first."""
        return [self.weights[0].shape[0]] + [w.shape[1] for w in self.weights]

    @property
    def dtype(self) -> Any:
        return self.weights[0].dtype

    @property
    def params(self) -> list[Any]:
        """[W_1, b_1, W_2, b_2, ...]: the order of gradients, optimizer state and ``flatten``."""
        return [p for pair in zip(self.weights, self.biases) for p in pair]

    @property
    def n_params(self) -> int:
        return sum(math.prod(p.shape) for p in self.params)

    @on_network_device
    def copy(self) -> Network:
        """A deep copy on the same device."""
        xp = self.xp
        return Network(
            [xp.asarray(w, copy=True) for w in self.weights],
            [xp.asarray(b, copy=True) for b in self.biases],
            self.activations,
            self.cost_function,
        )

    def to(self, device: str | backends.Backend, dtype: str | None = None) -> Network:
        """A copy of this network on another backend/device (through host memory)."""
        backend = backends.as_backend(device)
        dtype = dtype or str(backends.to_numpy(self.weights[0][:1, :1]).dtype)
        with backend.use():
            moved = [backend.asarray(backends.to_numpy(p), dtype) for p in self.params]
        return Network(moved[0::2], moved[1::2], self.activations, self.cost_function)

    # ------------------------------------------------------------------ forward
    def _forward(self, X: Any, record: bool) -> tuple[Any, list[Any], list[Any]]:
        """The one forward loop: (logits z_L, hidden z's, [X, hidden a's]); lists filled if ``record``."""
        zs: list[Any] = []
        activations: list[Any] = [X]
        a, last = X, len(self.weights) - 1
        for i, (w, b) in enumerate(zip(self.weights, self.biases)):
            z = a @ w
            z += b
            if i == last:
                return z, zs, activations
            a = self.activations[i].fn(z, self.xp)
            if record:
                zs.append(z)
                activations.append(a)
        raise AssertionError("unreachable: a network has at least one layer")

    @on_network_device
    def logits(self, X: Any) -> Any:
        """Output pre-activations z_L for a batch X of shape (m, n_inputs)."""
        return self._forward(X, record=False)[0]

    @on_network_device
    def feedforward(self, X: Any) -> Any:
        """Network outputs a_L (class probabilities for the cross-entropy costs)."""
        return self.cost_function.predict(self._forward(X, record=False)[0], self.xp)

    @on_network_device
    def predict(self, X: Any) -> Any:
        """Predicted class index per row, as the cost reads its outputs (see ``Cost.classes``)."""
        return self.cost_function.classes(self._forward(X, record=False)[0], self.xp)

    # ------------------------------------------------------------------ cost and gradients
    @on_network_device
    def cost(self, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, n: int | None = None) -> Any:
        """Mean cost plus penalties, as a 0-d array on the device (no host sync)."""
        data_cost = self.cost_function.fn(self._forward(X, record=False)[0], Y, self.xp)
        return data_cost + self.penalty(l2, l1, n or X.shape[0])

    @on_network_device
    def penalty(self, l2: float = 0.0, l1: float = 0.0, n: int = 1) -> Any:
        """l2/(2n) sum W^2 + l1/n sum |W| over weights only (biases are not penalized)."""
        xp = self.xp
        total = xp.zeros((), dtype=self.dtype, device=self.device)
        for w in self.weights:
            if l2:
                total += xp.sum(w * w) * (l2 / (2.0 * n))
            if l1:
                total += xp.sum(xp.abs(w)) * (l1 / n)
        return total

    def backprop(self, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, n: int | None = None) -> tuple[Any, list[Any]]:
        """(cost, gradients) for the batch (X, Y), gradients in ``params`` order.

        ``n`` is the size of the whole training set the penalties are normalized by (the course's m);
        it defaults to the batch size, which is right for full-batch training.
        """
        cost, grads, _ = self.forward_backward(X, Y, l2, l1, n)
        return cost, grads

    @on_network_device
    def forward_backward(
        self, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, n: int | None = None
    ) -> tuple[Any, list[Any], Any]:
        """``backprop`` that also returns the output logits z_L (for accuracy without a second pass)."""
        xp = self.xp
        m = X.shape[0]
        logits, zs, activations = self._forward(X, record=True)
        cost, delta = self.cost_function.fn_and_delta(logits, Y, xp)
        delta *= 1.0 / m  # scale the (small) output delta once instead of every gradient
        grads: list[Any] = [None] * (2 * len(self.weights))
        for i in range(len(self.weights) - 1, -1, -1):
            grads[2 * i] = activations[i].T @ delta
            grads[2 * i + 1] = xp.sum(delta, axis=0)
            if i > 0:  # no delta is needed for the input layer
                delta = delta @ self.weights[i].T
                delta = self.activations[i - 1].backward(zs[i - 1], activations[i], delta, xp)
        if l2 or l1:
            cost = cost + self.penalty(l2, l1, n or m)
            self._add_penalty_gradients(grads, l2, l1, n or m)
        return cost, grads, logits

    def _add_penalty_gradients(self, grads: list[Any], l2: float, l1: float, n: int) -> None:
        """grad W += l2/n W + l1/n sign(W); biases are not penalized."""
        for i, w in enumerate(self.weights):
            if l2:
                grads[2 * i] += w * (l2 / n)
            if l1:
                grads[2 * i] += self.xp.sign(w) * (l1 / n)

    # ------------------------------------------------------------------ flat vectors
    @on_network_device
    def flatten(self, arrays: Sequence[Any] | None = None) -> Any:
        """One 1-D vector of all parameters (or of ``arrays`` in the same order, e.g. gradients)."""
        xp = self.xp
        return xp.concat([xp.reshape(p, (-1,)) for p in (arrays if arrays is not None else self.params)])

    @on_network_device
    def unflatten(self, vector: Any) -> list[Any]:
        """Split a flat vector into arrays shaped like ``params`` (views where the namespace allows)."""
        if vector.shape != (self.n_params,):
            raise BpnnValueError(f"flat parameter vector must have shape ({self.n_params},), got {tuple(vector.shape)}")
        out, start = [], 0
        for p in self.params:
            size = math.prod(p.shape)
            out.append(self.xp.reshape(vector[start : start + size], p.shape))
            start += size
        return out

    def load_flat(self, vector: Any) -> None:
        """Replace all parameters by the values in a flat vector on this network's device."""
        params = self.unflatten(vector)
        self.weights = params[0::2]
        self.biases = params[1::2]

    # ------------------------------------------------------------------ course layout
    @on_network_device
    def to_course_thetas(self) -> list[Any]:
        """Weights in the course notes' layout: Theta_l of shape (fan_out, fan_in + 1), bias in column 0."""
        xp = self.xp
        return [xp.concat([xp.reshape(b, (-1, 1)), w.T], axis=1) for w, b in zip(self.weights, self.biases)]

    @classmethod
    def from_course_thetas(
        cls,
        thetas: Sequence[Any],
        activation: str | Activation = "sigmoid",
        cost: str | Cost = "sigmoid_cross_entropy",
    ) -> Network:
        """A network from course-format Thetas (the course's network: sigmoid layers, J(Theta) cost)."""
        xp = array_namespace(*thetas)
        weights = [xp.asarray(t[:, 1:].T, copy=True) for t in thetas]
        biases = [xp.asarray(t[:, 0], copy=True) for t in thetas]
        return cls(weights, biases, activation, cost)


def validate_sizes(sizes: Sequence[Any]) -> list[int]:
    """Layer sizes as a list of positive ints (at least input and output), or a clear error."""
    sizes = list(sizes)
    if len(sizes) < 2:
        raise BpnnValueError(f"a network needs at least an input and an output size, got {sizes}")
    for s in sizes:
        if isinstance(s, bool) or not isinstance(s, int) and not (hasattr(s, "__index__")):
            raise BpnnValueError(f"layer sizes must be positive integers, got {s!r} in {sizes}")
        if int(s) <= 0:
            raise BpnnValueError(f"layer sizes must be positive integers, got {s} in {sizes}")
    return [int(s) for s in sizes]
