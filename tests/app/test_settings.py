"""The settings table is the one place a setting is defined: a new row shows up everywhere the settings do."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import SettingError, SettingWarning
from bpnn_xp.settings import ESTIMATOR_SETTINGS, TRAIN_SETTINGS, flag_of

ROOT = Path(__file__).resolve().parents[2]

ADD_ONE_ROW = """
import json
from bpnn_xp import settings
settings.TRAIN_SETTINGS.append(settings.Setting("test_knob", int, 3, "A knob that exists only in this test.",
                                                settings.whole_at_least(0), sklearn="test_knob"))
from typer.testing import CliRunner
from bpnn_xp import sweep
from bpnn_xp.cli import app
from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import BpnnValueError
from bpnn_xp.sklearn import BpnnClassifier

runner = CliRunner()
found = {"help": "--test-knob" in runner.invoke(app, ["train", "--help"], env={"COLUMNS": "200"}).output}
found["config_default"] = TrainConfig().test_knob
found["config_parsed"] = TrainConfig(test_knob=7).validate().test_knob
try:
    TrainConfig(test_knob=-1).validate()
except BpnnValueError as exc:
    found["config_error"] = str(exc)
bad = runner.invoke(app, ["train", "--test-knob", "-1", "--out", "unused"])
found["cli_error"] = [bad.exit_code, bad.output]
found["grid"] = sweep.parse_grid(["test_knob=1,2"])
found["estimator_default"] = BpnnClassifier().get_params()["test_knob"]
try:
    BpnnClassifier(test_knob=-1).fit([[0.0], [1.0]], [0, 1])
except BpnnValueError as exc:
    found["estimator_error"] = str(exc)
print(json.dumps(found))
"""


def test_adding_a_setting_is_one_row_in_the_table():
    """A test-only row appears in bpnn train --help, in TrainConfig, in bpnn sweep --grid and as an estimator parameter,
    checked by its own check in each (in a fresh process, where the table is extended before anything is built)."""
    result = subprocess.run([sys.executable, "-c", ADD_ONE_ROW], cwd=ROOT, capture_output=True, text=True, timeout=120,
                            env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"})  # fmt: skip
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout.splitlines()[-1])
    assert found["help"] is True
    assert (found["config_default"], found["config_parsed"]) == (3, 7)
    assert found["config_error"] == "test_knob must be a whole number >= 0, got -1"
    assert found["cli_error"] == [2, "error: --test-knob must be a whole number >= 0, got -1\n"]
    assert found["grid"] == {"test_knob": [1, 2]}
    assert found["estimator_default"] == 3
    assert found["estimator_error"] == "test_knob must be a whole number >= 0, got -1"


def test_every_train_setting_is_a_trainconfig_field_in_table_order():
    assert [f for f in TrainConfig.__dataclass_fields__] == [s.name for s in TRAIN_SETTINGS]
    assert TrainConfig().to_dict()["hidden"] == [256] and TrainConfig().hidden is not TrainConfig().hidden


def test_estimator_names_are_unique_and_rows_check_their_defaults():
    names = [s.sklearn for s in [*TRAIN_SETTINGS, *ESTIMATOR_SETTINGS] if s.sklearn]
    assert len(names) == len(set(names))
    for setting in TRAIN_SETTINGS:  # every launcher default passes its own check
        setting.check(setting.name, setting.default_value())


@pytest.mark.parametrize(
    "message,settings,flagged",
    [
        ("val_fraction and test_fraction leave", ("val_fraction", "test_fraction"), "--val-fraction and --test-fraction leave"),
        ("lbfgs ignores lr (it chooses)", ("lr",), "lbfgs ignores --lr (it chooses)"),
        ("l2 must be a number >= 0, got 'l2x'", ("l2",), "--l2 must be a number >= 0, got 'l2x'"),
    ],
)
def test_lower_layers_name_the_setting_and_the_cli_spells_the_flag(message, settings, flagged):
    for kind in (SettingError, SettingWarning):
        assert kind(message, *settings).spelled(flag_of) == flagged
        assert str(kind(message, *settings)) == message


@pytest.mark.parametrize("name", ["data", "label_column", "data_dir", "out"])
@pytest.mark.parametrize("text", ["none", "default", "None"])
def test_a_path_or_column_named_none_is_taken_literally_never_as_not_given(name, text):
    """'none' may be a real file, folder or CSV column: only settings with a meaningful default read it as None."""
    from bpnn_xp.settings import train_setting

    assert train_setting(name).from_text(text) == text
    assert train_setting("lr").from_text(text) is None  # the learning rate's 'default' is the optimizer's own


def test_bpnn_train_data_none_names_the_missing_file_instead_of_training_the_digits(tmp_path, monkeypatch):
    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    monkeypatch.chdir(tmp_path)
    result = CliRunner().invoke(app, ["train", "--data", "none", "--epochs", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "none" in result.output and "does not exist" in result.output, result.output
    assert not (tmp_path / "run" / "model.npz").exists()
