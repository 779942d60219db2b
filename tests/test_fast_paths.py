"""Fast paths behind the kernels seam keep the reference's signature and give its results (Thinc's rule)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from bpnn_xp.backends import Kernels, kernels_for
from bpnn_xp.backends.numpy_kernels import NumpyKernels
from bpnn_xp.engine.optimizers import OPTIMIZERS, Adam, get_optimizer


def test_numpy_gets_the_fast_kernels_and_others_the_reference():
    import array_api_compat.numpy as np_xp
    import array_api_strict

    assert type(kernels_for(np_xp)) is NumpyKernels
    assert type(kernels_for(np_xp, fast=False)) is Kernels
    assert type(kernels_for(array_api_strict)) is Kernels
    opt = Adam(0.01)
    opt.step([np.ones((3, 2), np.float32)], [np.ones((3, 2), np.float32)])
    assert isinstance(opt.kernels, NumpyKernels)
    slow = Adam(0.01, fast=False)
    slow.step([np.ones((3, 2), np.float32)], [np.ones((3, 2), np.float32)])
    assert type(slow.kernels) is Kernels


@pytest.mark.parametrize("name", [n for n, f in vars(NumpyKernels).items() if callable(f) and not n.startswith("_")])
def test_fast_kernel_signature_matches_the_reference(name):
    if not hasattr(Kernels, name):
        pytest.skip(f"{name} is a NumPy helper, not a kernel")
    fast, reference = (list(inspect.signature(getattr(c, name)).parameters) for c in (NumpyKernels, Kernels))
    assert fast == reference


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_numpy_fast_paths_equal_the_reference_bit_for_bit(optimizer, dtype):
    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (5, 3), (3,)]
    start = [rng.normal(size=s).astype(dtype) for s in shapes]
    fast_params, slow_params = [p.copy() for p in start], [p.copy() for p in start]
    fast, slow = get_optimizer(optimizer, 0.01), get_optimizer(optimizer, 0.01, fast=False)
    for _ in range(25):
        grads = [rng.normal(size=s).astype(dtype) for s in shapes]
        fast.step(fast_params, grads)
        slow.step(slow_params, grads)
    assert type(slow.kernels) is Kernels
    for a, b in zip(fast_params, slow_params):
        assert a.dtype == dtype and np.array_equal(a, b)
    for key in fast.state:
        assert all(np.array_equal(a, b) for a, b in zip(fast.state[key], slow.state[key]))
