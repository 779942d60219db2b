"""bpnn sweep: grid parsing, trials checked before work, parallel trials, results.csv/md and plots, resume, failures."""

from __future__ import annotations

import csv
from dataclasses import fields
from pathlib import Path

import pytest

from bpnn_xp import models, sweep, workflow
from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import BpnnValueError, DivergenceError

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TINY = {"dataset": "blobs", "epochs": 2, "hidden": [4]}


def read_csv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="", encoding="utf-8") as handle:
        return list(csv.DictReader(handle))


# ---------------------------------------------------------------------- parsing
def test_grid_values_are_typed_like_the_config_fields() -> None:
    grid = sweep.parse_grid(["lr=0.001,0.01,none", "hidden=16;64,64;none", "batch_size=8,full", "standardize=true,no",
                             "optimizer=adam,L-BFGS", "epochs=3", "augment=none;shift=2,rotate=10"])  # fmt: skip
    assert grid == {
        "lr": [0.001, 0.01, None],
        "hidden": [[16], [64, 64], []],
        "batch_size": [8, "full"],
        "standardize": [True, False],
        "optimizer": ["adam", "L-BFGS"],
        "epochs": [3],
        "augment": ["none", "shift=2,rotate=10"],
    }
    assert list(grid) == ["lr", "hidden", "batch_size", "standardize", "optimizer", "epochs", "augment"]  # order kept
    assert sweep.parse_grid(["val-fraction=0.1;0.2"]) == {"val_fraction": [0.1, 0.2]}  # '-' spelling, ';' accepted
    assert sweep.parse_settings(["dataset=digits", "epochs=20", "hidden=8,8"]) == {"dataset": "digits", "epochs": 20,
                                                                                  "hidden": [8, 8]}  # fmt: skip


def test_an_unknown_key_is_one_line_listing_the_valid_keys() -> None:
    expected = [f.name for f in fields(TrainConfig) if f.name not in ("out", "download")]
    with pytest.raises(BpnnValueError) as info:
        sweep.parse_grid(["learning_rate=0.1"])
    message = str(info.value)
    assert "\n" not in message and "'learning_rate'" in message
    assert message.split("choose from: ")[1].split(", ") == expected
    for hidden_key in ("out", "download"):
        with pytest.raises(BpnnValueError, match="unknown setting"):
            sweep.parse_settings([f"{hidden_key}=x"])


@pytest.mark.parametrize(
    ("texts", "problem"),
    [
        (["lr=abc"], "'abc' is not a number"),
        (["lr=0.1,inf"], "not a finite number"),
        (["epochs=1.5"], "not a whole number"),
        (["hidden=16;-3"], "not a list of positive sizes"),
        (["hidden=16;0"], "not a list of positive sizes"),
        (["standardize=maybe"], "not true or false"),
        (["lr=0.1,,1"], "an empty value"),
        (["lr="], "an empty value"),
        (["lr 0.1"], "takes key=values"),
        (["lr=0.1", "lr=1"], "given twice"),
        (["lr=0.1,0.1"], "listed twice"),
    ],
)
def test_bad_grid_values_are_one_clear_line(texts: list[str], problem: str) -> None:
    with pytest.raises(BpnnValueError) as info:
        sweep.parse_grid(texts)
    assert problem in str(info.value) and "\n" not in str(info.value)


def test_trials_are_the_validated_product_checked_before_any_work(tmp_path: Path) -> None:
    configs = sweep.trials({"lr": [0.1, 1.0], "hidden": [[4], [8, 8]]}, {"dataset": "blobs", "epochs": 2, "optimizer": "SGD"})
    assert [(c.lr, c.hidden) for c in configs] == [(0.1, [4]), (0.1, [8, 8]), (1.0, [4]), (1.0, [8, 8])]
    assert all(c.optimizer == "sgd" and c.epochs == 2 for c in configs)  # canonical names: validated
    with pytest.raises(BpnnValueError, match=r"trial lr=-1: lr must be a positive number"):
        sweep.run_sweep({"lr": [0.1, -1.0]}, TINY, tmp_path / "bad")
    assert not (tmp_path / "bad").exists()  # nothing trained, nothing written
    with pytest.raises(BpnnValueError, match="workers must be a whole number >= 1"):
        sweep.run_sweep({"lr": [0.1]}, TINY, tmp_path / "w", workers=0)
    assert not (tmp_path / "w").exists()
    with pytest.raises(BpnnValueError, match="both swept"):
        sweep.trials({"lr": [0.1]}, {"lr": 0.2})
    # lbfgs ignores the batch size: two grid points, one trial
    same = sweep.trials({"optimizer": ["adam", "lbfgs"], "batch_size": [8, "full"]}, TINY)
    assert [(c.optimizer, c.batch_size) for c in same] == [("adam", 8), ("adam", "full"), ("lbfgs", "full")]


def test_trial_ids_are_stable_and_depend_on_every_setting() -> None:
    first = sweep.trials({"lr": [0.1]}, TINY)[0]
    again = sweep.trials({"lr": [0.1]}, dict(TINY))[0]
    other_fixed = sweep.trials({"lr": [0.1]}, TINY | {"epochs": 3})[0]
    assert sweep.trial_id(first, ["lr"]) == sweep.trial_id(again, ["lr"])
    assert sweep.trial_id(first, ["lr"]).startswith("lr=0.1_")
    assert sweep.trial_id(first, ["lr"]) != sweep.trial_id(other_fixed, ["lr"])


