"""--lr-schedule through every adapter built from its settings row: the launcher (an interrupted run resumes bit for
bit), sweeps, TrainConfig's checks and the estimator's ``learning_rate``."""

from __future__ import annotations

import csv
import math
import warnings

import numpy as np
import pytest
from sklearn.datasets import make_blobs
from sklearn.exceptions import ConvergenceWarning
from typer.testing import CliRunner

from bpnn_xp import checkpoint, sweep
from bpnn_xp.cli import app
from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import SettingError
from bpnn_xp.sklearn import BpnnClassifier
from bpnn_xp.workflow import run_training

runner = CliRunner()
COMMON = ("--dataset", "digits", "--hidden", "12", "--lr-schedule", "cosine", "--lr", "0.01")


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


def test_an_interrupted_cosine_run_resumes_to_the_uninterrupted_weights(tmp_path):
    """A 3-epoch cosine run stopped after epoch 1 (Ctrl-C), resumed with --epochs 2: the 3-epoch run, bit for bit."""
    whole = invoke("train", *COMMON, "--epochs", "3", "--out", tmp_path / "whole")
    assert whole.exit_code == 0, whole.output
    with open(tmp_path / "whole" / "metrics.csv") as handle:
        rates = [float(row["lr"]) for row in csv.DictReader(handle)]
    assert rates == pytest.approx([0.01 * (1 + math.cos(math.pi * t / 3)) / 2 for t in range(3)], rel=1e-9)
    config = TrainConfig(dataset="digits", hidden=[12], lr_schedule="cosine", lr=0.01, epochs=3, out=str(tmp_path / "cut"))

    def interrupt(record):
        if record.epoch == 1:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(config, on_epoch=interrupt)
    resumed = invoke("train", "--resume", tmp_path / "cut", "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output
    saved = {name: checkpoint.load_model(tmp_path / name) for name in ("whole", "cut")}
    assert saved["cut"].config.lr_schedule == "cosine" and saved["cut"].epoch == 3
    np.testing.assert_array_equal(saved["cut"].network.flatten(), saved["whole"].network.flatten())
    constant = invoke("train", *COMMON[:-4], "--lr", "0.01", "--epochs", "3", "--out", tmp_path / "constant")
    assert constant.exit_code == 0
    assert not np.array_equal(checkpoint.load_model(tmp_path / "constant").network.flatten(),
                              saved["whole"].network.flatten())  # fmt: skip


@pytest.mark.parametrize("args,needle", [(("--lr-schedule", "step"), "--lr-schedule must be one of constant, cosine"),
                                         (("--lr-schedule", "cosine", "--optimizer", "lbfgs"), "--lr-schedule")])  # fmt: skip
def test_bad_schedules_are_one_line_naming_the_flag(tmp_path, args, needle):
    result = invoke("train", *args, "--out", tmp_path / "run")
    assert result.exit_code == 2 and needle in result.output and len(result.output.strip().splitlines()) == 1, result.output


def test_the_schedule_sweeps_and_is_checked_by_its_row():
    assert sweep.parse_grid(["lr_schedule=constant,cosine"]) == {"lr_schedule": ["constant", "cosine"]}
    assert TrainConfig(lr_schedule="Cosine").validate().lr_schedule == "cosine"
    with pytest.raises(SettingError, match="chooses its own step lengths"):
        TrainConfig(optimizer="cg", lr_schedule="cosine").validate()


@pytest.fixture
def blobs():
    X, y = make_blobs(n_samples=240, centers=3, n_features=5, cluster_std=3.0, random_state=2)
    return (X - X.mean(0)) / X.std(0), y


def test_the_estimators_learning_rate_is_the_schedule(blobs):
    """learning_rate='cosine' decays over max_iter; partial_fit and the names scikit-learn has but we lack refuse."""
    X, y = blobs
    params = {"hidden_layer_sizes": (8,), "max_iter": 6, "learning_rate_init": 0.05, "random_state": 0}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        cosine = BpnnClassifier(learning_rate="cosine", **params).fit(X, y)
        constant = BpnnClassifier(**params).fit(X, y)
    assert BpnnClassifier().get_params()["learning_rate"] == "constant"
    assert cosine._trainer.schedule.end == 6 and cosine._trainer.optimizer.lr < 0.05 * 0.1
    assert constant._trainer.optimizer.lr == 0.05
    assert not np.array_equal(cosine.network_.flatten(), constant.network_.flatten())
    with pytest.raises(SettingError, match="partial_fit trains one per call"):
        BpnnClassifier(learning_rate="cosine", **params).partial_fit(X, y, classes=[0, 1, 2])
    with pytest.raises(SettingError, match="^learning_rate sets each epoch's learning rate, but lbfgs chooses"):
        BpnnClassifier(learning_rate="cosine", solver="lbfgs", **params).fit(X, y)
    with pytest.raises(SettingError, match="learning_rate must be one of constant, cosine, got 'invscaling'"):
        BpnnClassifier(learning_rate="invscaling", **params).fit(X, y)
