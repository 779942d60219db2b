"""Data-parallel scaling over MPI: 1 against 2 ranks measured here, and a model of step time against N.

    python -m benchmarks.mpi_scaling --write-results   # measure -> benchmarks/results/mpi_scaling.{json,md}
    python -m benchmarks.mpi_scaling --quick           # trial run: tiny sizes, results in a temp folder
    python -m benchmarks.mpi_scaling --help

Every measurement is a fresh process (``mpiexec -n N python -m benchmarks.mpi_scaling --worker ...``),
interleaved over rounds; the figure is the median. Measured: training samples/s of one 784-256-10 ReLU
Adam model (global batch 128, float32, seeded synthetic MNIST-shaped data) with 1 rank x 1 BLAS thread,
1 rank x 2 threads and 2 ranks x 1 thread; the time each rank spends in the gradient allreduce; and the
MPI allreduce time of 8 B .. 32 MB buffers between 2 ranks, fitted to latency + bytes / bandwidth.
Model: t_step(N) = t_compute / N + a + 2 (N - 1) / N * S / B (ring allreduce of S bytes), with a and B
measured here and, as a labelled estimate, taken from published NCCL figures for GPUs.
Nothing is written to benchmarks/results/ without --write-results (and never with --quick).
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common import RESULTS_DIR, ROOT, git_state, machine_info, thread_info, versions

SIZES = [784, 256, 10]
BATCH = 128
# Published GPU figures (estimates, not measured here): NCCL all-reduce "bus bandwidth" from
# NVIDIA's nccl-tests on 8-GPU NVLink systems and on 200-400 Gb/s InfiniBand between nodes, and the
# small-message latency NCCL reaches in each case. Order-of-magnitude inputs for the model only.
GPU_LINKS = {
    "NVLink (8x H100 in one node, NCCL)": {"latency_s": 15e-6, "bus_bandwidth_Bps": 400e9},
    "InfiniBand NDR 400 Gb/s (between nodes, NCCL)": {"latency_s": 30e-6, "bus_bandwidth_Bps": 45e9},
    "InfiniBand HDR 200 Gb/s (between nodes, NCCL)": {"latency_s": 40e-6, "bus_bandwidth_Bps": 22e9},
}
GPU_STEP_ASSUMED_S = 150e-6  # one H100, this tiny model, batch 128: launch-bound (~20 kernels); an assumption


# ---------------------------------------------------------------------- workers (run under mpiexec)
def worker_train(rows: int, epochs: int) -> dict[str, Any]:
    """Train on seeded synthetic data; samples/s of the timed epochs and the seconds spent in allreduce."""
    from bpnn_xp.backends import distributed
    from bpnn_xp.engine import Network, Trainer

    comm = distributed.from_environment()
    timed = _TimedComm(comm)
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(rows, SIZES[0])).astype(np.float32)
    Y = np.eye(SIZES[-1], dtype=np.float32)[rng.integers(0, SIZES[-1], rows)]
    network = Network.create(SIZES, activation="relu", seed=1, dtype="float32")
    trainer = Trainer(network, "adam", 1e-3, BATCH, seed=2, comm=timed if comm.size > 1 else None)
    trainer.fit(X, Y, 1)  # warm-up: caches, numba compilation, first allreduce
    timed.seconds = 0.0
    history = trainer.fit(X, Y, epochs)
    seconds = sum(r.seconds for r in history.records[-epochs:])
    return {
        "ranks": comm.size,
        "samples_per_second": rows * epochs / seconds,
        "step_seconds": seconds / (epochs * -(-rows // BATCH)),
        "allreduce_seconds_per_step": timed.seconds / (epochs * -(-rows // BATCH)),  # incl. 1 sync + 1 metrics per fit/epoch
        "gradient_bytes": network.n_params * 4,
        "threads": thread_info(),
    }


class _TimedComm:
    """Wraps a communicator and adds up the seconds spent in allreduce_sum."""

    def __init__(self, comm: Any) -> None:
        self.comm, self.seconds = comm, 0.0
        self.rank, self.size = comm.rank, comm.size

    def allreduce_sum(self, buffer: Any) -> Any:
        started = time.perf_counter()
        self.comm.allreduce_sum(buffer)
        self.seconds += time.perf_counter() - started
        return buffer

    def guard(self, collective: tuple = ()) -> Any:
        return self.comm.guard(collective)


def worker_allreduce(max_bytes: int, repeats: int) -> dict[str, Any]:
    """Median seconds of an in-place MPI Allreduce (float32 sum) per buffer size, between all ranks."""
    from mpi4py import MPI

    comm = MPI.COMM_WORLD
    rows = []
    size = 8
    while size <= max_bytes:
        buffer = np.ones(size // 4, dtype=np.float32)
        for _ in range(3):
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
        times = []
        for _ in range(repeats):
            comm.Barrier()
            started = time.perf_counter()
            comm.Allreduce(MPI.IN_PLACE, buffer, op=MPI.SUM)
            times.append(time.perf_counter() - started)
        rows.append({"bytes": size, "seconds": statistics.median(times)})
        size *= 4
    return {"ranks": comm.Get_size(), "mpi_library": MPI.Get_library_version().splitlines()[0], "sizes": rows}


def run_worker(args: argparse.Namespace) -> int:
    """Run one worker; rank 0 prints its JSON result as the last line."""
    result = worker_train(args.rows, args.epochs) if args.worker == "train" else worker_allreduce(args.max_bytes, args.repeats)
    if int(os.environ.get("PMI_RANK", os.environ.get("OMPI_COMM_WORLD_RANK", "0"))) == 0:
        print(json.dumps(result))
    return 0


# ---------------------------------------------------------------------- driver
def mpiexec() -> str:
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.is_file() else "mpiexec"


def launch(ranks: int, threads: int, worker_args: list[str], timeout: float = 600) -> dict[str, Any]:
    """One fresh job; the JSON line rank 0 printed."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads), "OPENBLAS_NUM_THREADS": str(threads), "MKL_NUM_THREADS": str(threads)}
    command = [sys.executable, "-m", "benchmarks.mpi_scaling", "--worker", *worker_args]
    if ranks > 1:
        command = [mpiexec(), "-n", str(ranks), *command]
    proc = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)
    if proc.returncode != 0:
        raise RuntimeError(f"{' '.join(command)} failed ({proc.returncode}): {proc.stderr.strip()[-2000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def fit_latency_bandwidth(sizes: list[dict[str, float]]) -> dict[str, float]:
    """Least-squares t = a + bytes / B over the measured sizes (weighted to relative error)."""
    x = np.array([s["bytes"] for s in sizes], dtype=np.float64)
    t = np.array([s["seconds"] for s in sizes], dtype=np.float64)
    A = np.stack([np.ones_like(x), x], axis=1) / t[:, None]  # relative residuals: small sizes count too
    (a, inv_b), *_ = np.linalg.lstsq(A, np.ones_like(t), rcond=None)
    return {"latency_s": float(max(a, sizes[0]["seconds"] * 0.5)), "bandwidth_Bps": float(1.0 / inv_b)}


def step_model(compute_s: float, latency_s: float, bandwidth_Bps: float, nbytes: int, ranks: int) -> float:
    """t_step(N) = t_compute / N + a + 2 (N - 1) / N * S / B (ring allreduce); N = 1 needs no allreduce."""
    if ranks == 1:
        return compute_s
    return compute_s / ranks + latency_s + 2 * (ranks - 1) / ranks * nbytes / bandwidth_Bps


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Interleaved rounds of the three training set-ups and of the allreduce sweep."""
    train_args = ["train", "--rows", str(args.rows), "--epochs", str(args.epochs)]
    setups = {"1 rank x 1 thread": (1, 1), "1 rank x 2 threads": (1, 2), "2 ranks x 1 thread": (2, 1)}
    runs: dict[str, list[dict[str, Any]]] = {name: [] for name in setups}
    sweeps = []
    for round_index in range(args.rounds):
        names = list(setups)[round_index % 3 :] + list(setups)[: round_index % 3]
        for name in names:
            runs[name].append(launch(*setups[name], train_args))
            print(f"round {round_index + 1}: {name}: {runs[name][-1]['samples_per_second']:.0f} samples/s", flush=True)
        sweeps.append(launch(2, 1, ["allreduce", "--max-bytes", str(args.max_bytes), "--repeats", str(args.repeats)]))
    return {"runs": runs, "sweeps": sweeps}


def analyse(measured: dict[str, Any]) -> dict[str, Any]:
    """Medians, the speed-up, the fitted link and the model's predictions (CPU here, GPUs estimated)."""
    runs = measured["runs"]
    med = {name: statistics.median(r["samples_per_second"] for r in rs) for name, rs in runs.items()}
    step = {name: statistics.median(r["step_seconds"] for r in rs) for name, rs in runs.items()}
    allreduce_step = statistics.median(r["allreduce_seconds_per_step"] for r in runs["2 ranks x 1 thread"])
    sizes = [
        {"bytes": s["bytes"], "seconds": statistics.median(sw["sizes"][i]["seconds"] for sw in measured["sweeps"])}
        for i, s in enumerate(measured["sweeps"][0]["sizes"])
    ]
    link = fit_latency_bandwidth(sizes)
    nbytes = runs["1 rank x 1 thread"][0]["gradient_bytes"]
    compute = step["1 rank x 1 thread"]
    # Ring allreduce over 2 ranks moves S bytes per rank: the fitted (point-to-point-like) B is its bus bandwidth.
    cpu_model = {str(n): step_model(compute, link["latency_s"], link["bandwidth_Bps"], nbytes, n) for n in (1, 2, 4, 8, 16)}
    gpu = {
        name: {str(n): step_model(GPU_STEP_ASSUMED_S, f["latency_s"], f["bus_bandwidth_Bps"], nbytes, n) for n in (1, 2, 4, 8)}
        for name, f in GPU_LINKS.items()
    }
    return {
        "samples_per_second_median": med,
        "step_seconds_median": step,
        "speedup_2_ranks_vs_1_rank_1_thread": med["2 ranks x 1 thread"] / med["1 rank x 1 thread"],
        "speedup_2_ranks_vs_1_rank_2_threads": med["2 ranks x 1 thread"] / med["1 rank x 2 threads"],
        "allreduce_seconds_per_step_measured": allreduce_step,
        "allreduce_sweep_medians": sizes,
        "link_fit": link,
        "gradient_bytes": nbytes,
        "model_cpu_step_seconds": cpu_model,
        "model_cpu_step_seconds_2_vs_measured": [cpu_model["2"], step["2 ranks x 1 thread"]],
        "model_gpu_step_seconds_estimate": gpu,
        "gpu_assumptions": {"links": GPU_LINKS, "single_gpu_step_seconds": GPU_STEP_ASSUMED_S},
    }


def markdown(result: dict[str, Any]) -> str:
    """The human-readable report."""
    a = result["analysis"]
    predicted, measured = a["model_cpu_step_seconds_2_vs_measured"]
    lines = [
        "# Data-parallel scaling over MPI",
        "",
        f"Command: `{result['command']}`  ",
        f"Date: {result['date']}; commit {result['git']['commit'][:12]} (dirty: {result['git']['dirty']})  ",
        f"Machine: {result['machine']['cpu']}, {result['machine']['usable_cores']} usable cores; "
        f"MPI: {result['mpi_library']}  ",
        f"Load average at start: {result['machine'].get('load_average_at_start')} on "
        f"{result['machine']['usable_cores']} cores (other jobs running inflate every figure below; above ~1 they are noisy).  ",
        f"Versions: {', '.join(f'{k} {v}' for k, v in result['versions'].items())}  ",
        f"Model 784-256-10 ReLU, Adam, global batch {BATCH}, float32, {result['settings']['rows']} synthetic rows, "
        f"{result['settings']['epochs']} timed epochs per run, {result['settings']['rounds']} interleaved rounds (median).",
        "",
        "## Measured here",
        "",
        "| set-up | samples/s (median) | step time |",
        "|---|---:|---:|",
    ]
    for name, rate in a["samples_per_second_median"].items():
        lines.append(f"| {name} | {rate:,.0f} | {a['step_seconds_median'][name] * 1e3:.3f} ms |")
    link = a["link_fit"]
    lines += [
        "",
        f"2 ranks vs 1 rank x 1 thread: **{a['speedup_2_ranks_vs_1_rank_1_thread']:.2f}x**; "
        f"vs 1 rank x 2 threads: **{a['speedup_2_ranks_vs_1_rank_2_threads']:.2f}x** (2 cores: the fair comparison is "
        "with the same 2 cores used by threads).",
        f"Gradient allreduce ({a['gradient_bytes'] / 1e6:.2f} MB) measured inside training: "
        f"{a['allreduce_seconds_per_step_measured'] * 1e6:.0f} us per step.",
        f"MPI allreduce between 2 ranks on this machine, fitted: latency a = {link['latency_s'] * 1e6:.1f} us, "
        f"bandwidth B = {link['bandwidth_Bps'] / 1e9:.2f} GB/s.",
        "",
        "## Model: t_step(N) = t_compute/N + a + 2(N-1)/N * S/B",
        "",
        f"CPU (t_compute = measured 1-rank step, a and B fitted above); N = 2 predicted "
        f"{predicted * 1e3:.3f} ms vs measured {measured * 1e3:.3f} ms.",
        "N beyond 2 assumes N cores and the same link, which this machine does not have.",
        "",
        "| N | " + " | ".join(a["model_cpu_step_seconds"]) + " |",
        "|---|" + "---:|" * len(a["model_cpu_step_seconds"]),
        "| CPU step (ms) | " + " | ".join(f"{v * 1e3:.3f}" for v in a["model_cpu_step_seconds"].values()) + " |",
        "",
        "### GPUs: ESTIMATE from published NCCL figures, not measured",
        "",
        f"Assumed one-GPU step {GPU_STEP_ASSUMED_S * 1e6:.0f} us (this small model is kernel-launch bound). "
        "Links: NCCL all-reduce bus bandwidth and small-message latency of the order NVIDIA's nccl-tests report.",
        "",
        "| link | a | B | N=1 | N=2 | N=4 | N=8 | speed-up at 8 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, steps in a["model_gpu_step_seconds_estimate"].items():
        f = GPU_LINKS[name]
        cells = " | ".join(f"{steps[n] * 1e6:.0f} us" for n in ("1", "2", "4", "8"))
        link_cells = f"{f['latency_s'] * 1e6:.0f} us | {f['bus_bandwidth_Bps'] / 1e9:.0f} GB/s"
        lines.append(f"| {name} | {link_cells} | {cells} | {steps['1'] / steps['8']:.1f}x |")
    lines += ["", "Thread pools per set-up are in the JSON (`runs.*.threads`)."]
    return "\n".join(lines) + "\n"


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--write-results", action="store_true", help="write benchmarks/results/mpi_scaling.{json,md}")
    parser.add_argument("--quick", action="store_true", help="tiny trial run; results go to a temp folder only")
    parser.add_argument("--rounds", type=int, default=5, help="interleaved rounds (default 5)")
    parser.add_argument("--rows", type=int, default=8192, help="training rows (default 8192)")
    parser.add_argument("--epochs", type=int, default=3, help="timed epochs per run (default 3)")
    parser.add_argument("--max-bytes", type=int, default=32 * 1024 * 1024, help="largest allreduce buffer (default 32 MiB)")
    parser.add_argument("--repeats", type=int, default=50, help="timed allreduces per buffer size (default 50)")
    parser.add_argument("--worker", choices=["train", "allreduce"], help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.quick:
        args.rounds, args.rows, args.epochs, args.max_bytes, args.repeats = 1, 512, 1, 1 << 16, 5
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.worker:
        return run_worker(args)
    started, machine = dt.datetime.now(dt.timezone.utc), machine_info()  # load average before the runs
    measured = measure(args)
    result = {
        "command": "python -m benchmarks.mpi_scaling " + " ".join(sys.argv[1:] if argv is None else argv),
        "date": started.isoformat(timespec="seconds"),
        "machine": machine,
        "versions": {**versions(), **_mpi_versions()},
        "git": git_state(),
        "mpi_library": measured["sweeps"][0]["mpi_library"],
        "settings": {k: getattr(args, k) for k in ("rounds", "rows", "epochs", "max_bytes", "repeats", "quick")},
        **measured,
        "analysis": analyse(measured),
    }
    out = RESULTS_DIR if args.write_results and not args.quick else Path(tempfile.mkdtemp(prefix="bpnn_mpi_scaling_"))
    _write(out, result)
    print(markdown(result))
    print(f"results in {out}")
    return 0


def _mpi_versions() -> dict[str, str]:
    from importlib import metadata

    out = {}
    for name in ("mpi4py", "mpich"):
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def _write(folder: Path, result: dict[str, Any]) -> None:
    from bpnn_xp.files import write_text

    write_text(folder / "mpi_scaling.json", json.dumps(result, indent=2, default=str) + "\n")
    write_text(folder / "mpi_scaling.md", markdown(result))


if __name__ == "__main__":
    raise SystemExit(main())
