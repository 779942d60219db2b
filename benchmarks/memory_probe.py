"""Peak memory of one peer training one epoch, in a fresh process so peers do not share a peak.

    python -m benchmarks.memory_probe PEER CONFIG DEVICE DATA.npz     (used by train_throughput)

Prints one JSON line: RSS after loading the data, peak RSS (MB) and, on CUDA, the GPU pool's peak.
"""

from __future__ import annotations

import json
import sys

import numpy as np

from benchmarks.peers import BpnnPeer, Config, SklearnPeer, TorchPeer

CONFIGS = {
    "mlp256": Config("784-256-10 relu, batch 128", [784, 256, 10], "relu", 128),
    "quick": Config("quick", [784, 32, 10], "relu", 32),
}
PEERS = {"bpnn_xp": BpnnPeer, "torch eager": TorchPeer, "scikit-learn": SklearnPeer}


def status_mb(field: str) -> float:
    """A memory figure of this process from /proc (VmRSS now, VmHWM peak). ru_maxrss is not used:
    Linux carries the parent's high-water mark across fork + exec."""
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    peer_name, config_name, device, data = sys.argv[1:5]
    with np.load(data, allow_pickle=False) as arrays:
        X, Y = arrays["X"], arrays["Y"]
    peer = PEERS[peer_name](CONFIGS[config_name], device)
    peer.load(X, Y)
    before = status_mb("VmRSS")
    peer.train_epochs(1)
    result = {"rss_before_training_mb": before, "peak_rss_mb": status_mb("VmHWM")}
    if device.startswith("cuda"):
        if peer_name == "bpnn_xp":
            import cupy

            result["gpu_pool_mb"] = cupy.get_default_memory_pool().total_bytes() / 2**20
        else:
            import torch

            result["gpu_pool_mb"] = torch.cuda.max_memory_allocated() / 2**20
    print(json.dumps(result))


if __name__ == "__main__":
    main()
