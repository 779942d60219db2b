"""Training throughput on one GPU: bpnn_xp (CuPy) against torch and JAX, in one process, data resident on the GPU.

    python -m benchmarks.gpu_throughput --device cuda --write-results   # the measurement -> benchmarks/results/
    python -m benchmarks.gpu_throughput --device cpu --quick            # proves the harness end to end (CI)

Networks 784-256-10 and 784-1024-1024-10 (ReLU, softmax cross-entropy, Adam, float32) at batch 128, 1024 and
8192 on 65,536 synthetic rows (a multiple of every batch, so every system runs only whole steps; drawn from a
seeded host Generator). For each (network, batch), in interleaved rounds, every system trains whole epochs:
reported are host ("CPU") and device ("GPU") µs per step, the time of a 60,000-sample epoch at that rate, the
share of the GPU's float32 matmul peak (a big GEMM measured here), and bpnn_xp ÷ peer ratios paired within
a round. bpnn_xp's first epoch (CuPy compiling its kernels with NVRTC into an empty cache) is reported apart.
One process on purpose: launch overhead is the quantity of interest, and every system gets the same GPU.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks import gpu_peers, gpu_report
from benchmarks.common import RESULTS_DIR, git_state, machine_info, summary, versions

NETWORKS = {"784-256-10": [784, 256, 10], "784-1024-1024-10": [784, 1024, 1024, 10]}
BATCHES = [128, 1024, 8192]
ROWS = 65_536
EPOCH_SAMPLES = 60_000
SYSTEMS = ["bpnn_xp", "torch eager", "torch fused", "torch compile", "jax.jit"]
QUICK = {"networks": {"784-64-10": [784, 64, 10]}, "batches": [128, 512], "rows": 2048, "rounds": 1, "peak_n": 512}


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """The benchmark's command line."""
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="cuda", help="cuda, cuda:N or cpu (cpu: NumPy and CPU torch)")
    parser.add_argument("--quick", action="store_true", help="tiny sizes, one round: proves the harness, measures nothing")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds (default 3)")
    parser.add_argument("--systems", default=",".join(SYSTEMS), help=f"comma-separated subset of: {', '.join(SYSTEMS)}")
    parser.add_argument("--compile-batches", default="128", help="batches where torch.compile runs (~10 s of compiling each)")
    parser.add_argument("--out", type=Path, default=None, help="folder for the JSON + Markdown (default: benchmarks/results)")
    parser.add_argument("--write-results", action="store_true", help="write into benchmarks/results/ (else a temp folder)")
    args = parser.parse_args(argv)
    args.systems = [s.strip() for s in args.systems.split(",") if s.strip()]
    unknown = sorted(set(args.systems) - set(SYSTEMS))
    if unknown:
        parser.error(f"unknown systems {unknown}; choose from {SYSTEMS}")
    args.compile_batches = {int(b) for b in args.compile_batches.split(",") if b.strip()}
    return args


