"""Where one training step's time goes (784-256-10 ReLU, Adam, batch 128, float32, NumPy).

    python -m benchmarks.profile_step     # writes benchmarks/results/profile_step_cpu.md

Times each part of a step in isolation (median of many runs) next to the whole step, to show
which part bounds samples/s.
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

import numpy as np

from bpnn_xp import Network, resolve_device
from bpnn_xp.optimizers import get_optimizer


def median_us(fn, repeats: int = 300) -> float:
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def main() -> str:
    backend = resolve_device("cpu")
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(5000, 784)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, 5000)]
    net = Network.create([784, 256, 10], "relu", "softmax_cross_entropy", "he", 0, backend, "float32")
    opt = get_optimizer("adam")
    rows = rng.permutation(5000)[:128]
    xb, yb = X[rows], Y[rows]
    _, grads, _ = net.forward_backward(xb, yb)
    W1 = net.weights[0]
    delta = rng.normal(size=(128, 256)).astype(np.float32)

    def step():
        x, y = np.take(X, rows, axis=0), np.take(Y, rows, axis=0)
        _, g, _ = net.forward_backward(x, y)
        opt.step(net.params, g)

    parts = {
        "whole step (gather + forward/backward + Adam)": median_us(step),
        "gather the batch (take)": median_us(lambda: (np.take(X, rows, axis=0), np.take(Y, rows, axis=0))),
        "forward + backward": median_us(lambda: net.forward_backward(xb, yb)),
        "  of which GEMM x W1 (128x784x256)": median_us(lambda: xb @ W1),
        "  of which GEMM x^T delta (784x128x256)": median_us(lambda: xb.T @ delta),
        "Adam update, 203,530 parameters (NumPy fast path)": median_us(lambda: opt.step(net.params, grads)),
    }
    gemm = parts["  of which GEMM x W1 (128x784x256)"] + parts["  of which GEMM x^T delta (784x128x256)"]
    lines = ["# One training step, 784-256-10 ReLU, Adam, batch 128, float32 (NumPy)", "",
             "Command: `python -m benchmarks.profile_step`", "", "| part | median µs |", "|---|---:|"]  # fmt: skip
    lines += [f"| {k} | {v:,.0f} |" for k, v in parts.items()]
    whole = parts["whole step (gather + forward/backward + Adam)"]
    adam = parts["Adam update, 203,530 parameters (NumPy fast path)"]
    floor = 128 / (gemm + adam) * 1e6
    lines += [
        "",
        f"The two large GEMMs alone take {gemm:,.0f} µs ({100 * gemm / whole:.0f}% of the step) and the Adam update "
        f"{adam:,.0f} µs; their sum bounds this machine at {floor:,.0f} samples/s.",
    ]
    text = "\n".join(lines) + "\n"
    out = Path(__file__).resolve().parent / "results" / "profile_step_cpu.md"
    out.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
