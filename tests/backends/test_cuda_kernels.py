"""The CUDA kernels proved without a GPU, and checked against the generic path where a GPU works.

On the CPU: each kernel's body, run on NumPy by ``cuda.mirror`` (the same text NVRTC compiles), equals the
reference kernels bit for bit (the softmax cross-entropy, which sums in another order, within 1e-6 relative
in float32 and 1e-13 in float64); every source compiles with NVRTC for sm_80 and sm_90 (no driver needed);
``CupyKernels`` on NumPy with the mirror as its launcher trains like the generic path, makes at most 15
array-library calls per step of 784-256-10 ReLU + softmax + Adam at batch 128 (the generic path: ~87), and
reads nothing from the device inside a step. On a GPU (marked ``gpu``): the compiled kernels against the
generic path, bit-equal where the operation order is kept (``--fmad=false``), and a step under
``cupyx.allow_synchronize(False)``.
"""

from __future__ import annotations

import math

import array_api_compat.numpy as np_xp
import numpy as np
import pytest

from bpnn_xp import Network, Trainer
from bpnn_xp.backends.cuda import mirror, sources
from bpnn_xp.backends.cuda.kernels import CupyKernels
from bpnn_xp.backends.kernels import Kernels, PenaltyFold
from bpnn_xp.engine.activations import get_activation
from bpnn_xp.engine.costs import get_cost
from tests import counting
from tests.backend_cases import cuda_skip_reason

DTYPES = [np.float32, np.float64]
RTOL = {np.float32: 1e-6, np.float64: 1e-13}
REF = Kernels(np_xp)


def _rng_arrays(dtype, shape=(37, 11), seed=0):
    rng = np.random.default_rng(seed)
    z = rng.normal(scale=3.0, size=shape).astype(dtype)
    z.flat[:3] = [0.0, -0.0, 1e-30]  # zeros of both signs and a tiny value go through every select
    return z, rng.normal(size=shape[1]).astype(dtype), rng.normal(size=shape).astype(dtype)


# ---------------------------------------------------------------------- mirrors of the layer kernels
FORWARD = {"relu": sources.BIAS_RELU, "leaky_relu": sources.BIAS_LEAKY_RELU, "sigmoid": sources.BIAS_SIGMOID,
           "tanh": sources.BIAS_TANH}  # fmt: skip
BACKWARD = {"relu": sources.RELU_BACKWARD, "leaky_relu": sources.LEAKY_RELU_BACKWARD, "sigmoid": sources.SIGMOID_BACKWARD,
            "tanh": sources.TANH_BACKWARD}  # fmt: skip


@pytest.mark.parametrize("name", sorted(FORWARD))
@pytest.mark.parametrize("dtype", DTYPES)
def test_bias_activation_kernel_mirror_equals_the_reference_bit_for_bit(name, dtype):
    z, b, _ = _rng_arrays(dtype)
    act = get_activation(name)
    z_ref, z_gpu, a_gpu = z.copy(), z.copy(), np.full_like(z, np.nan)
    a_ref = REF.bias_activation(z_ref, b, act)
    slope = (dtype(act.slope),) if name == "leaky_relu" else ()
    mirror.run_elementwise(FORWARD[name], dtype, (z_gpu, b, a_gpu, *slope, np.int64(z.shape[1]), np.int64(z.size)))
    assert np.array_equal(z_gpu, z_ref) and np.array_equal(a_gpu, a_ref) and a_gpu.dtype == dtype


@pytest.mark.parametrize("name", sorted(BACKWARD))
@pytest.mark.parametrize("dtype", DTYPES)
def test_activation_backward_kernel_mirror_equals_the_reference_bit_for_bit(name, dtype):
    z, _, d = _rng_arrays(dtype)
    act = get_activation(name)
    a = act.fn(z)
    ref = REF.activation_backward(act, z, a, d.copy())
    gpu = d.copy()
    first = a if name in ("sigmoid", "tanh") else z
    slopes = (dtype(act.slope), dtype(1.0 - act.slope)) if name == "leaky_relu" else ()
    mirror.run_elementwise(BACKWARD[name], dtype, (first, gpu, *slopes, np.int64(z.size)))
    assert np.array_equal(gpu, ref)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("in_place", [False, True], ids=["into out", "in place"])