# ---------------------------------------------------------------------- running
def test_a_parallel_sweep_writes_results_table_and_plots(tmp_path: Path) -> None:
    seen: list[tuple[int, int]] = []
    out = sweep.run_sweep({"lr": [0.01, 0.1], "hidden": [[4], [8]]}, {"dataset": "blobs", "epochs": 2}, tmp_path / "s", workers=2,
                          progress=lambda done, total, row: seen.append((done, total)))  # fmt: skip
    rows = read_csv(out / "results.csv")
    assert [r["lr"] for r in rows] == ["0.01", "0.01", "0.1", "0.1"] and [r["hidden"] for r in rows] == ["4", "8", "4", "8"]
    assert list(rows[0])[:3] == ["trial", "lr", "hidden"] and {"test_accuracy", "val_accuracy", "train_cost", "epochs",
                                                               "seconds"} <= set(rows[0])  # fmt: skip
    for row in rows:  # each row agrees with the model the trial saved (an independent reading)
        saved = models.open_model(out / "trials" / row["trial"])
        assert row["status"] == "ok" and int(row["epochs"]) == saved.epoch == 2
        assert float(row["test_accuracy"]) == pytest.approx(saved.metrics["test_accuracy"], abs=1e-6)
        assert saved.config.lr == float(row["lr"]) and saved.config.hidden == [int(row["hidden"])]
    assert seen[0] == (0, 4) and seen[-1] == (4, 4) and len(seen) == 5
    table = (out / "results.md").read_text().splitlines()
    data = [line for line in table if line.startswith("| 0.")]
    assert [line.split(" | ")[:2] for line in data] == [["| 0.01", "4"], ["| 0.01", "8"], ["| 0.1", "4"], ["| 0.1", "8"]]
    for name in ("accuracy_vs_lr.png", "accuracy_vs_hidden.png", "learning_curves.png"):
        assert (out / name).read_bytes()[:8] == PNG_SIGNATURE


def test_resume_skips_finished_trials_and_an_interrupted_sweep_continues(tmp_path: Path, monkeypatch) -> None:
    calls: list[float] = []
    interrupted: list[bool] = []
    real = workflow.run_training

    def counting(config, *args, **kwargs):
        calls.append(config.lr)
        if config.lr == 0.3 and not interrupted:
            interrupted.append(True)
            raise KeyboardInterrupt  # the first time: Ctrl-C in the middle of the sweep
        return real(config, *args, **kwargs)

    monkeypatch.setattr(workflow, "run_training", counting)
    out = tmp_path / "s"
    with pytest.raises(KeyboardInterrupt):
        sweep.run_sweep({"lr": [0.1, 0.2, 0.3, 0.4]}, TINY, out, workers=1)
    assert [r["lr"] for r in read_csv(out / "results.csv")] == ["0.1", "0.2"]  # rows written as trials finished
    before = (out / "results.csv").read_text().splitlines()[1:]
    calls.clear()
    sweep.run_sweep({"lr": [0.1, 0.2, 0.3, 0.4]}, TINY, out, workers=1)
    assert calls == [0.3, 0.4]  # only the unfinished trials
    after = (out / "results.csv").read_text().splitlines()[1:]
    assert after[:2] == before and len(after) == 4
    calls.clear()
    sweep.run_sweep({"lr": [0.1, 0.2, 0.3, 0.4]}, TINY, out, workers=1)
    assert calls == []  # all finished: nothing trained, the report rewritten
    sweep.run_sweep({"lr": [0.1, 0.5]}, TINY, out, workers=1, resume=False)
    assert calls == [0.1, 0.5]  # --no-resume trains every trial again, over the old folders
    assert [r["lr"] for r in read_csv(out / "results.csv")] == ["0.1", "0.5"]


def test_a_failing_trial_is_a_row_not_a_crash(tmp_path: Path, monkeypatch) -> None:
    out = sweep.run_sweep({"lr": [0.1, 1e30]}, TINY | {"optimizer": "sgd"}, tmp_path / "real", workers=2)
    rows = {r["lr"]: r for r in read_csv(out / "results.csv")}
    assert rows["0.1"]["status"] == "ok" and rows["1e+30"]["status"] == "failed"
    assert "diverged" in rows["1e+30"]["message"] and rows["1e+30"]["test_accuracy"] == ""
    assert "failed: training diverged" in (out / "results.md").read_text()
    assert (out / "accuracy_vs_lr.png").read_bytes()[:8] == PNG_SIGNATURE

    def diverging(config, *args, **kwargs):
        raise DivergenceError("training diverged in epoch 1: the cost became nan")

    monkeypatch.setattr(workflow, "run_training", diverging)  # every trial fails: still a table, no plot crash
    out = sweep.run_sweep({"lr": [0.1, 0.2]}, TINY, tmp_path / "all", workers=1)
    assert [r["status"] for r in read_csv(out / "results.csv")] == ["failed", "failed"]
    assert (out / "learning_curves.png").exists()


def test_the_sweep_command_reports_bad_input_in_one_line(tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    result = CliRunner().invoke(app, ["sweep", "--grid", "speed=1", "--out", str(tmp_path / "x")])
    assert result.exit_code == 2
    assert result.output.startswith("error: --grid: unknown setting 'speed'") and result.output.count("\n") == 1
    result = CliRunner().invoke(app, ["sweep", "--grid", "lr=0.1", "--set", "dataset=blobs", "--set", "epochs=1", "--out",
                                      str(tmp_path / "y"), "--workers", "1", "--quiet"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert len(read_csv(tmp_path / "y" / "results.csv")) == 1
