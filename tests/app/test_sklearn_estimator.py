"""The scikit-learn estimators: sklearn's own estimator checks, MLPClassifier as the oracle, array API
inputs (NumPy, array-api-strict, torch; CuPy where a GPU is present), and save/load in the CLI's format."""

from __future__ import annotations

import importlib.util
import pickle
import time
import warnings

import numpy as np
import pytest
import sklearn
from sklearn.base import clone
from sklearn.datasets import load_digits, make_blobs, make_regression
from sklearn.exceptions import ConvergenceWarning
from sklearn.model_selection import GridSearchCV, cross_val_score, train_test_split
from sklearn.neural_network import MLPClassifier
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import bpnn_xp
from bpnn_xp import backends, checkpoint, models, workflow
from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import BpnnValueError, DataFileError, SettingError
from bpnn_xp.sklearn import BpnnClassifier, BpnnRegressor, load
from tests.backend_cases import array_api_check_skip_reason, cuda_skip_reason

HAS_TORCH = importlib.util.find_spec("torch") is not None
HAS_STRICT = importlib.util.find_spec("array_api_strict") is not None
NO_GPU = cuda_skip_reason()
SMALL = {"hidden_layer_sizes": (16,), "max_iter": 100, "learning_rate_init": 0.01, "random_state": 0}


@pytest.fixture(autouse=True)
def scipy_array_api(monkeypatch: pytest.MonkeyPatch) -> None:
    """scikit-learn refuses array_api_dispatch (and skips its array API checks) unless this is set."""
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")


@pytest.fixture(scope="module")
def blobs() -> tuple[np.ndarray, np.ndarray]:
    X, y = make_blobs(n_samples=240, centers=3, n_features=4, random_state=1)
    return StandardScaler().fit_transform(X), y


def quiet_fit(estimator, X, y):
    """Fit without the ConvergenceWarning a deliberately short run gives."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        return estimator.fit(X, y)


# ---------------------------------------------------------------------- scikit-learn's own checks
@parametrize_with_checks([BpnnClassifier(**SMALL), BpnnRegressor(**SMALL)])
def test_sklearn_estimator_checks(estimator, check):
    """Every check passes; only checks for hardware or libraries absent here skip (their own reason)."""
    reason = array_api_check_skip_reason(check)
    if reason:
        pytest.skip(reason)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        check(estimator)


# ---------------------------------------------------------------------- MLPClassifier as the oracle
def test_forward_pass_matches_mlpclassifier_on_the_same_weights(blobs):
    """Given MLPClassifier's fitted weights, our network gives its probabilities (ReLU, softmax)."""
    X, y = blobs
    mlp = quiet_fit(MLPClassifier(hidden_layer_sizes=(7, 5), max_iter=20, random_state=0), X, y)
    ours = quiet_fit(BpnnClassifier(hidden_layer_sizes=(7, 5), max_iter=1, random_state=0), X, y)
    ours.network_.weights = [np.asarray(w, dtype=np.float64) for w in mlp.coefs_]
    ours.network_.biases = [np.asarray(b, dtype=np.float64) for b in mlp.intercepts_]
    np.testing.assert_allclose(ours.predict_proba(X), mlp.predict_proba(X), rtol=1e-10, atol=1e-12)
    np.testing.assert_array_equal(ours.predict(X), mlp.predict(X))
    np.testing.assert_allclose(ours.predict_log_proba(X), mlp.predict_log_proba(X), rtol=1e-9, atol=1e-12)


def test_alpha_is_mlpclassifiers_penalty():
    """The first epoch's loss with one full batch: cross-entropy plus alpha/(2n) sum W^2, as MLPClassifier reports."""
    X, y = make_blobs(n_samples=50, centers=2, n_features=3, random_state=3)
    est = quiet_fit(BpnnClassifier(hidden_layer_sizes=(4,), alpha=3.0, batch_size="full", max_iter=1, random_state=0), X, y)
    fresh = bpnn_xp.Network.create([3, 4, 2], "relu", "softmax_cross_entropy", "he", 0, "cpu", "float64")
    proba = fresh.feedforward(X.astype(np.float64))
    expected = -np.mean(np.log(proba[np.arange(50), y])) + 3.0 / (2 * 50) * sum(float(np.sum(w**2)) for w in fresh.weights)
    assert est.loss_curve_[0] == pytest.approx(expected, rel=1e-10)


