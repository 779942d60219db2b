"""The kernels seam: hot spots with a generic array-API reference and backend-specific fast paths.

``Kernels`` holds the reference implementation of each hot spot, written once for any namespace;
a backend may subclass it with a faster version of some methods (NumPy ``out=`` routines today,
CuPy ``ElementwiseKernel``s once a GPU can prove them), as Thinc's ``Ops``/``CupyOps`` do.
``kernels_for(xp)`` picks the implementation with array_api_compat's ``is_*_namespace``. Every
fast path must give the reference's numbers: ``tests/test_fast_paths.py`` proves it.
"""

from __future__ import annotations

from typing import Any

import array_api_compat


class Kernels:
    """Generic reference kernels; every argument array is updated in place where the name says so."""

    name = "generic"

    def __init__(self, xp: Any) -> None:
        self.xp = xp

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


def kernels_for(xp: Any, fast: bool = True) -> Kernels:
    """The fastest proven kernels for namespace ``xp`` (the generic reference with ``fast=False``)."""
    if fast and array_api_compat.is_numpy_namespace(xp):
        from .numpy_kernels import NumpyKernels

        return NumpyKernels(xp)
    return Kernels(xp)
