"""Numba fast paths on the CPU: each hot operation as one fused, multi-threaded pass over memory.

Why numba, ``parallel=True``: of NumPy ``out=`` scratch, numexpr and numba serial/parallel, it was the
fastest for the optimizer updates (timings in docs/decisions.md, "CPU loops").

Exactness: every loop does the reference's operations in the reference's order, in the array's dtype
(Python-float settings are cast to it first, as NumPy does with a weak Python scalar), with
``fastmath=False`` so LLVM neither contracts to FMA nor reorders. The optimizer updates and the
arithmetic-only activations (ReLU, leaky ReLU, every derivative) are therefore equal to the reference
bit for bit, with one deliberate exception: optimizer state (Adam's m and v, the momentum velocity,
RMSProp's average) that decays below the dtype's smallest normal number is set to +0. Weights whose
gradient is always exactly 0 (blank border pixels, dead ReLU units) have moments that decay into the
subnormal range, where every x86 operation on them takes a microcode assist (a 784-256-10 Adam step
became ~2.7x slower; docs/decisions.md). The reference keeps the subnormals (it also serves GPUs, where
they cost nothing); the two differ only where the reference holds a value below 1.2e-38 (float32). A
flushed m or velocity moves a weight by less than lr * 1e-30; a flushed v or RMSProp average changes
sqrt(v) + eps by less than 1.1e-19, nothing beside the default eps (1e-8; tested), though it would
matter with an eps below ~1e-17. The softmax cross-entropy uses libm's exp/log instead of NumPy's SIMD
ones and sums in another order, so it agrees to a few ulps (the tests allow 1e-6 relative in float32,
1e-13 in float64). Sigmoid/tanh forward are NOT fused: libm's tanh differs from NumPy's by an ulp, which
the sigmoid's (1 + tanh(z/2))/2 turns into a large relative error near 0, and the gain was small, so
exactness wins there. ``cache=True`` stores the compiled code beside this file (or in numba's user
cache) so a second process does not compile again. Threads: see ``thread_count``.
"""

from __future__ import annotations

import os
from typing import Any

import numba
import numpy as np
from numba import njit, prange

from .numpy_out import NumpyKernels

_JIT = {"fastmath": False, "cache": True, "nogil": True}
PARALLEL_MIN = 1 << 14  # below this many elements a serial loop beats waking the thread pool


def usable_cpus() -> int:
    """The CPUs this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _half_the_cpus() -> int:
    """NUMBA_NUM_THREADS if set, else half the usable CPUs; at least 1.

    The loops are memory-bound and share the cores with BLAS and other processes: on a loaded 2-core box,
    2 threads made Adam stall for milliseconds (the pool waits on a descheduled thread; docs/decisions.md).
    """
    usable = usable_cpus()
    wanted = numba.config.NUMBA_NUM_THREADS if "NUMBA_NUM_THREADS" in os.environ else usable // 2
    return max(1, min(wanted, usable, numba.config.NUMBA_NUM_THREADS))


THREADS = _half_the_cpus()
ALL_THREADS = max(1, min(usable_cpus(), numba.config.NUMBA_NUM_THREADS))  # every usable CPU, capped by numba


def _omp_layer() -> bool:
    """numba's loops run on libgomp, the pool MKL's GNU layer uses (numba may pick TBB where it loads)."""
    try:
        return numba.threading_layer() == "omp"
    except ValueError:  # no parallel loop has run yet: the layer is not chosen
        return False


def thread_count(blas: Any, n: int) -> int:
    """Threads for a loop over ``n`` elements: one below PARALLEL_MIN; every CPU once oneMKL runs the products
    on the same libgomp pool (no second pool spins on the other core); else half of them."""
    if n < PARALLEL_MIN:
        return 1
    return ALL_THREADS if blas.name == "mkl" and blas.active() and _omp_layer() else THREADS


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
def _bias_relu(z, b, a):  # pragma: no cover - compiled
    """z += b; a = max(z, 0) (NaN kept)."""
    for r in prange(z.shape[0]):
        for c in range(z.shape[1]):
            x = z[r, c] + b[c]
            z[r, c] = x
            a[r, c] = 0.0 if x < 0.0 else x


@njit(parallel=True, **_JIT)
def _bias_leaky_relu(z, b, a, slope):  # pragma: no cover - compiled
    """z += b; a = max(z, z * slope)."""
    for r in prange(z.shape[0]):
        for c in range(z.shape[1]):
            x = z[r, c] + b[c]
            z[r, c] = x
            xs = x * slope
            a[r, c] = x if x >= xs else xs


@njit(parallel=True, **_JIT)
def _relu_backward(z, d):  # pragma: no cover - compiled
    one, zero = d.dtype.type(1.0), d.dtype.type(0.0)
    for r in prange(d.shape[0]):
        for c in range(d.shape[1]):
            d[r, c] = d[r, c] * (one if z[r, c] > 0.0 else zero)


@njit(parallel=True, **_JIT)
def _leaky_relu_backward(z, d, slope, one_minus_slope):  # pragma: no cover - compiled
    one, zero = d.dtype.type(1.0), d.dtype.type(0.0)
    for r in prange(d.shape[0]):
        for c in range(d.shape[1]):
            d[r, c] = d[r, c] * ((one if z[r, c] > 0.0 else zero) * one_minus_slope + slope)


@njit(parallel=True, **_JIT)
def _sigmoid_backward(a, d):  # pragma: no cover - compiled
    one = d.dtype.type(1.0)
    for r in prange(d.shape[0]):
        for c in range(d.shape[1]):
            d[r, c] = d[r, c] * ((one - a[r, c]) * a[r, c])


@njit(parallel=True, **_JIT)
def _tanh_backward(a, d):  # pragma: no cover - compiled
    one = d.dtype.type(1.0)
    for r in prange(d.shape[0]):
        for c in range(d.shape[1]):
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


@njit(parallel=True, **_JIT)
def _dropout(a, keep, scale, out):  # pragma: no cover - compiled
    """out = a * (keep ? scale : 0), the reference's a * (keep * scale)."""
    zero = scale - scale
    for r in prange(a.shape[0]):
        for c in range(a.shape[1]):
            out[r, c] = a[r, c] * (scale if keep[r, c] else zero)


