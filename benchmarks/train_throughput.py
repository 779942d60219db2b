"""Training throughput of bpnn_xp beside its peers, each run in its own fresh process, in interleaved rounds.

    python -m benchmarks.train_throughput --write-results   # full CPU measurement -> benchmarks/results/
    python -m benchmarks.train_throughput --quick           # trial run: tiny sizes, results in a temp folder
    python -m benchmarks.train_throughput --help

Every run of every system is a separate ``python -m benchmarks.worker`` process, so no two array libraries'
thread pools share a process (OpenBLAS's spinning idle threads starve PyTorch's on a small machine). Each
round runs every system once per section, order rotated per round, with a pause between runs; bpnn_xp ÷ peer
ratios are paired within a round. Reported: median and min–max of samples/s (evaluations/s, wall seconds)
and of the paired ratios, GFLOP/s and the share of NumPy's float32 matmul peak (its own process, every round),
thread pools, BLAS vendor, versions, machine, command, date and commit. Nothing is written to
benchmarks/results/ without --write-results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks import report
from benchmarks.common import (
    RESULTS_DIR,
    ROOT,
    Config,
    full_configs,
    git_state,
    machine_info,
    prepare_data,
    quick_configs,
    summary,
    versions,
)
from benchmarks.runner import Run, run_process, startup_command, worker_command

OPENBLAS = "bpnn_xp (OpenBLAS)"  # BPNN_XP_BLAS=openblas: the default install's BLAS where the [mkl] extra is installed
TRAIN_SYSTEMS = ["bpnn_xp", OPENBLAS, "torch eager", "torch fused", "torch compile", "scikit-learn", "numpy", "per-sample loop"]
SECTION_SYSTEMS = {
    "mlp256": TRAIN_SYSTEMS,
    "mlp1024": TRAIN_SYSTEMS,
    "course": ["bpnn_xp", OPENBLAS, "torch eager", "numpy", "per-sample loop"],
    "peak": ["numpy matmul peak", "torch matmul peak"],
    "startup": ["bpnn train", "scikit-learn script"],
}
GPU_SYSTEMS = {"bpnn_xp", "torch eager", "torch fused", "torch compile", "torch matmul peak"}
UNITS = {"mlp256": "samples/s", "mlp1024": "samples/s", "course": "evaluations/s", "peak": "GFLOP/s", "startup": "s wall"}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The driver's command line."""
    epilog = "Sections and their systems:\n" + "\n".join(f"  {k}: {', '.join(v)}" for k, v in SECTION_SYSTEMS.items())
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter, epilog=epilog)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 7; 2 with --quick)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds of idle between two runs (default 1)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes and few steps: checks the harness, not the speed")
    parser.add_argument("--sections", default=",".join(SECTION_SYSTEMS), help="comma-separated sections to run")
    parser.add_argument("--systems", default="", help="comma-separated systems to keep (default: all); bpnn_xp always runs")
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (recorded as not available)")
    parser.add_argument("--timeout", type=float, default=300.0, help="seconds one run may take before it counts as failed")
    parser.add_argument("--compile-timeout", type=float, default=600.0, help="seconds a torch.compile run may take")
    parser.add_argument(
        "--threads",
        type=int,
        default=None,
        help="set OMP/OPENBLAS/MKL_NUM_THREADS for every run (default: each library's own default)",
    )
    parser.add_argument("--device", default="cpu", help="cpu (default) or cuda[:N]: bpnn_xp on CuPy vs torch on the GPU")
    parser.add_argument("--out", default=None, help="folder for the JSON and Markdown (default: a new temp folder)")
    parser.add_argument("--write-results", action="store_true", help="write benchmarks/results/train_throughput_<device>.*")
    parser.add_argument("--no-memory", action="store_true", help="accepted for old scripts; peak RSS is recorded per run anyway")
    args = parser.parse_args(argv)
    if args.write_results and args.quick:
        parser.error("--quick results are trial figures: they are never written to benchmarks/results/")
    if args.out and Path(args.out).resolve() == RESULTS_DIR.resolve() and not args.write_results:
        parser.error("writing to benchmarks/results/ needs --write-results")
    args.rounds = args.rounds or (2 if args.quick else 7)
    return args


