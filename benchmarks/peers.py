"""The NumPy-side systems: bpnn_xp, a hand-written vectorized NumPy loop, scikit-learn's MLPClassifier,
the per-sample course loop (a labelled reference) and NumPy's float32 matmul peak.

Each ``run_*`` function sets up, warms up, then times whole training steps (gather the batch, forward,
backward, Adam update) over full epochs with one shuffle per epoch, and returns a measurement dict:
``rate`` (samples/s or evaluations/s), ``seconds``, ``work`` and ``timed`` (what the clock covered).
This module never imports torch.
"""

from __future__ import annotations

import math
import time
import warnings
from typing import Any

import numpy as np

from benchmarks.common import Config

ADAM = {"lr": 1e-3, "beta1": 0.9, "beta2": 0.999, "eps": 1e-8}


def measurement(work: float, seconds: float, timed: str, **extra: Any) -> dict[str, Any]:
    """One timed run as a dict."""
    return {"rate": work / seconds, "seconds": seconds, "work": work, "timed": timed, **extra}


# ---------------------------------------------------------------- bpnn_xp


def bpnn_network(config: Config, device: str = "cpu") -> tuple[Any, Any]:
    """A bpnn_xp Network for ``config`` and its backend, through the stable public API."""
    from bpnn_xp import Network, resolve_device

    backend = resolve_device(device)
    init = "he" if config.activation == "relu" else "uniform"
    net = Network.create(config.sizes, config.activation, config.cost, init=init, seed=0, device=backend, dtype=config.dtype)
    return net, backend


def synchronize(backend: Any) -> None:
    """Wait for the device (a no-op on NumPy)."""
    sync = getattr(backend, "synchronize", None)
    if sync is not None:
        sync()


def run_bpnn(config: Config, X: np.ndarray, Y: np.ndarray, device: str = "cpu") -> dict[str, Any]:
    """bpnn_xp Trainer.fit with Adam (lr 1e-3, l2 0): one warm-up fit, then one timed fit of ``epochs`` epochs."""
    from bpnn_xp import Trainer

    net, backend = bpnn_network(config, device)
    Xd, Yd = backend.asarray(X, config.dtype), backend.asarray(Y, config.dtype)
    trainer = Trainer(net, "adam", lr=ADAM["lr"], batch_size=config.batch_size, l2=0.0, seed=0)
    trainer.fit(Xd, Yd, epochs=config.warmup_epochs)
    synchronize(backend)
    start = time.perf_counter()
    trainer.fit(Xd, Yd, epochs=config.epochs)
    synchronize(backend)
    seconds = time.perf_counter() - start
    timed = f"Trainer.fit(X, Y, epochs={config.epochs}) on device arrays, {net.kernels.name} kernels"
    return measurement(config.epochs * X.shape[0], seconds, timed, kernels=net.kernels.name)


def run_bpnn_course(config: Config, X: np.ndarray, Y: np.ndarray, device: str = "cpu") -> dict[str, Any]:
    """bpnn_xp net.backprop(X, Y, l2) on the full batch: cost + every gradient, ``evals`` times."""
    net, backend = bpnn_network(config, device)
    Xd, Yd = backend.asarray(X, config.dtype), backend.asarray(Y, config.dtype)
    for _ in range(3):
        cost, _ = net.backprop(Xd, Yd, l2=config.l2)
    synchronize(backend)
    start = time.perf_counter()
    for _ in range(config.evals):
        cost, grads = net.backprop(Xd, Yd, l2=config.l2)
        float(cost)  # read the cost, as scipy.optimize would
    synchronize(backend)
    seconds = time.perf_counter() - start
    timed = f"{config.evals} x net.backprop(X, Y, l2={config.l2:g}) + float(cost), {net.kernels.name} kernels"
    return measurement(config.evals, seconds, timed, kernels=net.kernels.name)


# ---------------------------------------------------------------- plain vectorized NumPy


