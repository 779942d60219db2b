"""Backprop against central differences: every activation x cost x penalty, on every backend."""

from __future__ import annotations

import pytest

from bpnn_xp import gradient_check
from bpnn_xp.errors import BpnnValueError
from tests.helpers import ACTIVATION_NAMES, COST_CASES, PENALTIES, make_cost, random_network, random_problem

SIZES = [3, 5, 4, 3]  # two hidden layers, so the delta recursion is exercised twice

GRADCHECK_RESULTS: list[float] = []  # collected for the report printed by the session summary


@pytest.mark.parametrize("l2,l1", PENALTIES, ids=[f"l2={a},l1={b}" for a, b in PENALTIES])
@pytest.mark.parametrize("cost_name,output", COST_CASES, ids=[f"{c}-{o}" if o else c for c, o in COST_CASES])
@pytest.mark.parametrize("activation", ACTIVATION_NAMES)
def test_gradient_check_float64(backend, activation, cost_name, output, l2, l1):
    cost = make_cost(cost_name, output)
    net = random_network(backend, SIZES, activation, cost, seed=3)
    X, Y = random_problem(backend, SIZES, m=7, seed=4, multilabel=cost_name != "softmax_cross_entropy")
    difference = gradient_check(net, X, Y, l2=l2, l1=l1)
    GRADCHECK_RESULTS.append(difference)
    assert difference < 1e-9, f"relative difference {difference:.3e}"


def test_gradient_check_mixed_activations(backend):
    net = random_network(backend, [4, 6, 5, 3], ["relu", "sigmoid"], "softmax_cross_entropy", seed=8)
    X, Y = random_problem(backend, [4, 6, 5, 3], m=11, seed=9)
    assert gradient_check(net, X, Y, l2=0.2) < 1e-9


def test_gradient_check_detects_a_wrong_gradient(backend):
    """The check can fail: a backprop with a deliberately wrong bias gradient is caught."""
    net = random_network(backend, [3, 4, 2], "tanh", seed=1)
    X, Y = random_problem(backend, [3, 4, 2], m=5, seed=2)
    original = net.forward_backward

    def broken(*args, **kwargs):
        cost, grads, logits = original(*args, **kwargs)
        grads[1] = grads[1] * 1.01
        return cost, grads, logits

    net.forward_backward = broken
    assert gradient_check(net, X, Y) > 1e-4


def test_penalties_skip_biases(backend):
    """Biases are not penalized: a penalty changes only weight gradients."""
    net = random_network(backend, [3, 4, 2], "sigmoid", seed=5)
    X, Y = random_problem(backend, [3, 4, 2], m=6, seed=6)
    _, plain = net.backprop(X, Y)
    _, penalized = net.backprop(X, Y, l2=2.0, l1=1.0)
    xp = net.xp
    for i, (g0, g1) in enumerate(zip(plain, penalized)):
        same = bool(xp.all(g0 == g1))
        assert same == (i % 2 == 1), f"param {i}: {'bias' if i % 2 else 'weight'} gradient {'un' if same else ''}changed"


def test_course_cost_equals_the_notes_formula(backend):
    """J(Theta) computed from logits equals the notes' -y log h - (1-y) log(1-h) + lambda/2m sum Theta^2."""
    import numpy as np

    from bpnn_xp.backends import to_numpy

    net = random_network(backend, [4, 5, 3], "sigmoid", "sigmoid_cross_entropy", seed=2)
    X, Y = random_problem(backend, [4, 5, 3], m=8, seed=3)
    lam = 1.5
    thetas = [to_numpy(t) for t in net.to_course_thetas()]
    x, y = to_numpy(X), to_numpy(Y)
    a = x
    for t in thetas:
        a = 1.0 / (1.0 + np.exp(-(np.hstack([np.ones((len(a), 1)), a]) @ t.T)))
    m = len(x)
    expected = -np.sum(y * np.log(a) + (1 - y) * np.log(1 - a)) / m + lam / (2 * m) * sum(np.sum(t[:, 1:] ** 2) for t in thetas)
    assert abs(float(net.cost(X, Y, l2=lam)) - expected) < 1e-12 * abs(expected)


def test_penalty_rejects_negative_values_in_training(backend):
    from bpnn_xp import Trainer

    net = random_network(backend, [2, 2], "tanh")
    with pytest.raises(BpnnValueError, match="penalty l2 must be >= 0"):
        Trainer(net, "sgd", l2=-1.0)


def test_softmax_delta_is_exact_for_targets_that_do_not_sum_to_one(backend):
    """The fused delta is a * sum(y) - y: right for soft or unnormalized targets too."""
    import numpy as np

    net = random_network(backend, [3, 5, 4], "tanh", "softmax_cross_entropy", seed=4)
    X, _ = random_problem(backend, [3, 5, 4], m=6, seed=5)
    Y = backend.asarray(np.random.default_rng(6).uniform(0, 2, size=(6, 4)), "float64")
    assert gradient_check(net, X, Y) < 1e-9


