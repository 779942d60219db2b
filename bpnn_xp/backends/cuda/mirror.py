"""The CUDA kernels run on NumPy: the same body text (``sources.Elementwise.python``) over an index vector,
and the softmax cross-entropy's one-block algorithm step by step, in the kernel's order of operations.

This is the CPU proof of each kernel's arithmetic (tests compare it with the reference kernels), and the
``launch`` that lets ``CupyKernels`` train on NumPy arrays with no GPU (the call-count and no-sync tests).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import sources


def _host(a: Any) -> Any:
    """A plain-ndarray view of an array argument (flattened), or the scalar itself."""
    if isinstance(a, np.ndarray):
        return a.view(np.ndarray).reshape(-1)
    return a


def run_elementwise(kernel: sources.Elementwise, dtype: np.dtype, args: tuple[Any, ...]) -> None:
    """Execute ``kernel``'s body on NumPy arrays ``args`` (in the kernel's parameter order), writing in place."""
    names = kernel.param_names
    if len(args) != len(names):
        raise TypeError(f"{kernel.name} takes {len(names)} arguments ({', '.join(names)}), got {len(args)}")
    scope = {name: _host(a) for name, a in zip(names, args)}
    scope.update(np=np, T=np.dtype(dtype).type, i=np.arange(int(scope["n"]), dtype=np.int64))
    exec(compile(kernel.python(), f"<mirror of {kernel.name}>", "exec"), scope)  # noqa: S102 - our own kernel text


def run_softmax_xent(dtype: np.dtype, args: tuple[Any, ...]) -> None:
    """The softmax cross-entropy kernel in NumPy: each of SOFTMAX_THREADS "threads" takes every
    SOFTMAX_THREADS-th row, columns in order, then the same tree reduction (so the same sums)."""
    z, y, delta, rows, cols, scale, cost, cost_sum, correct = (_host(a) for a in args)
    T, rows, cols, threads = np.dtype(dtype).type, int(rows), int(cols), sources.SOFTMAX_THREADS
    z, y, delta = z[: rows * cols].reshape(rows, cols), y[: rows * cols].reshape(rows, cols), delta.reshape(rows, cols)
    with np.errstate(all="ignore"):
        top, arg = z[:, 0].copy(), np.zeros(rows, np.int64)
        ytop, yarg = y[:, 0].copy(), np.zeros(rows, np.int64)
        for c in range(1, cols):
            arg, top = np.where(z[:, c] > top, c, arg), np.where(z[:, c] > top, z[:, c], top)
            yarg, ytop = np.where(y[:, c] > ytop, c, yarg), np.where(y[:, c] > ytop, y[:, c], ytop)
        total, mass, dot = np.zeros(rows, dtype), np.zeros(rows, dtype), np.zeros(rows, dtype)
        for c in range(cols):
            shifted = z[:, c] - top
            delta[:, c] = np.exp(shifted)
            total, mass, dot = total + delta[:, c], mass + y[:, c], dot + shifted * y[:, c]
        for c in range(cols):
            delta[:, c] = ((delta[:, c] / total) * mass - y[:, c]) * scale
        loss = np.log(total) * mass - dot
    part, hits = np.zeros(threads, dtype), np.zeros(threads, np.int64)
    for start in range(0, rows, threads):  # thread t adds rows t, t + threads, ... in order
        chunk = loss[start : start + threads]
        part[: chunk.size] = part[: chunk.size] + chunk
        hits[: chunk.size] += arg[start : start + threads] == yarg[start : start + threads]
    half = threads // 2
    while half > 0:
        part[:half], hits[:half] = part[:half] + part[half : 2 * half], hits[:half] + hits[half : 2 * half]
        half //= 2
    value = part[0] / T(rows)
    cost[0] = value
    cost_sum[0] = cost_sum[0] + value * T(rows)
    correct[0] += hits[0]


def launch(name: str, dtype: np.dtype, grid: int, block: int, args: tuple[Any, ...]) -> None:
    """A kernel launch as ``CupyKernels`` makes it, run by the NumPy mirror (grid and block do not matter here)."""
    if name == sources.SOFTMAX_XENT_NAME:
        return run_softmax_xent(dtype, args)
    run_elementwise(sources.BY_NAME[name], dtype, args)
