"""Faults from the field, class by class: writes that fail, model files that lie, numbers that are not,
options that would be ignored, signals, two processes on one run. One clear line each, nothing lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import zipfile

import numpy as np
import pytest
from typer.testing import CliRunner

from bpnn_xp import checkpoint
from bpnn_xp.cli import app
from bpnn_xp.config import TrainConfig
from bpnn_xp.errors import DataFileError
from bpnn_xp.models import open_model
from bpnn_xp.workflow import run_training

runner = CliRunner()


def bpnn(*args: str, env_extra: dict | None = None, **kwargs) -> subprocess.Popen:
    """``python -m bpnn_xp ARGS`` as a separate process."""
    env = dict(os.environ, **(env_extra or {}))
    return subprocess.Popen([sys.executable, "-m", "bpnn_xp", *map(str, args)], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env, **kwargs)  # fmt: skip


def wait_for(path, process, seconds=60.0):
    """Wait until ``path`` exists (the first checkpoint) while ``process`` runs."""
    deadline = time.monotonic() + seconds
    while not path.exists():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "no checkpoint appeared"
        time.sleep(0.05)


def long_run(out):
    return bpnn("train", "--dataset", "blobs", "--hidden", "8", "--epochs", "100000", "--out", out)


# ---------------------------------------------------------------- 6. signals, 7. runs


def test_sigterm_is_handled_like_ctrl_c(tmp_path):
    process = long_run(tmp_path)
    try:
        wait_for(tmp_path / "model.json", process)
        process.send_signal(signal.SIGTERM)
        _, err = process.communicate(timeout=60)
    finally:
        process.kill()
    assert process.returncode == 143, err
    assert "Traceback" not in err and f"continue with --resume {tmp_path}" in err
    assert checkpoint.load_model(tmp_path).epoch >= 1


def test_two_processes_cannot_write_one_run(tmp_path):
    first = long_run(tmp_path)
    try:
        wait_for(tmp_path / "model.json", first)
        second = bpnn("train", "--dataset", "xor", "--epochs", "1", "--out", tmp_path)
        _, err = second.communicate(timeout=60)
        assert second.returncode == 2 and "is in use by another bpnn process" in err and "Traceback" not in err
    finally:
        first.kill()
        first.wait()
    assert checkpoint.load_model(tmp_path).config.dataset == "blobs"  # the first run's files were not touched


def test_ctrl_c_outside_training_gives_no_traceback(monkeypatch):
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("bpnn_xp.models.open_model", interrupted)
    from bpnn_xp import cli

    monkeypatch.setattr(sys, "argv", ["bpnn", "evaluate", "runs/none"])
    with pytest.raises(SystemExit) as exit_info:
        cli.main()
    assert exit_info.value.code == 130


# ---------------------------------------------------------------- 1. writing


def test_a_full_write_keeps_the_previous_checkpoint(tmp_path):
    """Under a 40 kB file-size limit a 256-unit model cannot be written: one line, old model intact, no temp."""
    small = run_training(TrainConfig(dataset="digits", hidden=[4], epochs=1, out=str(tmp_path)))
    before = (tmp_path / "model.npz").read_bytes()
    command = f"ulimit -f 40; exec {sys.executable} -m bpnn_xp train --hidden 256 --epochs 1 --out {tmp_path} --overwrite"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    assert "file-size limit (ulimit -f) was exceeded" in result.stderr and "Traceback" not in result.stderr
    assert (tmp_path / "model.npz").read_bytes() == before and small.network.sizes[1] == 4
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_a_file_where_the_run_folder_should_be(tmp_path):
    (tmp_path / "run").write_text("not a folder")
    result = runner.invoke(app, ["train", "--dataset", "xor", "--epochs", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "a file is in the way" in result.output


# ---------------------------------------------------------------- 2. model files are untrusted


def saved_run(tmp_path):
    run_training(TrainConfig(dataset="digits", hidden=[4], epochs=1, out=str(tmp_path)))
    return tmp_path / "model.npz"


def rewrite(path, change_meta=None, change_arrays=None):
    """Rewrite a model file with its metadata and arrays changed (as an attacker or a bug would)."""
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    meta = json.loads(arrays.pop("__meta__").tobytes())
    if change_meta:
        change_meta(meta)
    if change_arrays:
        change_arrays(arrays)
    arrays["__meta__"] = np.frombuffer(json.dumps(meta).encode(), dtype=np.uint8)
    np.savez_compressed(path, **arrays)


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda m: m.update(format_version="1"), "format_version must be a whole number"),
        (lambda m: m["architecture"].update(dtype="int8"), "architecture.dtype must be float32 or float64"),
        (lambda m: m["architecture"].update(sizes=[64, -4, 10]), "architecture.sizes"),
        (lambda m: m["dataset"].update(image_shape=[9, 9]), "does not give the 64 inputs"),
        (lambda m: m["dataset"].update(n_classes=3), "dataset.n_classes must be 10"),
        (lambda m: m["trainer"].update(rng_state={"bit_generator": "PCG64", "state": "x"}), "trainer.rng_state"),
        (lambda m: m["trainer"].update(epoch=-2), "trainer.epoch must be a whole number"),
        (lambda m: m["optimizer_state"].update(t="3"), "optimizer_state.t must be a whole number"),
        (lambda m: m["trainer"].update(schedule_end=2.5), "trainer.schedule_end must be a whole number"),
        (lambda m: m.update(history={"records": [{"epoch": 1, "bogus": 2}]}), "history is corrupt"),
        (lambda m: m["config"].update(hidden="lots"), "stored config: hidden"),
        (lambda m: m["config"].update(optimizer="adamw"), "stored config: unknown optimizer"),
        (lambda m: m["preprocessing"].update(standardize="yes"), "preprocessing.standardize must be true or false"),
    ],
)
def test_model_metadata_fields_are_checked(tmp_path, change, field):
    path = saved_run(tmp_path)
    rewrite(path, change_meta=change)
    with pytest.raises(DataFileError, match=field) as info:
        checkpoint.load_model(path)
    assert str(path) in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize(
    "change,field",
    [
        (lambda a: a.update({"param.0": np.full((64, 4), np.nan, np.float32)}), "param.0 holds NaN"),
        (lambda a: a.update({"param.1": np.zeros(4, np.int32)}), "param.1 must be float32 or float64"),
        (lambda a: a.update({"preprocess.std": np.zeros(1)}), "preprocessing std must be > 0"),
        (lambda a: a.pop("param.3"), "parameter param.3 is missing"),
    ],
)
def test_model_arrays_are_checked(tmp_path, change, field):
    path = saved_run(tmp_path)
    rewrite(path, change_arrays=change)
    with pytest.raises(DataFileError, match=field):
        checkpoint.load_model(path)


def test_optimizer_state_that_does_not_fit_names_the_file_on_resume(tmp_path):
    path = saved_run(tmp_path)
    rewrite(path, change_arrays=lambda a: a.update({"opt.m.0": np.zeros((3, 3), np.float32)}))
    result = runner.invoke(app, ["train", "--resume", str(tmp_path), "--epochs", "1"])
    assert result.exit_code == 2 and str(path) in result.output and "opt" not in result.output.split(":")[0]


def test_a_member_that_would_inflate_far_beyond_the_architecture_is_refused(tmp_path):
    path = saved_run(tmp_path)
    rewrite(path, change_arrays=lambda a: a.update({"param.1": np.zeros(4_000_000, np.float32)}))
    assert zipfile.ZipFile(path).getinfo("param.1.npy").file_size > 10_000_000 > path.stat().st_size
    with pytest.raises(DataFileError, match="declares .* bytes, more than the architecture allows"):
        checkpoint.load_model(path)


def test_a_stale_model_json_is_rewritten_from_the_model(tmp_path):
    saved_run(tmp_path)
    (tmp_path / "model.json").write_text('{"checkpoint_id": "from an older write", "metrics": {}}')
    saved = open_model(tmp_path)
    assert json.loads((tmp_path / "model.json").read_text())["checkpoint_id"] == saved.meta["checkpoint_id"]


# ---------------------------------------------------------------- 4. numbers, 5. options


@pytest.mark.parametrize(
    "args,message",
    [
        (["train", "--hidden", "²"], "--hidden takes positive integers"),
        (["train", "--batch-size", "³"], "--batch-size must be a positive integer, or 'full'"),
        (["train", "--epochs", "0"], "--epochs must be a whole number >= 1"),
        (["train", "--seed", "-1"], "--seed must be a whole number >= 0"),
        (["train", "--test-fraction", "0"], "--test-fraction 0 leaves no test data"),
        (["train", "--optimizer", "lbfgs", "--early-stopping", "2"], "--early-stopping works with the minibatch optimizers"),
        (["gradcheck", "--threshold", "nan"], "--threshold must be a positive number"),
    ],
)
def test_numbers_and_options_that_cannot_work_are_usage_errors(tmp_path, args, message):
    result = runner.invoke(app, [*args, "--out", str(tmp_path)] if args[0] == "train" else args)
    assert result.exit_code == 2 and message in result.output and "Traceback" not in result.output
    assert not (tmp_path / "model.npz").exists()


def test_unicode_digits_in_integer_options_are_usage_errors():
    result = runner.invoke(app, ["train", "--epochs", "²"])
    assert result.exit_code == 2 and "Traceback" not in result.output


def test_scipy_methods_run_in_float64_and_report_why_they_stopped(tmp_path):
    result = runner.invoke(app, ["train", "--dataset", "blobs", "--optimizer", "lbfgs", "--epochs", "15", "--hidden", "8",
                                 "--lr", "0.1", "--batch-size", "64", "--out", str(tmp_path), "--json"])  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "lbfgs ignores --lr" in result.stderr and "--batch-size 64" in result.stderr
    report = json.loads(result.stdout)["optimizer_report"]
    assert report["iterations"] <= 15 and report["evaluations"] >= report["iterations"] and report["message"]
    saved = checkpoint.load_model(tmp_path)
    assert saved.dtype == "float64" and saved.config.batch_size == "full"


def test_memory_errors_name_the_knob_the_command_has(monkeypatch, tmp_path):
    def out_of_memory(*args, **kwargs):
        raise MemoryError

    monkeypatch.setattr("bpnn_xp.models.open_model", out_of_memory)
    result = runner.invoke(app, ["evaluate", str(tmp_path)])
    assert result.exit_code == 2 and "out of memory" in result.output and "--batch-size" not in result.output


def test_ctrl_c_while_the_launcher_is_still_importing(monkeypatch, capsys):
    """The console script catches Ctrl-C even during ``import bpnn_xp.cli``: exit 130, no traceback."""
    import bpnn_xp.__main__ as entry

    class InterruptImport:
        def find_spec(self, name, path=None, target=None):
            if name == "bpnn_xp.cli":
                raise KeyboardInterrupt
            return None

    monkeypatch.delitem(sys.modules, "bpnn_xp.cli")
    monkeypatch.setattr(sys, "meta_path", [InterruptImport(), *sys.meta_path])
    with pytest.raises(SystemExit) as exit_info:
        entry.main()
    assert exit_info.value.code == 130 and capsys.readouterr().err.strip() == "interrupted"


def test_the_console_script_points_at_the_guarded_entry():
    import importlib.metadata

    (script,) = [e for e in importlib.metadata.entry_points(group="console_scripts") if e.name == "bpnn"]
    assert script.value == "bpnn_xp.__main__:main"