# ---------------------------------------------------------------------- dropout (a fixed mask) and weighted costs
def _fixed_masks(backend, sizes, m, rates, seed=11):
    """Masks drawn by the training code's own Dropout, held fixed for the central differences."""
    import numpy as np

    from bpnn_xp.engine.dropout import Dropout

    like = backend.asarray(np.zeros(1), "float64")
    return Dropout(rates[1:], rates[0], np.random.default_rng(seed)).draw(m, sizes[:-1], like)


@pytest.mark.parametrize("cost_name,output", COST_CASES, ids=[f"{c}-{o}" if o else c for c, o in COST_CASES])
@pytest.mark.parametrize("activation", ["sigmoid", "tanh", "relu"])
def test_gradient_check_with_a_fixed_dropout_mask(backend, activation, cost_name, output):
    """Inverted dropout on the inputs and both hidden layers: backprop equals the central differences of the
    masked cost (the same masks in every evaluation), with a penalty."""
    net = random_network(backend, SIZES, activation, make_cost(cost_name, output), seed=3)
    X, Y = random_problem(backend, SIZES, m=7, seed=4, multilabel=cost_name != "softmax_cross_entropy")
    masks = _fixed_masks(backend, SIZES, 7, [0.3, 0.5, 0.25])
    kept = sum(int(backend.xp.sum(backend.xp.astype(k, backend.xp.int64))) for k in masks.keep)
    assert 0 < kept < 7 * sum(SIZES[:-1]), "the masks drop some units and keep others"
    difference = gradient_check(net, X, Y, l2=0.4, masks=masks)
    assert difference < 1e-9, f"relative difference {difference:.3e}"


def test_dropout_changes_the_gradient_and_no_mask_is_the_plain_gradient(backend):
    """The check could fail: a mask changes backprop's gradient, and all-kept masks with rate 0 give the plain one."""
    net = random_network(backend, SIZES, "tanh", seed=3)
    X, Y = random_problem(backend, SIZES, m=7, seed=4)
    _, plain = net.backprop(X, Y)
    _, dropped = net.backprop(X, Y, masks=_fixed_masks(backend, SIZES, 7, [0.0, 0.5, 0.5]))
    _, none = net.backprop(X, Y, masks=_fixed_masks(backend, SIZES, 7, [0.0, 0.0, 0.0]))
    xp = net.xp
    assert float(xp.max(xp.abs(net.flatten(plain) - net.flatten(dropped)))) > 1e-3
    assert bool(xp.all(net.flatten(plain) == net.flatten(none)))


@pytest.mark.parametrize("cost_name,output", COST_CASES, ids=[f"{c}-{o}" if o else c for c, o in COST_CASES])
def test_gradient_check_of_the_weighted_cost(backend, cost_name, output):
    """mean(w_i loss_i) + penalty: backprop against central differences, zero weights included."""
    import numpy as np

    net = random_network(backend, SIZES, "tanh", make_cost(cost_name, output), seed=3)
    X, Y = random_problem(backend, SIZES, m=7, seed=4, multilabel=cost_name != "softmax_cross_entropy")
    weights = backend.asarray(np.array([0.0, 2.0, 0.5, 1.0, 3.0, 0.0, 1.5]), "float64")
    difference = gradient_check(net, X, Y, l2=0.3, row_weights=weights)
    assert difference < 1e-9, f"relative difference {difference:.3e}"


def test_integer_weights_give_the_cost_and_gradient_of_repeated_rows(backend):
    """Closed form: weights (2, 0, 1, 3) with the mean-one scaling the Trainer uses equal the rows repeated."""
    import numpy as np

    from bpnn_xp.backends import to_numpy

    net = random_network(backend, SIZES, "relu", seed=3)
    X, Y = random_problem(backend, SIZES, m=4, seed=4)
    counts = np.array([2, 0, 1, 3])
    w = backend.asarray(counts * (4 / counts.sum()), "float64")
    rows = np.repeat(np.arange(4), counts)
    Xr, Yr = (backend.asarray(to_numpy(a)[rows], "float64") for a in (X, Y))
    cost_w, grads_w = net.backprop(X, Y, l2=0.5, n=float(counts.sum()), row_weights=w)
    cost_r, grads_r = net.backprop(Xr, Yr, l2=0.5)
    assert float(cost_w) == pytest.approx(float(cost_r), rel=1e-12)
    np.testing.assert_allclose(to_numpy(net.flatten(grads_w)), to_numpy(net.flatten(grads_r)), rtol=1e-10, atol=1e-14)
