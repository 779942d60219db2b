"""The seams the architecture promises: device contexts, one class reading, one settings check, one version."""

from __future__ import annotations

import contextlib
import importlib.metadata

import numpy as np
import pytest
from typer.testing import CliRunner

import bpnn_xp
from bpnn_xp import Network, Trainer, backends, evaluate
from bpnn_xp.cli import app
from bpnn_xp.config import TrainConfig
from bpnn_xp.engine import gradcheck, training, training_inputs
from bpnn_xp.engine.costs import get_cost
from bpnn_xp.errors import BpnnValueError
from bpnn_xp.models import predict_classes
from bpnn_xp.workflow import run_training
from tests.helpers import random_network, random_problem


def test_version_comes_from_the_installed_metadata():
    assert bpnn_xp.__version__ == importlib.metadata.version("bpnn_xp")


def test_engine_entry_points_run_inside_the_arrays_device_context(monkeypatch, backend):
    """CuPy allocates on the current GPU: every entry point must enter the context of its arrays' device."""
    entered, depth = [], [0]

    @contextlib.contextmanager
    def recording_context(array):
        entered.append(backends.backend_of(array).device)
        depth[0] += 1
        try:
            yield
        finally:
            depth[0] -= 1

    def inside(function):
        """``function``, asserting it runs inside a device context (it allocates on the current device)."""
        def wrapped(*args, **kwargs):
            assert depth[0] > 0, f"{function.__name__} ran outside any device context"
            return function(*args, **kwargs)
        return wrapped

    monkeypatch.setattr(backends, "device_context", recording_context)
    monkeypatch.setattr(gradcheck, "relative_difference", inside(gradcheck.relative_difference))
    monkeypatch.setattr(training_inputs, "_check_training_data", inside(training_inputs._check_training_data))
    net = random_network(backend, [4, 5, 3], "relu")
    X, Y = random_problem(backend, [4, 5, 3])
    checks = {
        "check_training_data": lambda: training.check_training_data(net, X, Y),
        "gradient_check": lambda: gradcheck.gradient_check(net, X[:3, ...], Y[:3, ...]),
        "fit": lambda: Trainer(net, "adam", batch_size=4).fit(X, Y, epochs=1),
        "evaluate": lambda: evaluate(net, X, Y),
        "optimizer step": lambda: Trainer(net, "momentum").optimizer.step(net.params, net.backprop(X, Y)[1]),
        "feedforward": lambda: net.feedforward(X),
        "predict": lambda: predict_classes(net, backends.to_numpy(X)),
        "copy": lambda: net.copy(),
    }
    for name, call in checks.items():
        entered.clear()
        call()
        assert entered and all(d == backend.device for d in entered), f"{name} ran outside {backend.device}: {entered}"


@pytest.mark.parametrize("cost,output,n_out", [("softmax_cross_entropy", None, 3), ("sigmoid_cross_entropy", None, 1),
                                               ("sigmoid_cross_entropy", None, 3), ("mse", "identity", 1), ("mse", "tanh", 1),
                                               ("mse", "sigmoid", 4)])  # fmt: skip
def test_one_reading_of_classes_agrees_everywhere(backend, cost, output, n_out):
    """Predicted classes, probabilities, accuracy and targets all come from the cost, and agree."""
    if cost == "softmax_cross_entropy" and n_out == 1:
        pytest.skip("softmax needs two outputs")
    net = Network.create([3, 6, n_out], "tanh", get_cost(cost, output), init="glorot", seed=1, device=backend, dtype="float64")
    rng = np.random.default_rng(2)
    X = rng.normal(size=(40, 3)) * 3
    labels = rng.integers(0, max(n_out, 2), size=40)
    Y = np.eye(n_out)[labels] if n_out > 1 else labels[:, None].astype(float)
    classes, probability = predict_classes(net, X)
    scores = backends.to_numpy(net.cost_function.class_probabilities(net.logits(backend.asarray(X))))
    assert np.array_equal(classes, scores.argmax(axis=1)) or n_out == 1
    assert np.array_equal(classes, backends.to_numpy(net.predict(backend.asarray(X))))
    np.testing.assert_allclose(probability, scores[np.arange(40), classes])
    outputs = backends.to_numpy(net.feedforward(backend.asarray(X)))
    if n_out == 1:  # one output means class 1 when the output is above one half, whatever the cost
        assert np.array_equal(classes, (outputs[:, 0] > 0.5).astype(int))
    accuracy = evaluate(net, backend.asarray(X), backend.asarray(Y))[1]
    assert accuracy == pytest.approx(np.mean(classes == labels))


