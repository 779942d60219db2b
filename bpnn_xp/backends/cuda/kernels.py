"""CuPy fast paths: flat buffers, a workspace, and one compiled kernel per hot operation (``sources``).

A 784-256-10 ReLU + softmax cross-entropy + Adam step at batch 128 makes 15 array-library calls here
(2 gathers, 5 products, 2 column sums, bias + ReLU, the output bias, the softmax cross-entropy with its
epoch sums and the 0-d cost it returns, ReLU' x delta, one Adam pass over the flat buffer with the L2
gradient folded in) against 87 on the generic path (counted on the CPU: tests/backends/test_cuda_kernels.py).
Nothing in a step reads the device: cost and correct count stay in device totals that the Trainer reads
once per epoch.

``lib`` is the array library (``cupy``), ``launch`` runs a kernel by name; the defaults compile the
sources with ``cupy.RawModule`` (once per kernel and dtype). Tests pass NumPy and ``mirror.launch``
instead, so the same class trains on the CPU with no GPU.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from ..kernels import FlatViews, Kernels, PenaltyFold, Totals, Workspace
from . import sources

FLOATS = (np.dtype(np.float32), np.dtype(np.float64))


class RawModuleLauncher:
    """Compiles each kernel once per dtype with ``cupy.RawModule`` and launches it on the current stream."""

    def __init__(self, cupy: Any) -> None:
        self.cupy = cupy
        self._functions: dict[tuple[str, np.dtype], Any] = {}

    def __call__(self, name: str, dtype: np.dtype, grid: int, block: int, args: tuple[Any, ...]) -> None:
        key = (name, np.dtype(dtype))
        function = self._functions.get(key)
        if function is None:
            code = sources.source_of(name, dtype)
            function = self._functions[key] = self.cupy.RawModule(code=code, options=sources.OPTIONS).get_function(name)
        function((grid,), (block,), args)


class CupyKernels(Kernels):
    """Kernels for CuPy arrays (or, in tests, NumPy arrays with the NumPy mirror as ``launch``)."""

    name = "cupy"
    supports_views = True  # a reshape of a contiguous slice is a view in CuPy
    supports_out = True
    folds_penalty = True

    def __init__(self, xp: Any, lib: Any = None, launch: Callable[..., None] | None = None) -> None:
        super().__init__(xp)
        if lib is None:
            import cupy as lib
        self.lib = lib
        self.launch = launch if launch is not None else RawModuleLauncher(lib)
        self._no_mask: dict[int, Any] = {}

    def workspace(self) -> Workspace:
        """A workspace whose buffers come from the array library (device memory, reused every step)."""
        return Workspace(self.lib, True)

    # ------------------------------------------------------------------ flat buffers, products, gathers
    def pack(self, arrays: Sequence[Any]) -> FlatViews:
        """One new contiguous buffer holding ``arrays`` row-major, and views of it."""
        flat = self.lib.concatenate([self.lib.ravel(a) for a in arrays])
        return self.views(flat, [tuple(a.shape) for a in arrays])

    def views(self, flat: Any, shapes: Sequence[tuple[int, ...]]) -> FlatViews:
        """Views of consecutive parts of the contiguous 1-D ``flat``."""
        out, start = [], 0
        for shape in shapes:
            size = math.prod(shape)
            out.append(flat[start : start + size].reshape(shape))
            start += size
        return FlatViews(out, flat)

    def matmul_into(self, out: Any, a: Any, b: Any) -> Any:
        """a @ b (cuBLAS) straight into ``out``."""
        return self.lib.matmul(a, b, out=out)

    def take_rows(self, X: Any, rows: Any, out: Any = None) -> Any:
        """X[rows] into ``out`` when it fits."""
        if out is None or out.dtype != X.dtype or tuple(out.shape) != (rows.shape[0], *X.shape[1:]):
            return self.lib.take(X, rows, axis=0)
        return self.lib.take(X, rows, axis=0, out=out)

    def sum_rows_into(self, out: Any, a: Any) -> Any:
        """Column sums (one reduction kernel) into ``out``."""
        return self.lib.sum(a, axis=0, out=out)

    # ------------------------------------------------------------------ launches
    def _run(self, kernel: sources.Elementwise, *args: Any) -> None:
        """Launch an elementwise kernel over its last argument's count of elements."""
        n = int(args[-1])
        grid = max(1, min(-(-n // sources.BLOCK), 65535))
        self.launch(kernel.name, args[0].dtype, grid, sources.BLOCK, args)

    def _output(self, out: Any, z: Any) -> Any:
        """``out`` where it fits z, else a new array like z."""
        fits = out is not None and out.dtype == z.dtype and tuple(out.shape) == tuple(z.shape) and out.flags.c_contiguous
        return out if fits else self.lib.empty_like(z)

    def _bias_act(self, kernel: sources.Elementwise, z: Any, out: Any, bias: Any, *scalars: Any) -> Any:
        """a = g(z + bias) with z += bias, one launch; None where the kernel cannot take the arrays."""
        if bias is None or not _layer(z) or not _contiguous(z, bias) or tuple(bias.shape) != (z.shape[1],):
            return None
        a, t = self._output(out, z), z.dtype.type
        self._run(kernel, z, bias, a, *(t(s) for s in scalars), np.int64(z.shape[1]), np.int64(z.size))
        return a

    def relu(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """z += bias and max(z, 0) in one launch."""
        a = self._bias_act(sources.BIAS_RELU, z, out, bias)
        return a if a is not None else super().relu(z, out, bias)

    def leaky_relu(self, z: Any, slope: float, out: Any = None, bias: Any = None) -> Any:
        """z += bias and max(z, z slope) in one launch."""
        a = self._bias_act(sources.BIAS_LEAKY_RELU, z, out, bias, slope)
        return a if a is not None else super().leaky_relu(z, slope, out, bias)

    def sigmoid(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """z += bias and (1 + tanh(z/2))/2 in one launch."""
        a = self._bias_act(sources.BIAS_SIGMOID, z, out, bias)
        return a if a is not None else super().sigmoid(z, out, bias)

    def tanh(self, z: Any, out: Any = None, bias: Any = None) -> Any:
        """z += bias and tanh(z) in one launch."""
        a = self._bias_act(sources.BIAS_TANH, z, out, bias)
        return a if a is not None else super().tanh(z, out, bias)

    def relu_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta *= [z > 0] in one launch."""
        if not _layer(delta, z):
            return super().relu_backward(z, a, delta)
        self._run(sources.RELU_BACKWARD, z, delta, np.int64(delta.size))
        return delta

    def leaky_relu_backward(self, z: Any, a: Any, delta: Any, slope: float) -> Any:
        """delta *= [z > 0] (1 - slope) + slope in one launch."""
        if not _layer(delta, z):
            return super().leaky_relu_backward(z, a, delta, slope)
        t = delta.dtype.type
        self._run(sources.LEAKY_RELU_BACKWARD, z, delta, t(slope), t(1.0 - slope), np.int64(delta.size))
        return delta

    def sigmoid_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta *= a (1 - a) in one launch."""
        if not _layer(delta, a):
            return super().sigmoid_backward(z, a, delta)
        self._run(sources.SIGMOID_BACKWARD, a, delta, np.int64(delta.size))
        return delta

    def tanh_backward(self, z: Any, a: Any, delta: Any) -> Any:
        """delta *= 1 - a^2 in one launch."""
        if not _layer(delta, a):
            return super().tanh_backward(z, a, delta)
        self._run(sources.TANH_BACKWARD, a, delta, np.int64(delta.size))
        return delta

    def dropout(self, a: Any, keep: Any, scale: float, out: Any = None) -> Any:
        """a * (keep * scale) in one launch, into ``out`` (which may be ``a``)."""
        if not (_layer(a) and tuple(keep.shape) == tuple(a.shape) and keep.dtype == np.bool_ and keep.flags.c_contiguous):
            return super().dropout(a, keep, scale, out)
        result = out if out is a else self._output(out, a)
        self._run(sources.DROPOUT, a, keep, a.dtype.type(scale), result, np.int64(a.size))
        return result

    # ------------------------------------------------------------------ the softmax cross-entropy, fused with the epoch sums
    def cost_and_delta(self, cost: Any, z: Any, y: Any, out: Any = None, scale: float | None = None,
                       totals: Totals | None = None) -> tuple[Any, Any]:  # fmt: skip
        """Softmax cross-entropy: cost, delta x scale and the epoch sums in one launch; other costs: the reference."""
        if getattr(cost, "name", None) != "softmax_cross_entropy" or not _layer(z, y):
            return super().cost_and_delta(cost, z, y, out, scale, totals)
        return self._softmax_xent(z, y, out, scale, totals)

    def softmax_xent(self, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        """The fused kernel, without a scale or sums to keep."""
        if not _layer(z, y):
            return super().softmax_xent(z, y, out)
        return self._softmax_xent(z, y, out, None, None)

    def _softmax_xent(self, z: Any, y: Any, out: Any, scale: float | None, totals: Totals | None) -> tuple[Any, Any]:
        """One launch: (mean cost as a 0-d device array, delta x scale); the batch's sums added to ``totals``."""
        t, rows = z.dtype.type, z.shape[0]
        if totals is None or tuple(getattr(totals.cost_sum, "shape", ())) != (1,):
            totals = self.epoch_totals(z.dtype, None)  # nobody reads these sums
        delta, value = self._output(out, z), self.lib.empty((1,), z.dtype)
        args = (z, y, delta, np.int64(rows), np.int64(z.shape[1]), t(1.0 if scale is None else scale), value,
                totals.cost_sum, totals.correct)  # fmt: skip
        self.launch(sources.SOFTMAX_XENT_NAME, z.dtype, 1, sources.SOFTMAX_THREADS, args)
        return value.reshape(()), delta

    def epoch_totals(self, dtype: Any, device: Any) -> Totals:
        """Two one-element device arrays: the cost sum (network dtype) and the correct count (int64)."""
        return Totals(self.lib.zeros((1,), dtype), self.lib.zeros((1,), np.int64))

    def read_totals(self, totals: Totals) -> tuple[float, int]:
        """One copy to the host of each sum: the epoch's one synchronisation."""
        to_host = getattr(self.lib, "asnumpy", np.asarray)
        return float(to_host(totals.cost_sum).reshape(-1)[0]), int(to_host(totals.correct).reshape(-1)[0])

    # ------------------------------------------------------------------ optimizer updates: one pass over the flat buffer
    def _penalty_args(self, p: Any, penalty: PenaltyFold | None) -> tuple[Any, ...]:
        """(mask, has_l2, l2, has_l1, l1) for the update kernels; an all-False mask without a penalty."""
        t = p.dtype.type
        if penalty is None:
            mask = self._no_mask.get(p.size)
            if mask is None:
                mask = self._no_mask[p.size] = self.lib.zeros((p.size,), dtype=bool)
            return mask, np.int32(0), t(0.0), np.int32(0), t(0.0)
        return penalty.mask, np.int32(bool(penalty.l2)), t(penalty.l2), np.int32(bool(penalty.l1)), t(penalty.l1)

    def sgd(self, p: Any, g: Any, lr: float, penalty: Any = None) -> None:
        """The SGD update (penalty folded in) in one pass."""
        if not _flat(p, g, penalty):
            return super().sgd(p, g, lr, penalty)
        self._run(sources.SGD, p, g, *self._penalty_args(p, penalty), p.dtype.type(lr), np.int64(p.size))

    def momentum(self, p: Any, g: Any, velocity: Any, lr: float, mu: float, nesterov: bool, penalty: Any = None) -> None:
        """The momentum update (penalty folded in) in one pass."""
        if not _flat(p, g, penalty, velocity):
            return super().momentum(p, g, velocity, lr, mu, nesterov, penalty)
        t = p.dtype.type
        self._run(sources.MOMENTUM, p, g, velocity, *self._penalty_args(p, penalty), t(lr), t(mu), np.int32(bool(nesterov)),
                  np.int64(p.size))  # fmt: skip

    def rmsprop(self, p: Any, g: Any, square_avg: Any, lr: float, rho: float, eps: float, penalty: Any = None) -> None:
        """The RMSProp update (penalty folded in) in one pass."""
        if not _flat(p, g, penalty, square_avg):
            return super().rmsprop(p, g, square_avg, lr, rho, eps, penalty)
        t = p.dtype.type
        self._run(sources.RMSPROP, p, g, square_avg, *self._penalty_args(p, penalty), t(lr), t(rho), t(1.0 - rho), t(eps),
                  np.int64(p.size))  # fmt: skip

    def adam(self, p: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float, lr_t: float, eps_t: float,
             penalty: Any = None) -> None:  # fmt: skip
        """The Adam update (penalty folded in) in one pass over the flat buffer."""
        if not _flat(p, g, penalty, m, v):
            return super().adam(p, g, m, v, beta1, beta2, lr_t, eps_t, penalty)
        t = p.dtype.type
        self._run(sources.ADAM, p, g, m, v, *self._penalty_args(p, penalty), t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2),
                  t(lr_t), t(eps_t), np.int64(p.size))  # fmt: skip


def _contiguous(*arrays: Any) -> bool:
    """float32/float64 C-contiguous arrays of one dtype."""
    first = arrays[0]
    return all(a.dtype == first.dtype and np.dtype(a.dtype) in FLOATS and a.flags.c_contiguous for a in arrays)


def _layer(*arrays: Any) -> bool:
    """2-D arrays of one shape the kernels take."""
    return arrays[0].ndim == 2 and all(tuple(a.shape) == tuple(arrays[0].shape) for a in arrays) and _contiguous(*arrays)


def _flat(p: Any, g: Any, penalty: Any, *state: Any) -> bool:
    """1-D buffers of one size the update kernels take (with a mask of that size if a penalty is folded)."""
    if p.ndim != 1 or any(tuple(a.shape) != tuple(p.shape) for a in (g, *state)) or not _contiguous(p, g, *state):
        return False
    return penalty is None or tuple(penalty.mask.shape) == tuple(p.shape)
