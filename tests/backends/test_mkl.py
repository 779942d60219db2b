"""oneMKL's products behind the kernels seam (the ``[mkl]`` extra): same numbers as NumPy's matmul
within float rounding, NumPy's path wherever MKL cannot take the operands, exact resumes.

Skipped with the reason where MKL is not installed; CI installs the extra and runs this module.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpnn_xp import Network, Trainer
from bpnn_xp.backends.cpu import mkl_blas

try:
    mkl_blas.library()
except mkl_blas.MklUnavailable as why:
    if os.environ.get("BPNN_XP_REQUIRE_MKL"):  # CI's [mkl] stage: a load failure must fail, not skip
        raise RuntimeError(f"BPNN_XP_REQUIRE_MKL is set but MKL is unusable: {why}") from None
    pytest.skip(f"{why}", allow_module_level=True)

from bpnn_xp.backends.cpu import blas  # noqa: E402
from bpnn_xp.backends.cpu.blas import MklBlas, NumpyBlas  # noqa: E402
from bpnn_xp.backends.cpu.numba_loops import NumbaKernels  # noqa: E402


def MklKernels(xp):  # noqa: N802 - reads like the class it stands for
    """The numba kernels with oneMKL's products passed in (what ``kernels_for`` builds where MKL is installed)."""
    return NumbaKernels(xp, MklBlas())


HISTORY_PROBE = """
import sys
import numpy as np
from bpnn_xp import Network, Trainer

def mkl_mapped():
    return any("libmkl_rt" in line for line in open("/proc/self/maps"))

loaded_at_import = mkl_mapped()
rng = np.random.default_rng(0)
if sys.argv[1] == "big first":  # a large product before the small run must not change its numbers
    big = Network.create([784, 512, 10], "relu", seed=1)
    big.predict(np.random.default_rng(9).normal(size=(4000, 784)).astype(np.float32))
X = rng.normal(size=(256, 64)).astype(np.float32)
Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 256)]
net = Network.create([64, 32, 10], "relu", seed=0)
Trainer(net, "adam", batch_size=64, seed=2).fit(X, Y, epochs=2)
print(loaded_at_import, mkl_mapped(), net.flatten().tobytes().hex()[:4000])
"""


ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(autouse=True)
def _mkl_loaded():
    """These tests check MKL's products themselves: load it up front, whatever the first product's size."""
    assert blas.activate(), blas._STATE["failed"]
RTOL = {np.float32: 2e-6, np.float64: 1e-14}


def _close(actual: np.ndarray, a: np.ndarray, b: np.ndarray) -> None:
    """actual equals a @ b within rounding: relative to sum_k |a_ik b_kj| (the sum's own error bound)."""
    bound = np.abs(a.astype(np.float64)) @ np.abs(b.astype(np.float64))
    eps = float(np.finfo(a.dtype).eps)
    assert actual.dtype == a.dtype
    assert np.all(np.abs(actual - a.astype(np.float64) @ b.astype(np.float64)) <= 8 * eps * bound + 1e-30)


