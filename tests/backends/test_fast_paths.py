"""Fast paths behind the kernels seam keep the reference's signature and give its results (Thinc's rule).

Tolerances: the NumPy ``out=`` kernels and the numba optimizer updates, ReLU/leaky ReLU forward and
every activation derivative do the reference's operations in its order and dtype: equal bit for bit.
Numba's softmax cross-entropy uses libm's exp/log and sums in another order: within 1e-6 relative
(float32) and 1e-13 (float64). Sigmoid/tanh forward are not fused (they stay the reference).
"""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from bpnn_xp.backends import Kernels, kernels_for
from bpnn_xp.backends.cpu.numpy_out import NumpyKernels
from bpnn_xp.backends.kernels import FlatViews
from bpnn_xp.engine.activations import get_activation
from bpnn_xp.engine.costs import get_cost
from bpnn_xp.engine.optimizers import OPTIMIZERS, Adam, get_optimizer

numba_loops = pytest.importorskip("bpnn_xp.backends.cpu.numba_loops", reason="numba is not installed")
NumbaKernels = numba_loops.NumbaKernels
FAST = [NumpyKernels, NumbaKernels]
RTOL = {np.float32: 1e-6, np.float64: 1e-13}
EXACT_ACTIVATIONS = ["relu", "leaky_relu", "identity"]
TRANSCENDENTAL_ACTIVATIONS = ["sigmoid", "tanh"]


def test_numpy_gets_the_fast_kernels_and_others_the_reference():
    import array_api_compat.numpy as np_xp
    import array_api_strict

    from bpnn_xp.backends import cpu_path

    expected = "MklBlas" if cpu_path().blas == "mkl" else "NumpyBlas"  # MKL where the [mkl] extra is installed
    assert type(kernels_for(np_xp)) is NumbaKernels and type(kernels_for(np_xp).blas).__name__ == expected
    assert type(kernels_for(np_xp, fast=False)) is Kernels
    assert type(kernels_for(array_api_strict)) is Kernels
    assert kernels_for(np_xp).supports_views and not kernels_for(array_api_strict).supports_views
    opt = Adam(0.01)
    opt.step([np.ones((3, 2), np.float32)], [np.ones((3, 2), np.float32)])
    assert isinstance(opt.kernels, NumpyKernels)
    slow = Adam(0.01, fast=False)
    slow.step([np.ones((3, 2), np.float32)], [np.ones((3, 2), np.float32)])
    assert type(slow.kernels) is Kernels


def test_without_numba_numpy_falls_back_to_the_out_kernels(monkeypatch):
    import sys

    import array_api_compat.numpy as np_xp

    from bpnn_xp.backends import selection

    selection.cpu_path.cache_clear()
    monkeypatch.setitem(sys.modules, "bpnn_xp.backends.cpu.numba_loops", None)  # import raises ImportError
    try:
        assert type(kernels_for(np_xp)) is NumpyKernels and selection.cpu_path().loops == "numpy"
    finally:
        selection.cpu_path.cache_clear()


def test_numba_threads_are_capped_by_the_usable_cpus():
    import os

    assert 1 <= numba_loops.THREADS <= numba_loops.ALL_THREADS <= len(os.sched_getaffinity(0))


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("name", sorted({n for c in FAST for n, f in vars(c).items() if callable(f) and not n.startswith("_")}))
def test_fast_kernel_signature_matches_the_reference(cls, name):
    if not hasattr(Kernels, name) or name not in vars(cls):
        pytest.skip(f"{name} is not a kernel {cls.__name__} overrides")
    fast, reference = (list(inspect.signature(getattr(c, name)).parameters) for c in (cls, Kernels))
    assert fast == reference


def _run_optimizer(kernels_cls, optimizer, dtype, flat, steps=25):
    """Parameters and state after ``steps`` updates with the given kernels, over a flat buffer or per array."""
    import array_api_compat.numpy as np_xp

    rng = np.random.default_rng(0)
    shapes = [(7, 5), (5,), (5, 3), (3,)]
    kernels = kernels_cls(np_xp)
    params = [rng.normal(size=s).astype(dtype) for s in shapes]
    if flat:
        params = kernels.pack(params)
    opt = get_optimizer(optimizer, 0.01)
    opt.kernels = kernels
    for _ in range(steps):
        grads = [rng.normal(size=s).astype(dtype) for s in shapes]
        opt.step(params, kernels.pack(grads) if flat else grads)
    return params, opt


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("flat", [True, False], ids=["flat", "per-array"])
@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_optimizer_updates_equal_the_reference_bit_for_bit(cls, flat, optimizer, dtype):
    fast_params, fast = _run_optimizer(cls, optimizer, dtype, flat)
    slow_params, slow = _run_optimizer(Kernels, optimizer, dtype, flat=False)
    assert (getattr(fast_params, "flat", None) is not None) == flat
    for a, b in zip(fast_params, slow_params):
        assert a.dtype == dtype and np.array_equal(a, b)
    for key in slow.state:
        assert isinstance(fast.state[key], FlatViews) == flat
        assert all(np.array_equal(a, b) for a, b in zip(fast.state[key], slow.state[key]))


