"""Every ``bpnn`` command through Typer's test runner: results, files, exit codes and messages."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bpnn_xp.cli import app

runner = CliRunner()


def invoke(*args: str):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """One small digits model shared by the evaluate/predict/plot tests."""
    out = tmp_path_factory.mktemp("run")
    result = invoke("train", "--epochs", "10", "--hidden", "16", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_train_json_metrics(digits_run):
    out, metrics = digits_run
    assert metrics["epochs"] == 10 and metrics["test_samples"] == 359 and 0.85 < metrics["test_accuracy"] <= 1
    assert (out / "model.npz").is_file() and json.loads((out / "model.json").read_text())["metrics"]["epochs"] == 10


def test_train_shows_progress_and_summary(tmp_path):
    result = invoke("train", "--dataset", "blobs", "--epochs", "2", "--hidden", "8", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert "epoch   2: cost" in result.output and "samples/s" in result.output
    assert "test accuracy" in result.output and str(tmp_path) in result.output


@pytest.mark.parametrize("optimizer", ["sgd", "momentum", "nesterov", "rmsprop", "lbfgs", "cg", "tnc"])
def test_train_with_each_optimizer(tmp_path, optimizer):
    epochs = "30" if optimizer == "tnc" else "3"  # scipy's TNC counts cost evaluations, not iterations
    result = invoke(
        "train", "--dataset", "blobs", "--optimizer", optimizer, "--epochs", epochs, "--hidden", "8", "--out", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_accuracy"] > 0.5


def test_full_batch_and_other_backend(tmp_path):
    result = invoke(
        "train",
        "--dataset",
        "xor",
        "--batch-size",
        "full",
        "--device",
        "array-api-strict:device1",
        "--epochs",
        "2",
        "--out",
        tmp_path,
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["device"] == "array-api-strict:device1"


def test_evaluate_report(digits_run):
    out, metrics = digits_run
    result = invoke("evaluate", out)
    assert result.exit_code == 0, result.output
    assert f"test accuracy: {metrics['test_accuracy']:.2%}" in result.output
    assert "precision" in result.output and "confusion matrix" in result.output
    data = json.loads(invoke("evaluate", out, "--json", "--split", "val").stdout)
    assert (
        data["split"] == "val" and len(data["confusion_matrix"]) == 10 and set(data["per_class"]) == {str(i) for i in range(10)}
    )
    assert sum(map(sum, data["confusion_matrix"])) == data["samples"]


def test_evaluate_same_result_on_another_backend(digits_run):
    out, metrics = digits_run
    data = json.loads(invoke("evaluate", out, "--json", "--device", "torch").stdout)
    assert data["accuracy"] == pytest.approx(metrics["test_accuracy"], abs=1e-9)


def test_predict_npy_and_png(digits_run, tmp_path):
    from PIL import Image
    from sklearn.datasets import load_digits

    out, _ = digits_run
    digits = load_digits()
    np.save(tmp_path / "x.npy", digits.images[:20] / 16.0)
    light_page = (255 - digits.images[0] / 16.0 * 255).astype(np.uint8)  # dark ink on white, larger
    Image.fromarray(light_page).resize((40, 40)).save(tmp_path / "zero.png")
    result = invoke("predict", out, tmp_path / "x.npy", tmp_path / "zero.png", "--json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert len(rows) == 21 and rows[-1]["input"] == "zero.png"
    assert all(0 <= r["class"] <= 9 and 0 < r["probability"] <= 1 for r in rows)
    assert np.mean([r["class"] for r in rows[:20]] == digits.target[:20]) >= 0.8
    # the CLI's classes equal the API's on the same preprocessed rows (an independent path)
    from bpnn_xp.checkpoint import load_model
    from bpnn_xp.models import predict_classes

    saved = load_model(out)
    expected, _ = predict_classes(saved.network, saved.preprocessing.apply(digits.images[:20].reshape(20, -1) / 16.0))
    assert [r["class"] for r in rows[:20]] == expected.tolist()


def test_predict_refuses_pickles_and_nan(digits_run, tmp_path):
    out, _ = digits_run
    np.save(tmp_path / "obj.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    result = invoke("predict", out, tmp_path / "obj.npy")
    assert result.exit_code == 2 and "never loads" in result.output and "allow_pickle" not in result.output
    np.save(tmp_path / "nan.npy", np.full((2, 64), np.nan))
    result = invoke("predict", out, tmp_path / "nan.npy")
    assert result.exit_code == 2 and "contains NaN or infinite values" in result.output


def test_predict_rejects_wrong_shapes(digits_run, tmp_path):
    out, _ = digits_run
    np.save(tmp_path / "bad.npy", np.zeros((2, 7)))
    result = invoke("predict", out, tmp_path / "bad.npy")
    assert result.exit_code == 2
    assert "has shape (2, 7); this model needs n x 64 or n x 8 x 8" in result.output


def test_plot_writes_pngs_with_one_tile_per_hidden_unit(digits_run, tmp_path, monkeypatch):
    from bpnn_xp import plots

    tiles = []
    original = plots.hidden_units

    def spy(weights, shape, path, layer_name=None):
        tiles.append(weights.shape[1])
        assert "hidden layer 1" in layer_name
        return original(weights, shape, path, layer_name)

    monkeypatch.setattr(plots, "hidden_units", spy)
    out, _ = digits_run
    result = invoke("plot", out, "--out", tmp_path)
    assert result.exit_code == 0, result.output
    for name in ("learning_curves.png", "samples.png", "hidden_units.png", "confusion.png"):
        assert (tmp_path / name).stat().st_size > 1000
    assert tiles == [16]


def test_hidden_unit_figure_has_one_tile_per_unit(tmp_path):
    import matplotlib.pyplot as plt

    from bpnn_xp import plots

    captured = {}
    original_save = plots._save

    def keep(fig, path):
        captured["images"] = sum(len(ax.images) for ax in fig.axes)
        return original_save(fig, path)

    plots._save = keep
    try:
        plots.hidden_units(np.random.default_rng(0).normal(size=(64, 25)), (8, 8), tmp_path / "h.png")
    finally:
        plots._save = original_save
    plt.close("all")
    assert captured["images"] == 25


def test_plot_decision_boundary_for_2d_data(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--dataset", "blobs", "--epochs", "2", "--hidden", "8", "--out", run, "--json").exit_code == 0
    result = invoke("plot", run)
    assert result.exit_code == 0, result.output
    assert (run / "decision_boundary.png").stat().st_size > 1000


def test_gradcheck_passes_and_fails(monkeypatch):
    result = invoke("gradcheck", "--sizes", "3,4,2", "--l2", "0.5")
    assert result.exit_code == 0 and "OK" in result.output
    result = invoke("gradcheck", "--threshold", "1e-30")
    assert result.exit_code == 1 and "FAILED" in result.output
    result = invoke("gradcheck", "--sizes", "4,x")
    assert result.exit_code == 2 and "--sizes takes positive integers" in result.output


def test_no_hidden_layer_is_softmax_regression(tmp_path):
    result = invoke("train", "--hidden", "none", "--epochs", "3", "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    from bpnn_xp.checkpoint import load_model

    assert load_model(tmp_path).network.sizes == [64, 10]


def test_devices_lists_numpy():
    result = invoke("devices")
    assert result.exit_code == 0 and "numpy" in result.output and "use with --device: cpu" in result.output
    import numpy as np

    from bpnn_xp.backends import kernels_for

    line = next(x for x in result.output.splitlines() if x.startswith("CPU fast path: "))
    assert line.startswith(f"CPU fast path: {kernels_for(np).name} kernels, matrix products by ")
    assert "oneMKL: " in line  # in use, or why not


def test_resume_continues_training(tmp_path):
    run = tmp_path / "run"
    assert invoke("train", "--dataset", "blobs", "--epochs", "2", "--hidden", "8", "--out", run, "--json").exit_code == 0
    result = invoke("train", "--resume", run, "--epochs", "3", "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] == 5


@pytest.mark.parametrize(
    "args,message",
    [
        (["--dataset", "cifar"], "unknown dataset 'cifar'; choose one of: digits"),
        (["--activation", "swish"], "unknown activation 'swish'"),
        (["--optimizer", "adamw"], "unknown optimizer 'adamw'"),
        (["--cost", "hinge"], "unknown cost 'hinge'"),
        (["--init", "orthogonal"], "unknown initializer 'orthogonal'"),
        (["--hidden", "64,-3"], "--hidden takes positive integers"),
        (["--hidden", "0"], "--hidden takes positive integers"),
        (["--hidden", "32,,8"], "--hidden takes positive integers"),
        (["--batch-size", "-5"], "--batch-size must be a positive integer"),
        (["--lr", "0"], "--lr must be a positive number"),
        (["--l2", "-1"], "--l2 must be a number >= 0"),
        (["--device", "cuda:x"], "bad GPU index"),
        (["--device", "tpu"], "unknown device 'tpu'"),
        (["--dtype", "float16"], "--dtype must be auto, float32 or float64"),
        (["--dataset", "mnist"], "dataset mnist needs --data-dir"),
    ],
)
def test_usage_errors_exit_2_with_one_line(args, message, tmp_path):
    result = invoke("train", *args, "--epochs", "1", "--out", tmp_path)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert len([line for line in result.output.strip().splitlines() if line.startswith("error:")]) == 1


def test_cuda_without_cupy_exits_2_naming_the_extra(tmp_path, monkeypatch):
    import importlib.util

    find_spec = importlib.util.find_spec  # CuPy may be installed here (the [test] extra has it): simulate its absence
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cupy" else find_spec(name, *a))
    result = invoke("train", "--device", "cuda", "--epochs", "1", "--out", tmp_path)
    assert result.exit_code == 2 and "needs CuPy" in result.output and "bpnn_xp[cuda12]" in result.output


def test_bad_split_name_is_an_error_for_evaluate_and_plot(digits_run):
    out, _ = digits_run
    for command in ("evaluate", "plot"):
        result = invoke(command, out, "--split", "holdout")
        assert result.exit_code == 2 and "--split must be test, val or train" in result.output


def test_model_file_errors_exit_2(tmp_path):
    (tmp_path / "model.npz").write_bytes(b"junk")
    result = invoke("evaluate", tmp_path)
    assert result.exit_code == 2 and "not a bpnn_xp model" in result.output


def test_every_command_has_help():
    for command in ("train", "evaluate", "predict", "gradcheck", "devices", "plot"):
        result = invoke(command, "--help")
        assert result.exit_code == 0, command
    assert "--batch-size" in invoke("train", "--help").output


@pytest.mark.parametrize(
    "args,message",
    [
        (["--early-stopping", "-1"], "--early-stopping must be a whole number >= 0"),
        (["--early-stopping", "3", "--val-fraction", "0"], "give --val-fraction > 0"),
    ],
)
def test_early_stopping_option_errors(args, message, tmp_path):
    result = invoke("train", *args, "--epochs", "1", "--out", tmp_path)
    assert result.exit_code == 2 and message in result.output


def test_early_stopping_through_the_cli(tmp_path):
    result = invoke(
        "train", "--dataset", "blobs", "--epochs", "300", "--hidden", "8", "--early-stopping", "2", "--out", tmp_path, "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["epochs"] < 300


def write_fake_mnist(directory, n_train=60, n_test=20):
    """Small random IDX files with MNIST's names (gzipped), returned as {name: bytes}."""
    from bpnn_xp.data.idx import write_idx

    rng = np.random.default_rng(0)
    directory.mkdir(parents=True, exist_ok=True)
    for prefix, n in (("train", n_train), ("t10k", n_test)):
        write_idx(directory / f"{prefix}-images-idx3-ubyte.gz", rng.integers(0, 256, (n, 28, 28), dtype=np.uint8))
        write_idx(directory / f"{prefix}-labels-idx1-ubyte.gz", (np.arange(n) % 10).astype(np.uint8))
    return {p.name: p.read_bytes() for p in directory.iterdir()}