def synthetic(rows: int, features: int, classes: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Seeded float32 inputs in [0, 1), labels from a random linear teacher, and their one-hot rows."""
    rng = np.random.default_rng(2026)
    X = rng.random((rows, features), dtype=np.float32)
    labels = np.argmax(X @ rng.normal(size=(features, classes)).astype(np.float32), axis=1).astype(np.int64)
    return X, labels, np.eye(classes, dtype=np.float32)[labels]


def skip_reason(system: str, args: argparse.Namespace, batch: int) -> str | None:
    """Why ``system`` does not run here (None: it runs)."""
    import importlib.util

    if system.startswith("torch") and importlib.util.find_spec("torch") is None:
        return "not installed: torch"
    if system == "jax.jit" and not gpu_peers.jax_available():
        return "not installed: jax"
    if system == "torch compile" and not args.device.startswith("cuda"):
        return "skipped: reduce-overhead means CUDA graphs, a GPU-only mode"
    if system == "torch compile" and batch not in args.compile_batches:
        return f"skipped: compiled only at batch {sorted(args.compile_batches)} (--compile-batches) to fit the time budget"
    return None


def make_epoch(system: str, sizes: list[int], batch: int, data: tuple[np.ndarray, ...], device: str) -> Any:
    """The one-epoch callable of ``system`` and the library whose timer measures it."""
    X, labels, Y = data
    if system == "bpnn_xp":
        return gpu_peers.bpnn_epoch(sizes, batch, X, Y, device), "cupy" if device.startswith("cuda") else "numpy"
    if system == "jax.jit":
        return gpu_peers.jax_epoch(sizes, batch, X, Y, device), "jax"
    variant = {"torch eager": "eager", "torch fused": "fused", "torch compile": "compile"}[system]
    return gpu_peers.torch_epoch(sizes, batch, X, labels, device, variant), "torch"


def measure_case(name: str, sizes: list[int], batch: int, args: argparse.Namespace, rows: int) -> dict[str, Any]:
    """Every system on one (network, batch): set up and warm up each, then interleaved timed rounds."""
    data = synthetic(rows, sizes[0], sizes[-1])
    steps = rows // batch
    systems: dict[str, Any] = {}
    ready: dict[str, tuple[Any, str]] = {}
    for system in args.systems:
        reason = skip_reason(system, args, batch)
        if reason:
            systems[system] = {"available": False, "reason": reason}
            continue
        try:
            start = time.perf_counter()
            epoch, library = make_epoch(system, sizes, batch, data, args.device)
            first = gpu_peers.time_calls(epoch, library, args.device, repeat=1, warmup=0)  # compiles (NVRTC, Inductor, XLA)
            ready[system] = (epoch, library)
            systems[system] = {"available": True, "first_epoch_s": time.perf_counter() - start, "first_call": first,
                               "cpu_us": [], "gpu_us": [], "kernels": getattr(epoch, "kernels", None)}  # fmt: skip
        except Exception as exc:  # one peer failing must not lose the others' figures
            systems[system] = {"available": False, "reason": f"failed: {type(exc).__name__}: {str(exc).splitlines()[0][:200]}"}
    for round_index in range(args.rounds):
        order = list(ready)[round_index % max(len(ready), 1):] + list(ready)[: round_index % max(len(ready), 1)]
        for system in order:
            epoch, library = ready[system]
            timed = gpu_peers.time_calls(epoch, library, args.device, repeat=1, warmup=0)
            systems[system]["cpu_us"].append(timed["cpu"][0] / steps * 1e6)
            systems[system]["gpu_us"].append(timed["gpu"][0] / steps * 1e6 if timed["gpu"] else None)
    return {"network": name, "sizes": sizes, "batch": batch, "rows": rows, "steps_per_epoch": steps, "systems": systems}


def step_us(entry: dict[str, Any]) -> list[float]:
    """Per round: the step time a user waits for, max(host, device) (they overlap; the slower one sets the pace)."""
    return [max(c, g or 0.0) for c, g in zip(entry["cpu_us"], entry["gpu_us"])]


def analyse(case: dict[str, Any], peak_gflops: float) -> None:
    """Medians, 60,000-sample epoch time, share of the matmul peak and paired ratios, added to ``case``."""
    layers = [a * b for a, b in zip(case["sizes"][:-1], case["sizes"][1:])]
    flops = 2.0 * sum(layers) * 3 - 2.0 * layers[0]  # forward, weight gradients, deltas (none into the input)
    ours = case["systems"].get("bpnn_xp", {})
    for entry in case["systems"].values():
        if not entry.get("available"):
            continue
        steps = step_us(entry)
        entry["step_us"] = summary(steps)
        entry["cpu_step_us"] = summary(entry["cpu_us"])
        entry["gpu_step_us"] = summary([g for g in entry["gpu_us"] if g is not None]) if entry["gpu_us"][0] is not None else None
        rate = case["batch"] / (statistics.median(steps) / 1e6)
        entry["epoch_60k_ms"] = EPOCH_SAMPLES / rate * 1e3
        entry["first_epoch_extra_s"] = entry["first_epoch_s"] - statistics.median(steps) * case["steps_per_epoch"] / 1e6
        entry["share_of_peak"] = flops * rate / 1e9 / peak_gflops if peak_gflops else None
    case["ratio_bpnn_xp_to"] = {}
    if ours.get("available"):
        for name, entry in case["systems"].items():
            if name != "bpnn_xp" and entry.get("available"):
                ratios = [b / a for a, b in zip(step_us(ours), step_us(entry))]  # peer time / ours: > 1 = bpnn_xp faster
                case["ratio_bpnn_xp_to"][name] = summary(ratios)


def gpu_facts(device: str) -> dict[str, Any]:
    """GPU name, driver and CUDA versions (CuPy's view), or a note on the CPU."""
    if not device.startswith("cuda"):
        return {"gpu": "none (--device cpu)", "driver": "-", "cuda_runtime": "-"}
    import cupy

    index = int(device.partition(":")[2] or 0)
    props = cupy.cuda.runtime.getDeviceProperties(index)
    name = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])

    def dotted(v: int) -> str:
        return f"{v // 1000}.{v % 1000 // 10}"

    return {"gpu": name, "driver_cuda": dotted(cupy.cuda.runtime.driverGetVersion()),
            "cuda_runtime": dotted(cupy.cuda.runtime.runtimeGetVersion()), "driver": gpu_report.nvidia_smi_driver(),
            "memory_gib": round(props["totalGlobalMem"] / 2**30, 1),
            "compute_capability": f"{props['major']}.{props['minor']}"}  # fmt: skip


