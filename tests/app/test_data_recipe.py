"""A model remembers how its data was read (label column, delimiter, header) and reads every later --data the same
way unless told otherwise; a class it never saw is named, never an IndexError; --split with --data is refused."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from bpnn_xp.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def write_table(path, rng, n, classes=("a", "b", "c"), delimiter=";", label="kind", extra_class=None):
    """Three well separated classes in 4 features; the label column (not named like a label) sits third."""
    names = list(classes) + ([extra_class] if extra_class else [])
    lines = [delimiter.join(["f0", "f1", label, "f2", "f3"])]
    for i in range(n):
        k = i % len(names)
        centre = np.full(4, 3.0 * k)
        x = centre + rng.normal(scale=0.3, size=4)
        lines.append(delimiter.join([f"{x[0]:.4f}", f"{x[1]:.4f}", names[k], f"{x[2]:.4f}", f"{x[3]:.4f}"]))
    path.write_text("\n".join(lines) + "\n")
    return path


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    folder = tmp_path_factory.mktemp("recipe")
    rng = np.random.default_rng(7)
    data = write_table(folder / "train.csv", rng, 120)
    run = folder / "run"
    result = invoke("train", "--data", data, "--label-column", "kind", "--hidden", "8", "--epochs", "30", "--lr", "0.02",
                    "--l2", "0", "--out", run, "--json", "--quiet")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "labels: column 'kind' (as --label-column says); 4 feature columns" in result.stderr
    return folder, run


def test_the_reading_recipe_is_stored_in_the_model(trained):
    _, run = trained
    reading = json.loads((run / "model.json").read_text())["dataset"]["reading"]
    assert reading == {"form": "csv", "delimiter": ";", "header": True, "label_column": "kind", "index_column": False}


def test_evaluate_other_data_reads_it_as_the_model_was_trained(trained):
    folder, run = trained
    test = write_table(folder / "test.csv", np.random.default_rng(8), 60)
    result = invoke("evaluate", run, "--data", test, "--json")
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["accuracy"] > 0.9  # the 'kind' column scored, not f0 taken for labels
    assert "(as the model was trained)" in result.stderr


def test_a_given_label_column_still_overrides_the_recipe(trained):
    folder, run = trained
    test = write_table(folder / "renamed.csv", np.random.default_rng(9), 30, label="species")
    result = invoke("evaluate", run, "--data", test)
    assert result.exit_code == 2 and "no column named 'kind'" in result.output and "--label-column" in result.output
    result = invoke("evaluate", run, "--data", test, "--label-column", "species", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["accuracy"] > 0.9


@pytest.mark.parametrize("command", ["evaluate", "plot"])
def test_a_class_the_model_never_saw_is_named(trained, command, tmp_path):
    folder, run = trained
    unseen = write_table(tmp_path / "unseen.csv", np.random.default_rng(10), 40, extra_class="zebra")
    result = invoke(command, run, "--data", unseen, *(["--out", tmp_path] if command == "plot" else []))
    assert result.exit_code == 2, result.output
    assert "class(es) zebra that the model does not know; it knows 3 classes: a, b, c" in result.output
    errors = [line for line in result.output.splitlines() if not line.startswith("note: ")]
    assert "Traceback" not in result.output and len(errors) == 1


@pytest.mark.parametrize("command", ["evaluate", "plot"])
def test_the_models_own_data_file_changed_since_training_is_named_not_an_index_error(tmp_path, command):
    data = write_table(tmp_path / "own.csv", np.random.default_rng(11), 90, label="class")
    run = tmp_path / "run"
    assert invoke("train", "--data", data, "--hidden", "4", "--epochs", "2", "--out", run, "--quiet").exit_code == 0
    write_table(data, np.random.default_rng(12), 120, label="class", extra_class="d")  # a fourth class appeared
    result = invoke(command, run)
    assert result.exit_code == 2 and "class(es) d that the model does not know" in result.output, result.output


@pytest.mark.parametrize("command", ["evaluate", "plot"])
def test_split_with_data_is_refused_not_ignored(trained, command):
    folder, run = trained
    result = invoke(command, run, "--data", folder / "train.csv", "--split", "val")
    assert result.exit_code == 2
    assert "--split val picks a split of the model's own data" in result.output and "drop --split" in result.output


def test_val_split_of_a_run_trained_without_one_says_so(tmp_path):
    data = write_table(tmp_path / "d.csv", np.random.default_rng(13), 60, label="class")
    run = tmp_path / "run"
    assert invoke("train", "--data", data, "--hidden", "4", "--epochs", "1", "--val-fraction", "0", "--out", run,
                  "--quiet").exit_code == 0  # fmt: skip
    result = invoke("evaluate", run, "--split", "val")
    assert result.exit_code == 2 and "this run holds no validation data (it was trained with --val-fraction 0)" in result.output
    assert "give --split test or train" in result.output