def test_numba_update_over_a_small_buffer_runs_serially_and_exactly():
    p, g = np.ones(10, np.float32), np.full(10, 0.5, np.float32)
    q = p.copy()
    NumbaKernels(np).sgd(p, g, 0.1)
    Kernels(np).sgd(q, g, 0.1)
    assert p.dtype == np.float32 and np.array_equal(p, q)


def _layer(dtype, shape=(130, 70), seed=0):
    rng = np.random.default_rng(seed)
    return rng.normal(scale=3.0, size=shape).astype(dtype), rng.normal(size=shape[1]).astype(dtype)


def _compare(actual, expected, exact):
    assert actual.dtype == expected.dtype
    if exact:
        assert np.array_equal(actual, expected)
    else:
        np.testing.assert_allclose(actual, expected, rtol=RTOL[expected.dtype.type], atol=0)


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("name", EXACT_ACTIVATIONS + TRANSCENDENTAL_ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_bias_activation_equals_the_reference(cls, name, dtype):
    z, b = _layer(dtype)
    z_fast, z_ref = z.copy(), z.copy()
    act = get_activation(name)
    a_fast = cls(np).bias_activation(z_fast, b, act)
    a_ref = Kernels(np).bias_activation(z_ref, b, act)
    assert np.array_equal(z_fast, z_ref)  # z += b is the same addition
    _compare(a_fast, a_ref, exact=True)


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("name", EXACT_ACTIVATIONS + TRANSCENDENTAL_ACTIVATIONS)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fused_activation_backward_equals_the_reference_bit_for_bit(cls, name, dtype):
    z, _ = _layer(dtype)
    act = get_activation(name)
    a = act.fn(z.copy(), np)
    delta = np.random.default_rng(1).normal(size=z.shape).astype(dtype)
    fast = cls(np).activation_backward(act, z, a, delta.copy())
    ref = Kernels(np).activation_backward(act, z, a, delta.copy())
    _compare(fast, ref, exact=True)


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("targets", ["one-hot", "soft"])
def test_fused_softmax_cross_entropy_equals_the_reference(cls, dtype, targets):
    rng = np.random.default_rng(3)
    z = rng.normal(scale=4.0, size=(128, 10)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, 128)] if targets == "one-hot" else rng.uniform(size=(128, 10)).astype(dtype)
    cost = get_cost("softmax_cross_entropy")
    z_before = z.copy()
    c_fast, d_fast = cls(np).cost_and_delta(cost, z, y)
    c_ref, d_ref = Kernels(np).cost_and_delta(cost, z, y)
    assert np.array_equal(z, z_before), "the logits must not be changed"
    assert np.asarray(c_fast).dtype == dtype
    np.testing.assert_allclose(float(c_fast), float(c_ref), rtol=RTOL[dtype])
    np.testing.assert_allclose(d_fast, d_ref, rtol=RTOL[dtype], atol=RTOL[dtype] * float(np.max(np.abs(d_ref))))


@pytest.mark.parametrize("cls", FAST)
def test_matmul_and_row_sums_into_views_equal_the_operators(cls):
    rng = np.random.default_rng(4)
    a, d = rng.normal(size=(33, 17)).astype(np.float32), rng.normal(size=(33, 9)).astype(np.float32)
    views = cls(np).views(np.empty(17 * 9 + 9, np.float32), [(17, 9), (9,)])
    w, b = cls(np).matmul_into(views[0], a.T, d), cls(np).sum_rows_into(views[1], d)
    assert w is views[0] and b is views[1]
    assert np.array_equal(w, a.T @ d)
    np.testing.assert_allclose(b, np.sum(d, axis=0), rtol=0, atol=1e-6 * float(np.max(np.sum(np.abs(d), axis=0))))


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", [1, 17, 5000, 60000])
def test_row_sums_are_as_accurate_as_numpy_sum(cls, dtype, rows):
    """The GEMV column sums stay within a few ulps of each column's absolute sum, like np.sum(axis=0)."""
    d = (np.random.default_rng(rows).normal(size=(rows, 25)) * 1e-3).astype(dtype)
    exact, scale = np.sum(d.astype(np.float64), axis=0), np.sum(np.abs(d.astype(np.float64)), axis=0)
    eps = float(np.finfo(dtype).eps)
    fast = cls(np).sum_rows_into(None, d)
    assert fast.dtype == dtype and fast.shape == (25,)
    assert np.max(np.abs(fast - exact) / scale) <= 4 * eps
    assert np.max(np.abs(np.sum(d, axis=0) - exact) / scale) <= 4 * eps  # the reference meets the same bound


