"""``Trainer.fit(epoch_inputs=...)``: new inputs every epoch (e.g. augmentation), Y and validation unchanged.

The oracle for "trains on what it returns" is the same trainer fitted one epoch at a time on those
inputs directly: the shuffling stream and optimizer state carry over between ``fit`` calls.
"""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import backends
from bpnn_xp.engine import Network, Trainer
from bpnn_xp.errors import BpnnTypeError, BpnnValueError

CPU = backends.resolve_device("cpu")


def problem(seed: int = 0, rows: int = 60) -> tuple:
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 5))
    Y = np.eye(3)[rng.integers(0, 3, size=rows)]
    return CPU.asarray(X, "float64"), CPU.asarray(Y, "float64")


def shifted(X, epoch: int):
    """A different input per epoch: the epoch's own deterministic perturbation."""
    noise = np.random.default_rng(100 + epoch).normal(scale=0.1, size=tuple(X.shape))
    return X + CPU.asarray(noise, "float64")


def trainer(optimizer: str = "adam") -> Trainer:
    network = Network.create([5, 7, 3], activation="tanh", seed=1, dtype="float64")
    return Trainer(network, optimizer, 0.05 if optimizer != "lbfgs" else None, batch_size=16, seed=4)


def test_called_once_per_epoch_with_the_epoch_about_to_run():
    X, Y = problem()
    calls: list[int] = []
    t = trainer()

    def inputs(epoch):
        calls.append(epoch)
        return shifted(X, epoch)

    t.fit(X, Y, 3, epoch_inputs=inputs)
    t.fit(X, Y, 2, epoch_inputs=inputs)  # a later fit goes on counting
    assert calls == [1, 2, 3, 4, 5]
    assert [r.epoch for r in t.history.records] == [1, 2, 3, 4, 5]


def test_trains_on_what_it_returns():
    X, Y = problem()
    hooked = trainer()
    hooked.fit(X, Y, 3, epoch_inputs=lambda e: shifted(X, e))
    direct = trainer()
    for epoch in (1, 2, 3):
        direct.fit(shifted(X, epoch), Y, 1)
    plain = trainer()
    plain.fit(X, Y, 3)
    np.testing.assert_array_equal(hooked.network.flatten(), direct.network.flatten())
    assert not np.allclose(hooked.network.flatten(), plain.network.flatten()), "the hook's inputs made no difference"
    assert [r.cost for r in hooked.history.records] == [r.cost for r in direct.history.records]


def test_validation_is_unchanged_by_the_hook():
    X, Y = problem()
    Xv, Yv = problem(seed=9, rows=20)
    t = trainer()
    t.fit(X, Y, 2, validation=(Xv, Yv), epoch_inputs=lambda e: shifted(X, e))
    from bpnn_xp.engine import evaluate

    cost, accuracy = evaluate(t.network, Xv, Yv, n=X.shape[0])
    assert t.history.records[-1].val_cost == pytest.approx(cost, rel=1e-12)
    assert t.history.records[-1].val_accuracy == accuracy


@pytest.mark.parametrize(
    ("returned", "error", "message"),
    [
        (lambda X: X[:10, ...], BpnnValueError, r"epoch_inputs\(1\) returned shape \(10, 5\); it must match X's \(60, 5\)"),
        (lambda X: X * float("nan"), BpnnValueError, r"epoch_inputs\(1\) returned NaN or infinite values"),
        (lambda X: CPU.asarray(np.asarray(X), "float32"), BpnnTypeError, r"epoch_inputs\(1\) is float32"),
        (lambda X: [[0.0] * 5] * 60, BpnnTypeError, r"epoch_inputs\(1\) must be an array"),
    ],
)
def test_a_bad_return_is_one_clear_error(returned, error, message):
    X, Y = problem()
    t = trainer()
    with pytest.raises(error, match=message):
        t.fit(X, Y, 2, epoch_inputs=lambda e: returned(X))
    assert t.epoch == 0


def test_full_batch_scipy_methods_refuse_the_hook():
    X, Y = problem()
    with pytest.raises(BpnnValueError, match="epoch_inputs .* needs a minibatch optimizer; lbfgs"):
        trainer("lbfgs").fit(X, Y, 2, epoch_inputs=lambda e: X)