def _arrays(rng: np.random.Generator, shape: tuple[int, int], dtype: type) -> np.ndarray:
    return rng.normal(size=shape).astype(dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("m,k,n", [(5000, 400, 25), (17, 6, 3), (1, 9, 4), (128, 784, 256), (33, 1, 2)])
def test_products_in_every_layout_equal_matmul_within_rounding(dtype, m, k, n):
    rng = np.random.default_rng(m + k + n)
    kernels = MklKernels(np)
    a, b = _arrays(rng, (m, k), dtype), _arrays(rng, (k, n), dtype)
    a_t, b_t = np.ascontiguousarray(a.T).T, np.ascontiguousarray(b.T).T  # transposed views, same values
    for left in (a, a_t):
        for right in (b, b_t):
            out = np.full((m, n), np.nan, dtype)
            assert kernels.matmul_into(out, left, right) is out
            _close(out, a, b)
            _close(kernels.matmul_into(None, left, right), a, b)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_gradient_with_few_columns_takes_the_transposed_product(dtype):
    """X^T d with 400x25 output runs as (d^T X)^T into scratch: the same numbers, written into out."""
    rng = np.random.default_rng(1)
    X, d = _arrays(rng, (500, 40), dtype), _arrays(rng, (500, 5), dtype)
    out = np.empty((40, 5), dtype)
    assert MklKernels(np).matmul_into(out, X.T, d) is out
    _close(out, np.ascontiguousarray(X.T), d)


def test_operands_mkl_cannot_take_go_to_numpy():
    rng = np.random.default_rng(2)
    kernels = MklKernels(np)
    a = _arrays(rng, (6, 8), np.float32)
    strided = a[:, ::2]  # neither row- nor column-major
    b = _arrays(rng, (4, 3), np.float32)
    np.testing.assert_array_equal(kernels.matmul_into(None, strided, b), strided @ b)
    ints = np.arange(12).reshape(3, 4)
    np.testing.assert_array_equal(kernels.matmul_into(None, ints, ints.T), ints @ ints.T)
    mixed = kernels.matmul_into(None, a.astype(np.float64), _arrays(rng, (8, 2), np.float32))
    assert mixed.dtype == np.float64
    square = _arrays(rng, (5, 5), np.float32)
    expected = square @ square
    overlapping = square.copy()
    kernels.matmul_into(overlapping, overlapping, square)  # out is an input: NumPy copies first
    np.testing.assert_allclose(overlapping, expected, rtol=1e-6)
    empty = kernels.matmul_into(None, np.zeros((0, 3), np.float32), np.zeros((3, 2), np.float32))
    assert empty.shape == (0, 2)


@pytest.mark.parametrize("rows", [1, 17, 5000])
def test_column_sums_stay_within_a_few_ulps(rows):
    d = np.random.default_rng(rows).normal(size=(rows, 25)).astype(np.float32)
    exact, scale = np.sum(d.astype(np.float64), axis=0), np.sum(np.abs(d.astype(np.float64)), axis=0)
    out = np.empty(25, np.float32)
    assert MklKernels(np).sum_rows_into(out, d) is out
    assert np.max(np.abs(out - exact) / scale) <= 4 * float(np.finfo(np.float32).eps)
    np.testing.assert_array_equal(MklKernels(np).sum_rows_into(None, np.zeros((0, 3), np.float32)), np.zeros(3))


def _train(network: Network, X: np.ndarray, Y: np.ndarray, epochs: int, trainer: Trainer | None = None) -> Trainer:
    trainer = trainer or Trainer(network, "adam", lr=0.01, batch_size=64, seed=3)
    trainer.fit(X, Y, epochs=epochs)
    return trainer


def test_training_repeats_itself_and_resumes_exactly_with_mkl():
    rng = np.random.default_rng(4)
    X = rng.normal(size=(300, 30)).astype(np.float32)
    Y = np.eye(5, dtype=np.float32)[rng.integers(0, 5, 300)]
    nets = [Network.create([30, 64, 5], "relu", seed=0) for _ in range(3)]
    for net in nets:
        net.kernels = MklKernels(np)
    _train(nets[0], X, Y, 4)
    _train(nets[1], X, Y, 4)
    half = _train(nets[2], X, Y, 2)
    state = half.state_dict()
    resumed_net = Network.create([30, 64, 5], "relu", seed=9)
    resumed_net.kernels = MklKernels(np)
    resumed_net.load_flat(nets[2].flatten())
    resumed = Trainer(resumed_net, "adam", lr=0.01, batch_size=64, seed=3)
    resumed.load_state_dict(state)
    _train(resumed_net, X, Y, 2, resumed)
    assert np.array_equal(nets[0].flatten(), nets[1].flatten())
    assert np.array_equal(nets[0].flatten(), resumed_net.flatten())


def test_mkl_and_openblas_train_to_the_same_network_within_rounding():
    rng = np.random.default_rng(5)
    X = rng.normal(size=(256, 20)).astype(np.float32)
    Y = np.eye(4, dtype=np.float32)[rng.integers(0, 4, 256)]
    with_mkl, with_openblas = Network.create([20, 32, 4], "tanh", seed=1), Network.create([20, 32, 4], "tanh", seed=1)
    with_mkl.kernels = MklKernels(np)
    with_openblas.kernels = NumbaKernels(np)
    _train(with_mkl, X, Y, 2)
    _train(with_openblas, X, Y, 2)
    np.testing.assert_allclose(with_mkl.flatten(), with_openblas.flatten(), rtol=1e-4, atol=1e-5)


def test_numpy_networks_pick_mkl_unless_turned_off():
    code = "import numpy as np; from bpnn_xp.backends import kernels_for; print(kernels_for(np).name)"
    env = {k: v for k, v in os.environ.items() if k != "BPNN_XP_BLAS"}
    picked = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert picked.stdout.strip() == "mkl", picked.stderr
    env["BPNN_XP_BLAS"] = "openblas"
    off = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)
    assert off.stdout.strip() == "numba", off.stderr
    assert "turned off by BPNN_XP_BLAS" in subprocess.run(
        [sys.executable, "-c", "from bpnn_xp.backends import cpu_fast_path; print(cpu_fast_path())"],
        capture_output=True, text=True, env=env, cwd=ROOT, timeout=120,
    ).stdout  # fmt: skip