@njit(**_JIT)
def _max_norm(w, limit, norms):  # pragma: no cover - compiled
    """Column sums of squares row by row (NumPy's order for axis 0), then rescale only the columns over the limit."""
    for c in range(w.shape[1]):
        norms[c] = w[0, c] * w[0, c]
    for r in range(1, w.shape[0]):
        for c in range(w.shape[1]):
            norms[c] += w[r, c] * w[r, c]
    for c in range(w.shape[1]):
        norm = np.sqrt(norms[c])
        norms[c] = limit / (norm if norm > limit else limit)
    for r in range(w.shape[0]):
        for c in range(w.shape[1]):
            if norms[c] != 1.0:
                w[r, c] = w[r, c] * norms[c]


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


def _layer(*arrays: Any) -> bool:
    """2-D arrays the loops take (``_fusable``)."""
    return arrays[0].ndim == 2 and _fusable(*arrays)


class NumbaKernels(NumpyKernels):
    """NumPy kernels whose hot loops are numba-compiled; anything else falls back to the ``out=`` path."""

    loops = "numba"

    def _run(self, kernel: Any, n: int, *args: Any) -> None:
        """Call a parallel loop with ``thread_count`` threads."""
        numba.set_num_threads(thread_count(self.blas, n))
        kernel(*args)

    def _output(self, out: np.ndarray | None, z: np.ndarray) -> np.ndarray:
        """``out`` where it fits z, else a new array like z."""
        return out if out is not None and _fusable(z, out) and out.shape == z.shape else np.empty_like(z)

    def sgd(self, p: np.ndarray, g: np.ndarray, lr: float, penalty: Any = None) -> None:
        """p -= lr g in one pass."""
        if penalty is not None or not _fusable(p, g) or p.ndim != 1:
            return super().sgd(p, g, lr, penalty)
        self._run(_sgd, p.size, p, g, p.dtype.type(lr))

    def momentum(self, p: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, mu: float, nesterov: bool,
                 penalty: Any = None) -> None:  # fmt: skip
        """The momentum update in one pass."""
        if penalty is not None or not _fusable(p, g, velocity) or p.ndim != 1:
            return super().momentum(p, g, velocity, lr, mu, nesterov, penalty)
        t = p.dtype.type
        self._run(_momentum, p.size, p, g, velocity, t(lr), t(mu), bool(nesterov), _tiny(p))

    def rmsprop(self, p: np.ndarray, g: np.ndarray, square_avg: np.ndarray, lr: float, rho: float, eps: float,
                penalty: Any = None) -> None:  # fmt: skip
        """The RMSProp update in one pass."""
        if penalty is not None or not _fusable(p, g, square_avg) or p.ndim != 1:
            return super().rmsprop(p, g, square_avg, lr, rho, eps, penalty)
        t = p.dtype.type
        self._run(_rmsprop, p.size, p, g, square_avg, t(lr), t(rho), t(1.0 - rho), t(eps), _tiny(p))

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float, beta2: float,
             lr_t: float, eps_t: float, penalty: Any = None) -> None:  # fmt: skip
        """The Adam update in one pass."""
        if penalty is not None or not _fusable(p, g, m, v) or p.ndim != 1:
            return super().adam(p, g, m, v, beta1, beta2, lr_t, eps_t, penalty)
        t = p.dtype.type
        self._run(_adam, p.size, p, g, m, v, t(beta1), t(1.0 - beta1), t(beta2), t(1.0 - beta2), t(lr_t), t(eps_t), _tiny(p))

    def relu(self, z: np.ndarray, out: np.ndarray | None = None, bias: np.ndarray | None = None) -> np.ndarray:
        """z += bias and max(z, 0) in one pass (without a bias: NumPy's path, nothing to fuse)."""
        if bias is None or not _layer(z, bias):
            return super().relu(z, out, bias)
        a = self._output(out, z)
        self._run(_bias_relu, z.size, z, bias, a)
        return a

    def leaky_relu(self, z: np.ndarray, slope: float, out: np.ndarray | None = None,
                   bias: np.ndarray | None = None) -> np.ndarray:  # fmt: skip
        """z += bias and max(z, z * slope) in one pass."""
        if bias is None or not _layer(z, bias):
            return super().leaky_relu(z, slope, out, bias)
        a = self._output(out, z)
        self._run(_bias_leaky_relu, z.size, z, bias, a, z.dtype.type(slope))
        return a

    def relu_backward(self, z: np.ndarray, a: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """delta *= [z > 0] in one pass."""
        if not _layer(delta, z):
            return super().relu_backward(z, a, delta)
        self._run(_relu_backward, delta.size, z, delta)
        return delta

    def leaky_relu_backward(self, z: np.ndarray, a: np.ndarray, delta: np.ndarray, slope: float) -> np.ndarray:
        """delta *= [z > 0] (1 - slope) + slope in one pass."""
        if not _layer(delta, z):
            return super().leaky_relu_backward(z, a, delta, slope)
        t = delta.dtype.type
        self._run(_leaky_relu_backward, delta.size, z, delta, t(slope), t(1.0 - slope))
        return delta

    def sigmoid_backward(self, z: np.ndarray, a: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """delta *= a (1 - a) in one pass."""
        if not _layer(delta, a):
            return super().sigmoid_backward(z, a, delta)
        self._run(_sigmoid_backward, delta.size, a, delta)
        return delta

    def tanh_backward(self, z: np.ndarray, a: np.ndarray, delta: np.ndarray) -> np.ndarray:
        """delta *= 1 - a^2 in one pass."""
        if not _layer(delta, a):
            return super().tanh_backward(z, a, delta)
        self._run(_tanh_backward, delta.size, a, delta)
        return delta

    def dropout(self, a: np.ndarray, keep: np.ndarray, scale: float, out: np.ndarray | None = None) -> np.ndarray:
        """a * (keep * scale) in one pass, into ``out`` (which may be ``a``)."""
        if not (_layer(a) and isinstance(keep, np.ndarray) and keep.dtype == np.bool_ and keep.shape == a.shape
                and keep.flags.c_contiguous):  # fmt: skip
            return super().dropout(a, keep, scale, out)
        result = out if out is a else self._output(out, a)
        self._run(_dropout, a.size, a, keep, a.dtype.type(scale), result)
        return result

    def max_norm(self, w: np.ndarray, limit: float) -> None:
        """The max-norm constraint in one pass to measure the columns and one over those above the limit."""
        if not (_layer(w) and w.shape[0] > 0):
            return super().max_norm(w, limit)
        _max_norm(w, w.dtype.type(limit), self.scratch((w.shape[1],), w.dtype, "norms"))

    def softmax_xent(self, z: np.ndarray, y: np.ndarray, out: np.ndarray | None = None) -> tuple[Any, np.ndarray]:
        """Softmax cross-entropy cost and delta (into ``out`` if it fits) in one serial pass over the output rows."""
        if not _layer(z, y):
            return super().softmax_xent(z, y, out)
        delta = self._output(out, z)
        losses = np.empty(z.shape[0], z.dtype)
        _softmax_xent(z, y, delta, losses)
        return np.sum(losses) / z.shape[0], delta
