"""Dropout, max-norm, class and sample weights and the user's own validation set, through the launcher, sweeps and
the scikit-learn estimators (issue 23)."""

from __future__ import annotations

import csv
import json
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils.class_weight import compute_sample_weight
from typer.testing import CliRunner

from bpnn_xp import backends, checkpoint, sweep
from bpnn_xp.cli import app
from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import SettingError
from bpnn_xp.settings import train_setting
from bpnn_xp.sklearn import BpnnClassifier, BpnnRegressor
from bpnn_xp.workflow import class_weights

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def quiet(estimator, *args, **kwargs):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(*args, **kwargs)


# ---------------------------------------------------------------------- the settings rows
def test_dropout_text_parses_per_layer_and_sweeps():
    dropout = train_setting("dropout")
    assert dropout.from_text("0.2") == [0.2] and dropout.from_text("0.2,0.5") == [0.2, 0.5] and dropout.from_text("none") == []
    assert TrainConfig(hidden=[8, 8], dropout=0.5).validate().dropout == [0.5]
    assert sweep.parse_grid(["dropout=0;0.5;0.2,0.5"]) == {"dropout": [[0.0], [0.5], [0.2, 0.5]]}
    assert sweep.parse_grid(["max_norm=3,none"]) == {"max_norm": [3.0, None]}
    with pytest.raises(SettingError, match="dropout gives 2 rates but hidden has 1 layer"):
        TrainConfig(hidden=[8], dropout=[0.2, 0.5]).validate()
    with pytest.raises(SettingError, match="max_norm changes every step"):
        TrainConfig(optimizer="lbfgs", max_norm=3.0).validate()


@pytest.mark.parametrize("args,flag", [(("--dropout", "1.5"), "--dropout"), (("--max-norm", "-1"), "--max-norm"),
                                       (("--class-weight", "heavy"), "--class-weight"),
                                       (("--hidden", "8", "--dropout", "0.1,0.2"), "--dropout")])  # fmt: skip
def test_bad_values_are_one_line_naming_the_flag(tmp_path, args, flag):
    result = invoke("train", *args, "--out", tmp_path / "run")
    assert result.exit_code == 2 and flag in result.output and len(result.output.strip().splitlines()) == 1, result.output


# ---------------------------------------------------------------------- the launcher
def test_train_with_dropout_max_norm_and_class_weight_resumes_bit_exact(tmp_path):
    """The mask stream is checkpointed: 1 epoch + a resumed epoch equal 2 epochs; dropout changes the result."""
    common = ("--dataset", "digits", "--hidden", "16,8", "--dropout", "0.2,0.5", "--input-dropout", "0.1", "--max-norm", "2",
              "--class-weight", "balanced")  # fmt: skip
    whole = invoke("train", *common, "--epochs", "2", "--out", tmp_path / "whole", "--json")
    half = invoke("train", *common, "--epochs", "1", "--out", tmp_path / "half")
    resumed = invoke("train", "--resume", tmp_path / "half", "--epochs", "1")
    plain = invoke("train", "--dataset", "digits", "--hidden", "16,8", "--epochs", "2", "--out", tmp_path / "plain")
    assert all(r.exit_code == 0 for r in (whole, half, resumed, plain)), whole.output + half.output + resumed.output
    saved = {name: checkpoint.load_model(tmp_path / name) for name in ("whole", "half", "plain")}
    config = saved["whole"].config
    assert (config.dropout, config.input_dropout, config.max_norm, config.class_weight) == ([0.2, 0.5], 0.1, 2.0, "balanced")
    for a, b in zip(saved["whole"].network.params, saved["half"].network.params):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(saved["whole"].network.params[0]), np.asarray(saved["plain"].network.params[0]))
    for w in saved["whole"].network.weights[:-1]:
        assert np.all(np.linalg.norm(np.asarray(w), axis=0) <= 2.0 * (1 + 1e-6))
    assert json.loads(whole.stdout)["epochs"] == 2


def _write_points(path, rows, seed, kinds=("cat", "dog")):
    rng = np.random.default_rng(seed)
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "kind"])
        for _ in range(rows):
            k = rng.integers(0, len(kinds))
            x = rng.normal(size=2) + (3 if k else -3)
            writer.writerow([f"{x[0]:.4f}", f"{x[1]:.4f}", kinds[k]])