@pytest.mark.parametrize("cls", FAST)
def test_row_sums_keep_nan_and_inf_and_empty_batches(cls):
    d = np.array([[1.0, np.inf, np.nan], [2.0, 1.0, 0.0]], np.float32)
    fast, ref = cls(np).sum_rows_into(None, d), np.sum(d, axis=0)
    np.testing.assert_array_equal(fast, ref)
    empty = np.zeros((0, 3), np.float32)
    np.testing.assert_array_equal(cls(np).sum_rows_into(None, empty), np.zeros(3, np.float32))


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("name", EXACT_ACTIVATIONS + TRANSCENDENTAL_ACTIVATIONS)
def test_bias_activation_into_a_workspace_buffer_equals_the_reference(cls, name):
    z, b = _layer(np.float32)
    z_fast, z_ref, out = z.copy(), z.copy(), np.full_like(z, np.nan)
    act = get_activation(name)
    a_fast = cls(np).bias_activation(z_fast, b, act, out)
    a_ref = Kernels(np).bias_activation(z_ref, b, act)
    assert np.array_equal(z_fast, z_ref) and np.array_equal(a_fast, a_ref)
    if name != "identity":  # identity returns z itself
        assert a_fast is out


@pytest.mark.parametrize("cls", FAST)
def test_take_rows_into_a_buffer_equals_take(cls):
    X = np.arange(30, dtype=np.float32).reshape(10, 3)
    rows = np.array([9, 0, 4, 4])
    out = np.empty((4, 3), np.float32)
    assert cls(np).take_rows(X, rows, out) is out
    np.testing.assert_array_equal(out, X[rows])
    np.testing.assert_array_equal(cls(np).take_rows(X, rows, np.empty((3, 3), np.float32)), X[rows])  # wrong shape: new array


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("with_out", [False, True])
def test_sigmoid_cross_entropy_in_scratch_equals_the_reference_bit_for_bit(cls, dtype, with_out):
    rng = np.random.default_rng(6)
    z = np.concatenate([rng.normal(scale=5.0, size=(300, 10)), np.full((1, 10), -0.0), np.full((1, 10), 90.0)]).astype(dtype)
    y = rng.uniform(size=z.shape).astype(dtype)
    cost = get_cost("sigmoid_cross_entropy")
    kernels, out = cls(np), (np.full_like(z, np.nan) if with_out else None)
    for _ in range(2):  # the second call reuses the scratch buffers
        c_fast, d_fast = kernels.cost_and_delta(cost, z, y, out)
    c_ref, d_ref = Kernels(np).cost_and_delta(cost, z, y)
    assert c_fast == c_ref and np.asarray(c_fast).dtype == dtype
    np.testing.assert_array_equal(d_fast, d_ref)
    assert (d_fast is out) == with_out


UPDATES = {  # kernel call with its state arrays, for a gradient of exactly 0
    "adam": lambda k, p, g, s: k.adam(p, g, s[0], s[1], 0.9, 0.999, 1e-3, 1e-8),
    "momentum": lambda k, p, g, s: k.momentum(p, g, s[0], 0.01, 0.9, False),
    "nesterov": lambda k, p, g, s: k.momentum(p, g, s[0], 0.01, 0.9, True),
    "rmsprop": lambda k, p, g, s: k.rmsprop(p, g, s[0], 0.01, 0.99, 1e-8),
}


