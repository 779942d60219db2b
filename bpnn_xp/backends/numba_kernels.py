"""Numba fast paths on the CPU: each hot spot as one fused, multi-threaded pass over memory.

Why numba (rough timings on a shared 2-core box, OPENBLAS_NUM_THREADS=1, medians of 200-300 calls;
Adam over the 203,530 float32 parameters of 784-256-10): NumPy ``out=`` scratch (8 passes) ~325 µs,
numexpr (3 ``evaluate`` calls) ~1,110 µs, numba ``@njit`` serial ~320 µs (not vectorized),
numba ``@njit(parallel=True)`` ~100 µs on 1 thread and ~41 µs on 2. So: numba, ``parallel=True``.

Exactness: every kernel does the reference's operations in the reference's order, in the array's
dtype (Python-float settings are cast to it first, as NumPy does with a weak Python scalar), with
``fastmath=False`` so LLVM neither contracts to FMA nor reorders. The optimizer updates and the
arithmetic-only activations (ReLU, leaky ReLU, every derivative) are therefore equal to the reference
bit for bit, with one deliberate exception: optimizer state (Adam's m and v, the momentum velocity,
RMSProp's average) that decays below the dtype's smallest normal number is set to +0. Weights whose
gradient is always exactly 0 (MNIST's blank border pixels, dead ReLU units) have moments that decay
by beta each step into the subnormal range, where every x86 operation on them takes a microcode
assist: a 784-256-10 Adam step went from ~0.9 to ~2.4 ms once 150k of its 203k moments were
subnormal (epochs 19-30 of a run). The reference keeps the subnormals (it also serves GPUs, where they
cost nothing); the two differ only where the reference holds a value below 1.2e-38 (float32). A
flushed m or velocity moves a weight by less than lr * 1e-30; a flushed v or RMSProp average changes
sqrt(v) + eps by less than 1.1e-19, nothing beside the default eps (1e-8; tested), though it would
matter with an eps below ~1e-17. The softmax cross-entropy uses libm's exp/log instead of NumPy's SIMD ones and sums
in another order, so it agrees to a few ulps (the tests allow 1e-6 relative in float32, 1e-13 in
float64). Sigmoid/tanh forward are NOT fused: libm's tanh differs from NumPy's by an ulp, which the
sigmoid's (1 + tanh(z/2))/2 turns into a large relative error near 0, and a fused ReLU pass saved
only ~2 µs of ~12 on a 128x256 layer, so exactness wins there. ``cache=True`` stores the compiled code beside this
file (or in numba's user cache) so a second process does not compile again. Threads: see
``_thread_count`` (half the usable CPUs unless NUMBA_NUM_THREADS says otherwise).
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from .numpy_kernels import NumpyKernels

_JIT = {"fastmath": False, "cache": True, "nogil": True}
PARALLEL_MIN = 1 << 14  # below this many elements a serial loop beats waking the thread pool


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _thread_count() -> int:
    """Threads for the fused loops: NUMBA_NUM_THREADS if set, else half the usable CPUs; at least 1.

    The loops are memory-bound and share the cores with BLAS and other processes: on a loaded 2-core
    box, 2 threads made Adam stall for milliseconds (the pool waits on a descheduled thread) while
    1 thread gave a steady ~125 µs (NumPy ``out=``: ~370 µs).
    """
    usable = usable_cpus()
    wanted = numba.config.NUMBA_NUM_THREADS if "NUMBA_NUM_THREADS" in os.environ else usable // 2
    return max(1, min(wanted, usable, numba.config.NUMBA_NUM_THREADS))


THREADS = _thread_count()


# ---------------------------------------------------------------------- optimizer updates
@njit(parallel=True, **_JIT)
def _sgd(p, g, lr):  # pragma: no cover - compiled
    for i in prange(p.shape[0]):
        p[i] -= g[i] * lr


@njit(parallel=True, **_JIT)
def _momentum(p, g, vel, lr, mu, nesterov, tiny):  # pragma: no cover - compiled
    zero = tiny - tiny  # +0 in the arrays' dtype (a Python 0.0 would widen the loop to float64)
    for i in prange(p.shape[0]):
        v = vel[i] * mu
        v = v + g[i]
        if abs(v) < tiny:
            v = zero  # a subnormal velocity becomes +0
        vel[i] = v
        if nesterov:
            p[i] -= (g[i] + v * mu) * lr
        else:
            p[i] -= v * lr


@njit(parallel=True, **_JIT)
def _rmsprop(p, g, sq, lr, rho, one_minus_rho, eps, tiny):  # pragma: no cover - compiled
    zero = tiny - tiny
    for i in prange(p.shape[0]):
        gi = g[i]
        s = sq[i] * rho
        s = s + (gi * gi) * one_minus_rho
        if s < tiny:
            s = zero
        sq[i] = s
        p[i] -= (gi / (np.sqrt(s) + eps)) * lr


@njit(parallel=True, **_JIT)
def _adam(p, g, m, v, b1, one_minus_b1, b2, one_minus_b2, lr_t, eps_t, tiny):  # pragma: no cover - compiled
    zero = tiny - tiny
    for i in prange(p.shape[0]):
        gi = g[i]
        mi = m[i] * b1
        mi = mi + gi * one_minus_b1
        vi = v[i] * b2
        vi = vi + (gi * gi) * one_minus_b2
        if abs(mi) < tiny:
            mi = zero  # subnormal moments become +0 (see the module docstring)
        if vi < tiny:
            vi = zero
        m[i] = mi
        v[i] = vi
        p[i] -= (mi / (np.sqrt(vi) + eps_t)) * lr_t


# ---------------------------------------------------------------------- layers (2-D, row-major)
@njit(parallel=True, **_JIT)
def _bias_act(z, b, a, kind, slope, one_minus_slope):  # pragma: no cover - compiled
    """z += b; a = g(z); kind 0 relu, 1 leaky relu (the reference's formulas)."""
    for r in prange(z.shape[0]):
        for c in range(z.shape[1]):
            x = z[r, c] + b[c]
            z[r, c] = x
            if kind == 0:
                a[r, c] = 0.0 if x < 0.0 else x  # np.maximum(z, 0.0), NaN kept
            else:
                xs = x * slope
                a[r, c] = x if x >= xs else xs  # np.maximum(z, z * slope)


@njit(parallel=True, **_JIT)
def _act_backward(z, a, d, kind, slope, one_minus_slope):  # pragma: no cover - compiled
    """d *= g'(z) in place, with the reference's formulas (kind as in ``_bias_act``)."""
    one, zero = d.dtype.type(1.0), d.dtype.type(0.0)
    for r in prange(d.shape[0]):
        for c in range(d.shape[1]):
            if kind == 0:
                d[r, c] = d[r, c] * (one if z[r, c] > 0.0 else zero)
            elif kind == 1:
                d[r, c] = d[r, c] * ((one if z[r, c] > 0.0 else zero) * one_minus_slope + slope)
            elif kind == 2:
                d[r, c] = d[r, c] * ((one - a[r, c]) * a[r, c])
            else:
                d[r, c] = d[r, c] * (-(a[r, c] * a[r, c]) + one)


@njit(**_JIT)
def _softmax_xent(z, y, delta, losses):  # pragma: no cover - compiled
    """Per row: delta = softmax(z) sum(y) - y and loss = log(sum e) sum(y) - sum(shifted y)."""
    for r in range(z.shape[0]):
        top = z[r, 0]
        for c in range(1, z.shape[1]):
            if z[r, c] > top:
                top = z[r, c]
        total, mass, dot = z.dtype.type(0.0), z.dtype.type(0.0), z.dtype.type(0.0)
        for c in range(z.shape[1]):
            shifted = z[r, c] - top
            e = np.exp(shifted)
            delta[r, c] = e
            total += e
            mass += y[r, c]
            dot += shifted * y[r, c]
        losses[r] = np.log(total) * mass - dot
        for c in range(z.shape[1]):
            delta[r, c] = (delta[r, c] / total) * mass - y[r, c]


KINDS = {"relu": 0, "leaky_relu": 1, "sigmoid": 2, "tanh": 3}  # derivatives: all arithmetic, all exact
FORWARD_KINDS = {"relu": 0, "leaky_relu": 1}  # sigmoid/tanh forward stay NumPy's: see the module docstring


def _tiny(p: np.ndarray) -> Any:
    """The smallest normal number of p's dtype: optimizer state below it is flushed to +0."""
    return p.dtype.type(np.finfo(p.dtype).tiny)


def _fusable(*arrays: Any) -> bool:
    """Float32/64 C-contiguous NumPy arrays of one dtype: what the compiled loops take."""
    first = arrays[0]
    return all(
        isinstance(a, np.ndarray) and a.dtype == first.dtype and a.dtype in (np.float32, np.float64) and a.flags.c_contiguous
        for a in arrays
    )


class NumbaKernels(NumpyKernels):
    """NumPy kernels whose hot loops are numba-compiled; anything else falls back to the ``out=`` path."""

    name = "numba"

    def _run(self, kernel: Any, n: int, *args: Any) -> None:
        """Call a parallel kernel with the capped thread count (one thread for small arrays)."""
        numba.set_num_threads(THREADS if n >= PARALLEL_MIN else 1)
        kernel(*args)

    def sgd(self, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        """p -= lr g in one pass."""
        if not _fusable(p, g) or p.ndim != 1:
            return super().sgd(p, g, lr)
        self._run(_sgd, p.size, p, g, p.dtype.type(lr))

    def momentum(self, p: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, mu: float, nesterov: bool) -> None:
        """The momentum update in one pass."""
        if not _fusable(p, g, velocity) or p.ndim != 1:
            return super().momentum(p, g, velocity, lr, mu, nesterov)
        t = p.dtype.type
        self._run(_momentum, p.size, p, g, velocity, t(lr), t(mu), bool(nesterov), _tiny(p))

    def rmsprop(self, p: np.ndarray, g: np.ndarray, square_avg: np.ndarray, lr: float, rho: float, eps: float) -> None:
        """The RMSProp update in one pass."""
        if not _fusable(p, g, square_avg) or p.ndim != 1:
            return super().rmsprop(p, g, square_avg, lr, rho, eps)
        t = p.dtype.type
        self._run(_rmsprop, p.size, p, g, square_avg, t(lr), t(rho), t(1.0 - rho), t(eps), _tiny(p))

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float, beta2: float,
             lr_t: float, eps_t: float) -> None:  # fmt: skip
        """The Adam update in one pass."""
        if not _fusable(p, g, m, v) or p.ndim != 1:
            return super().adam(p, g, m, v, beta1, beta2, lr_t, eps_t)
        t = p.dtype.type
        self._run(_adam, p.size, p, g, m, v, t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(lr_t), t(eps_t), _tiny(p))

    def bias_activation(self, z: np.ndarray, b: np.ndarray, activation: Any, out: np.ndarray | None = None) -> np.ndarray:
        """z += b and a = g(z) in one pass for ReLU and leaky ReLU, into ``out`` if given (others: NumPy's path)."""
        kind = FORWARD_KINDS.get(getattr(activation, "name", None))
        if kind is None or z.ndim != 2 or not _fusable(z, b):
            return super().bias_activation(z, b, activation, out)
        a = out if out is not None and _fusable(z, out) and out.shape == z.shape else np.empty_like(z)
        self._run(_bias_act, z.size, z, b, a, kind, *self._slopes(activation, z.dtype))
        return a

    def activation_backward(self, activation: Any, z: np.ndarray, a: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """delta *= g'(z) in one pass (delta is overwritten, as the reference allows)."""
        kind = KINDS.get(getattr(activation, "name", None))
        if kind is None or delta.ndim != 2 or not _fusable(z, a, delta):
            return super().activation_backward(activation, z, a, delta)
        self._run(_act_backward, delta.size, z, a, delta, kind, *self._slopes(activation, z.dtype))
        return delta

    def cost_and_delta(self, cost: Any, z: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> tuple[Any, np.ndarray]:
        """Softmax cross-entropy cost and delta (into ``out`` if given) in one serial pass over the output rows."""
        if getattr(cost, "name", None) != "softmax_cross_entropy" or z.ndim != 2 or not _fusable(z, y):
            return super().cost_and_delta(cost, z, y, out)
        delta = out if out is not None and _fusable(z, out) and out.shape == z.shape else np.empty_like(z)
        losses = np.empty(z.shape[0], z.dtype)
        _softmax_xent(z, y, delta, losses)
        return np.sum(losses) / z.shape[0], delta

    @staticmethod
    def _slopes(activation: Any, dtype: np.dtype) -> tuple[Any, Any]:
        """(slope, 1 - slope) of a leaky ReLU in ``dtype`` (zeros for the others)."""
        slope = float(getattr(activation, "slope", 0.0)) if activation.name == "leaky_relu" else 0.0
        return dtype.type(slope), dtype.type(1.0 - slope)