@pytest.mark.parametrize("name", ["matmul_into", "sum_rows_into"])
def test_mkl_overrides_keep_the_reference_signature(name):
    """MklBlas replaces NumpyBlas's products with the same parameters; the kernels' own signature is test_fast_paths'."""
    import inspect

    ours, reference = inspect.signature(getattr(MklBlas, name)), inspect.signature(getattr(NumpyBlas, name))
    assert ours.parameters.keys() == reference.parameters.keys()


def test_mkl_loads_at_the_first_product_and_what_ran_before_changes_no_bit():
    """Not loaded by import or network creation; loaded by the first product; a small network trains to
    the same bits whether or not a large product ran first in the process (resumes rely on it)."""
    env = {k: v for k, v in os.environ.items() if k != "BPNN_XP_BLAS"}

    def probe(mode: str) -> list[str]:
        run = subprocess.run([sys.executable, "-c", HISTORY_PROBE, mode], capture_output=True, text=True, env=env,
                             cwd=ROOT, timeout=120)  # fmt: skip
        assert run.returncode == 0, run.stderr
        return run.stdout.split()

    alone, after_big = probe("alone"), probe("big first")
    assert alone[:2] == ["False", "True"] and after_big[:2] == ["False", "True"]
    assert alone[2] == after_big[2]


def test_aligned_row_major_only_the_rest_goes_to_numpy():
    kernels = MklKernels(np)
    d = np.random.default_rng(7).normal(size=(40, 6)).astype(np.float32)
    bound = 4 * float(np.finfo(np.float32).eps) * np.abs(d).sum(axis=0)  # summed in another order: rounding only
    assert np.all(np.abs(kernels.sum_rows_into(None, d[::-1]) - d.sum(axis=0)) <= bound)  # a negative row stride
    raw = np.zeros(40 * 6 * 4 + 1, np.uint8)
    misaligned = np.frombuffer(raw.data, np.float32, count=40 * 6, offset=1).reshape(40, 6)
    assert not misaligned.flags.aligned
    misaligned[...] = d
    np.testing.assert_allclose(kernels.matmul_into(None, misaligned, d.T), d @ d.T, rtol=1e-5)
    assert np.all(np.abs(kernels.sum_rows_into(None, misaligned) - d.sum(axis=0)) <= bound)


def test_mkl_works_without_numba(monkeypatch):
    """The BLAS is passed in: the NumPy out= kernels take oneMKL's products as they are, and selection picks
    them where numba cannot load."""
    import sys

    from bpnn_xp.backends import selection
    from bpnn_xp.backends.cpu.numpy_out import NumpyKernels

    rng = np.random.default_rng(8)
    a, b = _arrays(rng, (64, 30), np.float32), _arrays(rng, (30, 12), np.float32)
    kernels = NumpyKernels(np, MklBlas())
    assert kernels.name == "mkl" and kernels.loops == "numpy"
    _close(kernels.matmul_into(None, a, b), a, b)
    selection.cpu_path.cache_clear()
    monkeypatch.delenv("BPNN_XP_BLAS", raising=False)
    monkeypatch.setitem(sys.modules, "bpnn_xp.backends.cpu.numba_loops", None)  # import raises ImportError
    try:
        picked = selection.kernels_for(np)
        assert type(picked) is NumpyKernels and type(picked.blas) is MklBlas
    finally:
        selection.cpu_path.cache_clear()
