"""Workspaces: a training loop's reused step buffers give the same numbers as fresh arrays, bit for bit."""

from __future__ import annotations

import os
import subprocess
import sys
import warnings

import array_api_strict
import numpy as np
import pytest

from bpnn_xp import Network, Trainer
from bpnn_xp.backends import kernels_for
from bpnn_xp.backends.kernels import Workspace


def _problem(m: int = 50, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 12)).astype(np.float32)
    return X, np.eye(4, dtype=np.float32)[rng.integers(0, 4, m)]


@pytest.mark.parametrize("activation,cost", [("relu", "softmax_cross_entropy"), ("sigmoid", "sigmoid_cross_entropy"),
                                             ("tanh", "mse")])  # fmt: skip
def test_forward_backward_with_a_workspace_equals_fresh_arrays(activation, cost):
    net = Network.create([12, 9, 7, 4], activation, cost, seed=1)
    workspace = net.kernels.workspace()
    for m in (50, 13, 50):  # a new batch size gets its own buffers; the old ones are reused
        X, Y = _problem(m, seed=m)
        cost_ref, grads_ref, logits_ref = net.forward_backward(X, Y, 0.1, 0.01, 200)
        cost_ws, grads_ws, logits_ws = net.forward_backward(X, Y, 0.1, 0.01, 200, workspace)
        assert float(cost_ws) == float(cost_ref)
        assert np.array_equal(logits_ws, logits_ref)
        assert all(np.array_equal(g, r) for g, r in zip(grads_ws, grads_ref))
    again = net.forward_backward(X, Y, 0.1, 0.01, 200, workspace)
    assert again[1].flat is grads_ws.flat and again[2] is logits_ws  # the same buffers, written again


def test_trainer_with_its_workspace_trains_exactly_as_without(monkeypatch):
    X, Y = _problem(203)
    first = Network.create([12, 16, 4], "relu", seed=3)
    second = first.copy()
    Trainer(first, "adam", lr=0.01, batch_size=32, seed=5).fit(X, Y, epochs=3)
    monkeypatch.setattr(type(second.kernels), "workspace", lambda self: Workspace(np, enabled=False))
    Trainer(second, "adam", lr=0.01, batch_size=32, seed=5).fit(X, Y, epochs=3)
    assert np.array_equal(first.flatten(), second.flatten())


def test_trainer_frees_its_workspace_after_fit():
    X, Y = _problem(40)
    trainer = Trainer(Network.create([12, 4], "relu", seed=0), "sgd", lr=0.1, batch_size=8, seed=0)
    trainer.fit(X, Y, epochs=1)
    assert trainer._workspace is None


def test_generic_kernels_hand_out_no_buffers():
    workspace = kernels_for(array_api_strict).workspace()
    assert workspace.get("z", (3, 2), array_api_strict.float32) is None
    numpy_workspace = kernels_for(np).workspace()
    buffer = numpy_workspace.get("z", (3, 2), np.float32)
    assert buffer.shape == (3, 2) and numpy_workspace.get("z", (3, 2), np.float32) is buffer
    assert numpy_workspace.get("z", (4, 2), np.float32) is not buffer


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_sigmoid_cross_entropy_delta_keeps_the_where_formula_bits(dtype):
    """The branch-free select max(e, [z >= 0]) r equals where(z >= 0, r, e r) bit for bit, NaN and ±0 included."""
    from bpnn_xp.engine.costs import get_cost

    rng = np.random.default_rng(0)
    z = np.concatenate([rng.normal(scale=6.0, size=400), [0.0, -0.0, 1e-30, -1e-30, 88.0, -88.0, 800.0, -800.0, np.nan]])
    z = z.astype(dtype).reshape(-1, 1)
    y = rng.uniform(size=z.shape).astype(dtype)
    with np.errstate(all="ignore"):
        _, delta = get_cost("sigmoid_cross_entropy").fn_and_delta(z.copy(), y, np)
        e = np.exp(-np.abs(z))
        r = 1.0 / (1.0 + e)
        expected = np.where(z >= 0.0, r, e * r) - y
    np.testing.assert_array_equal(delta, expected)
    assert delta.dtype == dtype


