"""NumPy fast paths: the reference kernels' formulas, written into given or reused (scratch) buffers.

The array API has no ``out=`` argument, so the generic code allocates a temporary per operation; on the CPU
at small batch those allocations cost as much as the matrix products. Here the two elementwise primitives of
the seam (``_ew``, ``_astype``) write into ``out`` or a scratch buffer, so the reference's own formulas run
unchanged (the same operations in the same order: equal bit for bit), and the optimizer updates are the
reference's operations through one scratch buffer. The matrix products and column sums are the ``blas``
part passed in (``blas.NumpyBlas`` or ``blas.MklBlas``).

Scratch buffers belong to the kernels object, one per network: a network (like its optimizer) must
not run forward_backward from two threads at once.
The optimizer updates flush state below the smallest normal number to +0, as the numba loops do (their
docstring says why). This is also the fallback where numba is missing (``numba_loops`` builds on it).

NumPy slices of a contiguous 1-D array reshape to views, so ``supports_views`` is True: a network's
parameters, gradients and optimizer state each live in one flat buffer.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from ..kernels import FlatViews, Kernels
from .blas import NumpyBlas

_COMPARISONS = frozenset({"greater", "greater_equal", "less", "less_equal", "equal", "not_equal"})


class NumpyKernels(Kernels):
    """Kernels for NumPy arrays: scratch buffers are kept here, one per (shape, dtype, role)."""

    loops = "numpy"
    supports_views = True
    supports_out = True

    def __init__(self, xp: object, blas: Any = None) -> None:
        super().__init__(xp)
        self.blas = blas if blas is not None else NumpyBlas()
        self._scratch: dict[tuple[tuple[int, ...], np.dtype, str], np.ndarray] = {}
        self._ones: dict[tuple[int, np.dtype], np.ndarray] = {}

    @property
    def name(self) -> str:  # type: ignore[override]
        """"mkl" where oneMKL does the products, else the loops' name ("numba" or "numpy")."""
        return "mkl" if self.blas.name == "mkl" else self.loops

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

    def ones_vector(self, rows: int, dtype: np.dtype) -> np.ndarray:
        """A cached vector of ``rows`` ones (the GEMV column sums' left operand)."""
        key = (rows, np.dtype(dtype))
        ones = self._ones.get(key)
        if ones is None:
            ones = self._ones[key] = np.ones(rows, dtype)
        return ones

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
        """a @ b into ``out`` by the BLAS passed in."""
        return self.blas.matmul_into(out, a, b, self)

    def sum_rows_into(self, out: np.ndarray | None, a: np.ndarray) -> np.ndarray:
        """Column sums into ``out`` by the BLAS passed in (one GEMV, see ``blas``)."""
        return self.blas.sum_rows_into(out, a, self)

    def take_rows(self, X: np.ndarray, rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        """X[rows] for rows in [-n, n) into ``out`` when it fits (mode="wrap", Python's negative indexing,
        lets np.take write there without a temporary; the Trainer's rows come from a permutation)."""
        if out is None or out.dtype != X.dtype or out.shape != (rows.shape[0], *X.shape[1:]):
            return np.take(X, rows, axis=0)
        return np.take(X, rows, axis=0, out=out, mode="wrap")

    def _ew(self, function: str, *args: Any, out: Any = None, role: str = "") -> Any:
        """np.<function>(*args) into ``out`` if it fits, else into the scratch for ``role``, else a new array.

        Every use is elementwise over one array's shape (the first array argument) with scalars or arrays of it."""
        ufunc = getattr(np, function)
        if out is None and not role:
            return ufunc(*args)
        like = args[0] if isinstance(args[0], np.ndarray) else args[1]
        dtype = np.dtype(np.bool_) if function in _COMPARISONS else like.dtype
        if not (_fits(out, like.shape, dtype)):
            out = self.scratch(like.shape, dtype, role) if role else np.empty(like.shape, dtype)
        return ufunc(*args, out=out)

    def _astype(self, x: np.ndarray, dtype: Any, role: str = "") -> np.ndarray:
        """x as ``dtype``, copied into the scratch for ``role``."""
        if not role:
            return x.astype(dtype)
        out = self.scratch(x.shape, dtype, role)
        np.copyto(out, x)
        return out

    def max_norm(self, w: np.ndarray, limit: float) -> None:
        """The reference max-norm (column norms, factor, rescale) through two scratch buffers, nothing allocated."""
        if not (isinstance(w, np.ndarray) and w.ndim == 2 and w.dtype in (np.float32, np.float64)):
            return super().max_norm(w, limit)
        squares = np.multiply(w, w, out=self.scratch_like(w, "squares"))
        norms = np.sum(squares, axis=0, out=self.scratch((w.shape[1],), w.dtype, "norms"))
        np.sqrt(norms, out=norms)
        np.maximum(norms, limit, out=norms)
        np.divide(limit, norms, out=norms)
        w *= norms

    def sgd(self, p: np.ndarray, g: np.ndarray, lr: float, penalty: Any = None) -> None:
        """The reference SGD update through one scratch buffer."""
        if penalty is not None:
            return super().sgd(p, g, lr, penalty)
        s = self.scratch_like(p)
        np.multiply(g, lr, out=s)
        p -= s

    def momentum(self, p: np.ndarray, g: np.ndarray, velocity: np.ndarray, lr: float, mu: float, nesterov: bool,
                 penalty: Any = None) -> None:  # fmt: skip
        """The reference momentum update through one scratch buffer."""
        if penalty is not None:
            return super().momentum(p, g, velocity, lr, mu, nesterov, penalty)
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

    def rmsprop(self, p: np.ndarray, g: np.ndarray, square_avg: np.ndarray, lr: float, rho: float, eps: float,
                penalty: Any = None) -> None:  # fmt: skip
        """The reference RMSProp update through one scratch buffer."""
        if penalty is not None:
            return super().rmsprop(p, g, square_avg, lr, rho, eps, penalty)
        s = self.scratch_like(p)
        _decay_add_square(square_avg, g, rho, s)
        self._flush_subnormals(square_avg)
        _step_by_root(p, g, square_avg, eps, lr, s)

    def adam(self, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, beta1: float, beta2: float,
             lr_t: float, eps_t: float, penalty: Any = None) -> None:  # fmt: skip
        """The reference Adam update written into one scratch buffer."""
        if penalty is not None:
            return super().adam(p, g, m, v, beta1, beta2, lr_t, eps_t, penalty)
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
        ``numba_loops``: decaying moments of never-updated weights otherwise turn subnormal and slow)."""
        if state.dtype not in (np.float32, np.float64):
            return
        mask = self.scratch(state.shape, bool, "subnormal")
        np.less(np.abs(state, out=self.scratch_like(state, "abs")), np.finfo(state.dtype).tiny, out=mask)
        np.putmask(state, mask, 0.0)



def _fits(out: Any, shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """``out`` is a C-contiguous NumPy array of this shape and dtype (a workspace or scratch buffer)."""
    return isinstance(out, np.ndarray) and out.shape == shape and out.dtype == dtype and out.flags.c_contiguous


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
