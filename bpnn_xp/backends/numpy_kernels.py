"""NumPy fast paths: the reference kernels' operations, in the same order, with ``out=`` scratch.

The array API has no ``out=`` argument, so the generic code allocates a temporary per operation;
on the CPU at small batch those allocations cost as much as the matrix products. Each method here
does exactly the reference's operations in the same order, so results are equal bit for bit, with
one exception: ``sum_rows_into`` (the bias gradient) is one BLAS GEMV, ``ones @ a``, instead of
``np.sum(axis=0)``, which loops over rows and took 83 µs for a 5000x25 delta against the GEMV's
13 µs. Both sum the rows in order (error bound ~m eps of the column's absolute sum, like the weight
gradient's GEMM beside it); measured, both stay within 4 eps of it up to 60,000 rows (tested).

Scratch buffers belong to the kernels object, one per network: a network (like its optimizer) must
not run forward_backward from two threads at once.
The optimizer updates flush state below the smallest normal number to +0, as the numba kernels do
(their docstring says why). This is also the fallback where numba is missing (``numba_kernels`` builds on it).

NumPy slices of a contiguous 1-D array reshape to views, so ``supports_views`` is True: a network's
parameters, gradients and optimizer state each live in one flat buffer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from .kernels import FlatViews, Kernels


class NumpyKernels(Kernels):
    """Kernels for NumPy arrays: scratch buffers are kept here, one per (shape, dtype)."""

    name = "numpy"
    supports_views = True
    supports_out = True

    def __init__(self, xp: object) -> None:
        super().__init__(xp)
        self._scratch: dict[tuple[tuple[int, ...], np.dtype, str], np.ndarray] = {}
        self._ones: dict[tuple[int, np.dtype], np.ndarray] = {}

    def scratch_like(self, array: np.ndarray, role: str = "") -> np.ndarray:
        """A reusable C-contiguous scratch array of ``array``'s shape and dtype per ``role`` (contents undefined)."""
        return self.scratch(array.shape, array.dtype, role)

    def scratch(self, shape: tuple[int, ...], dtype: np.dtype | type, role: str = "") -> np.ndarray:
        """A reusable C-contiguous scratch array per (shape, dtype, role) (contents undefined)."""
        key = (tuple(shape), np.dtype(dtype), role)
        buffer = self._scratch.get(key)
        if buffer is None:
            buffer = self._scratch[key] = np.empty(key[0], key[1])
        return buffer

    def pack(self, arrays: Sequence[np.ndarray]) -> FlatViews:
        """One new contiguous buffer holding ``arrays`` row-major, and views of it."""
        flat = np.concatenate([np.ravel(a, order="C") for a in arrays])
        return self.views(flat, [a.shape for a in arrays])

    def views(self, flat: np.ndarray, shapes: Sequence[tuple[int, ...]]) -> FlatViews:
        """Views (never copies) of consecutive parts of the contiguous 1-D ``flat``."""
        if flat.ndim != 1 or not flat.flags.c_contiguous:
            raise ValueError("flat buffers must be contiguous 1-D arrays")
        out, start = [], 0
        for shape in shapes:
            size = math.prod(shape)
            view = flat[start : start + size].view()
            view.shape = shape  # assigning .shape raises rather than copy
            out.append(view)
            start += size
        return FlatViews(out, flat)

    def matmul_into(self, out: np.ndarray | None, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        """a @ b straight into ``out`` (the same BLAS call as ``@``)."""
        return np.matmul(a, b, out=out)

    def take_rows(self, X: np.ndarray, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """X[rows] for rows in [-n, n) into ``out`` when it fits (mode="wrap", Python's negative indexing,
        lets np.take write there without a temporary; the Trainer's rows come from a permutation)."""
        if out is None or out.dtype != X.dtype or out.shape != (rows.shape[0], *X.shape[1:]):
            return np.take(X, rows, axis=0)
        return np.take(X, rows, axis=0, out=out, mode="wrap")

    def sum_rows_into(self, out: np.ndarray | None, a: np.ndarray) -> np.ndarray:
        """Column sums into ``out`` as one GEMV, ``ones @ a`` (see the module docstring for why)."""
        if a.ndim != 2 or a.dtype not in (np.float32, np.float64) or a.shape[0] == 0:
            return np.sum(a, axis=0, out=out)
        return np.matmul(self._ones_vector(a.shape[0], a.dtype), a, out=out)

    def _ones_vector(self, rows: int, dtype: np.dtype) -> np.ndarray:
        """A cached vector of ``rows`` ones (the GEMV column sums' left operand)."""
        key = (rows, np.dtype(dtype))
        ones = self._ones.get(key)
        if ones is None:
            ones = self._ones[key] = np.ones(rows, dtype)
        return ones

    def bias_activation(self, z: np.ndarray, b: np.ndarray, activation: object, out: np.ndarray | None = None) -> np.ndarray:
        """The reference's z += b and a = g(z), written in place into ``out`` (else one new array).

        The same operations in the same order as the Activation's formula, so the same bits; identity
        and unknown activations take the reference.
        """
        name = getattr(activation, "name", None)
        if name not in _OUT_FORMULAS or not isinstance(z, np.ndarray) or z.dtype not in (np.float32, np.float64):
            return super().bias_activation(z, b, activation)
        out = out if _fits(out, z) else np.empty_like(z)
        z += b
        _OUT_FORMULAS[name](z, out, getattr(activation, "slope", 0.0))
        return out

    def cost_and_delta(self, cost: object, z: np.ndarray, y: np.ndarray,
                       out: np.ndarray | None = None) -> tuple[object, np.ndarray]:  # fmt: skip
        """The sigmoid cross-entropy in scratch buffers, the reference's operations in its order (the same bits).

        Its eight temporaries of the output's size were fresh arrays per call; at 5000x10 (200 KB each, over
        glibc's mmap threshold) their page faults cost more than the arithmetic: 421 -> ~120 µs.
        Other costs: the reference.
        """
        if getattr(cost, "name", None) != "sigmoid_cross_entropy" or not _same_float_arrays(z, y):
            return super().cost_and_delta(cost, z, y, out)
        e, t = self.scratch_like(z, "e"), self.scratch_like(z, "t")
        np.abs(z, out=e)
        np.negative(e, out=e)
        np.exp(e, out=e)  # e = exp(-|z|)
        loss = np.log1p(e, out=self.scratch_like(z, "loss"))
        loss += np.maximum(z, 0.0, out=t)
        loss -= np.multiply(y, z, out=t)
        value = np.sum(loss) / z.shape[0]
        delta = out if _fits(out, z) else np.empty_like(z)
        np.copyto(t, np.greater_equal(z, 0.0, out=self.scratch(z.shape, bool, "mask")))
        np.maximum(e, t, out=delta)  # 1 for z >= 0, else e
        np.add(e, 1.0, out=t)
        np.divide(1.0, t, out=t)
        delta *= t  # times sigmoid(|z|) = 1 / (1 + e)
        delta -= y
        return value, delta

    def sgd(self, p: np.ndarray, g: np.ndarray, lr: float) -> None:
        """The reference SGD update through one scratch buffer."""
        s = self.scratch_like(p)
        np.multiply(g, lr, out=s)
        p -= s

    def momentum(self, p: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, mu: float, nesterov: bool) -> None:
        """The reference momentum update through one scratch buffer."""
        s = self.scratch_like(p)
        velocity *= mu
        velocity += g
        self._flush_subnormals(velocity)
        if nesterov:
            np.multiply(velocity, mu, out=s)
            np.add(g, s, out=s)
        else:
            np.copyto(s, velocity)
        s *= lr
        p -= s

    def rmsprop(self, p: np.ndarray, g: np.ndarray, square_avg: np.ndarray, lr: float, rho: float, eps: float) -> None:
        """The reference RMSProp update through one scratch buffer."""
        s = self.scratch_like(p)
        _decay_add_square(square_avg, g, rho, s)
        self._flush_subnormals(square_avg)
        _step_by_root(p, g, square_avg, eps, lr, s)

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float, beta2: float,
             lr_t: float, eps_t: float) -> None:  # fmt: skip
        """The reference Adam update written into one scratch buffer."""
        s = self.scratch_like(p)
        m *= beta1
        np.multiply(g, 1.0 - beta1, out=s)
        m += s
        _decay_add_square(v, g, beta2, s)
        self._flush_subnormals(m)
        self._flush_subnormals(v)
        _step_by_root(p, m, v, eps_t, lr_t, s)

    def _flush_subnormals(self, state: np.ndarray) -> None:
        """Optimizer state below the dtype's smallest normal becomes +0, as in the numba kernels (see
        ``numba_kernels``: decaying moments of never-updated weights otherwise turn subnormal and slow)."""
        if state.dtype not in (np.float32, np.float64):
            return
        mask = self.scratch(state.shape, bool, "subnormal")
        np.less(np.abs(state, out=self.scratch_like(state, "abs")), np.finfo(state.dtype).tiny, out=mask)
        np.putmask(state, mask, 0.0)


def _sigmoid_into(z: np.ndarray, out: np.ndarray, slope: float) -> None:
    """(1 + tanh(z/2)) / 2, the reference Sigmoid's order."""
    np.multiply(z, 0.5, out=out)
    np.tanh(out, out=out)
    out += 1.0
    out *= 0.5


def _leaky_relu_into(z: np.ndarray, out: np.ndarray, slope: float) -> None:
    """max(z, z * slope), the reference LeakyReLU's formula."""
    np.multiply(z, slope, out=out)
    np.maximum(z, out, out=out)


_OUT_FORMULAS = {
    "relu": lambda z, out, slope: np.maximum(z, 0.0, out=out),
    "leaky_relu": _leaky_relu_into,
    "sigmoid": _sigmoid_into,
    "tanh": lambda z, out, slope: np.tanh(z, out=out),
}


def _same_float_arrays(z: np.ndarray, y: np.ndarray) -> bool:
    """Two float32/float64 NumPy arrays of one dtype and shape."""
    return (isinstance(z, np.ndarray) and isinstance(y, np.ndarray) and z.shape == y.shape and z.dtype == y.dtype
            and z.dtype in (np.float32, np.float64))  # fmt: skip


def _fits(out: np.ndarray | None, like: np.ndarray) -> bool:
    """``out`` is a C-contiguous array of ``like``'s shape and dtype (a workspace buffer)."""
    return out is not None and out.shape == like.shape and out.dtype == like.dtype and out.flags.c_contiguous


def _decay_add_square(average: np.ndarray, g: np.ndarray, decay: float, s: np.ndarray) -> None:
    """average = decay average + (1 - decay) g^2, in the reference's operation order (s is scratch)."""
    average *= decay
    np.multiply(g, g, out=s)
    s *= 1.0 - decay
    average += s


def _step_by_root(p: np.ndarray, numerator: np.ndarray, average: np.ndarray, eps: float, lr: float, s: np.ndarray) -> None:
    """p -= lr numerator / (sqrt(average) + eps), in the reference's operation order (s is scratch)."""
    np.sqrt(average, out=s)
    s += eps
    np.divide(numerator, s, out=s)
    s *= lr
    p -= s
