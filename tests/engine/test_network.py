"""Network structure: flatten order, course Theta layout, dtype preservation, validation."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import Network, Trainer
from bpnn_xp.backends import to_numpy
from bpnn_xp.engine.initializers import INITIALIZERS
from bpnn_xp.engine.optimizers import OPTIMIZERS, get_optimizer
from bpnn_xp.errors import BpnnValueError
from tests.backend_cases import assert_close
from tests.helpers import random_network, random_problem


def test_flatten_order_is_w1_b1_w2_b2_row_major(backend):
    net = random_network(backend, [3, 4, 2], "tanh")
    flat = to_numpy(net.flatten())
    expected = np.concatenate(
        [to_numpy(p).ravel(order="C") for p in (net.weights[0], net.biases[0], net.weights[1], net.biases[1])]
    )
    assert np.array_equal(flat, expected)
    assert flat.shape == (net.n_params,) == (3 * 4 + 4 + 4 * 2 + 2,)


def test_unflatten_round_trip(backend, dtype):
    net = random_network(backend, [5, 3, 4, 2], "relu", dtype=dtype)
    other = random_network(backend, [5, 3, 4, 2], "relu", dtype=dtype, seed=9)
    other.load_flat(net.flatten())
    for a, b in zip(other.params, net.params):
        assert_close(a, b, rtol=0, like=b)


def test_unflatten_rejects_wrong_length(backend):
    net = random_network(backend, [2, 2], "tanh")
    with pytest.raises(BpnnValueError, match=r"must have shape \(6,\)"):
        net.unflatten(backend.asarray(np.zeros(5)))


def test_course_theta_layout(backend):
    """Theta_l is (fan_out, fan_in + 1) with the bias in column 0; import gives back the same network."""
    net = random_network(backend, [4, 5, 3], "sigmoid", "sigmoid_cross_entropy")
    thetas = net.to_course_thetas()
    assert [tuple(t.shape) for t in thetas] == [(5, 5), (3, 6)]
    assert np.array_equal(to_numpy(thetas[0])[:, 0], to_numpy(net.biases[0]))
    assert np.array_equal(to_numpy(thetas[0])[:, 1:], to_numpy(net.weights[0]).T)
    again = Network.from_course_thetas(thetas)
    X, Y = random_problem(backend, [4, 5, 3], m=6)
    assert float(again.cost(X, Y, l2=1.0)) == float(net.cost(X, Y, l2=1.0))


@pytest.mark.parametrize("name", sorted(OPTIMIZERS))
def test_optimizers_keep_float32(backend, name):
    """Hyper-parameters are Python floats, so float32 parameters and state stay float32."""
    net = random_network(backend, [3, 4, 2], "tanh", dtype="float32")
    X, Y = random_problem(backend, [3, 4, 2], dtype="float32")
    opt = get_optimizer(name, 0.01)
    for _ in range(2):
        _, grads = net.backprop(X, Y, l2=0.1)
        opt.step(net.params, grads)
    xp = net.xp
    assert all(p.dtype == xp.float32 for p in net.params)
    assert all(s.dtype == xp.float32 for states in opt.state.values() for s in states)
    assert all(s.shape == p.shape for states in opt.state.values() for s, p in zip(states, net.params))


@pytest.mark.parametrize("name", sorted(INITIALIZERS))
def test_initializer_scales(name):
    rng = np.random.default_rng(0)
    W = INITIALIZERS[name](rng, 400, 100)
    fan_in, fan_out = 400, 100
    expected_std = {
        "uniform": 0.12 / np.sqrt(3),
        "uniform_scaled": np.sqrt(6 / (fan_in + fan_out)) / np.sqrt(3),
        "normal": 1 / np.sqrt(fan_in),
        "glorot": np.sqrt(2 / (fan_in + fan_out)),
        "he": np.sqrt(2 / fan_in),
        "zeros": 0.0,
    }[name]
    assert W.shape == (400, 100)
    assert abs(W.std() - expected_std) <= 0.02 * expected_std + 1e-12
    if name.startswith("uniform"):
        assert np.abs(W).max() <= expected_std * np.sqrt(3)


@pytest.mark.parametrize("sizes", [[3], [3, 0, 2], [3, -1], [3, 2.5, 2], [3, "a", 2], [3, True, 2]])
def test_bad_sizes_are_rejected(sizes):
    with pytest.raises(BpnnValueError, match="layer sizes must be positive integers|at least an input and an output"):
        Network.create(sizes)


@pytest.mark.parametrize("bad", [-1, 0, None, 1.5, "ten"])
def test_bad_batch_size(bad):
    net = Network.create([2, 2])
    with pytest.raises(BpnnValueError, match="batch_size must be a positive integer, or 'full'"):
        Trainer(net, "sgd", batch_size=bad)


def test_training_data_shape_errors(backend):
    net = random_network(backend, [3, 4, 2], "tanh")
    X, Y = random_problem(backend, [3, 4, 2], m=5)
    trainer = Trainer(net, "sgd")
    with pytest.raises(BpnnValueError, match="X has 3 features but the network's input layer has 4|features"):
        Trainer(random_network(backend, [4, 2], "tanh"), "sgd").fit(X, Y, epochs=1)
    with pytest.raises(BpnnValueError, match="Y has 2 columns but the network has 3 outputs"):
        Trainer(random_network(backend, [3, 3], "tanh"), "sgd").fit(X, Y, epochs=1)
    with pytest.raises(BpnnValueError, match="X has 5 samples but Y has 4"):
        trainer.fit(X, Y[:4, ...], epochs=1)


def test_learning_rate_must_be_positive():
    with pytest.raises(BpnnValueError, match="learning rate must be a positive number"):
        get_optimizer("adam", 0.0)
    with pytest.raises(BpnnValueError, match="unknown optimizer 'adamw'.*adam.*lbfgs"):
        get_optimizer("adamw")


def test_minibatch_history_and_full_batch_scipy(backend):
    net = random_network(backend, [3, 6, 2], "tanh")
    X, Y = random_problem(backend, [3, 6, 2], m=40, seed=5)
    history = Trainer(net, "adam", lr=0.05, batch_size=8).fit(X, Y, epochs=3, validation=(X, Y))
    assert [r.epoch for r in history.records] == [1, 2, 3]
    assert all(0 <= r.accuracy <= 1 and r.val_cost is not None for r in history.records)
    lbfgs = Trainer(net, "lbfgs").fit(X, Y, epochs=10)
    assert lbfgs.records[-1].cost < history.records[-1].cost


def test_early_stopping_restores_the_best_epoch(backend):
    """Validation cost that stops improving ends training and puts back the best parameters."""
    from bpnn_xp import evaluate

    net = random_network(backend, [3, 16, 2], "tanh")
    X, Y = random_problem(backend, [3, 16, 2], m=30, seed=1)
    Xv, Yv = random_problem(backend, [3, 16, 2], m=30, seed=2)  # unrelated labels: the model overfits
    trainer = Trainer(net, "adam", lr=0.05, batch_size=10)
    history = trainer.fit(X, Y, epochs=200, validation=(Xv, Yv), early_stopping=3)
    assert history.stopped_early and len(history.records) < 200
    best = min(history.records, key=lambda r: r.val_cost)
    assert history.best_epoch == best.epoch
    assert history.records[-1].epoch == best.epoch + 3
    assert abs(evaluate(net, Xv, Yv, n=30)[0] - best.val_cost) < 1e-9


def test_to_moves_a_network_and_keeps_its_predictions(backend):
    net = random_network(backend, [4, 6, 3], "relu", dtype="float64")
    moved = net.to("cpu")
    X, _ = random_problem(backend, [4, 6, 3], m=5)
    assert moved.xp is not None and moved.sizes == net.sizes and str(moved.dtype) == "float64"
    np.testing.assert_allclose(to_numpy(moved.feedforward(to_numpy(X))), to_numpy(net.feedforward(X)), rtol=1e-12)
    assert str(net.to("cpu", "float32").dtype) == "float32"
