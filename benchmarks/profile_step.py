"""Where one training step's time goes: 784-256-10 ReLU, Adam, batch 128, float32, bpnn_xp on NumPy (µs per phase).

    python -m benchmarks.profile_step                   # prints the table only
    python -m benchmarks.profile_step --write-results   # also writes benchmarks/results/profile_step_cpu.md

Uses bpnn_xp's public API only. The whole step is Trainer.fit over 39 full batches divided by 39; the
gather and forward + backward (net.backprop) are timed alone; "Adam update and bookkeeping" is what remains
of the step. The two large GEMMs and a hand-written in-place NumPy Adam over the same 203,530 parameters
are timed beside them as references. One process, NumPy only (torch is never imported).
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS = Path(__file__).resolve().parent / "results" / "profile_step_cpu.md"
BATCH, STEPS = 128, 39


def median_us(fn: Callable[[], Any], repeats: int) -> float:
    """Median wall time of ``fn`` in µs after one untimed call."""
    fn()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1e6


def setup() -> dict[str, Any]:
    """Data (39 batches of 128 random rows), the network, a trainer and one batch, through the public API."""
    from bpnn_xp import Network, Trainer, resolve_device

    rng = np.random.default_rng(0)
    X = rng.uniform(size=(BATCH * STEPS, 784)).astype(np.float32)
    Y = np.eye(10, dtype=np.float32)[rng.integers(0, 10, BATCH * STEPS)]
    backend = resolve_device("cpu")
    Xd, Yd = backend.asarray(X, "float32"), backend.asarray(Y, "float32")
    net = Network.create([784, 256, 10], "relu", "softmax_cross_entropy", init="he", seed=0, device=backend, dtype="float32")
    trainer = Trainer(net, "adam", lr=1e-3, batch_size=BATCH, l2=0.0, seed=0)
    rows = rng.permutation(BATCH * STEPS)[:BATCH]
    return {"X": Xd, "Y": Yd, "net": net, "trainer": trainer, "rows": rows, "xb": np.take(Xd, rows, axis=0),
            "yb": np.take(Yd, rows, axis=0), "W1": rng.standard_normal((784, 256)).astype(np.float32),
            "delta": rng.standard_normal((BATCH, 256)).astype(np.float32)}  # fmt: skip


def measure(repeats: int) -> dict[str, float]:
    """Median µs of each phase."""
    from benchmarks.peers import NumpyMLP

    s = setup()
    ref = NumpyMLP([784, 256, 10], "relu")
    ref_grads = [np.full_like(p, 1e-3) for p in ref.params]
    whole = median_us(lambda: s["trainer"].fit(s["X"], s["Y"], epochs=1), max(3, repeats // 20)) / STEPS
    gather = lambda: (np.take(s["X"], s["rows"], axis=0), np.take(s["Y"], s["rows"], axis=0))  # noqa: E731
    parts = {
        "whole step (Trainer.fit epoch / 39)": whole,
        "gather the batch (np.take X and Y)": median_us(gather, repeats),
        "forward + backward (net.backprop)": median_us(lambda: s["net"].backprop(s["xb"], s["yb"], l2=0.0), repeats),
    }
    parts["Adam update and bookkeeping (step − gather − forward/backward)"] = whole - sum(list(parts.values())[1:])
    parts["reference: GEMM x W1 (128x784 @ 784x256)"] = median_us(lambda: s["xb"] @ s["W1"], repeats)
    parts["reference: GEMM x^T delta (784x128 @ 128x256)"] = median_us(lambda: s["xb"].T @ s["delta"], repeats)
    parts["reference: hand-written in-place NumPy Adam, 203,530 parameters"] = median_us(lambda: ref.adam(ref_grads), repeats)
    return parts


def markdown(parts: dict[str, float], command: str) -> str:
    """The profile as a Markdown table with a one-line reading."""
    lines = ["# One training step, 784-256-10 ReLU, Adam, batch 128, float32 (bpnn_xp on NumPy)", "",
             f"Command: `{command}`  ", "Single process, NumPy only; medians over repeats.", "",
             "| part | median µs |", "|---|---:|"]  # fmt: skip
    lines += [f"| {k} | {v:,.0f} |" for k, v in parts.items()]
    whole = parts["whole step (Trainer.fit epoch / 39)"]
    gemm = parts["reference: GEMM x W1 (128x784 @ 784x256)"] + parts["reference: GEMM x^T delta (784x128 @ 128x256)"]
    lines += ["", f"A step takes {whole:,.0f} µs ({BATCH / whole * 1e6:,.0f} samples/s); the two large GEMMs alone take "
              f"{gemm:,.0f} µs ({100 * gemm / whole:.0f}% of the step)."]  # fmt: skip
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> str:
    """Measure, print, and write only where asked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=300, help="timed calls per phase (default 300)")
    parser.add_argument("--out", default=None, help="also write the Markdown to this file")
    parser.add_argument("--write-results", action="store_true", help=f"write {RESULTS.relative_to(RESULTS.parents[2])}")
    args = parser.parse_args(argv)
    if args.out and Path(args.out).resolve() == RESULTS.resolve() and not args.write_results:
        parser.error("writing to benchmarks/results/ needs --write-results")
    command = "python -m benchmarks.profile_step " + " ".join(argv if argv is not None else sys.argv[1:])
    text = markdown(measure(args.repeats), command.strip())
    for path in ([RESULTS] if args.write_results else []) + ([Path(args.out)] if args.out else []):
        path.write_text(text)
    print(text)
    return text


if __name__ == "__main__":
    main()