def test_digits_side_by_side_with_mlpclassifier(capsys):
    """Same settings as MLPClassifier on digits: test accuracy within 1 point (times printed for the report)."""
    X, y = load_digits(return_X_y=True)
    X_train, X_test, y_train, y_test = train_test_split(X / 16.0, y, test_size=0.25, random_state=0, stratify=y)
    settings = {"hidden_layer_sizes": (64,), "alpha": 1e-4, "batch_size": 200, "learning_rate_init": 3e-3, "max_iter": 60}
    results = {}
    for name, estimator in (("MLPClassifier", MLPClassifier(**settings, random_state=0)),
                            ("BpnnClassifier", BpnnClassifier(**settings, random_state=0))):  # fmt: skip
        started = time.perf_counter()
        quiet_fit(estimator, X_train, y_train)
        results[name] = (estimator.score(X_test, y_test), time.perf_counter() - started, estimator.n_iter_)
    with capsys.disabled():
        print(
            "\ndigits side by side: "
            + "; ".join(f"{k} accuracy {a:.4f} fit {s:.2f}s ({n} epochs)" for k, (a, s, n) in results.items())
        )
    assert results["BpnnClassifier"][0] > 0.95
    assert abs(results["BpnnClassifier"][0] - results["MLPClassifier"][0]) <= 0.01


