"""The PyTorch systems: eager with torch.optim.Adam (default foreach, or fused=True), torch.compile(model),
the course cost + gradient through autograd, and torch's float32 matmul peak.

NumPy is used here only to read the data file before anything is timed (no BLAS call); the timed region
is pure torch. This module is imported only by a torch worker process.
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np
import torch

from benchmarks.common import Config
from benchmarks.peers import ADAM, PEAK_SHAPES, measurement


def device_of(name: str) -> torch.device:
    """torch.device for the harness's --device (cpu, cuda or cuda:N)."""
    return torch.device(name if name.startswith("cuda") else "cpu")


def sync(device: torch.device) -> None:
    """Wait for queued GPU work (no-op on the CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def mlp(sizes: list[int], activation: str, device: torch.device) -> torch.nn.Sequential:
    """nn.Sequential of Linear layers with the hidden activation between them (float32, torch's default init)."""
    act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[activation]
    layers: list[torch.nn.Module] = []
    for i, (a, b) in enumerate(zip(sizes[:-1], sizes[1:])):
        layers.append(torch.nn.Linear(a, b))
        if i < len(sizes) - 2:
            layers.append(act())
    return torch.nn.Sequential(*layers).to(device, torch.float32)


def train_epoch(model: Any, opt: torch.optim.Optimizer, X: torch.Tensor, labels: torch.Tensor, batch: int, gen: Any) -> None:
    """One epoch: randperm, index_select the batch, forward, cross-entropy, backward, optimizer step."""
    n = X.shape[0]
    order = torch.randperm(n, generator=gen).to(X.device)
    loss_fn = torch.nn.functional.cross_entropy
    for s in range(0, n, batch):
        rows = order[s : s + batch]
        opt.zero_grad(set_to_none=True)
        loss = loss_fn(model(X.index_select(0, rows)), labels.index_select(0, rows))
        loss.backward()
        opt.step()


def run_torch(config: Config, X: np.ndarray, labels: np.ndarray, variant: str, device: str = "cpu") -> dict[str, Any]:
    """Torch training: variant 'foreach' (Adam defaults), 'fused' (Adam fused=True) or 'compile' (torch.compile(model))."""
    torch.manual_seed(0)
    dev = device_of(device)
    model = mlp(config.sizes, config.activation, dev)
    opt = torch.optim.Adam(model.parameters(), lr=ADAM["lr"], fused=True) if variant == "fused" else (
        torch.optim.Adam(model.parameters(), lr=ADAM["lr"]))  # fmt: skip
    step_model = torch.compile(model) if variant == "compile" else model
    Xt, yt = torch.as_tensor(X, device=dev), torch.as_tensor(labels, device=dev)
    gen = torch.Generator(device="cpu").manual_seed(0)
    compile_start = time.perf_counter()
    for _ in range(config.warmup_epochs + (1 if variant == "compile" else 0)):
        train_epoch(step_model, opt, Xt, yt, config.batch_size, gen)
    sync(dev)
    warmup_seconds = time.perf_counter() - compile_start
    start = time.perf_counter()
    for _ in range(config.epochs):
        train_epoch(step_model, opt, Xt, yt, config.batch_size, gen)
    sync(dev)
    seconds = time.perf_counter() - start
    timed = f"{config.epochs} epochs of randperm + index_select + forward/backward + Adam ({variant})"
    return measurement(config.epochs * X.shape[0], seconds, timed, warmup_seconds=warmup_seconds)


def course_cost(params: list[torch.Tensor], X: torch.Tensor, Y: torch.Tensor, l2: float) -> torch.Tensor:
    """The course J: summed sigmoid cross-entropy / m + l2/(2m) sum of squared weights (biases excluded)."""
    W1, b1, W2, b2 = params
    m = X.shape[0]
    logits = torch.sigmoid(X @ W1 + b1) @ W2 + b2
    cost = torch.nn.functional.binary_cross_entropy_with_logits(logits, Y, reduction="sum") / m
    return cost + l2 / (2 * m) * ((W1 * W1).sum() + (W2 * W2).sum())


def run_torch_course(config: Config, X: np.ndarray, Y: np.ndarray, device: str = "cpu") -> dict[str, Any]:
    """Full-batch cost + gradients of the course network through autograd, ``evals`` times."""
    dev = device_of(device)
    gen = torch.Generator(device="cpu").manual_seed(0)
    s = config.sizes
    shapes = [(s[0], s[1]), (s[1],), (s[1], s[2]), (s[2],)]
    params = [(torch.rand(shape, generator=gen) * 0.24 - 0.12).to(dev).requires_grad_() for shape in shapes]
    Xt, Yt = torch.as_tensor(X, device=dev), torch.as_tensor(Y, device=dev)
    for _ in range(3):
        torch.autograd.grad(course_cost(params, Xt, Yt, config.l2), params)
    sync(dev)
    start = time.perf_counter()
    for _ in range(config.evals):
        cost = course_cost(params, Xt, Yt, config.l2)
        torch.autograd.grad(cost, params)
        float(cost.detach())
    sync(dev)
    seconds = time.perf_counter() - start
    return measurement(config.evals, seconds, f"{config.evals} x autograd.grad(J) + float(J)")


def run_torch_peak(device: str = "cpu", quick: bool = False, repeats: int = 5) -> dict[str, Any]:
    """Best float32 GFLOP/s of torch.mm over the same shapes as NumPy's peak."""
    dev = device_of(device)
    shapes = [(256, 256, 256)] if quick else PEAK_SHAPES
    best, per_shape = 0.0, {}
    for m, k, n in shapes:
        a, b = torch.rand(m, k, device=dev), torch.rand(k, n, device=dev)
        torch.mm(a, b)
        times = []
        for _ in range(repeats):
            sync(dev)
            start = time.perf_counter()
            torch.mm(a, b)
            sync(dev)
            times.append(time.perf_counter() - start)
        per_shape[f"{m}x{k}x{n}"] = 2 * m * k * n / min(times) / 1e9
        best = max(best, per_shape[f"{m}x{k}x{n}"])
    return {"rate": best, "seconds": None, "work": None, "timed": f"best of {repeats} per shape", "per_shape": per_shape}
