"""One benchmark run of one system in this fresh process; the driver (benchmarks.train_throughput) starts one per run.

    python -m benchmarks.worker SYSTEM --section mlp256 --config '{...}' --data DIR

Torch systems import torch and never NumPy's BLAS in the timed region; the other systems never import torch.
Prints one line ``BENCH_RESULT {json}``: the measurement, this process's thread pools, peak RSS and
whether torch was loaded; a failure prints ``ok: false`` and the reason.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from pathlib import Path
from typing import Any

from benchmarks.common import Config, load_arrays, rss_mb, thread_info

MARKER = "BENCH_RESULT "
TORCH_SYSTEMS = {"torch eager": "foreach", "torch fused": "fused", "torch compile": "compile", "torch matmul peak": "peak"}
OPENBLAS = "bpnn_xp (OpenBLAS)"  # bpnn_xp with BPNN_XP_BLAS=openblas
NUMPY_SYSTEMS = ("bpnn_xp", OPENBLAS, "numpy", "scikit-learn", "per-sample loop", "numpy matmul peak")
SYSTEMS = (*NUMPY_SYSTEMS, *TORCH_SYSTEMS)


def run_numpy_side(system: str, section: str, config: Config, data: Path, device: str, quick: bool) -> dict[str, Any]:
    """Dispatch a NumPy-side system (this path never imports torch)."""
    from benchmarks import peers

    if system == "numpy matmul peak":
        return peers.run_numpy_peak(quick)
    X, Y, labels = load_arrays(data, config)
    course = section == "course"
    if system == OPENBLAS:
        os.environ["BPNN_XP_BLAS"] = "openblas"  # read when the first network picks its kernels, below
        system = "bpnn_xp"
    if system == "bpnn_xp":
        return peers.run_bpnn_course(config, X, Y, device) if course else peers.run_bpnn(config, X, Y, device)
    if system == "numpy":
        return peers.run_numpy_course(config, X, Y) if course else peers.run_numpy(config, X, Y)
    if system == "scikit-learn" and not course:
        return peers.run_sklearn(config, X, labels)
    if system == "per-sample loop":
        return peers.run_loop_course(config, X, Y) if course else peers.run_loop(config, X, Y)
    raise ValueError(f"system {system!r} has no {section!r} measurement")


def run_torch_side(system: str, section: str, config: Config, data: Path, device: str, quick: bool) -> dict[str, Any]:
    """Dispatch a torch system (imports torch)."""
    from benchmarks import torch_peers

    variant = TORCH_SYSTEMS[system]
    if variant == "peak":
        return torch_peers.run_torch_peak(device, quick)
    X, Y, labels = load_arrays(data, config)
    if section == "course":
        if variant != "foreach":
            raise ValueError(f"system {system!r} has no course measurement")
        return torch_peers.run_torch_course(config, X, Y, device)
    return torch_peers.run_torch(config, X, labels, variant, device)


def run(system: str, section: str, config: Config, data: Path, device: str, quick: bool) -> dict[str, Any]:
    """Run one system, catching any failure into the result."""
    result: dict[str, Any] = {"system": system, "section": section}
    try:
        side = run_torch_side if system in TORCH_SYSTEMS else run_numpy_side
        result.update(side(system, section, config, data, device, quick), ok=True)
    except Exception as exc:  # noqa: BLE001 - any failure becomes "not available: reason"
        result.update(ok=False, reason=f"{type(exc).__name__}: {exc}".strip()[:500], traceback=traceback.format_exc()[-2000:])
    result["threads"] = thread_info()
    result["peak_rss_mb"] = rss_mb("VmHWM")
    return result


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    """Command line of one worker run."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=SYSTEMS, help="which system to run")
    parser.add_argument("--section", required=True, help="mlp256, mlp1024, course or peak")
    parser.add_argument("--config", default="{}", help="the Config as JSON (see benchmarks.common.Config)")
    parser.add_argument("--data", default=".", help="folder with mnist28.npz and mnist20.npz (benchmarks.common.prepare_data)")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N] for bpnn_xp (CuPy) and torch")
    parser.add_argument("--quick", action="store_true", help="tiny matmul peak shapes")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    """Run the requested system once and print its result line."""
    args = parse_args(argv)
    config = Config.from_json(args.config) if args.config != "{}" else Config("peak", [1, 1], "relu", 1)
    result = run(args.system, args.section, config, Path(args.data), args.device, args.quick)
    print(MARKER + json.dumps(result), flush=True)
    return result


if __name__ == "__main__":
    sys.exit(0 if main()["ok"] else 1)