class NumpyMLP:
    """What a careful user writes by hand: row-major batches, x @ W + b, softmax cross-entropy, in-place Adam."""

    def __init__(self, sizes: list[int], activation: str, seed: int = 0) -> None:
        """He (ReLU) or 1/fan-in normal weights, zero biases, zero Adam moments."""
        rng = np.random.default_rng(seed)
        scale = (lambda a: math.sqrt(2.0 / a)) if activation == "relu" else (lambda a: math.sqrt(1.0 / a))
        self.W = [(rng.standard_normal((a, b)) * scale(a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
        self.b = [np.zeros(b, np.float32) for b in sizes[1:]]
        self.params = [p for pair in zip(self.W, self.b) for p in pair]
        self.m = [np.zeros_like(p) for p in self.params]
        self.v = [np.zeros_like(p) for p in self.params]
        self.t = 0
        self.relu = activation == "relu"

    def gradients(self, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
        """Mean softmax cross-entropy gradients of one batch, in the order W1, b1, W2, b2, ..."""
        acts = [x]
        for W, b in zip(self.W[:-1], self.b[:-1]):
            z = acts[-1] @ W + b
            acts.append(np.maximum(z, 0, out=z) if self.relu else 1 / (1 + np.exp(-z)))
        logits = acts[-1] @ self.W[-1] + self.b[-1]
        logits -= logits.max(axis=1, keepdims=True)
        np.exp(logits, out=logits)
        delta = logits / logits.sum(axis=1, keepdims=True)
        delta -= y
        delta /= x.shape[0]
        grads: list[np.ndarray] = []
        for i in range(len(self.W) - 1, -1, -1):
            grads += [delta.sum(axis=0), acts[i].T @ delta]
            if i:
                delta = delta @ self.W[i].T
                delta *= (acts[i] > 0) if self.relu else acts[i] * (1 - acts[i])
        return grads[::-1]

    def adam(self, grads: list[np.ndarray]) -> None:
        """One Adam step with bias correction, updating every array in place."""
        self.t += 1
        b1, b2 = ADAM["beta1"], ADAM["beta2"]
        step = ADAM["lr"] * math.sqrt(1 - b2**self.t) / (1 - b1**self.t)
        for p, g, m, v in zip(self.params, grads, self.m, self.v):
            m *= b1
            m += (1 - b1) * g
            v *= b2
            v += (1 - b2) * (g * g)
            p -= step * m / (np.sqrt(v) + ADAM["eps"])

    def epoch(self, X: np.ndarray, Y: np.ndarray, batch: int, rng: np.random.Generator) -> None:
        """One shuffled epoch of minibatch steps (the last batch may be partial)."""
        order = rng.permutation(X.shape[0])
        for s in range(0, X.shape[0], batch):
            rows = order[s : s + batch]
            self.adam(self.gradients(X[rows], Y[rows]))


def run_numpy(config: Config, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The hand-written vectorized NumPy MLP: warm-up epochs, then ``epochs`` timed epochs."""
    model, rng = NumpyMLP(config.sizes, config.activation), np.random.default_rng(0)
    for _ in range(config.warmup_epochs):
        model.epoch(X, Y, config.batch_size, rng)
    start = time.perf_counter()
    for _ in range(config.epochs):
        model.epoch(X, Y, config.batch_size, rng)
    seconds = time.perf_counter() - start
    timed = f"{config.epochs} epochs of permute + X[rows] + forward/backward + Adam"
    return measurement(config.epochs * X.shape[0], seconds, timed)


def numpy_course_cost_grad(W: list[np.ndarray], b: list[np.ndarray], X: np.ndarray, Y: np.ndarray, l2: float) -> Any:
    """Vectorized course cost J (sigmoid cross-entropy + l2/(2m) sum W^2) and its gradients."""
    m = X.shape[0]
    a1 = 1 / (1 + np.exp(-(X @ W[0] + b[0])))
    h = 1 / (1 + np.exp(-(a1 @ W[1] + b[1])))
    eps = 1e-7
    cost = -(Y * np.log(h + eps) + (1 - Y) * np.log(1 - h + eps)).sum() / m
    cost += l2 / (2 * m) * sum(float((w * w).sum()) for w in W)
    d2 = (h - Y) / m
    d1 = (d2 @ W[1].T) * a1 * (1 - a1)
    grads = [X.T @ d1 + l2 / m * W[0], d1.sum(0), a1.T @ d2 + l2 / m * W[1], d2.sum(0)]
    return cost, grads


def run_numpy_course(config: Config, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The hand-written vectorized NumPy cost + gradient of the course network, ``evals`` times."""
    rng = np.random.default_rng(0)
    W = [(rng.uniform(-0.12, 0.12, (a, b))).astype(np.float32) for a, b in zip(config.sizes[:-1], config.sizes[1:])]
    b = [np.zeros(n, np.float32) for n in config.sizes[1:]]
    for _ in range(3):
        numpy_course_cost_grad(W, b, X, Y, config.l2)
    start = time.perf_counter()
    for _ in range(config.evals):
        cost, _ = numpy_course_cost_grad(W, b, X, Y, config.l2)
        float(cost)
    seconds = time.perf_counter() - start
    return measurement(config.evals, seconds, f"{config.evals} x vectorized NumPy cost + gradients")


# ---------------------------------------------------------------- scikit-learn


def run_sklearn(config: Config, X: np.ndarray, labels: np.ndarray) -> dict[str, Any]:
    """MLPClassifier(solver='adam', alpha=0) with warm_start: one warm-up fit of 1 epoch, then one timed fit of ``epochs``."""
    from sklearn.exceptions import ConvergenceWarning
    from sklearn.neural_network import MLPClassifier

    model = MLPClassifier(
        hidden_layer_sizes=tuple(config.sizes[1:-1]), activation=config.activation, solver="adam", alpha=0.0,
        batch_size=config.batch_size, learning_rate_init=ADAM["lr"], max_iter=config.warmup_epochs, shuffle=True,
        random_state=0, tol=0.0, n_iter_no_change=10**9, early_stopping=False, warm_start=True,
    )  # fmt: skip
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", ConvergenceWarning)
        model.fit(X, labels)
        model.set_params(max_iter=config.epochs)
        start = time.perf_counter()
        model.fit(X, labels)
        seconds = time.perf_counter() - start
    timed = f"one MLPClassifier.fit(X, labels) call with warm_start=True, max_iter={config.epochs} (input checks included)"
    return measurement(config.epochs * X.shape[0], seconds, timed, dtype=str(model.coefs_[0].dtype))


# ---------------------------------------------------------------- per-sample course loop (reference)


def init_course_style(sizes: list[int], seed: int = 0) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Weights (out x in, as in the course) and biases for the per-sample loop, float32."""
    rng = np.random.default_rng(seed)
    W = [(rng.standard_normal((b, a)) * math.sqrt(2 / a)).astype(np.float32) for a, b in zip(sizes[:-1], sizes[1:])]
    return W, [np.zeros(b, np.float32) for b in sizes[1:]]


def sample_gradient(W: list[np.ndarray], b: list[np.ndarray], x: np.ndarray, y: np.ndarray, relu: bool) -> list[np.ndarray]:
    """Softmax cross-entropy gradient of one sample, backprop one vector at a time."""
    acts, zs = [x], []
    for i, (Wi, bi) in enumerate(zip(W, b)):
        z = Wi @ acts[-1] + bi
        zs.append(z)
        acts.append(z if i == len(W) - 1 else (np.maximum(z, 0) if relu else 1 / (1 + np.exp(-z))))
    e = np.exp(acts[-1] - acts[-1].max())
    delta = e / e.sum() - y
    grads: list[np.ndarray] = []
    for i in range(len(W) - 1, -1, -1):
        grads = [np.outer(delta, acts[i]), delta, *grads]
        if i:
            delta = (W[i].T @ delta) * ((zs[i - 1] > 0) if relu else acts[i] * (1 - acts[i]))
    return grads


def run_loop(config: Config, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The per-sample loop: gradients summed sample by sample per batch, then Adam; times ``loop_samples`` samples."""
    W, b = init_course_style(config.sizes)
    params = [p for pair in zip(W, b) for p in pair]
    m, v = [np.zeros_like(p) for p in params], [np.zeros_like(p) for p in params]
    n, relu = min(config.loop_samples, X.shape[0]), config.activation == "relu"
    sample_gradient(W, b, X[0], Y[0], relu)
    start = time.perf_counter()
    for t, s in enumerate(range(0, n, config.batch_size), start=1):
        acc = [np.zeros_like(p) for p in params]
        rows = range(s, min(s + config.batch_size, n))
        for r in rows:
            for a, g in zip(acc, sample_gradient(W, b, X[r], Y[r], relu)):
                a += g
        for p, g, mi, vi in zip(params, acc, m, v):
            g /= len(rows)
            mi[...] = 0.9 * mi + 0.1 * g
            vi[...] = 0.999 * vi + 0.001 * g * g
            p -= 1e-3 * (mi / (1 - 0.9**t)) / (np.sqrt(vi / (1 - 0.999**t)) + 1e-8)
    seconds = time.perf_counter() - start
    return measurement(n, seconds, f"the first {n} samples only (one at a time), Adam per batch of {config.batch_size}")


def course_loop_cost_grad(t1: np.ndarray, t2: np.ndarray, X: np.ndarray, y: np.ndarray, l2: float) -> float:
    """The course exercise's cost + gradient: vectorized forward pass, then backprop one sample at a time (np.matrix)."""
    m = X.shape[0]
    sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
    a1 = np.insert(X, 0, np.ones(m), axis=1)
    z2 = a1 @ t1.T
    a2 = np.insert(sigmoid(z2), 0, np.ones(m), axis=1)
    h = sigmoid(a2 @ t2.T)
    cost = (-np.multiply(y, np.log(h)) - np.multiply(1 - y, np.log(1 - h))).sum() / m
    cost += l2 / (2 * m) * (np.sum(t1[:, 1:] ** 2) + np.sum(t2[:, 1:] ** 2))
    delta1, delta2 = np.zeros(t1.shape), np.zeros(t2.shape)
    for i in range(m):
        z2i = np.insert(z2[i, :], 0, np.ones(1), axis=0)
        d3i = h[i, :] - y[i, :]
        d2i = np.multiply(t2.T @ d3i, sigmoid(z2i) * (1 - sigmoid(z2i)))
        delta2 += (1 / m) * np.matrix(d3i).T @ np.matrix(a2[i, :])
        delta1 += (1 / m) * np.matrix(d2i[1:]).T @ np.matrix(a1[i, :])
    delta1[:, 1:] += l2 / m * t1[:, 1:]
    delta2[:, 1:] += l2 / m * t2[:, 1:]
    return float(cost)


def run_loop_course(config: Config, X: np.ndarray, Y: np.ndarray) -> dict[str, Any]:
    """The course-style per-sample cost + gradient on the full batch, timed over two evaluations."""
    rng = np.random.default_rng(0)
    s = config.sizes
    t1 = rng.uniform(-0.12, 0.12, (s[1], s[0] + 1)).astype(np.float32)
    t2 = rng.uniform(-0.12, 0.12, (s[2], s[1] + 1)).astype(np.float32)
    rows = min(config.loop_samples, X.shape[0])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix, as the course used it
        start = time.perf_counter()
        for _ in range(2):
            course_loop_cost_grad(t1, t2, X[:rows], Y[:rows], config.l2)
        seconds = time.perf_counter() - start
    return measurement(2, seconds, f"2 x course-style cost + gradient, per-sample backprop over {rows} rows")


# ---------------------------------------------------------------- matmul peak


PEAK_SHAPES = [(1024, 784, 1024), (1024, 1024, 1024), (784, 1024, 1024), (2048, 2048, 2048)]


def run_numpy_peak(quick: bool = False, repeats: int = 5) -> dict[str, Any]:
    """Best float32 GFLOP/s of NumPy's matmul over (m, k, n) shapes, including the 1024-wide layers' GEMMs."""
    rng = np.random.default_rng(0)
    shapes = [(256, 256, 256)] if quick else PEAK_SHAPES
    best, per_shape = 0.0, {}
    for m, k, n in shapes:
        a, b = rng.random((m, k), dtype=np.float32), rng.random((k, n), dtype=np.float32)
        a @ b
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            a @ b
            times.append(time.perf_counter() - start)
        per_shape[f"{m}x{k}x{n}"] = 2 * m * k * n / min(times) / 1e9
        best = max(best, per_shape[f"{m}x{k}x{n}"])
    return {"rate": best, "seconds": None, "work": None, "timed": f"best of {repeats} per shape", "per_shape": per_shape}