@pytest.mark.parametrize("update", sorted(UPDATES))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_updates_flush_subnormal_state_to_zero_and_stay_next_to_the_reference(update, dtype):
    """Weights whose gradient is always 0: their decaying state turns subnormal (slow on x86). The fast
    paths set it to +0 instead; the parameters stay within lr * 1e-30 of the reference's."""
    tiny = np.finfo(dtype).tiny
    n = 40_000  # above the parallel threshold: the threaded kernels run too
    start = np.concatenate([np.full(n // 2, tiny * 1.05), np.full(n // 2, -tiny * 3.0)]).astype(dtype)
    results = {}
    for cls in (Kernels, *FAST):
        kernels, p, g = cls(np), np.zeros(n, dtype), np.zeros(n, dtype)  # p = 0: the reference's tiny steps show
        state = [np.abs(start) if update == "rmsprop" else start.copy(), np.abs(start)]
        for _ in range(20):
            UPDATES[update](kernels, p, g, state)
        results[cls.__name__] = (p, state)
    ref_p, ref_state = results["Kernels"]
    assert np.any((ref_state[0] != 0) & (np.abs(ref_state[0]) < tiny)), "the reference keeps subnormals"
    if update in ("adam", "momentum", "nesterov"):
        assert np.any(ref_p != 0), "the reference's subnormal state moved the weights: the bound below is tested"
    used = 2 if update == "adam" else 1
    for name in ("NumpyKernels", "NumbaKernels"):
        p, state = results[name]
        for array in state[:used]:
            assert not np.any((array != 0) & (np.abs(array) < tiny)) and not np.signbit(array[array == 0]).any()
        assert np.max(np.abs(p - ref_p)) <= 0.01 * 1e-30  # lr * 1e-30
    (p_numpy, s_numpy), (p_numba, s_numba) = results["NumpyKernels"], results["NumbaKernels"]
    assert all(np.array_equal(a, b) for a, b in zip([p_numpy, *s_numpy], [p_numba, *s_numba]))  # the fast paths agree


# ---------------------------------------------------------------------- dropout and max-norm
@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("into", ["new", "buffer", "in place"])
def test_dropout_equals_the_reference_bit_for_bit(cls, dtype, into):
    """a * (keep * scale), the same multiplication everywhere: new array, a given buffer, or a itself (the backward)."""
    a, _ = _layer(dtype)
    keep = np.random.default_rng(2).random(a.shape) >= 0.3
    scale = 1.0 / 0.7
    expected = Kernels(np).dropout(a.copy(), keep, scale)
    target = a.copy()
    out = {"new": None, "buffer": np.full_like(a, np.nan), "in place": target}[into]
    got = cls(np).dropout(target, keep, scale, out)
    _compare(got, expected, exact=True)
    assert (got is out) if out is not None else True
    assert np.all(got[~keep] == 0) and np.array_equal(got[keep], (a * dtype(scale))[keep])


def _max_norm_closed_form(w, c):
    """Each column scaled to norm min(||col||, c), in float64."""
    w64 = w.astype(np.float64)
    norms = np.linalg.norm(w64, axis=0)
    return w64 * np.where(norms > c, c / np.where(norms > 0, norms, 1.0), 1.0)


@pytest.mark.parametrize("cls", [Kernels, *FAST])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_max_norm_against_the_closed_form(cls, dtype):
    """Columns over the limit end at norm c, the others (and a zero column) are unchanged."""
    rng = np.random.default_rng(5)
    w = rng.normal(size=(40, 9)).astype(dtype)
    w[:, 0] *= 0.01  # well inside the limit
    w[:, 1] = 0.0
    w[:, 2] *= 10.0  # far outside
    before = w.copy()
    cls(np).max_norm(w, 3.0)
    np.testing.assert_allclose(w, _max_norm_closed_form(before, 3.0), rtol=RTOL[dtype] * 10, atol=0)
    norms = np.linalg.norm(w.astype(np.float64), axis=0)
    assert np.all(norms <= 3.0 * (1 + 1e-6)) and norms[2] == pytest.approx(3.0, rel=1e-6)
    inside = np.linalg.norm(before.astype(np.float64), axis=0) <= 3.0
    assert np.array_equal(w[:, inside], before[:, inside])


@pytest.mark.parametrize("cls", FAST)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_fast_max_norm_equals_the_reference_bit_for_bit(cls, dtype):
    """NumPy's and numba's max-norm do the reference's operations in its order (rows summed in turn)."""
    w = np.random.default_rng(6).normal(scale=0.6, size=(300, 50)).astype(dtype)
    fast, ref = w.copy(), w.copy()
    cls(np).max_norm(fast, 3.0)
    Kernels(np).max_norm(ref, 3.0)
    assert not np.array_equal(ref, w), "some columns were over the limit"
    _compare(fast, ref, exact=True)
