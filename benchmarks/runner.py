"""Start one benchmark run as a fresh process and read its result (a worker's JSON line, or a whole-process wall time)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks.common import ROOT, Config
from benchmarks.worker import MARKER, TORCH_SYSTEMS


@dataclass
class Run:
    """The outcome of one run: its value (rate, GFLOP/s or wall seconds) or why it failed."""

    section: str
    system: str
    round: int
    ok: bool
    value: float | None = None
    reason: str = ""
    wall_s: float = 0.0
    detail: dict[str, Any] = field(default_factory=dict)


def worker_command(system: str, section: str, config: Config | None, data: Path, device: str, quick: bool) -> list[str]:
    """``python -m benchmarks.worker`` for one system and section."""
    cmd = [sys.executable, "-m", "benchmarks.worker", system, "--section", section, "--data", str(data), "--device", device]
    if config is not None:
        cmd += ["--config", config.to_json()]
    return cmd + (["--quick"] if quick else [])


def startup_command(system: str, out: Path, quick: bool) -> list[str]:
    """The whole-process start-up commands: ``bpnn train`` with its defaults, or the equivalent scikit-learn script."""
    epochs = ["--epochs", "2"] if quick else []
    if system == "bpnn train":
        return [sys.executable, "-m", "bpnn_xp", "train", "--out", str(out), "--json", *epochs]
    return [sys.executable, "-m", "benchmarks.sklearn_digits", *epochs]


def environment(system: str, threads: int | None = None) -> dict[str, str]:
    """The child's environment: ``threads`` pins every pool (OpenMP, OpenBLAS, MKL); a torch worker's NumPy gets one
    OpenBLAS thread (it does no BLAS work)."""
    env = dict(os.environ)
    env.pop("PYTHONSTARTUP", None)
    if threads:
        env.update({k: str(threads) for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")})
    if system in TORCH_SYSTEMS:
        env["OPENBLAS_NUM_THREADS"] = "1"
    return env


def parse_worker(stdout: str) -> dict[str, Any] | None:
    """The worker's BENCH_RESULT line as a dict (None if there is none)."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(MARKER):
            return json.loads(line[len(MARKER) :])
    return None


def run_process(section: str, system: str, cmd: list[str], timeout: float, round_index: int, threads: int | None = None) -> Run:
    """Run ``cmd`` in ROOT; a worker's value is its rate, a start-up command's value is its wall time."""
    start = time.perf_counter()
    try:
        proc = subprocess.run(cmd, cwd=ROOT, env=environment(system, threads), capture_output=True, text=True, timeout=timeout)
    except subprocess.TimeoutExpired:
        return Run(section, system, round_index, False, reason=f"run exceeded the {timeout:.0f} s timeout")
    wall = time.perf_counter() - start
    if section == "startup":
        if proc.returncode != 0:
            return Run(section, system, round_index, False, reason=last_line(proc.stderr) or f"exit status {proc.returncode}")
        return Run(section, system, round_index, True, value=wall, wall_s=wall)
    result = parse_worker(proc.stdout)
    if result is None:
        reason = last_line(proc.stderr) or f"exit status {proc.returncode}"
        return Run(section, system, round_index, False, reason=reason, wall_s=wall)
    if not result.get("ok"):
        return Run(section, system, round_index, False, reason=result.get("reason", "failed"), wall_s=wall, detail=result)
    return Run(section, system, round_index, True, value=result["rate"], wall_s=wall, detail=result)


def last_line(text: str) -> str:
    """The last non-empty line of a process's stderr (its error, usually)."""
    lines = [line for line in text.strip().splitlines() if line.strip()]
    return lines[-1][:500] if lines else ""