def measure(args: argparse.Namespace, argv: list[str] | None, save: Any = None) -> dict[str, Any]:
    """The whole measurement as one results dict; ``save(results)`` after each case, so a time limit loses little."""
    networks = QUICK["networks"] if args.quick else NETWORKS
    batches = QUICK["batches"] if args.quick else BATCHES
    rows = QUICK["rows"] if args.quick else ROWS
    if args.quick:
        args.rounds = min(args.rounds, QUICK["rounds"])
    library = "cupy" if args.device.startswith("cuda") else "numpy"
    peak = gpu_peers.matmul_peak(library, args.device, QUICK["peak_n"] if args.quick else 8192)
    results = _header(args, argv, peak)
    for name, sizes in networks.items():
        for batch in batches:
            case = measure_case(name, sizes, batch, args, rows)
            analyse(case, peak)
            results["cases"].append(case)
            if save is not None:
                save(results)
    results["complete"] = True
    return results


def _header(args: argparse.Namespace, argv: list[str] | None, peak: float) -> dict[str, Any]:
    """Everything about the run but its cases."""
    other = {name: _version(name) for name in ("cupy-cuda12x", "cupy-cuda13x", "jax", "jaxlib")}
    return {"benchmark": "gpu_throughput", "trial": args.quick, "device": args.device,
            "date": dt.datetime.now(dt.timezone.utc).isoformat(),
            "command": "python -m benchmarks.gpu_throughput " + " ".join(argv if argv is not None else sys.argv[1:]),
            "machine": machine_info(), "gpu": gpu_facts(args.device), "versions": {**versions(), **other}, "git": git_state(),
            "matmul_peak_gflops": peak, "rounds": args.rounds, "cases": [], "complete": False}  # fmt: skip


def _version(name: str) -> str:
    from importlib import metadata

    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Measure, judge the targets, write JSON + Markdown, print where."""
    args = parse_args(argv)
    if args.device.startswith("cuda"):  # an empty kernel cache: the first epoch shows what NVRTC costs a new user
        os.environ.setdefault("CUPY_CACHE_DIR", tempfile.mkdtemp(prefix="bpnn-cupy-cache-"))
        from bpnn_xp import backends
        from bpnn_xp.errors import DeviceError

        try:
            backends.resolve_device(args.device)  # the trial computation: a GPU that cannot compute is one line
        except DeviceError as exc:
            sys.exit(f"gpu_throughput: {exc}")
    folder = args.out or (RESULTS_DIR if args.write_results else Path(tempfile.mkdtemp(prefix="bpnn-gpu-bench-")))
    folder.mkdir(parents=True, exist_ok=True)
    stem = f"gpu_throughput_{'cuda' if args.device.startswith('cuda') else 'cpu'}{'_quick' if args.quick else ''}"

    def save(results: dict[str, Any]) -> None:
        from bpnn_xp.files import atomic_write

        results["targets"] = gpu_report.targets(results)
        atomic_write(folder / f"{stem}.json", (json.dumps(results, indent=1, default=str) + "\n").encode())
        atomic_write(folder / f"{stem}.md", gpu_report.markdown(results).encode())

    results = measure(args, argv, save)
    save(results)
    print(f"results: {folder / stem}.json and .md")
    return results


if __name__ == "__main__":
    main()
