"""The Python steps of scripts/gpu_check.sh: compare NumPy with a device, a 1-rank NCCL allreduce, which
wheels of the wheelhouse this machine lacks, and the JSON + Markdown report of the stages.

    python scripts/gpu_check_tools.py compare --device cuda      # float64 and float32, gradients and training
    python scripts/gpu_check_tools.py nccl                       # MPIComm(gpu_reduce="nccl") on one rank
    python scripts/gpu_check_tools.py missing-wheels DIR         # wheel files whose distribution is not installed
    python scripts/gpu_check_tools.py report STAGES.tsv OUT_DIR  # gpu_check.json + gpu_check.md
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

GRADIENT_TOLERANCE = {"float64": 1e-10, "float32": 1e-4}  # one forward + backward, relative to the largest gradient
TRAINED_TOLERANCE = {"float64": 1e-8, "float32": 1e-3}  # parameters after two epochs of Adam (differences grow)
LIBRARIES = ("bpnn_xp", "numpy", "cupy-cuda12x", "cupy-cuda13x", "torch", "numba", "mpi4py", "scikit-learn", "array-api-compat",
             "array-api-strict", "nvidia-nccl-cu12", "nvidia-nccl-cu13", "jax")  # fmt: skip


def relative(a: np.ndarray, b: np.ndarray) -> float:
    """max |a - b| / max |b|."""
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-300))


def compare(device: str) -> int:
    """NumPy against ``device`` on the same seeded network and data: one gradient, then two epochs of training."""
    from bpnn_xp import Network, Trainer, backends

    rng = np.random.default_rng(5)
    X = rng.normal(size=(600, 64))
    Y = np.eye(10)[np.argmax(X @ rng.normal(size=(64, 10)), axis=1)]
    failures = 0
    for dtype in ("float64", "float32"):
        results = {}
        for name in ("cpu", device):
            backend = backends.resolve_device(name)
            with backend.use():
                net = Network.create([64, 32, 10], "relu", "softmax_cross_entropy", "he", 1, backend, dtype)
                Xd, Yd = backend.asarray(X, dtype), backend.asarray(Y, dtype)
                _, grads = net.backprop(Xd, Yd, l2=0.01)
                gradient = backends.to_numpy(net.flatten(grads)).astype(np.float64)
                Trainer(net, "adam", lr=1e-3, batch_size=100, seed=2).fit(Xd, Yd, epochs=2)
                results[name] = (gradient, backends.to_numpy(net.flatten()).astype(np.float64))
        grad_diff = relative(results[device][0], results["cpu"][0])
        trained_diff = relative(results[device][1], results["cpu"][1])
        ok = grad_diff <= GRADIENT_TOLERANCE[dtype] and trained_diff <= TRAINED_TOLERANCE[dtype]
        failures += not ok
        print(f"{dtype}: numpy vs {device}: gradient {grad_diff:.2e} (limit {GRADIENT_TOLERANCE[dtype]:g}), after 2 epochs "
              f"{trained_diff:.2e} (limit {TRAINED_TOLERANCE[dtype]:g}): {'OK' if ok else 'TOO FAR APART'}")  # fmt: skip
    return 1 if failures else 0


def nccl() -> int:
    """One rank: the start-up check passes, and NCCL's in-place sum of a CuPy buffer returns it unchanged."""
    import cupy

    from bpnn_xp.backends.distributed import MPIComm

    comm = MPIComm(gpu_reduce="nccl")  # runs check_gpu_reduce: NCCL must load
    for dtype in ("float32", "float64"):
        host = np.arange(1000, dtype=dtype) / 7
        buffer = cupy.asarray(host)
        comm.allreduce_sum(buffer)
        assert np.array_equal(cupy.asnumpy(buffer), host * comm.size), "NCCL's sum is wrong"
    print(f"NCCL allreduce on {comm.size} rank(s): OK (NCCL {cupy.cuda.nccl.get_version()})")
    return 0


def missing_wheels(folder: Path) -> int:
    """Print the wheel files in ``folder`` whose distribution is not installed here (never shadow the image's own):
    for each, the newest that fits this interpreter (a wheelhouse holds wheels for several CPythons)."""
    parse, tags = _wheel_tools()
    here = set(tags())
    newest: dict[str, tuple[Any, Path]] = {}
    for wheel in folder.glob("*.whl"):
        name, version, _, wheel_tags = parse(wheel.name)
        if here.isdisjoint(wheel_tags) or (name in newest and newest[name][0] >= version):
            continue
        newest[name] = (version, wheel)
    for name, (_, wheel) in sorted(newest.items()):
        try:
            metadata.version(name)
        except metadata.PackageNotFoundError:
            print(wheel)
    return 0