def test_dropout_kernel_mirror_equals_the_reference_bit_for_bit(dtype, in_place):
    z, _, _ = _rng_arrays(dtype)
    keep = np.random.default_rng(3).random(z.shape) >= 0.4
    scale = 1.0 / 0.6
    ref = REF.dropout(z.copy(), keep, scale)
    a = z.copy()
    out = a if in_place else np.full_like(z, np.nan)
    mirror.run_elementwise(sources.DROPOUT, dtype, (a, keep, np.dtype(dtype).type(scale), out, np.int64(z.size)))
    assert np.array_equal(out, ref) and out.dtype == dtype
    got = CupyKernels(np_xp, lib=np, launch=mirror.launch).dropout(z.copy(), keep, scale)
    assert np.array_equal(got, ref)


# ---------------------------------------------------------------------- mirrors of the optimizer updates
def _update(kernels_update, name, dtype, penalty, steps=4):
    """Parameters and state after ``steps`` updates; the mask marks weights (True) and biases (False)."""
    rng = np.random.default_rng(1)
    n = 300
    p = rng.normal(size=n).astype(dtype)
    state = [np.zeros(n, dtype) for _ in range(2)]
    fold = None if penalty is None else PenaltyFold(*penalty, np.arange(n) % 3 != 0)
    for t in range(1, steps + 1):
        g = rng.normal(size=n).astype(dtype)
        g[:4] = [0.0, -0.0, -0.0, 0.0]
        kernels_update(name, p, g, state, fold, t)
    return p, state


def _updater(kernels):
    """An update through ``kernels``: the five optimizers' kernel calls with Adam's folded scalars."""

    def update(name, p, g, state, fold, t):
        lr_t, eps_t = 0.01 * math.sqrt(1 - 0.999**t) / (1 - 0.9**t), 1e-8 * math.sqrt(1 - 0.999**t)  # Python floats, as Adam
        calls = {
            "sgd": lambda: kernels.sgd(p, g, 0.1, fold),
            "momentum": lambda: kernels.momentum(p, g, state[0], 0.1, 0.9, False, fold),
            "nesterov": lambda: kernels.momentum(p, g, state[0], 0.1, 0.9, True, fold),
            "rmsprop": lambda: kernels.rmsprop(p, g, state[0], 0.01, 0.9, 1e-8, fold),
            "adam": lambda: kernels.adam(p, g, state[0], state[1], 0.9, 0.999, lr_t, eps_t, fold),
        }
        calls[name]()

    return update


@pytest.mark.parametrize("penalty", [None, (0.05, 0.0), (0.05, 0.02)], ids=["none", "l2", "l2+l1"])
@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_optimizer_kernel_mirror_equals_the_reference_bit_for_bit(name, dtype, penalty):
    p_gpu, s_gpu = _update(_updater(CupyKernels(np_xp, lib=np, launch=mirror.launch)), name, dtype, penalty)
    p_ref, s_ref = _update(_updater(REF), name, dtype, penalty)
    assert p_gpu.dtype == dtype and np.array_equal(p_gpu, p_ref)
    assert all(np.array_equal(a, b) for a, b in zip(s_gpu, s_ref))


@pytest.mark.parametrize("dtype", DTYPES)
def test_the_folded_penalty_is_the_networks_penalty_gradient(dtype):
    """Kernels.penalized (what the update kernels fold in) equals backprop's per-layer L2/L1 gradient, bit for bit."""
    net = Network.create([9, 7, 3], "relu", seed=0, dtype=np.dtype(dtype).name)
    X = np.random.default_rng(2).normal(size=(20, 9)).astype(dtype)
    Y = np.eye(3, dtype=dtype)[np.random.default_rng(3).integers(0, 3, 20)]
    _, plain = net.backprop(X, Y)
    plain = net.flatten(plain)
    _, penalized = net.backprop(X, Y, l2=0.3, l1=0.1, n=50)
    folded = REF.penalized(plain, net.flat, net.penalty_fold(0.3, 0.1, 50))
    assert np.array_equal(folded, net.flatten(penalized))


