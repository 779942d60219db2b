"""Output never says more than was done: no sheet promised that was not drawn, inputs named so rows can be told apart,
only the running command's options named, and no empty run folder left behind by a refused or failed run."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

from bpnn_xp.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


@pytest.fixture(scope="module")
def feature_run(tmp_path_factory):
    """A model of 2 features (no images)."""
    out = tmp_path_factory.mktemp("blobs") / "run"
    assert invoke("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--out", out, "--quiet").exit_code == 0
    return out


@pytest.fixture(scope="module")
def image_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("digits") / "run"
    assert invoke("train", "--hidden", "8", "--epochs", "2", "--out", out, "--quiet").exit_code == 0
    return out


def test_show_on_a_model_without_images_is_refused_and_writes_nothing(feature_run, tmp_path):
    np.save(tmp_path / "x.npy", np.zeros((3, 2)))
    sheet = tmp_path / "seen.png"
    result = invoke("predict", feature_run, tmp_path / "x.npy", "--show", sheet)
    assert result.exit_code == 2 and "--show draws the images the network saw" in result.output
    assert "what the network saw" not in result.output and not sheet.exists()


def test_inputs_from_several_folders_are_named_relative_to_their_common_root(image_run, tmp_path):
    for digit in ("3", "7"):
        (tmp_path / "drawn" / digit).mkdir(parents=True)
        Image.fromarray(np.pad(np.full((10, 4), 255, np.uint8), 9)).save(tmp_path / "drawn" / digit / "a.png")
    result = invoke("predict", image_run, str(tmp_path / "drawn" / "*" / "a.png"), "--json")
    assert result.exit_code == 0, result.output
    assert [row["input"] for row in json.loads(result.stdout)] == ["3/a.png", "7/a.png"]
    single = invoke("predict", image_run, tmp_path / "drawn" / "3", "--json")  # one folder: base names, as before
    assert [row["input"] for row in json.loads(single.stdout)] == ["a.png"]


@pytest.mark.parametrize("command", ["predict", "plot"])
def test_messages_name_only_the_options_the_command_has(image_run, tmp_path, command):
    (tmp_path / "afile").write_text("in the way")
    np.save(tmp_path / "x.npy", np.zeros((1, 8, 8)))
    target = tmp_path / "afile" / "inside"
    if command == "predict":
        result = invoke("predict", image_run, tmp_path / "x.npy", "--show", target / "seen.png")
        own = "--show"
    else:
        result = invoke("plot", image_run, "--out", target)
        own = "--out"
    assert result.exit_code == 2 and "a file is in the way" in result.output, result.output
    assert f"choose another {own}" in result.output and result.output.count("\n") == 1
    if command == "predict":
        assert "--out" not in result.output


def test_a_refused_run_leaves_no_folder_holding_only_the_lock(tmp_path):
    out = tmp_path / "new" / "run"
    result = invoke("train", "--data", tmp_path / "missing.csv", "--out", out)  # refused after the folder was claimed
    assert result.exit_code == 2 and "does not exist" in result.output
    assert not out.exists() and not (tmp_path / "new").exists()
    taken = tmp_path / "taken"
    assert invoke("train", "--dataset", "blobs", "--hidden", "2", "--epochs", "1", "--out", taken, "--quiet").exit_code == 0
    again = invoke("train", "--dataset", "blobs", "--hidden", "2", "--epochs", "1", "--out", taken, "--quiet")
    assert again.exit_code == 2 and (taken / "model.npz").exists()  # a folder holding a run is never removed


def test_the_folder_check_alone_leaves_nothing_behind(tmp_path):
    from bpnn_xp.errors import SettingError
    from bpnn_xp.runs import locked_run_dir

    with pytest.raises(SettingError):
        with locked_run_dir(tmp_path / "a" / "b"):
            raise SettingError("refused", "out")
    assert list(tmp_path.iterdir()) == []
    (tmp_path / "mine").mkdir()
    with pytest.raises(SettingError):
        with locked_run_dir(tmp_path / "mine"):
            raise SettingError("refused", "out")
    assert (tmp_path / "mine").is_dir()  # a folder the user made stays
