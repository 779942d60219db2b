"""Optional NumPy fast paths: fused in-place updates with ``out=`` and preallocated scratch.

The array API has no ``out=`` argument, so the generic code allocates a temporary per operation;
on the CPU at small batch those allocations and extra passes cost as much as the matrix products.
Each function here does exactly the generic operations in the same order (so results are equal
bit for bit) and is registered in the engine's FAST_PATHS; ``Adam(fast=False)`` turns it off.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .optimizers import FAST_PATHS, Adam


def adam_update(opt: Adam, i: int, p: np.ndarray, g: np.ndarray, m: np.ndarray, v: np.ndarray, lr_t: float, eps_t: float) -> None:
    """The generic Adam update of one parameter, written into a per-parameter scratch buffer."""
    scratch: dict[int, Any] = opt.__dict__.setdefault("_scratch", {})
    s = scratch.get(i)
    if s is None or s.shape != p.shape or s.dtype != p.dtype:
        s = scratch[i] = np.empty_like(p)
    m *= opt.beta1
    np.multiply(g, 1.0 - opt.beta1, out=s)
    m += s
    v *= opt.beta2
    np.multiply(g, g, out=s)
    s *= 1.0 - opt.beta2
    v += s
    np.sqrt(v, out=s)
    s += eps_t
    np.divide(m, s, out=s)
    s *= lr_t
    p -= s


FAST_PATHS[("adam", "array_api_compat.numpy")] = adam_update