# ---------------------------------------------------------------------- fitting behaviour
def test_string_labels_predict_labels_and_score(blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    est = quiet_fit(BpnnClassifier(**SMALL), X, names)
    assert est.classes_.tolist() == ["cat", "dog", "emu"]
    predicted = est.predict(X)
    assert set(predicted) <= {"cat", "dog", "emu"}
    assert est.score(X, names) == pytest.approx(np.mean(predicted == names))
    assert est.score(X, names) > 0.9
    np.testing.assert_array_equal(est.classes_[np.argmax(est.predict_proba(X), axis=1)], predicted)


def test_partial_fit_epochs_equal_fit_epochs(blobs):
    """k partial_fit calls are k epochs of fit: the same seed gives the same parameters exactly."""
    X, y = blobs
    params = {**SMALL, "max_iter": 3, "n_iter_no_change": 50}
    fitted = quiet_fit(BpnnClassifier(**params), X, y)
    stepped = BpnnClassifier(**params)
    for _ in range(3):
        stepped.partial_fit(X, y, classes=[0, 1, 2])
    for a, b in zip(fitted.coefs_ + fitted.intercepts_, stepped.coefs_ + stepped.intercepts_):
        np.testing.assert_array_equal(a, b)
    assert stepped.n_iter_ == 3 and stepped.loss_curve_ == fitted.loss_curve_


def test_partial_fit_needs_classes_first_and_refuses_new_labels(blobs):
    X, y = blobs
    with pytest.raises(BpnnValueError, match="2 classes|1 class"):
        BpnnClassifier().partial_fit(X[y == 0], y[y == 0])
    est = BpnnClassifier(**SMALL).partial_fit(X[:10], y[:10], classes=[0, 1, 2])
    with pytest.raises(BpnnValueError, match="not among the classes"):
        est.partial_fit(X[:10], np.full(10, 7))


def test_warm_start_continues_training(blobs):
    """fit(2 epochs) then a warm fit(3 epochs) is fit(5 epochs): optimizer state and shuffling carry on."""
    X, y = blobs
    params = {**SMALL, "n_iter_no_change": 50}
    whole = quiet_fit(BpnnClassifier(**{**params, "max_iter": 5}), X, y)
    warm = quiet_fit(BpnnClassifier(**{**params, "max_iter": 2}, warm_start=True), X, y)
    quiet_fit(warm.set_params(max_iter=3), X, y)
    for a, b in zip(whole.coefs_, warm.coefs_):
        np.testing.assert_array_equal(a, b)
    assert warm.n_iter_ == 5 and len(warm.loss_curve_) == 5
    cold = quiet_fit(BpnnClassifier(**{**params, "max_iter": 3}), X, y)
    assert cold.n_iter_ == 3


def test_convergence_stops_on_tol_and_warns_at_max_iter(blobs):
    X, y = blobs
    converged = BpnnClassifier(**{**SMALL, "max_iter": 500, "tol": 1e-2, "n_iter_no_change": 2}).fit(X, y)
    assert converged.n_iter_ < 500
    curve = converged.loss_curve_
    assert converged.best_loss_ == min(curve) and converged.loss_ == curve[-1]
    with pytest.warns(ConvergenceWarning, match="max_iter=2"):
        BpnnClassifier(**{**SMALL, "max_iter": 2}).fit(X, y)


def test_early_stopping_keeps_the_best_validation_epoch(blobs):
    """best_validation_score_ is the restored network's accuracy on the same seeded, stratified split."""
    X, y = blobs
    est = quiet_fit(BpnnClassifier(**{**SMALL, "max_iter": 40, "learning_rate_init": 0.05}, early_stopping=True,
                                   validation_fraction=0.25, n_iter_no_change=3), X, y)  # fmt: skip
    assert len(est.validation_scores_) == est.n_iter_
    assert est.best_validation_score_ == max(est.validation_scores_)
    _, val = train_test_split(np.arange(len(y)), test_size=0.25, random_state=0, stratify=y)
    assert est.score(X[val], y[val]) == pytest.approx(est.best_validation_score_)


def test_regressor_learns_several_outputs():
    X, Y = make_regression(n_samples=200, n_features=5, n_targets=3, noise=1.0, random_state=0)
    est = quiet_fit(
        BpnnRegressor(hidden_layer_sizes=(32,), max_iter=300, learning_rate_init=0.01, random_state=0), X, Y / Y.std()
    )
    assert est.predict(X).shape == (200, 3)
    assert est.score(X, Y / Y.std()) > 0.9
    single = quiet_fit(BpnnRegressor(**SMALL), X, Y[:, 0] / Y[:, 0].std())
    assert single.predict(X).shape == (200,)


def test_lbfgs_solver_fits_and_refuses_partial_fit(blobs):
    X, y = blobs
    est = quiet_fit(BpnnClassifier(hidden_layer_sizes=(8,), solver="lbfgs", max_iter=50, random_state=0), X, y)
    assert est.score(X, y) > 0.95 and 0 < est.n_iter_ <= 50
    assert est.network_.dtype == np.float64
    with pytest.raises(BpnnValueError, match="partial_fit works with the minibatch solvers"):
        est.partial_fit(X, y)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"hidden_layer_sizes": (0,)}, "hidden_layer_sizes"),
        ({"solver": "newton"}, "unknown optimizer"),
        ({"activation": "swish"}, "unknown activation"),
        ({"alpha": -1.0}, "alpha"),
        ({"batch_size": 0}, "batch_size"),
        ({"learning_rate_init": 0.0}, "learning_rate_init"),
        ({"max_iter": 0}, "max_iter"),
        ({"dtype": "float16"}, "dtype"),
        ({"beta_1": 1.0}, "beta_1"),
        ({"validation_fraction": 1.0}, "validation_fraction"),
        ({"solver": "lbfgs", "early_stopping": True}, "early_stopping"),
        ({"device": "tpu"}, "unknown device"),
    ],
)
def test_bad_settings_get_one_clear_error_at_fit(blobs, params, message):
    X, y = blobs
    est = BpnnClassifier(**params)  # like every sklearn estimator, nothing is checked before fit
    with pytest.raises(BpnnValueError, match=message) as caught:
        est.fit(X, y)
    assert "\n" not in str(caught.value)