def mkl_installed() -> bool:
    """Whether the mkl wheel is installed (package metadata only: nothing is loaded here)."""
    from importlib import metadata

    try:
        metadata.version("mkl")
    except metadata.PackageNotFoundError:
        return False
    return True


def plan(args: argparse.Namespace) -> tuple[dict[str, list[str]], dict[str, str]]:
    """Systems per section, and the systems skipped up front with the reason."""
    keep = {s.strip() for s in args.systems.split(",") if s.strip()}
    sections, skipped = {}, {}
    for section in [s.strip() for s in args.sections.split(",") if s.strip()]:
        if section not in SECTION_SYSTEMS:
            raise SystemExit(f"unknown section {section!r}; choose from {', '.join(SECTION_SYSTEMS)}")
        systems = []
        for system in SECTION_SYSTEMS[section]:
            if keep and system not in keep and system not in ("bpnn_xp", "bpnn train"):
                continue
            if system == OPENBLAS and not mkl_installed():
                skipped[f"{section}/{system}"] = "the [mkl] extra is not installed: the bpnn_xp row is OpenBLAS already"
            elif system == "torch compile" and args.no_compile:
                skipped[f"{section}/{system}"] = "skipped (--no-compile)"
            elif args.device != "cpu" and system not in GPU_SYSTEMS:
                skipped[f"{section}/{system}"] = f"CPU-only system, not run with --device {args.device}"
            else:
                systems.append(system)
        sections[section] = systems
    if args.device != "cpu":
        sections.pop("startup", None)
    return sections, skipped


def command_for(section: str, system: str, configs: dict[str, Config], ctx: dict[str, Any], index: int) -> list[str]:
    """The command line of one run."""
    if section == "startup":
        return startup_command(system, Path(ctx["tmp"]) / f"bpnn_train_{index}", ctx["quick"])
    config = configs.get(section)
    return worker_command(system, section, config, Path(ctx["tmp"]), ctx["device"], ctx["quick"])


def run_round(
    r: int, sections: dict[str, list[str]], failed: dict[str, str], configs: dict[str, Config], ctx: dict[str, Any]
) -> list[Run]:
    """One round: every section's systems once, order rotated by the round number, a pause after each run."""
    runs = []
    for section, systems in sections.items():
        active = [s for s in systems if f"{section}/{s}" not in failed]
        k = r % len(active) if active else 0
        for system in active[k:] + active[:k]:
            timeout = ctx["compile_timeout"] if system == "torch compile" else ctx["timeout"]
            cmd = command_for(section, system, configs, ctx, len(runs) + 100 * r)
            run = run_process(section, system, cmd, timeout, r, ctx["threads"])
            runs.append(run)
            progress(run, ctx)
            if not run.ok:
                failed[f"{section}/{system}"] = run.reason
            time.sleep(ctx["pause"])
    return runs


def progress(run: Run, ctx: dict[str, Any]) -> None:
    """One line per run on stderr."""
    value = f"{run.value:,.2f} {UNITS[run.section]}" if run.ok else f"FAILED: {run.reason}"
    print(f"[round {run.round + 1}/{ctx['rounds']}] {run.section:8s} {run.system:20s} {value}", file=sys.stderr, flush=True)


def aggregate(section: str, systems: list[str], runs: list[Run], rounds: int, failed: dict[str, str]) -> dict[str, Any]:
    """Per-system summaries and paired ratios of one section."""
    mine = [run for run in runs if run.section == section]
    by_system: dict[str, dict[str, Any]] = {}
    per_round: dict[str, list[float | None]] = {}
    for system in systems:
        values: list[float | None] = [None] * rounds
        for run in mine:
            if run.system == system and run.ok:
                values[run.round] = run.value
        per_round[system] = values
        own = [run for run in mine if run.system == system]
        by_system[system] = system_entry(own, values, failed.get(f"{section}/{system}"))
    return {"unit": UNITS[section], "systems": by_system, "per_round": per_round}


