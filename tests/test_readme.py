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
    assert len(commands) >= 2
    run, test = commands[0], commands[1]
    assert "pip install" in run and "pytest" not in run
    assert test.endswith("python -m pytest")
    assert test in (ROOT / ".ci" / "run").read_text().splitlines()


def test_readme_python_example_runs_and_backends_agree(capsys):
    pytest.importorskip("array_api_strict", reason="the example uses array-api-strict")
    (code,) = re.findall(r"```python\n(.+?)\n```", (ROOT / "README.md").read_text(), flags=re.S)
    exec(compile(code, "README.md", "exec"), {})
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0].startswith("cpu test accuracy") and float(lines[0].split()[-1]) > 0.8
    assert float(lines[-1].split()[-1]) < 1e-12
