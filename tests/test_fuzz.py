"""Property-based fuzzing (hypothesis, fixed example counts and derandomized so CI time is bounded):
the engine trains or raises our own error, gradient checks hold on every drawn shape, and the file
readers answer random or truncated bytes with DataFileError only."""

from __future__ import annotations

import struct
import warnings

import numpy as np
import pytest

hypothesis = pytest.importorskip("hypothesis", reason="hypothesis is not installed (pip install '.[test]')")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

from bpnn_xp import Network, Trainer, checkpoint, gradient_check, resolve_device  # noqa: E402
from bpnn_xp.data import one_hot  # noqa: E402
from bpnn_xp.data.idx import parse_idx, write_idx  # noqa: E402
from bpnn_xp.engine.activations import ACTIVATIONS  # noqa: E402
from bpnn_xp.engine.optimizers import OPTIMIZERS  # noqa: E402
from bpnn_xp.errors import BpnnError, DataFileError  # noqa: E402

FUZZ = settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
CPU = resolve_device("cpu")
COSTS = ["softmax_cross_entropy", "sigmoid_cross_entropy", "mse"]


@FUZZ
@given(
    sizes=st.lists(st.integers(1, 6), min_size=2, max_size=4),
    samples=st.integers(0, 12),
    batch=st.integers(-2, 15),
    dtype=st.sampled_from(["float32", "float64"]),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    cost=st.sampled_from(COSTS),
    optimizer=st.sampled_from(sorted(OPTIMIZERS)),
    scale=st.sampled_from([0.0, 1.0, 1e3, 1e30, float("nan"), float("inf")]),
    seed=st.integers(0, 2**16),
)
def test_training_either_works_or_raises_our_error(sizes, samples, batch, dtype, activation, cost, optimizer, scale, seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(samples, sizes[0])) * scale
    Y = one_hot(rng.integers(0, sizes[-1], samples), sizes[-1]) if sizes[-1] > 1 else rng.integers(0, 2, (samples, 1)) * 1.0
    try:
        net = Network.create(sizes, activation, cost, "glorot", seed, CPU, dtype)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # overflow warnings and "batch larger than data" notes
            history = Trainer(net, optimizer, batch_size=batch).fit(CPU.asarray(X, dtype), CPU.asarray(Y, dtype), epochs=2)
    except BpnnError:
        return
    assert len(history.records) == 2
    assert all(np.isfinite(r.cost) for r in history.records)


@settings(max_examples=30, deadline=None, derandomize=True)
@given(
    sizes=st.lists(st.integers(1, 5), min_size=2, max_size=4),
    samples=st.integers(1, 6),
    activation=st.sampled_from(sorted(ACTIVATIONS)),
    cost=st.sampled_from(COSTS),
    l2=st.sampled_from([0.0, 0.3]),
    seed=st.integers(0, 2**16),
)
def test_gradient_check_holds_on_every_drawn_shape(sizes, samples, activation, cost, l2, seed):
    hypothesis.assume(not (cost == "softmax_cross_entropy" and sizes[-1] == 1))  # rejected by Network
    rng = np.random.default_rng(seed)
    net = Network.create(sizes, activation, cost, "glorot", seed, CPU, "float64")
    X = CPU.asarray(rng.normal(size=(samples, sizes[0])) + 0.05)  # stay off relu's kink at exactly 0
    Y = CPU.asarray(
        one_hot(rng.integers(0, sizes[-1], samples), sizes[-1]) if sizes[-1] > 1 else rng.integers(0, 2, (samples, 1)) * 1.0
    )
    hypothesis.assume(distance_to_kinks(net, X) > 1e-3)  # relu is not differentiable at 0
    assert gradient_check(net, X, Y, l2=l2) < 1e-7


def distance_to_kinks(net: Network, X) -> float:
    """Smallest |z| over hidden pre-activations of relu-like layers (inf when there are none)."""
    closest, a = float("inf"), X
    for i, (w, b) in enumerate(zip(net.weights[:-1], net.biases[:-1])):
        z = a @ w + b
        if net.activations[i].name in ("relu", "leaky_relu"):
            closest = min(closest, float(np.min(np.abs(z))))
        a = net.activations[i].fn(z)
    return closest


def valid_idx() -> bytes:
    array = np.arange(60, dtype=np.uint8).reshape(3, 4, 5)
    return struct.pack(">HBB", 0, 0x08, 3) + struct.pack(">3I", 3, 4, 5) + array.tobytes()


@FUZZ
@given(data=st.one_of(st.binary(max_size=200), st.integers(0, 75).map(lambda n: valid_idx()[:n])))
def test_idx_parser_answers_bad_bytes_with_data_file_error(data):
    try:
        array = parse_idx(data, "fuzz")
    except DataFileError:
        return
    assert array.nbytes == len(data) - 4 - 4 * array.ndim  # whatever parses is exactly what its header says


@pytest.fixture(scope="module")
def model_bytes(tmp_path_factory):
    path = tmp_path_factory.mktemp("model") / "model.npz"
    checkpoint.save_model(path, Network.create([3, 4, 2], seed=0))
    return path.read_bytes()


@FUZZ
@given(cut=st.integers(0, 3000), flip=st.integers(0, 3000), junk=st.binary(min_size=1, max_size=8))
def test_model_reader_answers_damaged_files_with_data_file_error(tmp_path_factory, model_bytes, cut, flip, junk):
    damaged = bytearray(model_bytes[: max(cut, 1)] if cut < len(model_bytes) else model_bytes)
    position = flip % len(damaged)
    damaged[position : position + len(junk)] = junk
    path = tmp_path_factory.mktemp("fuzz") / "model.npz"
    path.write_bytes(bytes(damaged))
    try:
        saved = checkpoint.load_model(path)
    except DataFileError:
        return
    assert saved.network.sizes == [3, 4, 2]  # a flip in a spot that does not matter still loads the real model


def test_write_idx_round_trip(tmp_path):
    array = np.random.default_rng(0).integers(0, 255, (4, 3, 2), dtype=np.uint8)
    write_idx(tmp_path / "a.gz", array)
    from bpnn_xp.data.idx import read_idx

    assert np.array_equal(read_idx(tmp_path / "a.gz"), array)
