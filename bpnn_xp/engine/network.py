"""The multilayer perceptron: feedforward, backprop, penalties and parameter (un)flattening.

Layout follows the classic notes with samples in rows: ``z_l = a_{l-1} W_l + b_l``, ``a_l = g(z_l)``,
``W_l`` of shape (fan_in, fan_out). The output activation belongs to the cost, so the output delta
is the fused ``a_L - y``; hidden deltas are ``delta_l = (delta_{l+1} W_{l+1}^T) * g'(z_l)`` and the
gradients ``a_{l-1}^T delta_l / m``. Penalties (L2, L1) apply to weights only, never biases.

Parameter order, used by ``params``, ``backprop``'s gradients and ``flatten``: W_1, b_1, W_2, b_2, ...
each flattened row-major (C order).

Flat buffers: where the kernels seam says views are safe (``Kernels.supports_views``: NumPy), the
parameters live in ONE contiguous 1-D buffer in that order, ``Network.flat``, and ``weights``,
``biases`` and ``params`` are views into it; backprop writes the gradients into one new flat buffer
(``grads.flat``) the same way, and the optimizers update each buffer in one pass. Elsewhere (the
generic reference: array-api-strict, torch, CuPy, or ``fast=False``) they stay separate arrays and
``flat`` is None. ``flatten()`` always returns a copy; ``load_flat`` copies into the buffer, so
views taken earlier stay valid.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from .. import backends
from ..backends.kernels import FlatViews, PenaltyFold, Totals, Workspace, buffer_for
from ..errors import BpnnValueError
from .activations import Activation, get_activation
from .costs import Cost, get_cost
from .dropout import Masks
from .initializers import get_initializer
from .layers import check_inputs, check_layers, on_network_device, one_namespace, validate_sizes


class Network:
    """An MLP whose parameters live on one namespace and device; ``xp`` is looked up once, here."""

    def __init__(
        self,
        weights: Sequence[Any],
        biases: Sequence[Any],
        activations: Sequence[str | Activation] | str | Activation = "sigmoid",
        cost: str | Cost = "softmax_cross_entropy",
        fast: bool = True,
    ) -> None:
        if len(weights) == 0 or len(weights) != len(biases):
            raise BpnnValueError("a network needs one bias vector per weight matrix and at least one layer")
        self.xp = one_namespace(weights, biases)
        self.device = device_of(weights[0])
        if isinstance(activations, (str, Activation)):
            activations = [activations] * (len(weights) - 1)
        if len(activations) != len(weights) - 1:
            raise BpnnValueError(f"{len(weights) - 1} hidden layer(s) need as many activations, got {len(activations)}")
        self.activations = [get_activation(a) for a in activations]
        self.cost_function = get_cost(cost)
        if self.cost_function.name == "softmax_cross_entropy" and weights[-1].shape[1] < 2:
            raise BpnnValueError("softmax_cross_entropy needs at least 2 outputs; for one output use sigmoid_cross_entropy")
        check_layers(self.xp, weights, biases)
        self.fast = fast  # False: the generic reference kernels and separate arrays throughout
        self.kernels = backends.kernels_for(self.xp, fast)
        self._flat: Any = None
        self._weight_mask: Any = None  # built on first use by ``penalty_fold``
        self._weights, self._biases = list(weights), list(biases)
        if self.kernels.supports_views:
            with backends.device_context(weights[0]):
                packed = self.kernels.pack(self.params)
            self._flat, self._weights, self._biases = packed.flat, packed[0::2], packed[1::2]

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
        return [self._weights[0].shape[0]] + [w.shape[1] for w in self._weights]

    @property
    def dtype(self) -> Any:
        return self._weights[0].dtype

    @property
    def flat(self) -> Any:
        """The live 1-D parameter buffer (W_1, b_1, W_2, ... row-major), or None where views are not used."""
        return self._flat

    @property
    def weights(self) -> list[Any]:
        """[W_1, W_2, ...]: a new list each time, of the live arrays (views into ``flat`` where packed).

        Write into the arrays, or assign a whole list (``net.weights = [...]``, copied in); assigning
        one item of the returned list changes nothing.
        """
        return list(self._weights)

    @weights.setter
    def weights(self, arrays: Sequence[Any]) -> None:
        self._assign(arrays, self._biases)

    @property
    def biases(self) -> list[Any]:
        """[b_1, b_2, ...], as ``weights``."""
        return list(self._biases)

    @biases.setter
    def biases(self, arrays: Sequence[Any]) -> None:
        self._assign(self._weights, arrays)

    def _assign(self, weights: Sequence[Any], biases: Sequence[Any]) -> None:
        """New parameter values of the same shapes and dtype: copied into the buffer where packed."""
        weights, biases = list(weights), list(biases)
        if [tuple(a.shape) for a in (*weights, *biases)] != [tuple(a.shape) for a in (*self._weights, *self._biases)]:
            raise BpnnValueError("new weights and biases must have the shapes of the current ones")
        check_layers(self.xp, weights, biases)
        if weights[0].dtype != self.dtype:
            raise BpnnValueError(f"new parameters must be {self.dtype}, got {weights[0].dtype}")
        if self._flat is None:
            self._weights, self._biases = weights, biases
            return
        for live, new in zip((*self._weights, *self._biases), (*weights, *biases)):
            if live is not new:
                live[...] = new

    @property
    def params(self) -> list[Any]:
        """[W_1, b_1, W_2, b_2, ...]: the order of gradients, optimizer state and ``flatten``.

        Where packed, a ``FlatViews`` list whose ``.flat`` is the buffer (what lets an optimizer
        update all parameters in one pass).
        """
        params = [p for pair in zip(self._weights, self._biases) for p in pair]
        return FlatViews(params, self._flat) if self._flat is not None else params

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
            self.fast,
        )

    def to(self, device: str | backends.Backend, dtype: str | None = None) -> Network:
        """A copy of this network on another backend/device (through host memory)."""
        backend = backends.as_backend(device)
        dtype = dtype or str(backends.to_numpy(self.weights[0][:1, :1]).dtype)
        with backend.use():
            moved = [backend.asarray(backends.to_numpy(p), dtype) for p in self.params]
        return Network(moved[0::2], moved[1::2], self.activations, self.cost_function, self.fast)

    # ------------------------------------------------------------------ forward
    def _forward(self, X: Any, record: bool, workspace: Workspace | None = None,
                 masks: Masks | None = None) -> tuple[Any, list[Any], list[Any], list[Any]]:  # fmt: skip
        """The one forward loop: (logits z_L, hidden z's, [X, hidden a's] as the next layer sees them, the same
        before dropout); lists filled if ``record``. ``masks``: inverted dropout on the inputs and hidden outputs.

        With a ``workspace`` the z's and a's are written into its buffers (see ``forward_backward``).
        """
        zs: list[Any] = []
        a, last, kernels = X, len(self._weights) - 1, self.kernels
        a = self._drop(masks, 0, a, workspace)
        activations: list[Any] = [a]
        raw: list[Any] = [X]
        for i, (w, b) in enumerate(zip(self._weights, self._biases)):
            shape, dtype = (X.shape[0], w.shape[1]), self.xp.result_type(a.dtype, w.dtype)
            z = kernels.matmul_into(buffer_for(workspace, ("z", i), shape, dtype), a, w)
            if i == last:
                z += b
                return z, zs, activations, raw
            a = kernels.bias_activation(z, b, self.activations[i], buffer_for(workspace, ("a", i), shape, dtype))
            if record:
                zs.append(z)
                raw.append(a)
            a = self._drop(masks, i + 1, a, workspace)
            if record:
                activations.append(a)
        raise AssertionError("unreachable: a network has at least one layer")

    def _drop(self, masks: Masks | None, layer: int, a: Any, workspace: Workspace | None) -> Any:
        """a with the dropout of activation ``layer`` (0 = inputs) applied into a new buffer, or a itself."""
        keep = None if masks is None else masks.keep[layer]
        if keep is None:
            return a
        return self.kernels.dropout(a, keep, masks.scales[layer], buffer_for(workspace, ("dropped", layer), a.shape, a.dtype))

    @on_network_device
    def logits(self, X: Any) -> Any:
        """Output pre-activations z_L for a batch X of shape (m, n_inputs)."""
        check_inputs(self._weights[0].shape[0], X)
        return self._forward(X, record=False)[0]

    @on_network_device
    def feedforward(self, X: Any) -> Any:
        """Network outputs a_L (class probabilities for the cross-entropy costs)."""
        check_inputs(self._weights[0].shape[0], X)
        return self.cost_function.predict(self._forward(X, record=False)[0], self.xp)

    @on_network_device
    def predict(self, X: Any) -> Any:
        """Predicted class index per row, as the cost reads its outputs (see ``Cost.classes``)."""
        check_inputs(self._weights[0].shape[0], X)
        return self.cost_function.classes(self._forward(X, record=False)[0], self.xp)

    # ------------------------------------------------------------------ cost and gradients
    @on_network_device
    def cost(self, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, n: float | None = None, masks: Masks | None = None,
             row_weights: Any = None) -> Any:  # fmt: skip
        """Mean cost plus penalties, as a 0-d array on the device (no host sync); with fixed dropout ``masks`` and
        ``row_weights`` (the mean of w_i loss_i) when given, as ``forward_backward`` computes it."""
        logits = self._forward(X, False, None, masks)[0]
        if row_weights is None:
            data_cost = self.cost_function.fn(logits, Y, self.xp)
        else:
            data_cost = self.xp.sum(self.cost_function.row_losses(logits, Y, self.xp) * row_weights) / X.shape[0]
        return data_cost + self.penalty(l2, l1, n or X.shape[0])

    @on_network_device
    def penalty(self, l2: float = 0.0, l1: float = 0.0, n: float = 1) -> Any:
        """l2/(2n) sum W^2 + l1/n sum |W| over weights only (biases are not penalized)."""
        xp = self.xp
        total = xp.zeros((), dtype=self.dtype, device=self.device)
        for w in self.weights:
            if l2:
                total += xp.sum(w * w) * (l2 / (2.0 * n))
            if l1:
                total += xp.sum(xp.abs(w)) * (l1 / n)
        return total

    def backprop(
        self, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, n: float | None = None, workspace: Workspace | None = None,
        masks: Masks | None = None, row_weights: Any = None,
    ) -> tuple[Any, list[Any]]:
        """(cost, gradients) for the batch (X, Y), gradients in ``params`` order.

        ``n`` is the size of the whole training set the penalties are normalized by (the course's m);
        it defaults to the batch size, which is right for full-batch training. ``workspace``: see
        ``forward_backward``.
        """
        cost, grads, _ = self.forward_backward(X, Y, l2, l1, n, workspace, masks=masks, row_weights=row_weights)
        return cost, grads

    @on_network_device
    def forward_backward(
        self, X: Any, Y: Any, l2: float = 0.0, l1: float = 0.0, n: float | None = None, workspace: Workspace | None = None,
        totals: Totals | None = None, penalty_cost: bool = True, masks: Masks | None = None, row_weights: Any = None,
    ) -> tuple[Any, list[Any], Any]:
        """``backprop`` that also returns the output logits z_L (for accuracy without a second pass).

        With a ``workspace`` (``network.kernels.workspace()``) every temporary, the logits and the
        gradient buffer are that workspace's buffers, reused by the next call with it: a loop must be
        done with one call's results before it makes the next (the Trainer is). Same numbers either way.
        ``totals`` (``kernels.epoch_totals``) gets the batch's cost sum and correct count added on the device;
        ``penalty_cost=False`` leaves the penalty out of the returned cost (the Trainer adds it once per epoch).
        ``masks`` (engine.dropout.Masks): inverted dropout, the same masks scaling the backward deltas.
        ``row_weights``: a weight per row; the cost is then mean(w_i loss_i) and each row's delta is scaled by w_i.
        """
        kernels, m = self.kernels, X.shape[0]
        logits, zs, activations, raw = self._forward(X, True, workspace, masks)
        delta_out = buffer_for(workspace, "delta", logits.shape, logits.dtype)  # delta x 1/m once, not every gradient
        if row_weights is None:
            cost, delta = kernels.cost_and_delta(self.cost_function, logits, Y, delta_out, scale=1.0 / m, totals=totals)
        else:
            cost, delta = kernels.weighted_cost_and_delta(self.cost_function, logits, Y, row_weights, delta_out, 1.0 / m, totals)
        grads = self._new_gradients(workspace)
        for i in range(len(self._weights) - 1, -1, -1):
            grads[2 * i] = kernels.matmul_into(grads[2 * i], activations[i].T, delta)
            grads[2 * i + 1] = kernels.sum_rows_into(grads[2 * i + 1], delta)
            if i > 0:  # no delta is needed for the input layer
                w = self._weights[i]
                delta = kernels.matmul_into(buffer_for(workspace, ("delta", i), (m, w.shape[0]), delta.dtype), delta, w.T)
                keep = None if masks is None else masks.keep[i]
                if keep is not None:  # a dropped unit passes no gradient back; a kept one its 1/(1 - rate) share
                    delta = kernels.dropout(delta, keep, masks.scales[i], delta)
                delta = kernels.activation_backward(self.activations[i - 1], zs[i - 1], raw[i], delta)
        if l2 or l1:
            if penalty_cost:
                cost = cost + self.penalty(l2, l1, n or m)
            self._add_penalty_gradients(grads, l2, l1, n or m)
        return cost, grads, logits

    def _new_gradients(self, workspace: Workspace | None = None) -> list[Any]:
        """Where packed, views into one flat gradient buffer (``.flat``; the workspace's if given); else empty slots."""
        if self._flat is None:
            return [None] * (2 * len(self._weights))
        flat, shapes = buffer_for(workspace, "gradients", self._flat.shape, self.dtype), [tuple(p.shape) for p in self.params]
        if flat is None:  # every entry is written
            return self.kernels.views(self.xp.empty(self._flat.shape, dtype=self.dtype, device=self.device), shapes)
        views = workspace.memo(("gradient views", id(flat)), lambda: tuple(self.kernels.views(flat, shapes)))
        return FlatViews(views, flat)  # a new list each step: backprop assigns its items

    @on_network_device
    def penalty_fold(self, l2: float, l1: float, n: int) -> PenaltyFold:
        """The L2/L1 gradient for an update that folds it (``Kernels.penalized``): l2/n, l1/n, a weights-only mask."""
        if self._weight_mask is None:
            sizes = [math.prod(p.shape) for p in self.params]
            self._weight_mask = self.xp.concat([self.xp.full((k,), i % 2 == 0, dtype=self.xp.bool, device=self.device)
                                                for i, k in enumerate(sizes)])  # fmt: skip
        return PenaltyFold(l2 / n, l1 / n, self._weight_mask)

    def _add_penalty_gradients(self, grads: list[Any], l2: float, l1: float, n: int) -> None:
        """grad W += l2/n W + l1/n sign(W); biases are not penalized."""
        for i, w in enumerate(self._weights):
            if l2:
                grads[2 * i] += w * (l2 / n)
            if l1:
                grads[2 * i] += self.xp.sign(w) * (l1 / n)

    # ------------------------------------------------------------------ flat vectors
    @on_network_device
    def flatten(self, arrays: Sequence[Any] | None = None) -> Any:
        """A new 1-D copy of all parameters (or of ``arrays`` in the same order, e.g. gradients)."""
        xp = self.xp
        arrays = arrays if arrays is not None else self.params
        packed = getattr(arrays, "flat", None)
        if packed is not None:  # views of one buffer: one copy, the same values as concatenating
            return xp.asarray(packed, copy=True)
        return xp.concat([xp.reshape(p, (-1,)) for p in arrays])

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

    @on_network_device
    def load_flat(self, vector: Any) -> None:
        """Set all parameters from a flat vector on this network's device: copied into ``flat`` where
        packed (views stay valid), else the vector's pieces become the parameters."""
        if self._flat is not None:
            if vector.shape != (self.n_params,):
                raise BpnnValueError(f"flat parameter vector must have shape ({self.n_params},), got {tuple(vector.shape)}")
            self._flat[...] = vector
            return
        params = self.unflatten(vector)
        self._weights, self._biases = params[0::2], params[1::2]

    # ------------------------------------------------------------------ course layout
    @on_network_device
    def to_course_thetas(self) -> list[Any]:
        """Weights in the course notes' layout: Theta_l of shape (fan_out, fan_in + 1), bias in column 0."""
        xp = self.xp
        return [xp.concat([xp.reshape(b, (-1, 1)), w.T], axis=1) for w, b in zip(self._weights, self._biases)]

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
