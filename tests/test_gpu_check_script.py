"""scripts/gpu_check.sh runs end to end on the CPU (its short mode): the stages that need a GPU say
"skipped: no GPU" (never "pass"), the CPU stand-ins pass, and the report names the stages and their seconds."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
GPU_STAGES = ["gpu probe", "gpu tests", "sklearn cupy-cuda checks", "numpy vs cupy", "cli cuda", "cli auto",
              "mpiexec 2 ranks, host reduce, one GPU", "nccl 1-rank allreduce", "benchmark"]  # fmt: skip


@pytest.mark.slow
def test_the_gpu_check_proves_itself_on_the_cpu(tmp_path):
    pytest.importorskip("torch", reason="the benchmark stage compares against torch (pip install '.[torch]')")
    env = dict(os.environ, OUT=str(tmp_path), PYTHON=sys.executable, BUDGET_S="150")
    result = subprocess.run(["bash", str(ROOT / "scripts" / "gpu_check.sh"), "--device", "cpu", "--short"],
                            capture_output=True, text=True, timeout=240, env=env, cwd=ROOT)  # fmt: skip
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    status = {s["stage"]: s["status"] for s in report["stages"]}
    assert all(status[name] == "skipped: no GPU" for name in GPU_STAGES), status
    stand_ins = {name: st for name, st in status.items() if "stand-in" in name}
    assert len(stand_ins) == 4 and all(st == "pass" or st.startswith("skipped: no mpiexec") for st in stand_ins.values()), status
    assert status["environment"] == "pass" and status["install"] == "pass" and report["passed"] is True
    assert report["total_seconds"] <= report["budget_seconds"] and report["versions"]["numpy"] != "not installed"
    assert (tmp_path / "gpu_throughput_cpu_quick.json").is_file() and (tmp_path / "logs" / "environment.log").is_file()
    page = (tmp_path / "gpu_check.md").read_text()
    assert "| gpu tests | skipped: no GPU |" in page and "| total |" in page and "did not run" in page
