"""The systems of the GPU benchmark, each as "make one epoch callable": bpnn_xp, torch eager (default and
fused Adam), torch.compile(mode="reduce-overhead") and jax.jit, plus the timers and the matmul peak.

Every system trains the same network (ReLU hidden layers, softmax cross-entropy, Adam lr 1e-3, float32)
on the same rows, resident on the device before anything is timed; one call is one epoch of whole steps
(shuffle, gather the batch, forward, backward, update). ``time_calls`` times calls the way the issue asks:
``cupyx.profiler.benchmark`` for CuPy, CUDA events for torch (host and device time of each call apart),
``perf_counter`` on the CPU (no device time there).
"""

from __future__ import annotations

import importlib.util
import time
from collections.abc import Callable
from typing import Any

import numpy as np

LR = 1e-3


def time_calls(fn: Callable[[], Any], library: str, device: str, repeat: int, warmup: int) -> dict[str, list[float]]:
    """Host ("cpu") and device ("gpu", None on the CPU) seconds of each of ``repeat`` calls after ``warmup``."""
    if device.startswith("cuda") and library == "cupy":
        from cupyx.profiler import benchmark

        result = benchmark(fn, n_repeat=repeat, n_warmup=warmup, devices=(int(device.partition(":")[2] or 0),))
        return {"cpu": [float(t) for t in result.cpu_times], "gpu": [float(t) for t in result.gpu_times[0]]}
    if device.startswith("cuda") and library == "torch":
        import torch

        with torch.cuda.device(int(device.partition(":")[2] or 0)):
            return _torch_events(fn, repeat, warmup)
    for _ in range(warmup):
        fn()
    cpu = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        cpu.append(time.perf_counter() - start)
    return {"cpu": cpu, "gpu": None}


def _torch_events(fn: Callable[[], Any], repeat: int, warmup: int) -> dict[str, list[float]]:
    import torch

    for _ in range(warmup):
        fn()
    torch.cuda.synchronize()
    cpu, gpu = [], []
    for _ in range(repeat):
        begin, end = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
        start = time.perf_counter()
        begin.record()
        fn()
        end.record()
        cpu.append(time.perf_counter() - start)
        end.synchronize()
        gpu.append(begin.elapsed_time(end) / 1e3)
    return {"cpu": cpu, "gpu": gpu}


# ---------------------------------------------------------------- bpnn_xp


def bpnn_epoch(sizes: list[int], batch: int, X: np.ndarray, Y: np.ndarray, device: str) -> Callable[[], Any]:
    """One epoch of bpnn_xp's Trainer.fit (Adam, no penalty) on arrays already on ``device``."""
    from bpnn_xp import Network, Trainer, resolve_device

    backend = resolve_device(device)
    with backend.use():
        net = Network.create(sizes, "relu", "softmax_cross_entropy", init="he", seed=0, device=backend, dtype="float32")
        Xd, Yd = backend.asarray(X, "float32"), backend.asarray(Y, "float32")
        trainer = Trainer(net, "adam", lr=LR, batch_size=batch, l2=0.0, seed=0)

    def epoch() -> None:
        with backend.use():
            trainer.fit(Xd, Yd, epochs=1)

    epoch.kernels = net.kernels.name  # type: ignore[attr-defined]
    return epoch


# ---------------------------------------------------------------- torch


def torch_epoch(sizes: list[int], batch: int, X: np.ndarray, labels: np.ndarray, device: str, variant: str) -> Callable[[], Any]:
    """One epoch of torch: variant "eager" (Adam defaults), "fused" (Adam fused=True) or "compile"
    (torch.compile(model, mode="reduce-overhead"): forward and backward as CUDA graphs, then fused Adam;
    the model, not the whole step, because that is the form PyTorch documents for CUDA graphs in training)."""
    import torch

    torch.manual_seed(0)
    dev = torch.device(device if device.startswith("cuda") else "cpu")
    layers: list[Any] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers += [torch.nn.Linear(a, b)] + ([torch.nn.ReLU()] if i < len(sizes) - 2 else [])
    model = torch.nn.Sequential(*layers).to(dev, torch.float32)
    opt = torch.optim.Adam(model.parameters(), lr=LR, fused=variant in ("fused", "compile"))
    forward = torch.compile(model, mode="reduce-overhead") if variant == "compile" else model
    Xt, yt = torch.as_tensor(X, device=dev), torch.as_tensor(labels, device=dev)
    gen = torch.Generator(device="cpu").manual_seed(0)

    def step(xb: Any, yb: Any) -> None:
        opt.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(forward(xb), yb).backward()
        opt.step()

    def epoch() -> None:
        order = torch.randperm(Xt.shape[0], generator=gen).to(dev)
        for s in range(0, Xt.shape[0] - batch + 1, batch):
            rows = order[s : s + batch]
            step(Xt.index_select(0, rows), yt.index_select(0, rows))

    return epoch


