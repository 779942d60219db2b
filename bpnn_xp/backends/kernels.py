"""The kernels seam: each hot operation of a training step as a method, with its generic array-API reference.

``Kernels`` holds the reference formula of each hot operation, written once for any namespace: layer
products, bias + activation (one method per activation, which the engine's Activation objects call back),
activation derivative x delta, the costs with their output delta, and the optimizer updates. A backend's
fast path (``cpu/``: NumPy ``out=`` routines, numba loops, oneMKL's products; ``cuda/``: CUDA kernels)
overrides single methods, as Thinc's ``Ops``/``CupyOps`` do; ``selection.kernels_for`` picks one. Every
fast path must give the reference's numbers: ``tests/backends/test_fast_paths.py`` and ``tests/backends/test_cuda_kernels.py``
prove it (bit for bit where the operation order is the same, else within a stated tolerance).

Elementwise formulas are written with the out-aware primitives ``_ew`` and ``_astype``: the reference
returns new arrays; the NumPy fast path overrides only those two to write into a given or scratch buffer,
so the formula itself is not written a second time.

Flat buffers: where ``supports_views`` is True, ``pack``/``views`` give arrays that are views into
one contiguous 1-D buffer (a ``FlatViews`` list that carries the buffer as ``.flat``), and the
``*_into`` methods write into them. The array API does not promise that ``reshape`` of a slice is
a view, so the generic kernels say False and callers keep separate arrays (``out`` is then None
and the ``*_into`` methods return new arrays).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


class FlatViews(list):
    """A list of arrays that are views, in order, into the one 1-D buffer ``flat``."""

    def __init__(self, views: Sequence[Any], flat: Any) -> None:
        super().__init__(views)
        self._views, self._flat = tuple(views), flat

    @property
    def flat(self) -> Any:
        """The buffer, or None once an item was replaced (the buffer no longer holds the list)."""
        if len(self) != len(self._views) or any(a is not b for a, b in zip(self, self._views)):
            return None
        return self._flat


class Workspace:
    """Output buffers that a loop reuses from one step to the next, so its hot path allocates nothing.

    Every training step needs the same temporaries (layer outputs, deltas, the gradient buffer, the
    gathered batch). Fresh multi-megabyte NumPy arrays cost page faults every step, because glibc hands
    freed large blocks back to the OS: about 10% of a 784-1024-1024-10 step at batch 1024. Buffers are
    keyed by (role, shape, dtype) and live as long as the workspace, so only a caller that is done
    with one step's results before the next asks for the same role (the Trainer, the full-batch
    objective) may pass one. Where the kernels cannot write into given arrays (the generic array-API
    path), ``get`` returns None and every kernel allocates as before.
    """

    def __init__(self, xp: Any, enabled: bool) -> None:
        self.xp, self.enabled = xp, enabled
        self._buffers: dict[tuple[Any, tuple[int, ...], Any], Any] = {}
        self._memo: dict[Any, Any] = {}

    def memo(self, key: Any, make: Any) -> Any:
        """What ``make()`` returned the first time for ``key`` (e.g. views of a buffer); ``make()`` each time if disabled."""
        if not self.enabled:
            return make()
        if key not in self._memo:
            self._memo[key] = make()
        return self._memo[key]

    def get(self, role: Any, shape: Sequence[int], dtype: Any) -> Any:
        """The buffer for ``role`` of this shape and dtype (contents undefined), or None if disabled."""
        if not self.enabled:
            return None
        key = (role, tuple(int(n) for n in shape), dtype)
        buffer = self._buffers.get(key)
        if buffer is None:
            buffer = self._buffers[key] = self.xp.empty(key[1], dtype=dtype)
        return buffer


def buffer_for(workspace: Workspace | None, role: Any, shape: Sequence[int], dtype: Any) -> Any:
    """``workspace.get(...)``, or None without a workspace: what the ``out`` arguments take."""
    return None if workspace is None else workspace.get(role, shape, dtype)


@dataclass(frozen=True)
class PenaltyFold:
    """The penalty gradient an optimizer update adds itself: l2 (already / n) p + l1 (/ n) sign(p) where ``mask``."""

    l2: float
    l1: float
    mask: Any  # a flat boolean array: True on weights, False on biases (penalties skip biases)


class Totals:
    """An epoch's running sums on the device: the cost summed over samples and the count of correct predictions."""

    def __init__(self, cost_sum: Any, correct: Any) -> None:
        self.cost_sum, self.correct = cost_sum, correct


