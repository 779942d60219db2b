"""The kernels seam: hot spots with a generic array-API reference and backend-specific fast paths.

``Kernels`` holds the reference implementation of each hot spot, written once for any namespace;
a backend may subclass it with a faster version of some methods (NumPy ``out=`` routines, numba
fused loops on the CPU, CuPy ``ElementwiseKernel``s once a GPU can prove them), as Thinc's
``Ops``/``CupyOps`` do. ``kernels_for(xp)`` picks the implementation with array_api_compat's
``is_*_namespace``. Every fast path must give the reference's numbers: ``tests/test_fast_paths.py``
proves it (bit for bit where the operation order is the same, else within a stated tolerance).

Flat buffers: where ``supports_views`` is True, ``pack``/``views`` give arrays that are views into
one contiguous 1-D buffer (a ``FlatViews`` list that carries the buffer as ``.flat``), and the
``*_into`` methods write into them. The array API does not promise that ``reshape`` of a slice is
a view, so the generic kernels say False and callers keep separate arrays (``out`` is then None
and the ``*_into`` methods return new arrays).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from typing import Any

import array_api_compat


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


class Kernels:
    """Generic reference kernels; every argument array is updated in place where the name says so.

    ``out`` arguments are optional buffers (from a ``Workspace``) that a fast path may write its
    result into; the reference ignores them where the array API cannot write into a given array.
    """

    name = "generic"
    supports_views = False  # reshape of a slice may copy in the array API: keep separate arrays
    supports_out = False  # results go to new arrays: a Workspace hands out no buffers

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

    # ------------------------------------------------------------------ layers and costs
    def bias_activation(self, z: Any, b: Any, activation: Any, out: Any = None) -> Any:
        """z += b in place, then a = g(z) (``activation`` is an engine Activation); returns a."""
        z += b
        return activation.fn(z, self.xp)

    def activation_backward(self, activation: Any, z: Any, a: Any, delta: Any) -> Any:
        """delta * g'(z) given a = g(z); may overwrite ``delta``."""
        return activation.backward(z, a, delta, self.xp)

    def cost_and_delta(self, cost: Any, z: Any, y: Any, out: Any = None) -> tuple[Any, Any]:
        """(mean cost, per-sample output delta) of an engine Cost at logits z (delta into ``out`` if supported)."""
        return cost.fn_and_delta(z, y, self.xp)

    # ------------------------------------------------------------------ optimizer updates
    def sgd(self, p: Any, g: Any, lr: float) -> None:
        """p -= lr g."""
        p -= g * lr

    def momentum(self, p: Any, g: Any, velocity: Any, lr: float, mu: float, nesterov: bool) -> None:
        """v = mu v + g; p -= lr v (heavy ball) or p -= lr (g + mu v) (Nesterov), torch's forms."""
        velocity *= mu
        velocity += g
        if nesterov:
            p -= (g + velocity * mu) * lr
        else:
            p -= velocity * lr

    def rmsprop(self, p: Any, g: Any, square_avg: Any, lr: float, rho: float, eps: float) -> None:
        """s = rho s + (1 - rho) g^2; p -= lr g / (sqrt(s) + eps)."""
        square_avg *= rho
        square_avg += (g * g) * (1.0 - rho)
        denom = self.xp.sqrt(square_avg)
        denom += eps
        p -= (g / denom) * lr

    def adam(self, p: Any, g: Any, m: Any, v: Any, beta1: float, beta2: float, lr_t: float, eps_t: float) -> None:
        """m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr_t m / (sqrt(v) + eps_t).

        lr_t and eps_t carry Adam's bias corrections, folded into two scalars by the optimizer.
        """
        m *= beta1
        m += g * (1.0 - beta1)
        v *= beta2
        v += (g * g) * (1.0 - beta2)
        denom = self.xp.sqrt(v)
        denom += eps_t
        p -= (m / denom) * lr_t


@functools.cache
def _numpy_fast_class() -> type[Kernels]:
    """MklKernels where numba and oneMKL load (``pip install "bpnn_xp[mkl]"``), else NumbaKernels where
    numba imports (and can cache), else the NumPy ``out=`` kernels. Pins glibc's malloc thresholds once
    (``allocator.tune``): every NumPy fast path reuses freed memory instead of page-faulting it in."""
    from . import allocator

    allocator.tune()
    try:
        from .numba_kernels import NumbaKernels
    except Exception:  # no numba, a numba/NumPy mismatch or no writable cache: the out= path is exact
        from .numpy_kernels import NumpyKernels

        return NumpyKernels
    from . import mkl_blas

    if not mkl_blas.installed():  # not installed or turned off: NumPy's own BLAS (MKL loads at the first product)
        _say_if_mkl_was_asked_for()
        return NumbaKernels
    from .mkl_kernels import MklKernels

    return MklKernels


def _say_if_mkl_was_asked_for() -> None:
    """BPNN_XP_BLAS=mkl where MKL is missing: one warning with the fix, then NumPy's BLAS."""
    import warnings

    from . import environment, mkl_blas

    if environment.blas() == "mkl":
        reason = mkl_blas.status().removeprefix("not used: ")
        warnings.warn(f"BPNN_XP_BLAS=mkl, but oneMKL cannot be used ({reason}); using NumPy's BLAS", UserWarning, stacklevel=4)


def kernels_for(xp: Any, fast: bool = True) -> Kernels:
    """The fastest proven kernels for namespace ``xp`` (the generic reference with ``fast=False``)."""
    if fast and array_api_compat.is_numpy_namespace(xp):
        return _numpy_fast_class()(xp)
    return Kernels(xp)


def cpu_fast_path() -> str:
    """One line for users: which kernels NumPy networks get here, and whether oneMKL does the products."""
    from . import allocator, mkl_blas

    kind, mkl = _numpy_fast_class().name, mkl_blas.status()
    products = "oneMKL" if kind == "mkl" and mkl.startswith("in use") else "NumPy's BLAS"
    return f"{kind} kernels, matrix products by {products} (oneMKL: {mkl}); memory: {allocator.tune()}"