# ---------------------------------------------------------------- jax


def jax_epoch(sizes: list[int], batch: int, X: np.ndarray, Y: np.ndarray, device: str) -> Callable[[], Any]:
    """One epoch of a jax.jit-compiled step (hand-written Adam, the same update as torch's)."""
    import jax
    import jax.numpy as jnp

    platform = "gpu" if device.startswith("cuda") else "cpu"
    dev = jax.devices(platform)[0]
    rng = np.random.default_rng(0)
    params = [(rng.normal(size=(a, b)).astype(np.float32) * np.sqrt(2.0 / a), np.zeros(b, np.float32))
              for a, b in zip(sizes[:-1], sizes[1:])]  # fmt: skip
    params = jax.device_put(params, dev)
    state = {"m": jax.tree.map(jnp.zeros_like, params), "v": jax.tree.map(jnp.zeros_like, params), "t": jnp.zeros(())}
    Xd, Yd = jax.device_put(X, dev), jax.device_put(Y, dev)

    def loss(p: Any, xb: Any, yb: Any) -> Any:
        a = xb
        for i, (W, b) in enumerate(p):
            a = a @ W + b
            a = jax.nn.relu(a) if i < len(p) - 1 else a
        return -jnp.mean(jnp.sum(yb * jax.nn.log_softmax(a), axis=1))

    @jax.jit
    def step(p: Any, s: Any, xb: Any, yb: Any) -> Any:
        g = jax.grad(loss)(p, xb, yb)
        t = s["t"] + 1
        m = jax.tree.map(lambda m, g: 0.9 * m + 0.1 * g, s["m"], g)
        v = jax.tree.map(lambda v, g: 0.999 * v + 0.001 * g * g, s["v"], g)
        scale = LR * jnp.sqrt(1 - 0.999**t) / (1 - 0.9**t)
        p = jax.tree.map(lambda p, m, v: p - scale * m / (jnp.sqrt(v) + 1e-8), p, m, v)
        return p, {"m": m, "v": v, "t": t}

    box = {"p": params, "s": state}
    order_rng = np.random.default_rng(1)

    def epoch() -> None:
        order = jax.device_put(order_rng.permutation(X.shape[0]), dev)
        for s in range(0, X.shape[0] - batch + 1, batch):
            rows = order[s : s + batch]
            box["p"], box["s"] = step(box["p"], box["s"], Xd[rows], Yd[rows])
        jax.block_until_ready(box["p"])

    return epoch


def jax_available() -> bool:
    """JAX is installed (it is an optional peer)."""
    return importlib.util.find_spec("jax") is not None


# ---------------------------------------------------------------- matmul peak


def matmul_peak(library: str, device: str, n: int, repeat: int = 5) -> float:
    """Best float32 GFLOP/s of an n x n x n product: the ceiling the training FLOP/s are measured against."""
    if library == "cupy":
        import cupy

        a, b = cupy.random.rand(n, n, dtype=cupy.float32), cupy.random.rand(n, n, dtype=cupy.float32)
        from cupyx.profiler import benchmark

        seconds = min(benchmark(lambda: a @ b, n_repeat=repeat, n_warmup=2).gpu_times[0])
    else:
        rng = np.random.default_rng(0)
        a, b = rng.random((n, n), dtype=np.float32), rng.random((n, n), dtype=np.float32)
        a @ b
        seconds = min(time_calls(lambda: a @ b, "numpy", device, repeat, 1)["cpu"])
    return 2.0 * n**3 / seconds / 1e9
