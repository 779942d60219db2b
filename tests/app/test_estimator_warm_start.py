"""The estimator follows scikit-learn's warm-start semantics (a changed solver takes effect with the weights kept; a
changed architecture is an error naming the fix), and a loaded run applies the model's input convention, so
``bpnn_xp.load(run).predict`` on raw pixels equals ``bpnn predict`` on the same array."""

from __future__ import annotations

import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from typer.testing import CliRunner

import bpnn_xp
from bpnn_xp.cli import app
from bpnn_xp.errors import BpnnValueError
from bpnn_xp.sklearn import BpnnClassifier

SMALL = {"hidden_layer_sizes": (8,), "learning_rate_init": 0.01, "random_state": 0, "n_iter_no_change": 50}


@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=150, centers=3, n_features=4, random_state=3)
    return X / np.abs(X).max(), y


def fit(estimator, X, y, **params):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.set_params(**params).fit(X, y)


def weights(estimator):
    return np.concatenate([w.ravel() for w in estimator.coefs_ + estimator.intercepts_])


def test_a_new_solver_under_warm_start_takes_effect_with_the_weights_kept(blobs):
    X, y = blobs
    same = fit(BpnnClassifier(**SMALL, warm_start=True), X, y, max_iter=2)
    fit(same, X, y, max_iter=1)
    switched = fit(BpnnClassifier(**SMALL, warm_start=True), X, y, max_iter=2)
    start = weights(switched)
    fit(switched, X, y, solver="sgd", learning_rate_init=0.5, max_iter=1)
    fresh_sgd = fit(BpnnClassifier(**SMALL), X, y, solver="sgd", learning_rate_init=0.5, max_iter=1)
    assert switched._trainer.method == "sgd" and switched.n_iter_ == 3 and len(switched.loss_curve_) == 3
    assert not np.allclose(weights(switched), weights(same))  # not adam's third epoch: the solver was not ignored
    assert not np.allclose(weights(switched), weights(fresh_sgd))  # continued from the fitted weights, not restarted
    moved = np.abs(weights(switched) - start).max()
    assert 0 < moved < np.abs(start).max() * 10  # one step of sgd from where adam left off


def test_a_new_learning_rate_applies_to_the_continued_solver(blobs):
    X, y = blobs
    estimator = fit(BpnnClassifier(**SMALL, warm_start=True), X, y, max_iter=1)
    fit(estimator, X, y, learning_rate_init=0.003, max_iter=1)
    assert estimator._trainer.optimizer.lr == pytest.approx(0.003) and estimator._trainer.optimizer.t > 0  # moments kept


@pytest.mark.parametrize(("change", "match"), [({"hidden_layer_sizes": (5,)}, r"hidden_layer_sizes is \(5,\) but the fitted "
                                                r"network's hidden layers are \(8,\).*warm_start=False"),
                                               ({"activation": "tanh"}, r"activation is 'tanh' but the fitted network uses "
                                                "'relu'")])  # fmt: skip
def test_a_changed_architecture_under_warm_start_is_an_error_naming_the_fix(blobs, change, match):
    X, y = blobs
    estimator = fit(BpnnClassifier(**SMALL, warm_start=True), X, y, max_iter=1)
    with pytest.raises(BpnnValueError, match=match):
        fit(estimator, X, y, **change)
    with pytest.raises(BpnnValueError, match=match):
        estimator.partial_fit(X, y)
    refit = fit(estimator, X, y, warm_start=False, max_iter=1)  # the documented way: refit from scratch
    assert refit.get_params()[next(iter(change))] == next(iter(change.values()))


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    result = CliRunner().invoke(app, ["train", "--hidden", "16", "--epochs", "3", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out


@pytest.mark.parametrize("scale", [16, 255, 1])
def test_loaded_estimator_predicts_raw_pixels_as_bpnn_predict(digits_run, tmp_path, scale):
    from sklearn.datasets import load_digits

    pixels = load_digits().data[:40]  # 0..16, as the model was trained
    raw = np.round(pixels * scale / 16) if scale > 1 else pixels / 16  # 0..16, 0..255 or [0, 1]
    np.save(tmp_path / "raw.npy", raw)
    result = CliRunner().invoke(app, ["predict", str(digits_run), str(tmp_path / "raw.npy"), "--json"])
    assert result.exit_code == 0, result.output
    cli = [row["class"] for row in json.loads(result.stdout)]
    loaded = bpnn_xp.load(digits_run)
    assert loaded.predict(raw).tolist() == cli
    expected = np.array([[row["probabilities"][str(k)] for k in range(10)] for row in json.loads(result.stdout)])
    np.testing.assert_allclose(loaded.predict_proba(raw), expected, atol=1e-5)
    assert np.mean(np.array(cli) == load_digits().target[:40]) > 0.5  # the pixels were scaled, not fed raw


@pytest.mark.parametrize(
    ("params", "y", "match"),
    [({}, [[0, 1], [1], [0], [1]], "y must be one label per sample .* ragged list"),
     ({"random_state": -1}, [0, 1, 0, 1], "random_state must be None, a whole number >= 0 or a numpy RandomState, got -1")],
)  # fmt: skip
def test_estimator_argument_errors_are_the_projects_naming_the_argument(params, y, match):
    from bpnn_xp.errors import BpnnError

    with pytest.raises(BpnnError, match=match) as info:
        BpnnClassifier(**params).fit(np.zeros((4, 2)), y)
    assert isinstance(info.value, ValueError)