def test_early_stopping_needs_validation_data_in_the_api_too():
    net = Network.create([2, 3, 2], "tanh", device="cpu", dtype="float64")
    X = np.random.default_rng(0).normal(size=(10, 2))
    Y = np.eye(2)[np.arange(10) % 2]
    with pytest.raises(BpnnValueError, match="early stopping watches the validation cost; pass validation="):
        Trainer(net, "adam").fit(X, Y, epochs=2, early_stopping=3)


def test_early_stopping_without_validation_split_is_refused_for_every_dataset(tmp_path):
    """mnist used to slip through (it has its own test set) and early stopping silently did nothing."""
    result = CliRunner().invoke(app, ["train", "--dataset", "mnist", "--data-dir", str(tmp_path), "--val-fraction", "0",
                                      "--early-stopping", "3", "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2 and "--early-stopping watches the validation cost" in result.output
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    "settings,message",
    [
        ({"lr": -1.0}, "^lr must be a positive number"),
        ({"optimizer": "adamw"}, "unknown optimizer 'adamw'"),
        ({"hidden": [8, 0]}, "^hidden takes positive integers"),
        ({"seed": -3}, "^seed must be a whole number >= 0"),
        ({"batch_size": 0}, "^batch_size must be a positive integer, or 'full'"),
        ({"val_fraction": 0.5, "test_fraction": 0.5}, "leave no data to train on"),
    ],
)
def test_the_api_gets_the_same_settings_check_as_the_cli(tmp_path, settings, message):
    """The same check either way: the API names the setting, the CLI its flag."""
    with pytest.raises(BpnnValueError, match=message):
        run_training(TrainConfig(dataset="xor", out=str(tmp_path), **settings))
    assert not any(tmp_path.iterdir())
    cli_args = {"lr": "--lr", "optimizer": "--optimizer", "seed": "--seed", "batch_size": "--batch-size"}
    key = next(iter(settings))
    if key in cli_args:
        result = CliRunner().invoke(app, ["train", "--dataset", "xor", cli_args[key], str(settings[key]), "--out", str(tmp_path)])
        flagged = message.lstrip("^").split("'")[0]
        flagged = cli_args[key] + flagged.removeprefix(key) if flagged.startswith(key) else flagged
        assert result.exit_code == 2 and flagged in result.output


def test_names_are_canonical_after_validation():
    config = TrainConfig(optimizer="L-BFGS", activation="Leaky-ReLU", cost="CE", dataset="Digits").validate()
    assert (config.optimizer, config.activation, config.cost, config.dataset) == (
        "lbfgs",
        "leaky_relu",
        "softmax_cross_entropy",
        "digits",
    )


def test_full_batch_has_one_spelling_and_old_files_still_read():
    net = Network.create([2, 2])
    assert Trainer(net, "sgd", batch_size="full").batch_size == "full"
    for old in (0, None):
        with pytest.raises(BpnnValueError, match="or 'full' for full batch"):
            Trainer(net, "sgd", batch_size=old)
        assert TrainConfig.from_dict({"batch_size": old}).batch_size == "full"


def test_numpy_integer_scalars_are_accepted_where_ints_are():
    net = Network.create([np.int64(3), np.int32(4), np.int64(2)], "relu", seed=np.int64(1))
    trainer = Trainer(net, "adam", batch_size=np.int64(8))
    X = np.random.default_rng(0).normal(size=(16, 3)).astype(np.float32)
    trainer.fit(X, np.eye(2, dtype=np.float32)[np.arange(16) % 2], epochs=np.int64(2))
    assert net.sizes == [3, 4, 2] and trainer.epoch == 2 and trainer.batch_size == 8


@pytest.mark.parametrize("dtype", ["int64", "complex64", "bool"])
def test_networks_refuse_non_float_parameters(dtype):
    with pytest.raises(BpnnValueError):
        Network([np.zeros((2, 2), dtype)], [np.zeros(2, dtype)], [], "softmax_cross_entropy")