class Kernels:
    """Generic reference kernels; every argument array is updated in place where the name says so.

    ``out`` arguments are optional buffers (from a ``Workspace``) that a fast path may write its
    result into; the reference ignores them where the array API cannot write into a given array.
    """

    name = "generic"
    supports_views = False  # reshape of a slice may copy in the array API: keep separate arrays
    supports_out = False  # results go to new arrays: a Workspace hands out no buffers
    folds_penalty = False  # True where the optimizer update adds the L2/L1 gradient itself (see ``penalized``)

    def __init__(self, xp: Any) -> None:
        self.xp = xp

    def workspace(self) -> Workspace:
        """A new workspace for a loop over these kernels (empty; buffers only where ``supports_out``)."""
        return Workspace(self.xp, self.supports_out)

    # ------------------------------------------------------------------ flat buffers
    def pack(self, arrays: Sequence[Any]) -> FlatViews:
        """Copy ``arrays`` into one new 1-D buffer; views of it where ``supports_views``."""
        flat = self.xp.concat([self.xp.reshape(a, (-1,)) for a in arrays])
        return FlatViews(self.views(flat, [tuple(a.shape) for a in arrays]), flat)

    def views(self, flat: Any, shapes: Sequence[tuple[int, ...]]) -> FlatViews:
        """Arrays of ``shapes`` over consecutive parts of ``flat`` (copies where reshape copies)."""
        out, start = [], 0
        for shape in shapes:
            size = math.prod(shape)
            out.append(self.xp.reshape(flat[start : start + size], shape))
            start += size
        return FlatViews(out, flat)

    # ------------------------------------------------------------------ products and gathers
    def matmul_into(self, out: Any, a: Any, b: Any) -> Any:
        """a @ b, written into ``out`` when given (else a new array); returns the result."""
        if out is None:
            return a @ b
        out[...] = a @ b
        return out

    def take_rows(self, X: Any, rows: Any, out: Any = None) -> Any:
        """X[rows] for an integer index vector ``rows`` (the batch gather); into ``out`` where supported."""
        return self.xp.take(X, rows, axis=0)

    def sum_rows_into(self, out: Any, a: Any) -> Any:
        """The column sums of a 2-D ``a`` (the bias gradient), into ``out`` when given."""
        if out is None:
            return self.xp.sum(a, axis=0)
        out[...] = self.xp.sum(a, axis=0)
        return out

    # ------------------------------------------------------------------ elementwise primitives
    def _ew(self, function: str, *args: Any, out: Any = None, role: str = "") -> Any:
        """``xp.<function>(*args)``: a new array here; a fast path may write it into ``out`` or its scratch for ``role``."""
        return getattr(self.xp, function)(*args)

    def _astype(self, x: Any, dtype: Any, role: str = "") -> Any:
        """x converted to ``dtype`` (a new array here; scratch for ``role`` on a fast path)."""
        return self.xp.astype(x, dtype)

    def _add_bias(self, z: Any, bias: Any) -> Any:
        """z += bias in place (nothing without a bias)."""
        if bias is not None:
            z += bias
        return z

    # ------------------------------------------------------------------ layers: bias + activation, derivative x delta
    def bias_activation(self, z: Any, b: Any, activation: Any, out: Any = None) -> Any:
        """z += b in place, then a = g(z) (``activation`` is an engine Activation, which calls its method here)."""
        return activation.forward(self, z, out, bias=b)

    def activation_backward(self, activation: Any, z: Any, a: Any, delta: Any) -> Any:
        """delta * g'(z) given a = g(z); may overwrite ``delta``."""
        return activation.backward(self, z, a, delta)

    def identity(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """g(z) = z (z itself, after z += bias)."""
        return self._add_bias(z, bias)

    def relu(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """max(z, 0) after z += bias."""
        return self._ew("maximum", self._add_bias(z, bias), 0.0, out=out)

    def leaky_relu(self, z: Any, slope: float, out: Any = None, bias: Any = None) -> Any:
        """max(z, z * slope) after z += bias (slope < 1; branch-free)."""
        z = self._add_bias(z, bias)
        scaled = self._ew("multiply", z, slope, out=out)
        return self._ew("maximum", z, scaled, out=scaled)

    def sigmoid(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """1/(1 + e^-z) as (1 + tanh(z/2))/2 after z += bias: no overflow for any z, no warnings."""
        a = self._ew("multiply", self._add_bias(z, bias), 0.5, out=out)
        a = self._ew("tanh", a, out=a)
        a += 1.0
        a *= 0.5
        return a

    def tanh(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """tanh(z) after z += bias."""
        return self._ew("tanh", self._add_bias(z, bias), out=out)

    def identity_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta * 1."""
        return delta

    def relu_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta * [z > 0]: a 0/1 mask product (where() branches per element, ~10x slower on NumPy)."""
        delta *= self.xp.astype(z > 0.0, delta.dtype)
        return delta

    def leaky_relu_backward(self, z: Any, a: Any, delta: Any, slope: float) -> Any:
        """delta * ([z > 0] (1 - slope) + slope)."""
        factor = self.xp.astype(z > 0.0, delta.dtype)
        factor *= 1.0 - slope
        factor += slope
        delta *= factor
        return delta

    def sigmoid_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta * a (1 - a)."""
        factor = 1.0 - a
        factor *= a
        delta *= factor
        return delta

    def tanh_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta * (1 - a^2), as -(a a) + 1."""
        factor = a * a
        factor *= -1.0
        factor += 1.0
        delta *= factor
        return delta

    # ------------------------------------------------------------------ dropout
    def dropout(self, a: Any, keep: Any, scale: float, out: Any = None) -> Any:
        """a * (keep * scale): inverted dropout with a boolean ``keep`` mask, scale = 1/(1 - rate); into ``out``
        where given (``out`` may be ``a``). The backward pass is the same product on the delta."""
        factor = self._astype(keep, a.dtype, "keep")
        factor *= scale
        return self._ew("multiply", a, factor, out=out)

    # ------------------------------------------------------------------ costs with their output delta
    def cost_and_delta(self, cost: Any, z: Any, y: Any, out: Any = None, scale: float | None = None,
                       totals: Totals | None = None) -> tuple[Any, Any]:  # fmt: skip
        """(mean cost, per-sample output delta) of an engine Cost at logits z; the delta times ``scale`` if given,
        and the batch's cost sum and correct predictions added to ``totals`` (on the device) if given."""
        value, delta = cost.on_kernels(self, z, y, out)
        if totals is not None:
            self.count_batch(totals, cost, value, z, y)
        if scale is not None:
            delta *= scale
        return value, delta

    def softmax_xent(self, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        """Softmax + categorical cross-entropy: loss_i = sum_k y_ik (log total_i - shifted_ik), delta = a sum(y) - y."""
        xp = self.xp
        shifted = z - xp.max(z, axis=1, keepdims=True)
        e = xp.exp(shifted)
        total = xp.sum(e, axis=1, keepdims=True)
        mass = xp.sum(y, axis=1, keepdims=True)  # 1 for one-hot rows
        shifted *= y
        value = (xp.sum(xp.log(total) * mass) - xp.sum(shifted)) / z.shape[0]
        e /= total
        e *= mass  # exact for any targets, not only rows that sum to 1
        e -= y
        return value, e

    def sigmoid_xent(self, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        """Sigmoid + binary cross-entropy: loss = softplus(z) - y z, delta = sigmoid(z) - y, sharing e = exp(-|z|)."""
        e = self._ew("abs", z, role="e")
        e = self._ew("exp", self._ew("negative", e, out=e), out=e)
        loss = self._ew("log1p", e, role="loss")  # softplus(z) = max(z, 0) + log1p(e)
        loss += self._ew("maximum", z, 0.0, role="t")
        loss -= self._ew("multiply", y, z, role="t")
        value = self.xp.sum(loss) / z.shape[0]
        # sigmoid(z) = r for z >= 0 and e r for z < 0 (no cancellation), r = sigmoid(|z|) = 1 / (1 + e). The factor
        # max(e, [z >= 0]) is 1 or e: the bits of where(z >= 0, r, e r), branch-free (where() mispredicts: 8x slower).
        delta = self._ew("maximum", e, self._astype(self._ew("greater_equal", z, 0.0, role="mask"), z.dtype, "t"), out=out)
        t = self._ew("add", e, 1.0, role="t")
        delta *= self._ew("divide", 1.0, t, out=t)
        delta -= y
        return value, delta

    def weighted_cost_and_delta(self, cost: Any, z: Any, y: Any, weights: Any, out: Any = None, scale: float | None = None,
                                totals: Totals | None = None) -> tuple[Any, Any]:  # fmt: skip
        """``cost_and_delta`` with a weight per row: cost sum(w_i loss_i)/m and delta_i w_i (x scale).

        The per-row losses come from ``cost.row_losses`` (output layer only, cheap); the unweighted delta is the
        cost's own kernel, then scaled by w per row."""
        value, delta = self.cost_and_delta(cost, z, y, out, scale, None)
        w = self.xp.reshape(weights, (-1, 1))
        delta *= w
        value = self.xp.sum(cost.row_losses(z, y, self.xp) * weights) / z.shape[0]
        if totals is not None:
            self.count_batch(totals, cost, value, z, y)
        return value, delta

    # ------------------------------------------------------------------ epoch sums on the device
    def epoch_totals(self, dtype: Any, device: Any) -> Totals:
        """Zeroed running sums for one epoch: the cost in the network's dtype, the correct count as int64."""
        xp = self.xp
        return Totals(xp.zeros((), dtype=dtype, device=device), xp.zeros((), dtype=xp.int64, device=device))

    def count_batch(self, totals: Totals, cost: Any, value: Any, z: Any, y: Any) -> None:
        """totals += (batch cost x rows, rows whose predicted class is the target's), without leaving the device."""
        xp = self.xp
        totals.cost_sum += value * float(z.shape[0])
        totals.correct += xp.sum(xp.astype(cost.classes(z, xp) == cost.target_classes(y, xp), xp.int64))

    def read_totals(self, totals: Totals) -> tuple[float, int]:
        """(cost sum, correct count) on the host: the one read of an epoch."""
        return float(totals.cost_sum), int(totals.correct)

    # ------------------------------------------------------------------ optimizer updates
    def penalized(self, g: Any, p: Any, penalty: Any) -> Any:
        """g plus the L2/L1 gradient (l2/n p + l1/n sign(p)) on the weights only (``penalty.mask``), where folded."""
        if penalty is None:
            return g
        xp, mask = self.xp, penalty.mask
        if penalty.l2:
            g = xp.where(mask, g + p * penalty.l2, g)
        if penalty.l1:
            g = xp.where(mask, g + xp.sign(p) * penalty.l1, g)
        return g

    def max_norm(self, w: Any, limit: float) -> None:
        """Rescale, in place, each column of ``w`` (a hidden unit's incoming weights) whose L2 norm exceeds ``limit``
        to norm ``limit``: w[:, j] *= min(1, limit / ||w[:, j]||) (the max-norm constraint of dropout nets)."""
        xp = self.xp
        norms = xp.sqrt(xp.sum(w * w, axis=0))
        factor = limit / xp.maximum(norms, limit)  # 1 where the norm is within the limit
        w *= factor

    def sgd(self, p: Any, g: Any, lr: float, penalty: Any = None) -> None:
        """p -= lr g."""
        g = self.penalized(g, p, penalty)
        p -= g * lr

    def momentum(self, p: Any, g: Any, velocity: Any, lr: float, mu: float, nesterov: bool, penalty: Any = None) -> None:
        """v = mu v + g; p -= lr v (heavy ball) or p -= lr (g + mu v) (Nesterov), torch's forms."""
        g = self.penalized(g, p, penalty)
        velocity *= mu
        velocity += g
        if nesterov:
            p -= (g + velocity * mu) * lr
        else:
            p -= velocity * lr

    def rmsprop(self, p: Any, g: Any, square_avg: Any, lr: float, rho: float, eps: float, penalty: Any = None) -> None:
        """s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)."""
        g = self.penalized(g, p, penalty)
        square_avg *= rho
        square_avg += (g * g) * (1.0 - rho)
        denom = self.xp.sqrt(square_avg)
        denom += eps
        p -= (g / denom) * lr

    def adam(self, p: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float, lr_t: float, eps_t: float,
             penalty: Any = None) -> None:  # fmt: skip
        """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t m / (sqrt(v) + eps_t).

        lr_t and eps_t carry Adam's bias corrections, folded into two scalars by the optimizer.
        """
        g = self.penalized(g, p, penalty)
        m *= beta1
        m += g * (1.0 - beta1)
        v *= beta2
        v += (g * g) * (1.0 - beta2)
        denom = self.xp.sqrt(v)
        denom += eps_t
        p -= (m / denom) * lr_t