def _wheel_tools() -> tuple[Any, Any]:
    """packaging's wheel-name parser and this interpreter's tags (pip vendors packaging where it is not installed)."""
    try:
        from packaging.tags import sys_tags
        from packaging.utils import parse_wheel_filename
    except ImportError:
        from pip._vendor.packaging.tags import sys_tags
        from pip._vendor.packaging.utils import parse_wheel_filename
    return parse_wheel_filename, sys_tags


def _version(name: str) -> str:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return "not installed"


def _gpu() -> dict[str, str]:
    """GPU name and driver from nvidia-smi ('none' without one)."""
    try:
        proc = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,memory.total", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return {"gpu": "none (no nvidia-smi)", "driver": "-"}
    if proc.returncode != 0 or not proc.stdout.strip():
        return {"gpu": "none (nvidia-smi failed)", "driver": "-"}
    name, driver, memory = (part.strip() for part in (proc.stdout.strip().splitlines()[0].split(",") + ["", ""])[:3])
    return {"gpu": name, "driver": driver, "memory": memory}


def report(stages_file: Path, out: Path, device: str, budget: float) -> int:
    """gpu_check.json and gpu_check.md from the stage lines (name, status, seconds, limit, log)."""
    stages = []
    for line in stages_file.read_text().splitlines():
        name, status, seconds, limit, log = line.split("\t")
        stages.append({"stage": name, "status": status, "seconds": float(seconds), "limit_s": float(limit), "log": log})
    total = sum(s["seconds"] for s in stages)
    failed = [s["stage"] for s in stages if s["status"].startswith(("FAIL", "TIMEOUT"))]
    result = {"check": "gpu_check", "date": dt.datetime.now(dt.timezone.utc).isoformat(), "device": device,
              "machine": {"host": platform.node(), "python": platform.python_version(), "platform": platform.platform()},
              **_gpu(), "versions": {n: _version(n) for n in LIBRARIES}, "stages": stages, "total_seconds": total,
              "budget_seconds": budget, "failed": failed, "passed": not failed}  # fmt: skip
    from bpnn_xp.files import atomic_write

    atomic_write(out / "gpu_check.json", (json.dumps(result, indent=1) + "\n").encode())
    atomic_write(out / "gpu_check.md", markdown(result).encode())
    print(markdown_table(stages, total, budget))
    return 0


def markdown_table(stages: list[dict], total: float, budget: float) -> str:
    """The stage / status / seconds table."""
    rows = ["| stage | status | seconds | limit |", "|---|---|---|---|"]
    rows += [f"| {s['stage']} | {s['status']} | {s['seconds']:.1f} | {s['limit_s']:.0f} |" for s in stages]
    return "\n".join([*rows, f"| total | | {total:.1f} | {budget:.0f} |"])


def markdown(result: dict) -> str:
    """The report as a page."""
    versions = ", ".join(f"{k} {v}" for k, v in result["versions"].items() if v != "not installed")
    verdict = "every stage that ran passed" if result["passed"] else f"FAILED: {', '.join(result['failed'])}"
    return "\n".join([
        "# bpnn_xp GPU check", "",
        f"- date: {result['date']}; device: {result['device']}; verdict: {verdict}",
        f"- GPU: {result['gpu']}; driver {result['driver']}; "
        f"host {result['machine']['host']}, Python {result['machine']['python']}",
        f"- versions: {versions}",
        "- a stage marked 'skipped: no GPU' did not run: it proves nothing about the GPU path", "",
        markdown_table(result["stages"], result["total_seconds"], result["budget_seconds"]), "",
    ])  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("compare").add_argument("--device", default="cuda")
    sub.add_parser("nccl")
    sub.add_parser("missing-wheels").add_argument("folder", type=Path)
    rep = sub.add_parser("report")
    rep.add_argument("stages", type=Path)
    rep.add_argument("out", type=Path)
    rep.add_argument("--device", default="cuda")
    rep.add_argument("--budget", type=float, default=420)
    args = parser.parse_args(argv)
    if args.command == "compare":
        return compare(args.device)
    if args.command == "nccl":
        return nccl()
    if args.command == "missing-wheels":
        return missing_wheels(args.folder)
    return report(args.stages, args.out, args.device, args.budget)


if __name__ == "__main__":
    sys.exit(main())
