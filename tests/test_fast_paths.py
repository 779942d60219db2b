"""Optional fast paths keep the generic signature and give the generic results (Thinc's rule)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from bpnn_xp import fast_numpy
from bpnn_xp.optimizers import FAST_PATHS, Adam


def test_numpy_adam_fast_path_is_registered_and_used():
    opt = Adam(0.01)
    params = [np.ones((3, 2), np.float32)]
    opt.step(params, [np.ones((3, 2), np.float32)])
    assert FAST_PATHS[("adam", "array_api_compat.numpy")] is fast_numpy.adam_update
    assert opt._fast_update is fast_numpy.adam_update
    assert Adam(0.01, fast=False)._fast_update is None


def test_fast_path_signature_matches_the_generic_call():
    """The engine calls fast updates as f(opt, i, p, g, m, v, lr_t, eps_t)."""
    names = list(inspect.signature(fast_numpy.adam_update).parameters)
    assert names == ["opt", "i", "p", "g", "m", "v", "lr_t", "eps_t"]


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_adam_fast_path_equals_generic_bit_for_bit(dtype):
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (5, 3), (3,)]
    start = [rng.normal(size=s).astype(dtype) for s in shapes]
    fast_params, slow_params = [p.copy() for p in start], [p.copy() for p in start]
    fast, slow = Adam(0.01), Adam(0.01, fast=False)
    for _ in range(25):
        grads = [rng.normal(size=s).astype(dtype) for s in shapes]
        fast.step(fast_params, grads)
        slow.step(slow_params, grads)
    assert fast._fast_update is not None and slow._fast_update is None
    for a, b in zip(fast_params, slow_params):
        assert a.dtype == dtype and np.array_equal(a, b)
    for key in ("m", "v"):
        assert all(np.array_equal(a, b) for a, b in zip(fast.state[key], slow.state[key]))
