"""Dropout, max-norm and sample weights in the Trainer: masks from the seeded host stream (every backend the same),
no dropout at evaluation, bit-exact resume, the max-norm bound, and weights meaning repeated rows."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import Trainer, evaluate
from bpnn_xp.backends import resolve_device, to_numpy
from bpnn_xp.engine.dropout import Dropout, check_rates
from bpnn_xp.errors import BpnnValueError, SettingError
from tests.helpers import random_network, random_problem

SIZES = [6, 12, 8, 3]
DROPOUT = {"dropout": [0.5, 0.25], "input_dropout": 0.2, "max_norm": 1.5}


def _trained(backend, epochs=3, fast=True, **extra):
    net = random_network(backend, SIZES, "relu", seed=1)
    if not fast:
        net = type(net)(net.weights, net.biases, net.activations, net.cost_function, fast=False)
    X, Y = random_problem(backend, SIZES, m=60, seed=2)
    trainer = Trainer(net, "adam", lr=0.01, batch_size=16, l2=0.1, seed=5, **(DROPOUT | extra))
    trainer.fit(X, Y, epochs=epochs)
    return net, trainer, (X, Y)


def test_masks_keep_one_minus_rate_and_scale_the_kept_units():
    like = np.zeros(1)
    masks = Dropout([0.5], 0.2, np.random.default_rng(0)).draw(4000, [50, 40], like)
    assert masks.keep[0].dtype == np.bool_ and masks.keep[0].shape == (4000, 50)
    assert masks.keep[0].mean() == pytest.approx(0.8, abs=0.01) and masks.keep[1].mean() == pytest.approx(0.5, abs=0.01)
    assert masks.scales == [pytest.approx(1.25), pytest.approx(2.0)]
    none = Dropout([0.0], 0.0, np.random.default_rng(0))
    assert not none.active and none.draw(3, [2, 2], like).keep == [None, None]


def test_the_masks_of_a_rank_are_its_rows_of_the_global_masks():
    like = np.zeros(1)
    whole = Dropout([0.5], 0.0, np.random.default_rng(3)).draw(7, [4, 5], like)
    share = Dropout([0.5], 0.0, np.random.default_rng(3)).draw(7, [4, 5], like, rank=1, size=2)
    assert np.array_equal(share.keep[1], whole.keep[1][1::2])


def test_rates_are_checked():
    assert check_rates(0.3, 2) == [0.3, 0.3] and check_rates([0.1], 3) == [0.1] * 3 and check_rates([], 2) == [0.0, 0.0]
    for bad in (1.0, -0.1, [0.1, 0.2, 0.3], "0.5", float("nan")):
        with pytest.raises(BpnnValueError, match="dropout"):
            check_rates(bad, 2)


def test_dropout_changes_training_but_not_evaluation(backend):
    """Trained with dropout, the network predicts deterministically, as the plain forward pass says."""
    net, trainer, (X, Y) = _trained(backend)
    plain, _, _ = _trained(backend, dropout=None, input_dropout=0.0, max_norm=None)
    assert not np.allclose(to_numpy(net.flatten()), to_numpy(plain.flatten()), atol=1e-4)
    first, second = to_numpy(net.feedforward(X)), to_numpy(net.feedforward(X))
    assert np.array_equal(first, second)
    cost, accuracy = evaluate(net, X, Y)
    assert cost == pytest.approx(float(net.cost(X, Y)), rel=1e-12)


def test_every_backend_draws_the_same_masks(backend):
    """The numpy fast path, the generic kernels and this backend train to the same parameters (float64)."""
    cpu = resolve_device("cpu")
    reference, _, _ = _trained(cpu, fast=False)
    got, _, _ = _trained(backend)
    np.testing.assert_allclose(to_numpy(got.flatten()), to_numpy(reference.flatten()), rtol=1e-9, atol=1e-11)


def test_max_norm_bounds_every_hidden_unit_and_leaves_the_output_layer(backend):
    net, _, _ = _trained(backend, dropout=None, input_dropout=0.0, max_norm=0.5, epochs=4)
    hidden = [np.linalg.norm(to_numpy(w), axis=0) for w in net.weights[:-1]]
    assert all(np.all(n <= 0.5 * (1 + 1e-12)) for n in hidden)
    assert any(np.any(n > 0.5 * (1 - 1e-9)) for n in hidden), "the bound was reached, so it was applied"
    assert np.max(np.linalg.norm(to_numpy(net.weights[-1]), axis=0)) > 0.5


def test_resume_is_bit_exact_with_dropout(backend):
    """Two epochs, state saved, a fresh trainer continues: the parameters of an uninterrupted 4-epoch run, bit for bit."""
    whole, _, _ = _trained(backend, epochs=4)
    half, trainer, (X, Y) = _trained(backend, epochs=2)
    state = trainer.state_dict()
    fresh = Trainer(half, "adam", lr=0.01, batch_size=16, l2=0.1, seed=999, **DROPOUT)  # another seed: the state wins
    fresh.load_state_dict(state)
    fresh.fit(X, Y, epochs=2)
    assert np.array_equal(to_numpy(half.flatten()), to_numpy(whole.flatten()))


def test_dropout_and_max_norm_refuse_the_full_batch_methods(backend):
    net = random_network(backend, SIZES, "relu", seed=1)
    X, Y = random_problem(backend, SIZES, m=20, seed=2)
    with pytest.raises(SettingError, match="minibatch optimizer"):
        Trainer(net, "lbfgs", dropout=0.5).fit(X, Y, epochs=2)


# ---------------------------------------------------------------------- sample weights
def _weighted_fit(backend, optimizer, weights=None, repeat=None, **settings):
    net = random_network(backend, SIZES, "tanh", seed=1)
    X, Y = random_problem(backend, SIZES, m=30, seed=2)
    if repeat is not None:
        X, Y = (backend.asarray(np.repeat(to_numpy(a), repeat, axis=0), "float64") for a in (X, Y))
    trainer = Trainer(net, optimizer, seed=0, l2=0.3, **settings)
    w = None if weights is None else backend.asarray(weights, "float64")
    trainer.fit(X, Y, epochs=15, sample_weight=w)
    return to_numpy(net.flatten()), trainer


@pytest.mark.parametrize("optimizer,settings", [("lbfgs", {}), ("sgd", {"batch_size": "full", "lr": 0.3})])
def test_integer_weights_train_like_repeated_rows(backend, optimizer, settings):
    """scikit-learn's meaning: weight k is the row k times (zero drops it), penalty divided by the weights' sum."""
    counts = np.random.default_rng(4).integers(0, 4, 30)
    weighted, t_w = _weighted_fit(backend, optimizer, counts.astype(float), **settings)
    repeated, t_r = _weighted_fit(backend, optimizer, repeat=counts, **settings)
    np.testing.assert_allclose(weighted, repeated, rtol=1e-7, atol=1e-9)
    np.testing.assert_allclose(t_w.history.records[-1].cost, t_r.history.records[-1].cost, rtol=1e-9)


def test_bad_sample_weights_are_one_clear_error(backend):
    net = random_network(backend, SIZES, "tanh", seed=1)
    X, Y = random_problem(backend, SIZES, m=5, seed=2)
    trainer = Trainer(net, "sgd")
    for weights, message in [([0, 0, 0, 0, 0], "0 for every row"), ([1, -1, 1, 1, 1], ">= 0"), ([1, 1], "one number per")]:
        with pytest.raises(BpnnValueError, match=message):
            trainer.fit(X, Y, epochs=1, sample_weight=backend.asarray(np.asarray(weights, float), "float64"))
