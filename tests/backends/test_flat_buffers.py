"""Flat parameter buffers: one contiguous buffer per network where views are safe, the old per-array
layout elsewhere, and the same numbers either way (the reference is ``fast=False``: separate arrays,
generic kernels)."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import Network, Trainer, resolve_device
from bpnn_xp.backends.kernels import FlatViews
from bpnn_xp.engine.optimizers import OPTIMIZERS
from tests.helpers import PENALTIES, random_network, random_problem

RTOL = {"float32": 1e-6, "float64": 1e-13}  # numba's libm tanh/exp vs NumPy's SIMD ones, per step


def _pair(activation="tanh", cost="softmax_cross_entropy", dtype="float64", sizes=(6, 8, 5, 3)):
    """A packed NumPy network and an unpacked reference copy (fast=False) with the same parameters."""
    net = random_network(resolve_device("cpu"), list(sizes), activation, cost, dtype=dtype)
    reference = Network([w.copy() for w in net.weights], [b.copy() for b in net.biases], net.activations,
                        net.cost_function, fast=False)  # fmt: skip
    return net, reference


def test_numpy_parameters_are_views_into_one_buffer(backend):
    net = random_network(backend, [5, 4, 3])
    if backend.library != "numpy":
        assert net.flat is None and not isinstance(net.params, FlatViews)
        return
    flat = net.flat
    assert flat.ndim == 1 and flat.shape[0] == net.n_params and flat.flags.c_contiguous
    assert all(np.shares_memory(p, flat) for p in net.params)
    assert net.params.flat is flat
    expected = np.concatenate([p.ravel() for p in (net.weights[0], net.biases[0], net.weights[1], net.biases[1])])
    assert np.array_equal(flat, expected)
    copy = net.flatten()
    assert np.array_equal(copy, flat) and not np.shares_memory(copy, flat), "flatten() returns a copy"


def test_fast_false_keeps_separate_arrays_and_the_reference_kernels():
    packed = Network.create([4, 3, 2], seed=0)
    net = Network(packed.weights, packed.biases, fast=False)
    assert net.flat is None and type(net.kernels).__name__ == "Kernels" and not isinstance(net.params, FlatViews)
    assert net.copy().flat is None and net.to("cpu").flat is None
    assert np.array_equal(net.flatten(), packed.flatten())


def test_load_flat_and_assignment_copy_into_the_buffer_and_keep_views_valid():
    net = Network.create([4, 3, 2], seed=0)
    w0, flat = net.weights[0], net.flat
    new = np.arange(net.n_params, dtype=np.float32)
    net.load_flat(new)
    assert net.flat is flat and np.array_equal(flat, new) and np.array_equal(w0.ravel(), new[:12])
    net.weights = [np.ones((4, 3), np.float32), np.zeros((3, 2), np.float32)]
    assert np.all(w0 == 1.0) and np.all(flat[15:21] == 0.0)
    net.weights[0] += 1.0  # in place on the live view
    assert np.all(w0 == 2.0)
    with pytest.raises(ValueError, match="shapes"):
        net.biases = [np.zeros(2, np.float32), np.zeros(2, np.float32)]
    with pytest.raises(ValueError, match="shape"):
        net.load_flat(np.zeros(3, np.float32))


def test_constructing_from_separate_arrays_packs_copies():
    w, b = np.ones((3, 2)), np.zeros(2)
    net = Network([w], [b], cost="mse")
    assert net.flat is not None and not np.shares_memory(net.weights[0], w)
    assert np.array_equal(net.flatten(), np.concatenate([w.ravel(), b]))


@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu", "leaky_relu", "identity"])
@pytest.mark.parametrize("cost", ["softmax_cross_entropy", "sigmoid_cross_entropy", "mse"])
@pytest.mark.parametrize("l2,l1", PENALTIES)
def test_flat_backprop_equals_the_per_array_reference(dtype, activation, cost, l2, l1):
    """Bit for bit except through the fused softmax cross-entropy (libm exp: RTOL) and the bias
    gradients (NumPy's are one GEMV, summed in another order: RTOL of the largest entry)."""
    net, reference = _pair(activation, cost, dtype)
    X, Y = random_problem(resolve_device("cpu"), [6, 8, 5, 3], dtype=dtype, m=17)
    cost_fast, grads, logits = net.forward_backward(X, Y, l2, l1, 40)
    cost_ref, grads_ref, logits_ref = reference.forward_backward(X, Y, l2, l1, 40)
    assert isinstance(grads, FlatViews) and grads.flat is not None and reference.flat is None
    assert all(np.shares_memory(g, grads.flat) for g in grads) and grads.flat.dtype == dtype
    if net.kernels.name == "mkl":  # MKL's products against NumPy's: equal within rounding, not bit for bit
        np.testing.assert_allclose(logits, logits_ref, rtol=RTOL[dtype], atol=RTOL[dtype])
    else:
        assert np.array_equal(logits, logits_ref)
    if cost != "softmax_cross_entropy" and net.kernels.name != "mkl":
        assert cost_fast == cost_ref and all(np.array_equal(g, r) for g, r in zip(grads[0::2], grads_ref[0::2]))
    rtol = RTOL[dtype]
    np.testing.assert_allclose(cost_fast, cost_ref, rtol=rtol)
    for g, r in zip(grads, grads_ref):
        np.testing.assert_allclose(g, r, rtol=rtol, atol=rtol * float(np.max(np.abs(r))))
    np.testing.assert_array_equal(net.flatten(grads), np.concatenate([g.ravel() for g in grads]))


def test_gradients_of_two_calls_are_independent():
    net = Network.create([4, 3, 2], "relu", seed=0)
    X, Y = np.ones((3, 4), np.float32), np.eye(2, dtype=np.float32)[[0, 1, 0]]
    _, first = net.backprop(X, Y)
    saved = [g.copy() for g in first]
    net.backprop(X, Y, l2=5.0)
    assert all(np.array_equal(a, b) for a, b in zip(first, saved))


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
@pytest.mark.parametrize("activation", ["relu", "sigmoid"])
def test_training_flat_equals_training_per_array(dtype, optimizer, activation):
    """Whole training runs: packed + fast kernels vs separate arrays + reference, after 3 epochs."""
    X, Y = random_problem(resolve_device("cpu"), [6, 8, 5, 3], dtype=dtype, m=64, seed=5)
    runs = []
    for fast in (True, False):
        net = Network.create([6, 8, 5, 3], activation, init="glorot", seed=1, dtype=dtype)
        net = Network(net.weights, net.biases, net.activations, net.cost_function, fast=fast)
        trainer = Trainer(net, optimizer, batch_size=16, l2=0.1, seed=2)
        assert trainer.optimizer.fast is fast, "the trainer's optimizer follows the network's fast flag"
        trainer.fit(X, Y, epochs=3)
        runs.append((net, trainer))
    (fast_net, fast_tr), (ref_net, ref_tr) = runs
    assert fast_net.flat is not None and ref_net.flat is None and fast_net.dtype == ref_net.dtype
    tol = {"float32": 1e-4, "float64": 1e-11}[dtype]  # the fused softmax's ulps, compounded over 12 steps
    for a, b in zip(fast_net.params, ref_net.params):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=tol, atol=tol * float(np.max(np.abs(b))))
    state = fast_tr.state_dict()["optimizer"]["state"]
    shapes = [p.shape for p in fast_net.params]
    assert all(isinstance(a, np.ndarray) and [x.shape for x in arrays] == shapes for arrays in state.values() for a in arrays)


