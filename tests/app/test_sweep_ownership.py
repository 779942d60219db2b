"""A sweep owns its folder: another sweep or a second copy is refused, its size is said first (large grids need
--yes), failures are said and retried, and Ctrl-C / SIGTERM stop a parallel sweep with one line and 130 / 143."""

from __future__ import annotations

import csv
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from typer.testing import CliRunner

from bpnn_xp import sweep, sweep_folder
from bpnn_xp.cli import app
from bpnn_xp.errors import BpnnValueError, RunLockedError
from bpnn_xp.files import RunLock

ROOT = Path(__file__).resolve().parents[2]
TINY = {"dataset": "blobs", "epochs": 1, "hidden": [2]}
runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args])


def statuses(folder: Path) -> list[str]:
    with open(folder / "results.csv", newline="", encoding="utf-8") as handle:
        return [row["status"] for row in csv.DictReader(handle)]


def test_a_different_sweep_is_refused_in_another_sweeps_folder(tmp_path):
    out = sweep.run_sweep({"lr": [0.1]}, TINY, tmp_path / "s", workers=1)
    before = (out / "results.csv").read_text()
    with pytest.raises(BpnnValueError, match=r"holds another sweep \(bpnn sweep --grid \"lr=0.1\".*choose another --out"):
        sweep.run_sweep({"l2": [0.0]}, TINY, out, workers=1)  # other swept key
    with pytest.raises(BpnnValueError, match="holds another sweep"):
        sweep.run_sweep({"lr": [0.1]}, TINY | {"epochs": 2}, out, workers=1)  # other fixed setting
    assert (out / "results.csv").read_text() == before
    sweep.run_sweep({"l2": [0.0]}, TINY, out, workers=1, overwrite=True)
    assert "l2" in (out / "results.csv").read_text().splitlines()[0]


def test_a_training_run_folder_is_not_a_sweep_folder(tmp_path):
    trained = invoke("train", "--dataset", "blobs", "--hidden", "2", "--epochs", "1", "--out", tmp_path / "r", "--quiet")
    assert trained.exit_code == 0
    result = invoke("sweep", "--grid", "lr=0.1", "--set", "dataset=blobs", "--out", tmp_path / "r", "--workers", "1")
    assert result.exit_code == 2 and "holds a training run" in result.output


def test_a_second_copy_of_a_sweep_is_refused_while_the_first_runs(tmp_path):
    out = tmp_path / "s"
    with RunLock(out):  # the first copy holds the folder
        with pytest.raises(RunLockedError, match="is in use by another"):
            sweep.run_sweep({"lr": [0.1]}, TINY, out, workers=1)
    assert not (out / "results.csv").exists()


def test_the_grid_size_is_said_first_and_a_large_grid_needs_yes(tmp_path):
    values = ",".join(str(v) for v in range(1, 12))
    result = invoke("sweep", "--grid", f"epochs={values}", "--grid", f"seed={values}", "--grid", "hidden=1;2;3;4;5;6;7;8;9",
                    "--out", tmp_path / "big")  # fmt: skip
    assert result.exit_code == 2 and result.output.count("\n") == 1
    limit = f"over the limit of {sweep_folder.MAX_TRIALS:,}"
    assert f"the grid makes 1,089 trials (11 epochs x 11 seed x 9 hidden), {limit}" in result.output
    assert "--yes" in result.output and not (tmp_path / "big").exists()
    small = invoke("sweep", "--grid", "lr=0.1,0.2", "--set", "dataset=blobs", "--set", "epochs=1", "--set", "hidden=2",
                   "--workers", "1", "--out", tmp_path / "small")  # fmt: skip
    assert small.exit_code == 0 and small.stderr.startswith("sweep: 2 trial(s) (2 lr) into ")