def system_entry(runs: list[Run], values: list[float | None], failure: str | None) -> dict[str, Any]:
    """Summary of one system's runs; 'not available: reason' when it never ran successfully."""
    ok = [v for v in values if v is not None]
    if not ok:
        return {"available": False, "reason": f"not available: {failure or 'no successful run'}"}
    good = [run for run in runs if run.ok]
    entry: dict[str, Any] = {"available": True, **summary(ok), "values": values}
    entry["timed"] = good[0].detail.get("timed") if good[0].detail else "whole process wall time"
    entry["peak_rss_mb"] = max((run.detail.get("peak_rss_mb") or 0.0) for run in good) if good[0].detail else None
    entry["threads"] = good[0].detail.get("threads") if good[0].detail else None
    for key in ("dtype", "per_shape", "warmup_seconds"):
        if good[0].detail and key in good[0].detail:
            entry[key] = good[0].detail[key]
    if failure:
        entry["failures"] = failure
    return entry


def build_results(args: argparse.Namespace, argv: list[str] | None, data: dict[str, Any]) -> dict[str, Any]:
    """The header of the results: command, date, machine, versions, git state, settings."""
    command = "python -m benchmarks.train_throughput " + " ".join(argv if argv is not None else sys.argv[1:])
    return {
        "schema": "bpnn_xp train_throughput v2 (one process per run)",
        "command": command.strip(),
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "trial": args.quick,
        "device": args.device,
        "machine": machine_info(),
        "versions": versions(),
        "git": git_state(),
        "python_executable": sys.executable,
        "data": data,
        "settings": {"rounds": args.rounds, "pause_s": args.pause, "timeout_s": args.timeout,
                     "compile_timeout_s": args.compile_timeout, "threads_env": args.threads or "library defaults",
                     "order": "each round runs every system of a section once, the order rotated by one per round",
                     "torch_worker_env": "OPENBLAS_NUM_THREADS=1 (NumPy does no BLAS work in a torch worker)"},
    }  # fmt: skip


def measure(args: argparse.Namespace, argv: list[str] | None) -> dict[str, Any]:
    """Prepare data, run the rounds and assemble the results."""
    configs = quick_configs() if args.quick else full_configs()
    sections, skipped = plan(args)
    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="bpnn_bench_data_") as tmp:
        data = prepare_data(Path(tmp))
        results = build_results(args, argv, data)
        ctx = {"tmp": tmp, "quick": args.quick, "device": args.device, "pause": args.pause, "rounds": args.rounds,
               "timeout": args.timeout, "compile_timeout": args.compile_timeout, "threads": args.threads}  # fmt: skip
        failed: dict[str, str] = {}
        runs = [run for r in range(args.rounds) for run in run_round(r, sections, failed, configs, ctx)]
    failed.update(skipped)
    results["sections"] = {}
    for section, systems in sections.items():
        names = systems + [k.split("/", 1)[1] for k in skipped if k.startswith(section + "/")]
        entry = aggregate(section, names, runs, args.rounds, failed)
        entry["config"] = configs[section].__dict__ if section in configs else None
        results["sections"][section] = entry
    results["run_log"] = [
        {"round": run.round + 1, "section": run.section, "system": run.system, "ok": run.ok, "value": run.value,
         "process_wall_s": run.wall_s, **({"reason": run.reason} if not run.ok else {})}
        for run in runs
    ]  # fmt: skip
    report.add_ratios_and_flops(results)
    results["targets"] = report.targets(results)
    results["elapsed_s"] = time.perf_counter() - started
    return results


def write(results: dict[str, Any], args: argparse.Namespace) -> Path:
    """Write the JSON and Markdown where asked (benchmarks/results/ only with --write-results)."""
    out = RESULTS_DIR if args.write_results else Path(args.out or tempfile.mkdtemp(prefix="bpnn_bench_"))
    out.mkdir(parents=True, exist_ok=True)
    stem = f"train_throughput_{args.device.replace(':', '')}{'_quick' if args.quick else ''}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / f"{stem}.md").write_text(report.markdown(results))
    return out / f"{stem}.json"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the measurement, write it, print the Markdown and the PASS/FAIL target lines (never fails on a target)."""
    args = parse_args(argv)
    os.chdir(ROOT)
    results = measure(args, argv)
    path = write(results, args)
    print(report.markdown(results))
    print(report.target_lines(results))
    print(f"\nwritten: {path} and {path.with_suffix('.md')} ({results['elapsed_s']:.0f} s)")
    return results


if __name__ == "__main__":
    main()