@pytest.mark.parametrize("optimizer", sorted(OPTIMIZERS))
def test_optimizer_state_dict_is_per_parameter_and_loads_back_flat(optimizer):
    net = Network.create([5, 4, 3], "relu", seed=0)
    X, Y = np.ones((6, 5), np.float32), np.eye(3, dtype=np.float32)[[0, 1, 2, 0, 1, 2]]
    trainer = Trainer(net, optimizer, batch_size=3, seed=0)
    trainer.fit(X, Y, epochs=2)
    saved = trainer.optimizer.state_dict()
    for arrays in saved["state"].values():
        assert [a.shape for a in arrays] == [p.shape for p in net.params]
    fresh = Trainer(net.copy(), optimizer, batch_size=3, seed=0)
    fresh.optimizer.load_state_dict(saved, fresh.network.params)
    for key, arrays in fresh.optimizer.state.items():
        assert isinstance(arrays, FlatViews) and arrays.flat is not None
        assert all(np.array_equal(a, b) for a, b in zip(arrays, saved["state"][key]))
    fresh.rng.bit_generator.state = trainer.rng.bit_generator.state
    trainer.fit(X, Y, epochs=1)
    fresh.fit(X, Y, epochs=1)
    assert np.array_equal(fresh.network.flat, trainer.network.flat), "a resumed flat optimizer continues exactly"


def test_penalty_gradients_touch_weights_only_in_the_flat_buffer():
    net = Network.create([4, 3, 2], "tanh", seed=0, dtype="float64")
    X, Y = np.random.default_rng(0).normal(size=(5, 4)), np.eye(2)[[0, 1, 0, 1, 1]]
    _, plain = net.backprop(X, Y)
    plain = [g.copy() for g in plain]
    _, penalized = net.backprop(X, Y, l2=2.0, l1=1.0)
    for i, (a, b) in enumerate(zip(plain, penalized)):
        if i % 2:
            assert np.array_equal(a, b), "biases are not penalized"
        else:
            w = net.weights[i // 2]
            np.testing.assert_allclose(b - a, 2.0 / 5 * w + 1.0 / 5 * np.sign(w), rtol=1e-12, atol=1e-15)