# ---------------------------------------------------------------------- the softmax cross-entropy
@pytest.mark.parametrize("rows", [1, 128, 700])
@pytest.mark.parametrize("dtype", DTYPES)
def test_softmax_kernel_mirror_matches_the_reference_and_counts_on_the_device(rows, dtype):
    rng = np.random.default_rng(rows)
    z = rng.normal(scale=4.0, size=(rows, 10)).astype(dtype)
    y = np.eye(10, dtype=dtype)[rng.integers(0, 10, rows)]
    cost = get_cost("softmax_cross_entropy")
    ref_totals = REF.epoch_totals(dtype, "cpu")
    c_ref, d_ref = REF.cost_and_delta(cost, z, y, scale=1.0 / rows, totals=ref_totals)
    kernels = CupyKernels(np_xp, lib=np, launch=mirror.launch)
    totals = kernels.epoch_totals(dtype, None)
    for _ in range(2):  # the sums add up over batches
        c_gpu, d_gpu = kernels.cost_and_delta(cost, z, y, scale=1.0 / rows, totals=totals)
    assert c_gpu.dtype == dtype and c_gpu.shape == ()
    np.testing.assert_allclose(float(c_gpu), float(c_ref), rtol=RTOL[dtype])
    np.testing.assert_allclose(d_gpu, d_ref, rtol=RTOL[dtype], atol=RTOL[dtype] * float(np.max(np.abs(d_ref))))
    cost_sum, correct = kernels.read_totals(totals)
    np.testing.assert_allclose(cost_sum, 2 * float(ref_totals.cost_sum), rtol=RTOL[dtype])
    assert correct == 2 * int(ref_totals.correct)


# ---------------------------------------------------------------------- NVRTC without a GPU
def _nvrtc():
    try:
        from cupy_backends.cuda.libs import nvrtc

        nvrtc.getVersion()
    except Exception as why:  # not installed, or the NVRTC library cannot load
        pytest.skip(f"NVRTC is not usable here ({type(why).__name__}: {why}); pip install -e '.[test]' installs it")
    return nvrtc


COMPILED: dict[str, int] = {}  # "kernel dtype arch" -> bytes of PTX/cubin (the report quotes it)


@pytest.mark.parametrize("arch", ["compute_80", "compute_90", "sm_80", "sm_90"])
@pytest.mark.parametrize("dtype", DTYPES)
def test_every_cuda_source_compiles_with_nvrtc(arch, dtype):
    from bpnn_xp.backends.cuda.nvrtc import compile_source

    _nvrtc()
    for name, source in sources.all_sources(dtype).items():
        binary = compile_source(source, name, arch)
        assert len(binary) > 500, f"{name}: {len(binary)} bytes"
        COMPILED[f"{name} {np.dtype(dtype).name} {arch}"] = len(binary)
        if arch.startswith("compute"):
            assert f".entry {name}(" in binary.decode(), f"{name}: no entry point in the PTX"


def test_a_broken_source_fails_to_compile_with_its_log():
    from bpnn_xp.backends.cuda.nvrtc import CompileError, compile_source

    _nvrtc()
    with pytest.raises(CompileError, match="undefined"):
        compile_source('extern "C" __global__ void k(float* x) { x[0] = not_defined; }', "k", "compute_90")


# ---------------------------------------------------------------------- CupyKernels trained on the CPU
def _counted_network(sizes, activation, cost="softmax_cross_entropy", fast=True, seed=0):
    base = Network.create(sizes, activation, cost, seed=seed)
    net = Network([counting.counted(w) for w in base.weights], [counting.counted(b) for b in base.biases], activation, cost,
                  fast=fast)  # fmt: skip
    if fast:
        net.kernels = CupyKernels(np_xp, lib=counting.counting_numpy, launch=counting.counting_launch)
    return net


def _data(rows, inputs, outputs, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, inputs)).astype(np.float32)
    return counting.counted(X), counting.counted(np.eye(outputs, dtype=np.float32)[rng.integers(0, outputs, rows)])


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
@pytest.mark.parametrize("activation,l2,l1", [("relu", 0.0, 0.0), ("relu", 0.1, 0.0), ("tanh", 0.1, 0.01), ("sigmoid", 0.0, 0.0)])
def test_cupy_kernels_train_like_the_generic_path(optimizer, activation, l2, l1):
    X, Y = _data(200, 12, 4)
    fused, generic = _counted_network([12, 16, 4], activation), _counted_network([12, 16, 4], activation, fast=False)
    lr = 0.01 if optimizer in ("adam", "rmsprop") else 0.1
    runs = [Trainer(net, optimizer, lr=lr, batch_size=32, l2=l2, l1=l1, seed=4).fit(X, Y, epochs=3) for net in (fused, generic)]
    assert fused.kernels.name == "cupy" and type(generic.kernels) is Kernels
    np.testing.assert_allclose(fused.flatten(), generic.flatten(), rtol=2e-5, atol=2e-6)
    for a, b in zip(*(r.records for r in runs)):
        assert a.accuracy == b.accuracy
        np.testing.assert_allclose(a.cost, b.cost, rtol=1e-5)