# ---------------------------------------------------------------------- sklearn tools
def test_pipeline_gridsearch_cross_val_score_and_clone(blobs):
    X, y = blobs
    pipe = make_pipeline(StandardScaler(), BpnnClassifier(**{**SMALL, "max_iter": 30}))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        scores = cross_val_score(pipe, X, y, cv=3)
        search = GridSearchCV(pipe, {"bpnnclassifier__hidden_layer_sizes": [(4,), (16,)], "bpnnclassifier__alpha": [1e-4, 1.0]},
                              cv=3).fit(X, y)  # fmt: skip
    assert scores.shape == (3,) and scores.min() > 0.8
    assert search.best_params_["bpnnclassifier__hidden_layer_sizes"] in [(4,), (16,)]
    assert search.best_estimator_[-1].network_.sizes[1] == search.best_params_["bpnnclassifier__hidden_layer_sizes"][0]
    copy = clone(BpnnClassifier(hidden_layer_sizes=(3, 2), device="cpu", dtype="float32"))
    assert copy.get_params()["hidden_layer_sizes"] == (3, 2) and copy.get_params()["dtype"] == "float32"
    assert not hasattr(copy, "network_")


def test_pickle_round_trip_keeps_predictions_and_training_state(blobs):
    X, y = blobs
    est = BpnnClassifier(**SMALL).partial_fit(X, y, classes=[0, 1, 2])
    copy = pickle.loads(pickle.dumps(est))
    np.testing.assert_array_equal(copy.predict_proba(X), est.predict_proba(X))
    est.partial_fit(X, y)
    copy.partial_fit(X, y)  # the optimizer state and shuffling stream travelled too
    np.testing.assert_array_equal(copy.coefs_[0], est.coefs_[0])


# ---------------------------------------------------------------------- array API
def _namespace_cases() -> list:
    cases = [
        pytest.param("array-api-strict:device1", marks=pytest.mark.skipif(not HAS_STRICT, reason="array-api-strict missing")),
        pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch is not installed")),
        pytest.param("cuda", marks=[pytest.mark.gpu, *([pytest.mark.skip(reason=NO_GPU)] if NO_GPU else [])], id="cuda"),
    ]
    return cases


@pytest.mark.parametrize("device", _namespace_cases())
def test_array_api_inputs_train_on_their_device_and_come_back_there(blobs, device):
    """Under array_api_dispatch, fit/predict stay in the inputs' namespace and device and agree with NumPy."""
    X, y = blobs
    backend = backends.resolve_device(device)
    X_dev, y_dev = backend.asarray(X), backend.asarray(y)
    reference = quiet_fit(BpnnClassifier(**{**SMALL, "max_iter": 5}), X, y)
    with sklearn.config_context(array_api_dispatch=True):
        est = quiet_fit(BpnnClassifier(**{**SMALL, "max_iter": 5}), X_dev, y_dev)
        proba, labels = est.predict_proba(X_dev), est.predict(X_dev)
        assert est.score(X_dev, y_dev) == pytest.approx(np.mean(backends.to_numpy(labels) == y))
    for result in (proba, labels):
        assert backends.backend_of(result).library == backend.library
        assert backends.backend_of(result).device == backend.device
    np.testing.assert_allclose(backends.to_numpy(proba), reference.predict_proba(X), rtol=1e-6, atol=1e-9)
    assert est.network_.xp is not np or backend.library == "numpy"


@pytest.mark.skipif(not HAS_STRICT, reason="array-api-strict missing")
def test_predicting_from_another_namespace_than_fit_is_refused(blobs):
    X, y = blobs
    strict = backends.resolve_device("array-api-strict")
    with sklearn.config_context(array_api_dispatch=True):
        est = quiet_fit(BpnnClassifier(**{**SMALL, "max_iter": 2}), strict.asarray(X), strict.asarray(y))
        with pytest.raises(ValueError, match=r"BpnnClassifier.predict\(\) must use the same namespace"):
            est.predict(X)
    assert est.predict(X).shape == (len(y),)  # without dispatch NumPy input is moved to the network


GPU_CASE = pytest.param("cuda", marks=[pytest.mark.gpu, *([pytest.mark.skip(reason=NO_GPU)] if NO_GPU else [])])


