"""README's commands stay true: CI runs exactly the test command README gives."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    return re.findall(r"```bash\n(.+?)\n```", (ROOT / "README.md").read_text())


def test_readme_has_run_and_test_commands_and_ci_runs_the_test_one():
    commands = readme_commands()
    assert len(commands) == 2, "README gives exactly two set-up-and-go commands (other shell text goes in text blocks)"
    run, test = commands[0], commands[1]
    assert "pip install" in run and "pytest" not in run
    assert test.endswith("python -m pytest")
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_python_example_runs_and_backends_agree(capsys):
    pytest.importorskip("array_api_strict", reason="the example uses array-api-strict")
    (code,) = [c for c in python_examples() if "resolve_device" in c]
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("cpu test accuracy") and float(lines[0].split()[-1]) > 0.8
    assert float(lines[-1].split()[-1]) < 1e-12


def python_examples() -> list[str]:
    return re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)


def test_readme_grid_search_example_runs(tmp_path, monkeypatch, capsys):
    """The scikit-learn example: GridSearchCV over BpnnClassifier, saved and loaded back as a run."""
    (code,) = [c for c in python_examples() if "GridSearchCV" in c]
    monkeypatch.chdir(tmp_path)
    exec(compile(code.replace("max_iter=60", "max_iter=15"), "README.md", "exec"), {})
    best, accuracy = capsys.readouterr().out.strip().rsplit("test accuracy", 1)
    assert "hidden_layer_sizes" in best and float(accuracy) > 0.9
    assert (tmp_path / "runs" / "digits_sklearn" / "model.npz").is_file()