def test_full_batch_objective_hands_scipy_gradients_that_later_evaluations_leave_alone():
    from bpnn_xp.engine.full_batch import _Objective

    X, Y = _problem(30)
    net = Network.create([12, 6, 4], "sigmoid", "sigmoid_cross_entropy", seed=2)
    objective = _Objective(net, X, Y, l2=0.5, l1=0.0)
    theta = net.flatten().astype(np.float64)
    cost, first = objective(theta)
    kept = first.copy()
    objective(theta * 0.5)
    assert np.array_equal(first, kept) and first.dtype == np.float64
    net.load_flat(theta.astype(np.float32))
    ref_cost, ref_grads = net.backprop(X, Y, l2=0.5)
    assert cost == float(ref_cost) and np.array_equal(first, net.flatten(ref_grads).astype(np.float64))


ALLOCATE_AND_FREE = """
import resource, numpy as np
from bpnn_xp.backends import kernels_for
kernels_for(np)  # picks the fast path: pins the thresholds unless BPNN_XP_MALLOC=default
for _ in range(3):
    a = np.ones(400_000, np.float32); b = np.ones(400_000, np.float32); del a, b
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for _ in range(50):
    a = np.ones(400_000, np.float32); b = np.ones(400_000, np.float32); del a, b
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc's mallopt: Linux only")
def test_pinned_malloc_thresholds_stop_page_faults_on_reused_memory():
    """1.6 MB arrays made and freed 50 times: with the thresholds pinned their pages are reused."""
    def faults(env_value: str | None) -> int:
        env = {k: v for k, v in os.environ.items() if k != "BPNN_XP_MALLOC"}
        if env_value is not None:
            env["BPNN_XP_MALLOC"] = env_value
        run = subprocess.run([sys.executable, "-c", ALLOCATE_AND_FREE], capture_output=True, text=True, env=env, timeout=120)
        assert run.returncode == 0, run.stderr
        return int(run.stdout.strip())

    pinned, default = faults(None), faults("default")
    assert pinned < 200 < 50 * 2 * 390 // 2 < default  # 390 pages per array: glibc's defaults fault most of them in again


def test_environment_switches_accept_their_spellings_and_warn_once_about_others(monkeypatch):
    from bpnn_xp.backends import environment

    monkeypatch.setattr(environment, "_WARNED", set())
    for raw, expected in (("", "auto"), ("OpenBLAS", "openblas"), (" off ", "openblas"), ("mkl", "mkl")):
        monkeypatch.setenv("BPNN_XP_BLAS", raw)
        assert environment.blas() == expected
    monkeypatch.setenv("BPNN_XP_BLAS", "fastest")
    with pytest.warns(UserWarning, match=r"BPNN_XP_BLAS='fastest' is not understood \(use one of: auto, mkl, openblas"):
        assert environment.blas() == "auto"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert environment.blas() == "auto"  # said once
    monkeypatch.setenv("BPNN_XP_MALLOC", "glibc")
    assert environment.malloc() == "default"


def test_asking_for_mkl_where_it_is_missing_says_how_to_get_it(monkeypatch):
    import array_api_compat.numpy as np_xp

    from bpnn_xp.backends import selection
    from bpnn_xp.backends.cpu import mkl_blas

    monkeypatch.setenv("BPNN_XP_BLAS", "mkl")
    monkeypatch.setattr(mkl_blas, "find_library", lambda: None)
    selection.cpu_path.cache_clear()
    try:
        with pytest.warns(UserWarning, match=r'oneMKL cannot be used \(MKL is not installed \(pip install "bpnn_xp\[mkl\]"\)\)'):
            assert kernels_for(np_xp).name == "numba"
    finally:
        selection.cpu_path.cache_clear()