@pytest.mark.parametrize(
    "device", [pytest.param("torch", marks=pytest.mark.skipif(not HAS_TORCH, reason="torch missing")), GPU_CASE]
)
def test_numpy_inputs_with_a_device_train_there_and_return_numpy(blobs, device):
    X, y = blobs
    est = quiet_fit(BpnnClassifier(**{**SMALL, "max_iter": 5}, device=device), X, y)
    assert backends.backend_of(est.network_.weights[0]).library == backends.resolve_device(device).library
    proba = est.predict_proba(X)
    assert isinstance(proba, np.ndarray) and isinstance(est.predict(X), np.ndarray)
    reference = quiet_fit(BpnnClassifier(**{**SMALL, "max_iter": 5}), X, y)
    np.testing.assert_allclose(proba, reference.predict_proba(X), rtol=1e-6, atol=1e-9)


# ---------------------------------------------------------------------- the CLI's run format
def test_save_load_keeps_string_labels_predictions_and_training(tmp_path, blobs):
    X, y = blobs
    names = np.array(["cat", "dog", "emu"])[y]
    est = quiet_fit(BpnnClassifier(**SMALL), X, names)
    path = est.save(tmp_path / "run")
    assert path == tmp_path / "run" / "model.npz"
    meta = checkpoint.load_model(path).meta
    assert meta["dataset"]["class_names"] == ["cat", "dog", "emu"] and meta["config"]["hidden"] == [16]
    back = bpnn_xp.load(tmp_path / "run")
    assert isinstance(back, BpnnClassifier) and back.classes_.tolist() == ["cat", "dog", "emu"]
    np.testing.assert_array_equal(back.predict(X), est.predict(X))
    np.testing.assert_allclose(back.predict_proba(X), est.predict_proba(X), rtol=1e-12)
    assert back.get_params() == est.get_params() and back.n_iter_ == est.n_iter_
    est.partial_fit(X, names)
    back.partial_fit(X, names)  # optimizer state and shuffling come back from the file
    np.testing.assert_allclose(back.coefs_[0], est.coefs_[0], rtol=1e-12)


def test_save_load_regressor_and_integer_labels(tmp_path, blobs):
    X, y = blobs
    labels = np.array([3, 10, 42])[y]
    clf = quiet_fit(BpnnClassifier(**SMALL), X, labels)
    back = load(clf.save(tmp_path / "clf"))
    assert back.classes_.dtype.kind == "i" and back.classes_.tolist() == [3, 10, 42]
    np.testing.assert_array_equal(back.predict(X), clf.predict(X))
    reg = quiet_fit(BpnnRegressor(**SMALL), X, X[:, 0] * 2.0)
    reg_back = load(reg.save(tmp_path / "reg"))
    assert isinstance(reg_back, BpnnRegressor)
    np.testing.assert_allclose(reg_back.predict(X), reg.predict(X), rtol=1e-12)


def test_a_cli_run_loads_as_an_estimator_with_its_preprocessing(tmp_path):
    """A `bpnn train` run (standardized inputs) predicts raw features as the workflow predicts them."""
    config = TrainConfig(dataset="digits", epochs=2, hidden=[16], out=str(tmp_path / "cli"), seed=3)
    workflow.run_training(config)
    est = bpnn_xp.load(tmp_path / "cli")
    saved = models.open_model(tmp_path / "cli")
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    expected, _ = models.predict_classes(saved.network, saved.preprocessing.apply(X))
    assert saved.preprocessing.standardize and est.preprocessing_.standardize
    np.testing.assert_array_equal(est.predict(X), expected)
    assert est.classes_.tolist() == list(range(10)) and est.n_features_in_ == 64
    assert est.get_params()["hidden_layer_sizes"] == (16,) and est.get_params()["random_state"] == 3
    assert est.score(X, y) == pytest.approx(np.mean(expected == y))
    again = bpnn_xp.load(est.save(tmp_path / "again"))  # re-saved: the data set and preprocessing stay with the run
    np.testing.assert_array_equal(again.predict(X), expected)
    assert checkpoint.load_model(tmp_path / "again").meta["config"]["dataset"] == "digits"