def test_cupy_kernels_train_with_dropout_and_max_norm_like_the_generic_path():
    """Masks come from the host stream, so the fused path (dropout kernel) and the generic one see the same masks."""
    X, Y = _data(200, 12, 4)
    fused, generic = _counted_network([12, 16, 8, 4], "relu"), _counted_network([12, 16, 8, 4], "relu", fast=False)
    for net in (fused, generic):
        Trainer(net, "adam", lr=0.01, batch_size=32, l2=0.1, seed=4, dropout=[0.5, 0.2], input_dropout=0.1,
                max_norm=1.0).fit(X, Y, epochs=3)  # fmt: skip
    np.testing.assert_allclose(fused.flatten(), generic.flatten(), rtol=2e-5, atol=2e-6)
    plain = _counted_network([12, 16, 8, 4], "relu")
    Trainer(plain, "adam", lr=0.01, batch_size=32, l2=0.1, seed=4).fit(X, Y, epochs=3)
    assert not np.allclose(plain.flatten(), fused.flatten(), atol=1e-3), "dropout changed the training"


def calls_per_step(fast: bool, l2: float = 0.0) -> tuple[float, dict[str, float]]:
    """Array-library calls per step of 784-256-10 ReLU + softmax + Adam at batch 128: (epoch of 8 - epoch of 4) / 4."""
    counts = []
    for batches in (4, 8):
        net = _counted_network([784, 256, 10], "relu", fast=fast)
        X, Y = _data(128 * batches, 784, 10)
        trainer = Trainer(net, "adam", lr=1e-3, batch_size=128, l2=l2, seed=1)
        trainer.fit(X, Y, epochs=1)  # compiles, allocates the workspace and the optimizer state
        counting.reset()
        trainer.fit(X, Y, epochs=1)
        counts.append(dict(counting.STATE.calls))
    labels = set(counts[0]) | set(counts[1])
    per_label = {k: (counts[1].get(k, 0) - counts[0].get(k, 0)) / 4 for k in labels}
    return sum(per_label.values()), {k: v for k, v in per_label.items() if v}


CALLS: dict[str, float] = {}


@pytest.mark.parametrize("l2", [0.0, 1e-4])
def test_a_cupy_step_makes_at_most_15_array_calls(l2):
    fused, detail = calls_per_step(True, l2)
    generic, _ = calls_per_step(False, l2)
    CALLS[f"cupy l2={l2}"], CALLS[f"generic l2={l2}"] = fused, generic
    assert fused <= 15, detail
    assert generic >= 60, "the counting shim must see the generic path's calls"
    assert sum(v for k, v in detail.items() if k.startswith("kernel ")) == 4  # bias+ReLU, ReLU', softmax, Adam


def test_a_cupy_step_reads_nothing_from_the_device(monkeypatch):
    """Inside each step (gathers, forward, backward, update, sums) no device value reaches the host."""
    original = Trainer._step

    def guarded(self, *args):
        with counting.no_sync():
            return original(self, *args)

    monkeypatch.setattr(Trainer, "_step", guarded)
    net = _counted_network([20, 16, 4], "relu")
    X, Y = _data(100, 20, 4)
    record = Trainer(net, "adam", lr=0.01, batch_size=16, l2=0.01, seed=0).fit(X, Y, epochs=2).records[-1]
    assert 0.0 < record.accuracy <= 1.0 and np.isfinite(record.cost)
    with counting.no_sync(), pytest.raises(counting.HostSync):  # the guard itself works
        float(net.flat[:1].sum())


# ---------------------------------------------------------------------- on a GPU
GPU_REASON = cuda_skip_reason()  # installed CuPy alone is not a GPU
needs_gpu = pytest.mark.skipif(GPU_REASON is not None, reason=GPU_REASON or "")


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("name", sorted(sources.BY_NAME))
@pytest.mark.parametrize("dtype", DTYPES)
def test_gpu_kernels_equal_their_mirror(name, dtype):
    import cupy

    kernel = sources.BY_NAME[name]
    host = _kernel_arguments(kernel, dtype)
    device = tuple(cupy.asarray(a) if isinstance(a, np.ndarray) else a for a in host)
    CupyKernels(cupy, lib=cupy)._run(kernel, *device)
    mirror.run_elementwise(kernel, dtype, host)
    transcendental = "tanh" in kernel.body or "sigmoid" in kernel.name
    for h, d in zip(host, device):
        if isinstance(h, np.ndarray):
            if transcendental:
                np.testing.assert_allclose(cupy.asnumpy(d), h, rtol=4 * np.finfo(dtype).eps, atol=4 * np.finfo(dtype).eps)
            else:
                np.testing.assert_array_equal(cupy.asnumpy(d), h)


