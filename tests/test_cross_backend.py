"""Cross-backend equivalence: same seed and data give the same parameters on every backend."""

from __future__ import annotations

import functools

import numpy as np

from bpnn_xp import Network, Trainer
from bpnn_xp.backends import Backend, resolve_device, to_numpy
from bpnn_xp.data import one_hot
from tests.backend_cases import TOLERANCE, assert_close, relative_max_difference

SIZES = [8, 16, 12, 4]
CROSS_BACKEND_RESULTS: dict[str, float] = {}  # "device/dtype" -> max relative difference, for the summary


def host_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    X = rng.normal(size=(80, SIZES[0]))
    labels = (X[:, :4] @ rng.normal(size=(4, SIZES[-1]))).argmax(axis=1)
    return X, one_hot(labels, SIZES[-1])


def train_on(backend: Backend, dtype: str) -> list[np.ndarray]:
    """20 Adam steps (4 epochs of 5 shuffled batches) then 5 L-BFGS iterations; host copies of params."""
    X, Y = (backend.asarray(a, dtype) for a in host_data())
    net = Network.create(SIZES, ["tanh", "relu"], "softmax_cross_entropy", init="glorot", seed=1, device=backend, dtype=dtype)
    Trainer(net, "adam", lr=0.01, batch_size=16, l2=0.1, seed=2).fit(X, Y, epochs=4)
    Trainer(net, "lbfgs", l2=0.1).fit(X, Y, epochs=5)
    assert net.weights[0].dtype == backend.dtype(dtype), "parameters changed dtype during training"
    return [to_numpy(p) for p in net.params], net


@functools.cache
def numpy_reference(dtype: str) -> list[np.ndarray]:
    return train_on(resolve_device("cpu"), dtype)[0]


def test_training_matches_numpy(backend, dtype):
    params, net = train_on(backend, dtype)
    reference = numpy_reference(dtype)
    worst = max(relative_max_difference(p, r) for p, r in zip(params, reference))
    CROSS_BACKEND_RESULTS[f"{backend.name}/{dtype}"] = worst
    for r, live in zip(reference, net.params):
        assert_close(live, r, rtol=TOLERANCE[dtype], atol=TOLERANCE[dtype] * float(np.max(np.abs(r))), like=net.weights[0])
    assert worst < TOLERANCE[dtype]


def test_initialization_is_identical_on_every_backend(backend, dtype):
    net = Network.create([5, 7, 3], "sigmoid", init="uniform", seed=42, device=backend, dtype=dtype)
    ref = Network.create([5, 7, 3], "sigmoid", init="uniform", seed=42, device="cpu", dtype=dtype)
    for a, b in zip(net.params, ref.params):
        assert np.array_equal(to_numpy(a), to_numpy(b))
