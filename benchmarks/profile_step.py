"""Where a training step's time goes, kernel by kernel, for the harness's three networks (bpnn_xp on NumPy).

    python -m benchmarks.profile_step                           # 784-256-10, batch 128: prints the tables
    python -m benchmarks.profile_step --network mlp1024         # 784-1024-1024-10, batch 1024
    python -m benchmarks.profile_step --network course          # course 400-25-10 sigmoid, full-batch cost + gradient
    python -m benchmarks.profile_step --network all --write-results   # all three -> benchmarks/results/
    BPNN_XP_BLAS=openblas python -m benchmarks.profile_step ... # NumPy's OpenBLAS where the [mkl] extra is installed

Uses bpnn_xp's public API. The whole step is timed through ``Trainer.fit`` (``net.backprop`` plus reading the
cost for the course network). Then every call through the kernels seam (matrix products by shape, bias +
activation, activation derivative, cost and delta, column sums, batch gather, optimizer update) is timed
during the same work and reported per step with its share; what is left is Python and bookkeeping.
One process, NumPy only (torch is never imported). Results files are named by network and kernels.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

RESULTS_DIR = Path(__file__).resolve().parent / "results"
NETWORKS = {  # name: (sizes, activation, cost, batch, rows, title)
    "mlp256": ([784, 256, 10], "relu", "softmax_cross_entropy", 128, 128 * 39, "784-256-10 ReLU, Adam, batch 128"),
    "mlp1024": ([784, 1024, 1024, 10], "relu", "softmax_cross_entropy", 1024, 5000, "784-1024-1024-10 ReLU, Adam, batch 1024"),
    "course": ([400, 25, 10], "sigmoid", "sigmoid_cross_entropy", 0, 5000, "course 400-25-10 sigmoid, full batch, L2 1"),
}
SEAM = ("matmul_into", "sum_rows_into", "bias_activation", "activation_backward", "cost_and_delta", "take_rows")
UPDATES = ("adam",)


class KernelTimer:
    """Wraps a kernels object's methods (on the instance) to add up wall time per call site."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)

    def wrap(self, kernels: Any, names: tuple[str, ...]) -> None:
        """Time every call of ``names`` on ``kernels`` from now on."""
        for name in names:
            setattr(kernels, name, self._timed(name, getattr(kernels, name)))

    def _timed(self, name: str, method: Callable[..., Any]) -> Callable[..., Any]:
        def timed(*args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            result = method(*args, **kwargs)
            self.seconds[_label(name, args)] += time.perf_counter() - start
            self.calls[_label(name, args)] += 1
            return result

        return timed

    def reset(self) -> None:
        self.seconds.clear()
        self.calls.clear()


def _label(name: str, args: tuple[Any, ...]) -> str:
    """The row a call is counted in: products by operand shapes ("a^T" marks a transposed view)."""
    if name != "matmul_into":
        return name
    a, b = args[1], args[2]
    mark = "^T" if a.ndim == 2 and a.strides[0] == a.itemsize and a.shape[1] > 1 else ""
    return f"matmul {a.shape[0]}x{a.shape[1]} @ {b.shape[0]}x{b.shape[1]}{' (a' + mark + ')' if mark else ''}"


def setup(network: str) -> dict[str, Any]:
    """Random data, the network and (for the minibatch networks) an Adam trainer."""
    from bpnn_xp import Network, Trainer, resolve_device

    sizes, activation, cost, batch, rows, _ = NETWORKS[network]
    rng = np.random.default_rng(0)
    X = rng.uniform(size=(rows, sizes[0])).astype(np.float32)
    Y = np.eye(sizes[-1], dtype=np.float32)[rng.integers(0, sizes[-1], rows)]
    backend = resolve_device("cpu")
    init = "he" if activation == "relu" else "uniform"
    net = Network.create(sizes, activation, cost, init=init, seed=0, device=backend, dtype="float32")
    trainer = Trainer(net, "adam", lr=1e-3, batch_size=batch, seed=0) if batch else None
    return {"X": backend.asarray(X, "float32"), "Y": backend.asarray(Y, "float32"), "net": net, "trainer": trainer,
            "steps_per_call": -(-rows // batch) if batch else 1}  # fmt: skip


def one_call(s: dict[str, Any]) -> Callable[[], Any]:
    """One epoch (minibatch networks) or one cost + gradient evaluation read as a float (course)."""
    if s["trainer"] is not None:
        return lambda: s["trainer"].fit(s["X"], s["Y"], epochs=1)
    return lambda: float(s["net"].backprop(s["X"], s["Y"], l2=1.0)[0])


def measure(network: str, repeats: int) -> dict[str, Any]:
    """Whole-step median and per-kernel µs per step (with call counts) for one network."""
    s = setup(network)
    call, steps = one_call(s), s["steps_per_call"]
    for _ in range(3):
        call()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call()
        times.append(time.perf_counter() - start)
    timer = KernelTimer()
    timer.wrap(s["net"].kernels, SEAM)
    if s["trainer"] is not None:  # the warm-up calls made the optimizer's kernels
        timer.wrap(s["trainer"].optimizer.kernels, UPDATES)
    call()
    timer.reset()
    start = time.perf_counter()
    for _ in range(repeats):
        call()
    traced = (time.perf_counter() - start) / (repeats * steps) * 1e6
    per_step = {k: v / (repeats * steps) * 1e6 for k, v in timer.seconds.items()}
    calls = {k: v / (repeats * steps) for k, v in timer.calls.items()}
    return {"network": network, "kernels": s["net"].kernels.name, "step_us": float(np.median(times)) / steps * 1e6,
            "traced_step_us": traced, "parts": per_step, "calls": calls, "steps_per_call": steps}  # fmt: skip


def markdown(result: dict[str, Any], command: str) -> str:
    """One network's profile as Markdown."""
    from bpnn_xp.backends import cpu_fast_path

    title, parts, traced = NETWORKS[result["network"]][5], result["parts"], result["traced_step_us"]
    unit = "evaluation" if result["network"] == "course" else "step"
    lines = [f"# Where one {unit} goes: {title}, float32, bpnn_xp on NumPy ({result['kernels']} kernels)", "",
             f"Command: `{command}`  ", f"CPU fast path: {cpu_fast_path()}  ",
             f"Machine: {_machine()}; one process, NumPy only.", "",
             f"Whole {unit}: **{result['step_us']:,.0f} µs** (median; with the timers in: {traced:,.0f} µs).", "",
             f"| kernel call | µs per {unit} | share | calls per {unit} |", "|---|---:|---:|---:|"]  # fmt: skip
    for name in sorted(parts, key=lambda k: -parts[k]):
        lines.append(f"| {name} | {parts[name]:,.0f} | {100 * parts[name] / traced:.0f}% | {result['calls'][name]:.2f} |")
    rest = traced - sum(parts.values())
    lines.append(f"| everything else (Python, bookkeeping) | {rest:,.0f} | {100 * rest / traced:.0f}% | |")
    products = sum(v for k, v in parts.items() if k.startswith("matmul"))
    lines += ["", f"Matrix products: {products:,.0f} µs ({100 * products / traced:.0f}%); "
              f"the rest of the seam: {sum(parts.values()) - products:,.0f} µs."]  # fmt: skip
    return "\n".join(lines) + "\n"


def _machine() -> str:
    """CPU model and core count, as the throughput harness records them."""
    from benchmarks.common import machine_info

    info = machine_info()
    return f"{info['cpu']}, {info['logical_cores']} logical cores ({info['usable_cores']} usable)"


def main(argv: list[str] | None = None) -> str:
    """Measure, print, and write only where asked."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--network", default="mlp256", choices=[*NETWORKS, "all"], help="which network (default mlp256)")
    parser.add_argument("--repeats", type=int, default=20, help="timed epochs / evaluations (default 20)")
    parser.add_argument("--out", default=None, help="also write the Markdown to this file")
    parser.add_argument("--write-results", action="store_true",
                        help="write benchmarks/results/profile_step_cpu_<network>_<kernels>.md")  # fmt: skip
    args = parser.parse_args(argv)
    if args.out and Path(args.out).resolve().parent == RESULTS_DIR.resolve() and not args.write_results:
        parser.error("writing to benchmarks/results/ needs --write-results")
    command = ("python -m benchmarks.profile_step " + " ".join(argv if argv is not None else sys.argv[1:])).strip()
    texts = []
    for network in NETWORKS if args.network == "all" else [args.network]:
        result = measure(network, args.repeats)
        text = markdown(result, command)
        if args.write_results:
            (RESULTS_DIR / f"profile_step_cpu_{network}_{result['kernels']}.md").write_text(text)
        texts.append(text)
    joined = "\n".join(texts)
    if args.out:
        Path(args.out).write_text(joined)
    print(joined)
    return joined


if __name__ == "__main__":
    main()
