"""Learning-rate schedules: the cosine formula against its closed form, the rate each step really uses, a bit-exact
resume of an interrupted run, and one clear error where a schedule cannot apply."""

from __future__ import annotations

import math

import numpy as np
import pytest

from bpnn_xp import Trainer
from bpnn_xp.backends import to_numpy
from bpnn_xp.engine.schedules import LrSchedule, check_lr_schedule, scheduled_lr
from bpnn_xp.errors import BpnnValueError, SettingError
from tests.helpers import random_network, random_problem

SIZES = [5, 7, 3]


def test_cosine_is_the_closed_form_and_constant_is_the_base_rate():
    end = 8
    got = [scheduled_lr("cosine", 0.4, t, end) for t in range(end)]
    assert got[0] == 0.4 and got[4] == pytest.approx(0.2, rel=1e-15)  # cos(pi/2) = 0: half the rate halfway
    assert all(a > b > 0 for a, b in zip(got, got[1:])), "falls strictly and never reaches 0 inside the plan"
    assert got[-1] == pytest.approx(0.4 * (1 - math.cos(math.pi / end)) / 2, rel=1e-12)  # 1 + cos(pi 7/8) = 1 - cos(pi/8)
    assert scheduled_lr("cosine", 0.4, 20, end) == got[-1], "past the plan the rate stays at its last value"
    assert [scheduled_lr("constant", 0.4, t, end) for t in range(end)] == [0.4] * end


def test_schedule_names_and_saved_ends_are_checked():
    assert check_lr_schedule("lr_schedule", " Cosine ") == "cosine"
    for bad in ("invscaling", "", None, 3):
        with pytest.raises(SettingError, match="lr_schedule must be one of constant, cosine"):
            check_lr_schedule("lr_schedule", bad)
    for bad in (-1, 2.5, "4", True):
        with pytest.raises(BpnnValueError, match="schedule end"):
            LrSchedule("cosine", 0.1).load_end(bad)


def _trainer(backend, schedule="cosine", seed=3):
    net = random_network(backend, SIZES, "tanh", seed=1)
    return Trainer(net, "sgd", lr=0.3, batch_size=10, l2=0.1, seed=seed, lr_schedule=schedule)


def test_every_step_of_an_epoch_uses_that_epochs_rate(backend):
    """A spy on the optimizer's step reads the rate in force: epoch t of T steps at lr (1 + cos(pi t/T))/2."""
    trainer = _trainer(backend)
    X, Y = random_problem(backend, SIZES, m=30, seed=2)
    seen, step = [], trainer.optimizer.step
    trainer.optimizer.step = lambda *a, **k: (seen.append((trainer.epoch, trainer.optimizer.lr)), step(*a, **k))[1]
    trainer.fit(X, Y, epochs=5)
    assert len(seen) == 5 * 3
    for epoch, lr in seen:
        assert lr == scheduled_lr("cosine", 0.3, epoch - 1, 5)
    constant = _trainer(backend, "constant")
    constant.fit(X, Y, epochs=2)
    assert constant.optimizer.lr == 0.3


def test_an_interrupted_cosine_run_resumes_bit_exact(backend):
    """Stopped after 2 of 5 planned epochs, saved, continued for the 3 left: the uninterrupted run, bit for bit."""
    X, Y = random_problem(backend, SIZES, m=30, seed=2)
    whole = _trainer(backend)
    whole.fit(X, Y, epochs=5)
    cut = _trainer(backend)

    def stop_after_two(record):
        if record.epoch == 2:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        cut.fit(X, Y, epochs=5, on_epoch=stop_after_two)
    state = cut.state_dict()
    assert state["schedule_end"] == 5
    fresh = _trainer(backend, seed=77)  # another seed: the saved state wins
    fresh.network.load_flat(cut.network.flatten())
    fresh.load_state_dict(state)
    fresh.fit(X, Y, epochs=3)
    assert np.array_equal(to_numpy(fresh.network.flatten()), to_numpy(whole.network.flatten()))
    stretched = _trainer(backend)
    stretched.fit(X, Y, epochs=2)
    stretched.fit(X, Y, epochs=3)  # no plan of 5 was ever made: the first 2 epochs decayed over 2
    assert not np.array_equal(to_numpy(stretched.network.flatten()), to_numpy(whole.network.flatten()))
    assert stretched.schedule.end == 5


def test_a_schedule_refuses_the_full_batch_methods(backend):
    net = random_network(backend, SIZES, "tanh", seed=1)
    with pytest.raises(SettingError, match="lbfgs chooses its own step lengths"):
        Trainer(net, "lbfgs", lr_schedule="cosine")
    assert Trainer(net, "lbfgs").schedule.end == 0


def test_each_epoch_records_the_rate_it_used(backend):
    trainer = _trainer(backend)
    X, Y = random_problem(backend, SIZES, m=30, seed=2)
    trainer.fit(X, Y, epochs=3)
    assert [r.lr for r in trainer.history.records] == [scheduled_lr("cosine", 0.3, t, 3) for t in range(3)]