def test_all_failed_exits_1_and_a_rerun_retries_the_failed_trials(tmp_path):
    data = tmp_path / "data.csv"
    args = ["sweep", "--grid", "lr=0.01,0.02", "--set", f"data={data}", "--set", "epochs=1", "--set", "hidden=2",
            "--workers", "1", "--quiet", "--out", tmp_path / "s"]  # fmt: skip
    failed = invoke(*args)
    assert failed.exit_code == 1 and "every trial failed (2)" in failed.output and "retried" in failed.output
    assert statuses(tmp_path / "s") == ["failed", "failed"]
    rows = [f"{i % 2},{i % 2 + 0.1 * (i % 5)},{1 - i % 2}" for i in range(40)]
    data.write_text("label,a,b\n" + "\n".join(rows) + "\n")  # the cause fixed
    again = invoke(*args)
    assert again.exit_code == 0, again.output
    assert statuses(tmp_path / "s") == ["ok", "ok"]


def test_an_interrupt_before_any_trial_finished_promises_no_results_file(tmp_path):
    from bpnn_xp.cli_sweep import _sweep_interrupted

    assert "results.csv" not in _sweep_interrupted(tmp_path / "nothing")
    sweep.run_sweep({"lr": [0.1]}, TINY, tmp_path / "one", workers=1)
    assert "1 finished trial(s) are in" in _sweep_interrupted(tmp_path / "one")


def start_parallel_sweep(out: Path) -> subprocess.Popen:
    """A 2-worker sweep of long trials, in its own process group (as a terminal runs it)."""
    command = [sys.executable, "-m", "bpnn_xp", "sweep", "--grid", "seed=0,1", "--set", "dataset=digits", "--set", "epochs=500",
               "--set", "hidden=32", "--workers", "2", "--quiet", "--out", str(out)]  # fmt: skip
    environment = dict(os.environ, PYTHONPATH=str(ROOT), OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1")
    return subprocess.Popen(command, cwd=ROOT, env=environment, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True)  # fmt: skip


def wait_for_trials(out: Path, process: subprocess.Popen, timeout: float = 120) -> None:
    """Until both workers have claimed their trial folders."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and process.poll() is None:
        trials = out / "trials"
        if trials.is_dir() and sum(1 for t in trials.iterdir() if (t / ".lock").exists()) == 2:
            return
        time.sleep(0.2)
    process.kill()
    pytest.fail(f"the sweep's workers did not start: {process.communicate()}")


@pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")
@pytest.mark.parametrize(("signum", "to_group", "code"), [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)])
def test_a_signal_stops_a_parallel_sweep_cleanly(tmp_path, signum, to_group, code):
    """Ctrl-C reaches the whole process group (workers too); a scheduler's SIGTERM reaches the parent only."""
    out = tmp_path / "s"
    process = start_parallel_sweep(out)
    try:
        wait_for_trials(out, process)
        time.sleep(1.0)  # the trials are training
        if to_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        stdout, stderr = process.communicate(timeout=60)  # never hangs
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == code, stderr
    lines = [line for line in stderr.splitlines() if line.strip()]
    assert len(lines) == 2 and lines[0].startswith("sweep: 2 trial(s)"), stderr  # the size line, then one line
    assert lines[1] == "interrupted before any trial finished; run the same command again to start the sweep", stderr
    assert "Traceback" not in stderr and stdout == ""


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--workers", "0"], "error: --workers must be a whole number >= 1, got 0"),
     (["--out-file"], "a file is in the way"),
     (["--grid", "lr=-1"], "error: trial lr=-1: lr must be a positive number")],
)  # fmt: skip
def test_a_refused_sweep_is_one_line_without_a_size_line_or_an_empty_bar(tmp_path, args, message):
    (tmp_path / "afile").write_text("in the way")
    out = tmp_path / ("afile" if args == ["--out-file"] else "s")
    extra = [] if args == ["--out-file"] else args
    grid = [] if "--grid" in extra else ["--grid", "lr=0.1"]
    result = invoke("sweep", *grid, *extra, "--set", "dataset=blobs", "--out", out)
    assert result.exit_code == 2 and result.output.count("\n") == 1 and message in result.output, result.output
    assert not (tmp_path / "s").exists()
