"""Reliability: bad input gets our own one-line errors, divergence and Ctrl-C keep a good checkpoint,
writes are atomic, and runs are exactly reproducible and resumable."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest
from typer.testing import CliRunner

from bpnn_xp import Network, Trainer, checkpoint, resolve_device
from bpnn_xp.cli import app
from bpnn_xp.config import TrainConfig
from bpnn_xp.data import one_hot
from bpnn_xp.engine.training import EpochRecord
from bpnn_xp.errors import BpnnError, BpnnTypeError, BpnnValueError, DeviceError, DivergenceError
from bpnn_xp.models import predict_classes
from bpnn_xp.workflow import run_training

runner = CliRunner()


def small(backend=None, dtype="float64", sizes=(2, 4, 3), cost="softmax_cross_entropy", activation="tanh"):
    backend = backend or resolve_device("cpu")
    net = Network.create(list(sizes), activation, cost, "glorot", 0, backend, dtype)
    rng = np.random.default_rng(0)
    X = rng.normal(size=(20, sizes[0]))
    Y = one_hot(rng.integers(0, sizes[-1], 20), sizes[-1])
    return net, X, Y, backend


# ---------------------------------------------------------------- bad input (API)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_nan_or_inf_features(bad):
    net, X, Y, be = small()
    X[3, 1] = bad
    with pytest.raises(BpnnValueError, match="X contains NaN or infinite values; remove or impute them"):
        Trainer(net, "adam").fit(be.asarray(X), be.asarray(Y), epochs=1)


def test_non_numeric_and_non_array_features():
    net, X, Y, be = small()
    with pytest.raises(BpnnTypeError, match="X must hold floating-point numbers, got int64; convert it with astype"):
        Trainer(net, "adam").fit(be.asarray(X.astype(np.int64)), be.asarray(Y), epochs=1)
    with pytest.raises(BpnnTypeError, match="X must be an array"):
        Trainer(net, "adam").fit(X.tolist(), be.asarray(Y), epochs=1)


def test_wrong_dimensions_and_zero_samples():
    net, X, Y, be = small()
    with pytest.raises(BpnnValueError, match="X must be 2-D"):
        Trainer(net, "adam").fit(be.asarray(X[:, 0]), be.asarray(Y), epochs=1)
    with pytest.raises(BpnnValueError, match="zero samples"):
        Trainer(net, "adam").fit(be.asarray(X[:0]), be.asarray(Y[:0]), epochs=1)


def test_dtype_and_device_mix_ups_say_the_fix():
    net, X, Y, be = small(dtype="float32")
    with pytest.raises(BpnnTypeError, match="X is float64 but the network is float32; use one dtype"):
        Trainer(net, "adam").fit(be.asarray(X, "float64"), be.asarray(Y, "float32"), epochs=1)
    pytest.importorskip("array_api_strict")
    strict = resolve_device("array-api-strict:device1")
    net2 = Network.create([2, 4, 3], "tanh", device=strict, dtype="float64")
    with pytest.raises(DeviceError, match="move the data with Backend.asarray"):
        Trainer(net2, "adam").fit(be.asarray(X), be.asarray(Y), epochs=1)


def test_batch_size_larger_than_data_becomes_full_batch():
    net, X, Y, be = small()
    with pytest.warns(UserWarning, match="batch size 500 is larger than the 20 training samples: training uses full batches"):
        history = Trainer(net, "sgd", batch_size=500).fit(be.asarray(X), be.asarray(Y), epochs=2)
    assert len(history.records) == 2


def test_label_problems():
    net, X, Y, be = small()
    with pytest.raises(BpnnValueError, match="Y has 4 columns but the network has 3 outputs; match the class count"):
        Trainer(net, "adam").fit(be.asarray(X), be.asarray(one_hot(np.arange(20) % 4, 4)), epochs=1)
    multilabel = (np.random.default_rng(1).uniform(size=(20, 3)) > 0.5).astype(float)
    multilabel[0] = [1, 1, 0]
    with pytest.raises(BpnnValueError, match="for multi-label targets set cost to sigmoid_cross_entropy"):
        Trainer(net, "adam").fit(be.asarray(X), be.asarray(multilabel), epochs=1)
    with pytest.raises(BpnnValueError, match=r"targets in \[0, 1\]"):
        Trainer(net, "adam").fit(be.asarray(X), be.asarray(Y * 3), epochs=1)
    with pytest.raises(BpnnValueError, match="labels must lie in 0..2"):
        one_hot(np.array([0, 5]), 3)
    with pytest.raises(BpnnValueError, match="whole numbers"):
        one_hot(np.array([0.0, 1.5]), 3)


def test_model_and_data_of_different_shapes():
    net, X, _, _ = small()
    with pytest.raises(BpnnValueError, match="the model takes 2 features per sample, got data of shape"):
        predict_classes(net, np.zeros((3, 5)))


def test_every_error_is_a_value_or_type_error_subclass():
    for cls in (BpnnValueError, DeviceError, DivergenceError, BpnnTypeError):
        assert issubclass(cls, BpnnError)
    assert issubclass(BpnnValueError, ValueError) and issubclass(BpnnTypeError, TypeError)


# ---------------------------------------------------------------- divergence, Ctrl-C, OOM


def test_divergence_names_the_epoch_and_keeps_good_parameters():
    net, X, Y, be = small(cost="mse", activation="identity")  # unbounded: a huge step overflows
    trainer = Trainer(net, "sgd", lr=1e10, batch_size=5)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # NumPy's overflow warnings on the way to inf
        with pytest.raises(DivergenceError, match=r"diverged in epoch \d+.*Try a smaller learning rate \(now 1e\+10\)"):
            trainer.fit(be.asarray(X), be.asarray(Y), epochs=50)
    assert all(np.all(np.isfinite(np.asarray(p))) for p in net.params)
    assert trainer.epoch == len(trainer.history.records)


def test_cli_divergence_exits_1_and_keeps_the_last_good_checkpoint(tmp_path, monkeypatch):
    """A NaN cost in epoch 3: exit 1, the message names the epoch, the epoch-2 checkpoint stays."""
    from bpnn_xp.engine.training import Trainer as RealTrainer

    original = RealTrainer._run_epoch

    def nan_in_epoch_3(self, *args, **kwargs):
        record = original(self, *args, **kwargs)
        if record.epoch == 3:
            self.network.weights[0][0, 0] = float("nan")
            record.cost = float("nan")
        return record

    monkeypatch.setattr(RealTrainer, "_run_epoch", nan_in_epoch_3)
    result = runner.invoke(app, ["train", "--dataset", "blobs", "--epochs", "5", "--hidden", "8", "--out", str(tmp_path)])
    assert result.exit_code == 1, result.output
    assert "diverged in epoch 3" in result.output and "Try a smaller learning rate" in result.output
    assert f"the last good checkpoint (epoch 2) is in {tmp_path}" in result.output
    saved = checkpoint.load_model(tmp_path)
    assert saved.meta["trainer"]["epoch"] == 2
    assert all(np.all(np.isfinite(np.asarray(p))) for p in saved.network.params)


def test_cli_real_divergence_is_one_clean_line(tmp_path):
    args = ["--dataset", "blobs", "--optimizer", "sgd", "--lr", "1e6", "--cost", "mse", "--activation", "identity"]
    result = runner.invoke(app, ["train", *args, "--epochs", "5", "--hidden", "8", "--out", str(tmp_path)])
    assert result.exit_code == 1
    assert "diverged in epoch 1" in result.output and "overflow" not in result.output and "Traceback" not in result.output


def test_out_of_memory_suggests_a_smaller_batch(monkeypatch, tmp_path):
    class OutOfMemoryError(Exception):
        pass

    def boom(*args, **kwargs):
        raise OutOfMemoryError("Out of memory allocating 8,589,934,592 bytes")

    monkeypatch.setattr("bpnn_xp.workflow.run_training", boom)
    result = runner.invoke(app, ["train", "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 2 and "ran out of memory" in result.output and "--batch-size" in result.output


def test_ctrl_c_in_the_cli_points_at_resume(monkeypatch, tmp_path):
    def interrupted_after_one_epoch(config, saved, on_epoch, *args, **kwargs):
        on_epoch(EpochRecord(1, 0.5, 0.5))
        raise KeyboardInterrupt

    monkeypatch.setattr("bpnn_xp.workflow.run_training", interrupted_after_one_epoch)
    result = runner.invoke(app, ["train", "--epochs", "2", "--out", str(tmp_path)])
    assert result.exit_code == 130 and f"--resume {tmp_path}" in result.output


def test_ctrl_c_before_the_first_epoch_says_nothing_was_saved(monkeypatch, tmp_path):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bpnn_xp.workflow.run_training", interrupted)
    result = runner.invoke(app, ["train", "--epochs", "1", "--out", str(tmp_path)])
    assert result.exit_code == 130 and "nothing was saved" in result.output and "--resume" not in result.output


def blobs_config(out, epochs, **kw):
    return TrainConfig(dataset="blobs", hidden=[8], epochs=epochs, batch_size=64, out=str(out), **kw)


def saved_arrays(path):
    with np.load(checkpoint.model_path(path), allow_pickle=False) as archive:
        return {k: archive[k] for k in archive.files if k != "__meta__"}


def test_ctrl_c_mid_epoch_keeps_a_checkpoint_that_resumes_exactly(tmp_path):
    """Interrupt in epoch 3; the epoch-2 checkpoint + 3 more epochs equals 5 epochs in one go."""
    run_training(blobs_config(tmp_path / "straight", 5))

    def stop_in_epoch_3(progress):
        if progress.epoch == 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_training(blobs_config(tmp_path / "cut", 5), on_batch=stop_in_epoch_3, log_every=1)
    assert checkpoint.load_model(tmp_path / "cut").meta["trainer"]["epoch"] == 2
    run_training(blobs_config(tmp_path / "cut", 3), resume=tmp_path / "cut")
    a, b = saved_arrays(tmp_path / "straight"), saved_arrays(tmp_path / "cut")
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---------------------------------------------------------------- exactness


def test_same_seed_gives_bit_identical_parameters(tmp_path):
    run_training(blobs_config(tmp_path / "a", 3, seed=7))
    run_training(blobs_config(tmp_path / "b", 3, seed=7))
    run_training(blobs_config(tmp_path / "c", 3, seed=8))
    a, b, c = (saved_arrays(tmp_path / n) for n in "abc")
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["param.0"], c["param.0"])


@pytest.mark.parametrize("optimizer", ["adam", "momentum", "rmsprop"])
def test_ten_epochs_equal_five_plus_resumed_five(tmp_path, optimizer):
    """Parameters and optimizer state bit-identical: shuffling stream and step count resume too."""
    run_training(blobs_config(tmp_path / "ten", 10, optimizer=optimizer))
    run_training(blobs_config(tmp_path / "half", 5, optimizer=optimizer))
    run_training(blobs_config(tmp_path / "half", 5, optimizer=optimizer), resume=tmp_path / "half")
    a, b = saved_arrays(tmp_path / "ten"), saved_arrays(tmp_path / "half")
    assert any(k.startswith("opt.") for k in a) or optimizer == "sgd"
    assert a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)
    meta_a = checkpoint.load_model(tmp_path / "ten").meta
    meta_b = checkpoint.load_model(tmp_path / "half").meta
    assert meta_a["optimizer_state"] == meta_b["optimizer_state"] and meta_a["trainer"] == meta_b["trainer"]


# ---------------------------------------------------------------- atomic writes


def test_killed_writer_leaves_a_loadable_checkpoint(tmp_path):
    """SIGKILL a process that rewrites a 16 MB checkpoint in a loop: what is on disk always loads."""
    script = textwrap.dedent(
        f"""
        import numpy as np, sys
        from bpnn_xp import Network, checkpoint
        net = Network.create([2000, 1000, 10], seed=0)
        checkpoint.save_model({str(tmp_path)!r}, net, {{"round": 0}})
        print("ready", flush=True)
        i = 0
        while True:
            i += 1
            net.weights[0] += 1.0
            checkpoint.save_model({str(tmp_path)!r}, net, {{"round": i}})
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout.readline().strip() == "ready"
        import time

        time.sleep(0.7)
    finally:
        proc.kill()
        proc.wait()
    saved = checkpoint.load_model(tmp_path)
    rounds = saved.meta["round"]  # the weights on disk belong to the metadata beside them
    reference = np.asarray(Network.create([2000, 1000, 10], seed=0).weights[0]) + rounds
    np.testing.assert_allclose(np.asarray(saved.network.weights[0]), reference, rtol=0, atol=1e-3)