def test_train_and_evaluate_on_mnist_idx_files(tmp_path):
    write_fake_mnist(tmp_path / "mnist")
    run = tmp_path / "run"
    result = invoke(
        "train", "--dataset", "mnist", "--data-dir", tmp_path / "mnist", "--epochs", "2", "--hidden", "8", "--out", run, "--json"
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_samples"] == 20  # MNIST keeps its own test set
    assert json.loads(invoke("evaluate", run, "--json").stdout)["samples"] == 20


def test_download_fetches_verifies_and_trains(tmp_path, monkeypatch):
    """--download through a fake mirror (tests never touch the network); hashes point at the fake files."""
    import hashlib
    import io
    import urllib.request

    from bpnn_xp.data import idx

    files = write_fake_mnist(tmp_path / "mirror")
    monkeypatch.setattr(idx, "MNIST_FILES", {name[:-3]: hashlib.sha256(data).hexdigest() for name, data in files.items()})
    monkeypatch.setattr(urllib.request, "urlopen", lambda url, timeout: io.BytesIO(files[url.rsplit("/", 1)[1]]))
    target = tmp_path / "data"
    result = invoke(
        "train",
        "--dataset",
        "mnist",
        "--data-dir",
        target,
        "--download",
        "--epochs",
        "1",
        "--hidden",
        "8",
        "--out",
        tmp_path / "run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert sorted(p.name for p in target.iterdir()) == sorted(files)


def test_train_on_the_course_mat_file(tmp_path):
    import scipy.io

    rng = np.random.default_rng(0)
    labels = np.arange(200) % 10
    scipy.io.savemat(
        tmp_path / "ex4data1.mat", {"X": rng.uniform(size=(200, 400)), "y": np.where(labels == 0, 10, labels)[:, None]}
    )
    args = ["--dataset", "mat", "--data-dir", tmp_path / "ex4data1.mat", "--hidden", "25", "--activation", "sigmoid"]
    result = invoke(
        "train",
        *args,
        "--cost",
        "sigmoid_cross_entropy",
        "--optimizer",
        "tnc",
        "--epochs",
        "20",
        "--l2",
        "1",
        "--out",
        tmp_path / "run",
        "--json",
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["test_samples"] == 40
    plot = invoke("plot", tmp_path / "run")
    assert plot.exit_code == 0 and (tmp_path / "run" / "hidden_units.png").is_file()