def test_val_data_drives_early_stopping_and_the_validation_curve(tmp_path):
    _write_points(tmp_path / "train.csv", 200, 1)
    _write_points(tmp_path / "val.csv", 60, 2)
    out = tmp_path / "run"
    result = invoke("train", "--data", tmp_path / "train.csv", "--val-data", tmp_path / "val.csv", "--label-column", "kind",
                    "--hidden", "4", "--epochs", "40", "--early-stopping", "3", "--out", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    metrics = json.loads(result.stdout)
    assert metrics["train_samples"] == 160  # no validation share taken: 200 rows minus the 20% test split
    saved = checkpoint.load_model(out)
    assert all(r.val_accuracy is not None for r in saved.history.records)
    report = json.loads(invoke("evaluate", out, "--data", tmp_path / "val.csv", "--label-column", "kind", "--json").stdout)
    assert metrics["val_accuracy"] == pytest.approx(report["accuracy"])  # the curve is the user's set, scored as evaluate does
    assert saved.config.val_data == str((tmp_path / "val.csv").resolve())


def test_val_data_with_a_class_the_training_data_lacks_is_one_line(tmp_path):
    _write_points(tmp_path / "train.csv", 100, 1)
    _write_points(tmp_path / "val.csv", 30, 2, kinds=("cat", "cow"))
    result = invoke("train", "--data", tmp_path / "train.csv", "--val-data", tmp_path / "val.csv", "--label-column", "kind",
                    "--epochs", "1", "--out", tmp_path / "run")  # fmt: skip
    errors = [line for line in result.output.splitlines() if line.startswith("error:")]  # notes say how each file was read
    assert result.exit_code == 2 and len(errors) == 1 and "cow" in errors[0] and "Traceback" not in result.output, result.output


def test_balanced_class_weights_are_scikit_learns():
    labels = np.array([0, 0, 0, 0, 1, 2, 2, 0])
    got = backends.to_numpy(class_weights("balanced", labels, 4, backends.resolve_device("cpu"), "float64"))
    np.testing.assert_allclose(got, compute_sample_weight("balanced", labels), rtol=1e-15)
    assert class_weights(None, labels, 4, backends.resolve_device("cpu"), "float64") is None


# ---------------------------------------------------------------------- the estimators
@pytest.fixture(scope="module")
def blobs():
    X, y = make_blobs(n_samples=300, centers=3, n_features=5, cluster_std=3.0, random_state=2)
    return (X - X.mean(0)) / X.std(0), y


SMALL = {"hidden_layer_sizes": (16,), "max_iter": 60, "learning_rate_init": 0.01, "random_state": 0}


def test_class_weight_is_sample_weight_per_class(blobs):
    X, y = blobs
    weights = {0: 1.0, 1: 3.0, 2: 0.5}
    by_class = quiet(BpnnClassifier(**SMALL, class_weight=weights), X, y)
    by_sample = quiet(BpnnClassifier(**SMALL), X, y, sample_weight=compute_sample_weight(weights, y))
    np.testing.assert_array_equal(by_class.network_.flatten(), by_sample.network_.flatten())
    balanced = quiet(BpnnClassifier(**SMALL, class_weight="balanced"), X[:200], y[:200])
    plain = quiet(BpnnClassifier(**SMALL), X[:200], y[:200])
    assert not np.array_equal(balanced.network_.flatten(), plain.network_.flatten())
    with pytest.raises(SettingError, match="class_weight"):
        BpnnRegressor(class_weight="balanced").fit(X, y.astype(float))


def test_sample_weight_equivalence_with_scikit_learns_own_check():
    """Repetition equivalence (zero weights drop rows) as scikit-learn checks it, for the full-batch solver it uses."""
    from sklearn.utils.estimator_checks import check_sample_weight_equivalence_on_dense_data

    for estimator in (BpnnClassifier(solver="lbfgs", hidden_layer_sizes=(8,), max_iter=200),
                      BpnnClassifier(hidden_layer_sizes=(8,), max_iter=50, learning_rate_init=0.01)):  # fmt: skip
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            check_sample_weight_equivalence_on_dense_data(type(estimator).__name__, estimator)


def test_dropout_parameter_trains_and_predicts_without_dropout(blobs):
    X, y = blobs
    est = quiet(BpnnClassifier(**SMALL, dropout=0.5, input_dropout=0.1, max_norm=3.0), X, y)
    assert est.get_params()["dropout"] == 0.5
    np.testing.assert_array_equal(est.predict_proba(X), est.predict_proba(X))
    assert est.score(X, y) > 0.8
    plain = quiet(BpnnClassifier(**SMALL), X, y)
    assert not np.array_equal(est.network_.flatten(), plain.network_.flatten())


def test_fit_with_the_users_validation_set(blobs):
    X, y = blobs
    est = quiet(BpnnClassifier(**SMALL, early_stopping=True, n_iter_no_change=3), X[:200], y[:200], X_val=X[200:],
                y_val=y[200:])  # fmt: skip
    assert len(est.validation_scores_) == est.n_iter_ and len(est.val_loss_curve_) == est.n_iter_
    assert est.best_validation_score_ == pytest.approx(est.score(X[200:], y[200:]))  # the best epoch's parameters are kept
    with pytest.raises(ValueError, match="X_val and y_val together"):
        BpnnClassifier(**SMALL).fit(X, y, X_val=X)


def test_partial_fit_keeps_its_early_stopping_state_across_calls(blobs):
    """scikit-learn issue 25693: each call is one epoch, scored on the validation set; the patience carries over."""
    X, y = blobs
    est = BpnnClassifier(hidden_layer_sizes=(16,), learning_rate_init=0.05, early_stopping=True, n_iter_no_change=2,
                         tol=0.5, random_state=0)  # fmt: skip
    calls = 0
    while not getattr(est, "stopped_early_", False) and calls < 20:
        est.partial_fit(X[:200], y[:200], classes=[0, 1, 2], X_val=X[200:], y_val=y[200:])
        calls += 1
    assert est.stopped_early_ and calls == 4  # tol 0.5 is never beaten: the first call sets the best, 3 more exhaust 2
    assert len(est.validation_scores_) == 4 and est.best_validation_score_ == max(est.validation_scores_)
    frozen = est.network_.flatten().copy()
    est.partial_fit(X[:200], y[:200], X_val=X[200:], y_val=y[200:])
    np.testing.assert_array_equal(est.network_.flatten(), frozen)
    est.fit(X[:200], y[:200])  # a new fit starts over
    assert not est.stopped_early_