def test_class_names_of_an_image_folder_run_become_the_labels(tmp_path):
    """A run whose dataset info lists class_names (CLI image folders) predicts those names."""
    net = bpnn_xp.Network.create([4, 3, 2], "relu", "softmax_cross_entropy", "he", 0, "cpu", "float64")
    meta = {"config": TrainConfig(hidden=[3]).to_dict(), "metrics": {},
            "dataset": {"name": "folder", "n_classes": 2, "image_shape": [2, 2], "class_names": ["no", "yes"]}}  # fmt: skip
    checkpoint.save_model(tmp_path / "m", net, meta)
    est = bpnn_xp.load(tmp_path / "m")
    X = np.random.default_rng(0).normal(size=(20, 4))
    expected = np.array(["no", "yes"])[backends.to_numpy(net.predict(X))]
    np.testing.assert_array_equal(est.predict(X), expected)


def test_a_corrupt_estimator_record_is_named(tmp_path, blobs):
    X, y = blobs
    est = quiet_fit(BpnnClassifier(**SMALL), X, y)
    meta = checkpoint.load_model(est.save(tmp_path / "ok")).meta
    meta["dataset"]["classes"] = ["only one"]
    checkpoint.save_model(tmp_path / "bad", est.network_, {k: meta[k] for k in ("config", "dataset", "metrics", "estimator")})
    with pytest.raises(DataFileError, match="dataset.classes must list 3 labels"):
        load(tmp_path / "bad")
    meta["dataset"]["classes"] = [0, 1, 2]
    meta["estimator"]["params"] = {"solver": "newton"}
    checkpoint.save_model(tmp_path / "bad2", est.network_, {k: meta[k] for k in ("config", "dataset", "metrics", "estimator")})
    with pytest.raises(DataFileError, match="bad2.*unknown optimizer"):
        load(tmp_path / "bad2")


def test_cuda_checks_skip_when_torch_is_built_for_cuda_but_cannot_use_it(monkeypatch):
    """PyPI's default torch on a machine without a GPU: is_built() is true, the device is not usable."""
    torch = pytest.importorskip("torch")
    from functools import partial

    from sklearn.utils._array_api import yield_mixed_namespace_input_permutations
    from sklearn.utils.estimator_checks import check_array_api_input, check_array_api_mixed_inputs

    monkeypatch.setattr(torch.backends.cuda, "is_built", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setenv("SCIPY_ARRAY_API", "1")
    single = partial(check_array_api_input, array_namespace="torch", device_name="cuda", dtype_name="float32")
    mixed = [partial(check_array_api_mixed_inputs, other_ns_and_device=other, X_ns_and_device=x)
             for other, x, _ in yield_mixed_namespace_input_permutations() if "cuda" in (other.device, x.device)]  # fmt: skip
    with pytest.raises(Exception) as unguarded:  # without our skip, scikit-learn runs it and it fails
        single("BpnnClassifier", BpnnClassifier(**SMALL))
    assert "Skip" not in type(unguarded.value).__name__
    for check in [single, *mixed]:
        assert "needs torch on a CUDA GPU" in str(array_api_check_skip_reason(check))
        with pytest.raises(pytest.skip.Exception, match="torch.cuda.is_available"):
            test_sklearn_estimator_checks(BpnnClassifier(**SMALL), check)


@pytest.mark.parametrize("hidden", [8, [8], (8,), [8, 4]])
def test_hidden_layer_sizes_takes_what_mlpclassifier_takes(hidden):
    """One int, a list or a tuple, as MLPClassifier: lists are unhashable, which the settings lookup must not trip on."""
    X, y = np.random.default_rng(0).random((40, 5)), np.arange(40) % 3
    model = quiet_fit(BpnnClassifier(hidden_layer_sizes=hidden, max_iter=2, random_state=0), X, y)
    sizes = [hidden] if isinstance(hidden, int) else list(hidden)
    assert [w.shape[1] for w in model.coefs_[:-1]] == sizes


def test_estimator_messages_use_the_estimators_own_forms():
    X, y = np.random.default_rng(0).random((20, 3)), np.arange(20) % 2
    for params, expected in [({"batch_size": 0}, "'auto'"), ({"dtype": "float16"}, "None"),
                             ({"validation_fraction": 1.0}, r"in \(0, 1\)")]:  # fmt: skip
        with pytest.raises(SettingError, match=expected):
            BpnnClassifier(**params).fit(X, y)