def _kernel_arguments(kernel: sources.Elementwise, dtype) -> tuple:
    """Random arguments for an elementwise kernel (arrays of 1000 elements, 50 columns)."""
    rng, n = np.random.default_rng(0), 1000
    args = []
    for part, name in zip(kernel.params.split(","), kernel.param_names):
        if "*" in part:
            args.append(rng.integers(0, 2, n).astype(bool) if "bool" in part else np.abs(rng.normal(size=n)).astype(dtype)
                        if name in ("sq", "v", "a") else rng.normal(size=n).astype(dtype))  # fmt: skip
        elif name == "n":
            args.append(np.int64(n))
        elif name == "cols":
            args.append(np.int64(50))
        elif part.strip().startswith("int"):
            args.append(np.int32(1))
        else:
            args.append(np.dtype(dtype).type(0.9 if "one_minus" not in name else 0.1))
    if "b" in kernel.param_names:
        args[kernel.param_names.index("b")] = args[kernel.param_names.index("b")][:50].copy()
    return tuple(args)


@pytest.mark.gpu
@needs_gpu
def test_gpu_training_matches_the_generic_path_without_synchronising(monkeypatch):
    import cupy
    import cupyx

    from bpnn_xp.backends import resolve_device

    backend = resolve_device("cuda")
    nets = [Network.create([784, 256, 10], "relu", seed=0, device=backend) for _ in range(2)]
    nets[1] = Network(nets[1].weights, nets[1].biases, "relu", fast=False)
    assert nets[0].kernels.name == "cupy"
    rng = np.random.default_rng(0)
    X = backend.asarray(rng.normal(size=(1024, 784)), "float32")
    Y = backend.asarray(np.eye(10)[rng.integers(0, 10, 1024)], "float32")
    original = Trainer._step

    def unsynchronised(self, *args):
        with cupyx.allow_synchronize(False):
            return original(self, *args)

    fused = Trainer(nets[0], "adam", lr=1e-3, batch_size=128, l2=1e-4, seed=1)
    fused.fit(X, Y, epochs=1)  # compiles the kernels (NVRTC) first
    monkeypatch.setattr(Trainer, "_step", unsynchronised)
    fused.fit(X, Y, epochs=1)
    monkeypatch.undo()
    Trainer(nets[1], "adam", lr=1e-3, batch_size=128, l2=1e-4, seed=1).fit(X, Y, epochs=2)
    np.testing.assert_allclose(cupy.asnumpy(nets[0].flatten()), cupy.asnumpy(nets[1].flatten()), rtol=1e-5, atol=1e-6)


@pytest.mark.gpu
@needs_gpu
@pytest.mark.parametrize("penalty", [None, (0.05, 0.02)], ids=["none", "l2+l1"])
@pytest.mark.parametrize("name", ["sgd", "momentum", "nesterov", "rmsprop", "adam"])
def test_gpu_update_kernels_equal_the_generic_path_on_cupy_bit_for_bit(name, penalty):
    """The compiled update (--fmad=false) against the reference formulas run by CuPy's own elementwise kernels."""
    import array_api_compat.cupy as cp_xp
    import cupy

    def run(kernels):
        rng = np.random.default_rng(1)
        p = cupy.asarray(rng.normal(size=5000).astype(np.float32))
        state = [cupy.zeros(5000, np.float32) for _ in range(2)]
        fold = None if penalty is None else PenaltyFold(*penalty, cupy.asarray(np.arange(5000) % 3 != 0))
        for t in range(1, 5):
            _updater(kernels)(name, p, cupy.asarray(rng.normal(size=5000).astype(np.float32)), state, fold, t)
        return [cupy.asnumpy(a) for a in (p, *state)]

    for fused, generic in zip(run(CupyKernels(cp_xp)), run(Kernels(cp_xp))):
        np.testing.assert_array_equal(fused, generic)
