"""The trainers measured side by side: bpnn_xp, PyTorch eager (and compiled on CUDA), scikit-learn's
MLPClassifier and a per-sample loop in the style of the classic course code.

Each peer takes its data once with ``load(X, Y)``, then ``train_epochs(epochs) -> (seconds, samples)``
times minibatch training and ``cost_and_gradient()`` one full-batch evaluation for the full-batch course network. All use the
same layer sizes, activation, optimizer (Adam, lr 1e-3), batch size and dtype.
"""

from __future__ import annotations

import math
import time
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np


@dataclass
class Config:
    """One benchmark configuration."""

    name: str
    sizes: list[int]
    activation: str
    batch_size: int
    dtype: str = "float32"
    cost: str = "softmax_cross_entropy"

    def flops_per_sample(self) -> float:
        """Useful training FLOPs per sample: forward 2P, weight gradients 2P, deltas 2P except layer 1."""
        layers = [a * b for a, b in zip(self.sizes[:-1], self.sizes[1:])]
        return 2.0 * sum(layers) * 3 - 2.0 * layers[0]


class BpnnPeer:
    """bpnn_xp on a backend (NumPy on the CPU, CuPy with --device cuda)."""

    name = "bpnn_xp"

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0) -> None:
        from bpnn_xp import Network, Trainer, resolve_device

        self.backend = resolve_device(device)
        self.device = device
        self.net = Network.create(config.sizes, config.activation, config.cost, "he", seed, self.backend, config.dtype)
        self.trainer = Trainer(self.net, "adam", 1e-3, config.batch_size, seed=seed)
        self.config = config

    def load(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.X, self.Y = self.backend.asarray(X, self.config.dtype), self.backend.asarray(Y, self.config.dtype)

    def train_epochs(self, epochs: int) -> tuple[float, int]:
        self.backend.synchronize()
        start = time.perf_counter()
        self.trainer.fit(self.X, self.Y, epochs=epochs)
        self.backend.synchronize()
        return time.perf_counter() - start, epochs * self.X.shape[0]

    def cost_and_gradient(self) -> None:
        cost, grads = self.net.backprop(self.X, self.Y)
        float(cost)  # force completion, as scipy would read it


class TorchPeer:
    """PyTorch eager: data pre-loaded as tensors, no DataLoader, torch.optim.Adam (default foreach)."""

    name = "torch eager"

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0, compiled: bool = False) -> None:
        import torch

        torch.manual_seed(seed)
        self.torch = torch
        self.device = torch.device("cuda" if device.startswith("cuda") else "cpu")
        self.dtype = getattr(torch, config.dtype)
        layers: list[Any] = []
        act = {"relu": torch.nn.ReLU, "sigmoid": torch.nn.Sigmoid, "tanh": torch.nn.Tanh}[config.activation]
        for i, (a, b) in enumerate(zip(config.sizes[:-1], config.sizes[1:])):
            layers.append(torch.nn.Linear(a, b))
            if i < len(config.sizes) - 2:
                layers.append(act())
        self.model = torch.nn.Sequential(*layers).to(self.device, self.dtype)
        self.opt = torch.optim.Adam(self.model.parameters(), lr=1e-3)
        self.loss = torch.nn.CrossEntropyLoss()
        self.config = config
        self.generator = torch.Generator(device="cpu").manual_seed(seed)
        self.step = self._step
        if compiled:
            self.name = "torch compile"
            self.step = torch.compile(self._step, mode="reduce-overhead")

    def load(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.X = self.torch.as_tensor(X, dtype=self.dtype, device=self.device)
        self.labels = self.torch.as_tensor(Y.argmax(axis=1), device=self.device)
        self.Yf = self.torch.as_tensor(Y, dtype=self.dtype, device=self.device)

    def _step(self, xb: Any, yb: Any) -> Any:
        self.opt.zero_grad(set_to_none=True)
        loss = self.loss(self.model(xb), yb)
        loss.backward()
        self.opt.step()
        return loss

    def _sync(self) -> None:
        if self.device.type == "cuda":
            self.torch.cuda.synchronize()

    def train_epochs(self, epochs: int) -> tuple[float, int]:
        n, batch = self.X.shape[0], min(self.config.batch_size, self.X.shape[0])
        self._sync()
        start = time.perf_counter()
        samples = 0
        for _ in range(epochs):
            order = self.torch.randperm(n, generator=self.generator).to(self.device)
            for i in range(0, n - batch + 1, batch):  # full batches only: static shapes for torch.compile
                rows = order[i : i + batch]
                self.step(self.X[rows], self.labels[rows])
                samples += batch
        self._sync()
        return time.perf_counter() - start, samples

    def cost_and_gradient(self) -> None:
        """Cost and all gradients, the same sigmoid cross-entropy J(Theta) as the course network."""
        for p in self.model.parameters():
            p.grad = None
        out = self.model(self.X)
        cost = self.torch.nn.functional.binary_cross_entropy_with_logits(out, self.Yf, reduction="sum") / self.X.shape[0]
        cost.backward()
        float(cost.detach())


class SklearnPeer:
    """scikit-learn MLPClassifier (solver adam, float32 input, no early stopping)."""

    name = "scikit-learn"

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0) -> None:
        self.config = config
        self.seed = seed

    def load(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.X = X.astype(np.float32)
        self.labels = Y.argmax(axis=1)

    def train_epochs(self, epochs: int) -> tuple[float, int]:
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.neural_network import MLPClassifier

        model = MLPClassifier(
            hidden_layer_sizes=tuple(self.config.sizes[1:-1]), activation=self.config.activation, solver="adam",
            alpha=0.0, batch_size=self.config.batch_size, learning_rate_init=1e-3, max_iter=epochs, shuffle=True,
            random_state=self.seed, tol=0.0, n_iter_no_change=10**9, early_stopping=False,
        )  # fmt: skip
        start = time.perf_counter()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            model.fit(self.X, self.labels)
        return time.perf_counter() - start, epochs * self.X.shape[0]


class LoopPeer:
    """The historical baseline: one sample at a time, as in the classic course code (NumPy, float32)."""

    name = "per-sample loop"

    def __init__(self, config: Config, device: str = "cpu", seed: int = 0, max_samples: int = 512) -> None:
        rng = np.random.default_rng(seed)
        dt = np.dtype(config.dtype)
        self.W = [rng.normal(0, math.sqrt(2 / a), (b, a)).astype(dt) for a, b in zip(config.sizes[:-1], config.sizes[1:])]
        self.b = [np.zeros(b, dt) for b in config.sizes[1:]]
        self.m = [np.zeros_like(p) for p in self.W + self.b]
        self.v = [np.zeros_like(p) for p in self.W + self.b]
        self.t = 0
        self.config = config
        self.max_samples = max_samples  # the loop is slow: time a prefix and report samples/s
        self.act = config.activation

    def load(self, X: np.ndarray, Y: np.ndarray) -> None:
        self.X, self.Y = X.astype(self.config.dtype), Y.astype(self.config.dtype)

    def _g(self, z: np.ndarray) -> np.ndarray:
        return np.maximum(z, 0) if self.act == "relu" else 1 / (1 + np.exp(-z))

    def _dg(self, z: np.ndarray, a: np.ndarray) -> np.ndarray:
        return (z > 0).astype(z.dtype) if self.act == "relu" else a * (1 - a)

    def _sample_gradient(self, x: np.ndarray, y: np.ndarray, softmax: bool = True) -> tuple[list[np.ndarray], list[np.ndarray]]:
        acts, zs = [x], []
        for i, (W, b) in enumerate(zip(self.W, self.b)):
            z = W @ acts[-1] + b
            zs.append(z)
            acts.append(self._g(z) if i < len(self.W) - 1 else z)
        out = acts[-1]
        if softmax:
            e = np.exp(out - out.max())
            delta = e / e.sum() - y
        else:
            delta = 1 / (1 + np.exp(-out)) - y
        gW, gb = [None] * len(self.W), [None] * len(self.W)
        for i in range(len(self.W) - 1, -1, -1):
            gW[i] = np.outer(delta, acts[i])
            gb[i] = delta
            if i:
                delta = (self.W[i].T @ delta) * self._dg(zs[i - 1], acts[i])
        return gW, gb

    def train_epochs(self, epochs: int) -> tuple[float, int]:
        """Time the first ``max_samples`` samples only: the loop is too slow for whole epochs."""
        n = min(self.max_samples, self.X.shape[0])
        batch = self.config.batch_size
        start = time.perf_counter()
        for s in range(0, n, batch):
            acc_W = [np.zeros_like(W) for W in self.W]
            acc_b = [np.zeros_like(b) for b in self.b]
            rows = range(s, min(s + batch, n))
            for r in rows:
                gW, gb = self._sample_gradient(self.X[r], self.Y[r])
                for i in range(len(self.W)):
                    acc_W[i] += gW[i]
                    acc_b[i] += gb[i]
            self._adam([g / len(rows) for g in acc_W + acc_b])
        return time.perf_counter() - start, n

    def _adam(self, grads: list[np.ndarray]) -> None:
        self.t += 1
        for i, (p, g) in enumerate(zip(self.W + self.b, grads)):
            self.m[i] = 0.9 * self.m[i] + 0.1 * g
            self.v[i] = 0.999 * self.v[i] + 0.001 * g * g
            p -= 1e-3 * (self.m[i] / (1 - 0.9**self.t)) / (np.sqrt(self.v[i] / (1 - 0.999**self.t)) + 1e-8)

    def cost_and_gradient(self) -> None:
        """The course exercise's cost + gradient: vectorized forward pass and cost, then backprop one
        sample at a time with the bias inserted by np.insert and np.matrix outer products."""
        t1 = np.hstack([self.b[0][:, None], self.W[0]])  # Theta layout: bias in column 0
        t2 = np.hstack([self.b[1][:, None], self.W[1]])
        X, y = self.X, self.Y
        m = X.shape[0]
        sigmoid = lambda z: 1 / (1 + np.exp(-z))  # noqa: E731
        a1 = np.insert(X, 0, np.ones(m), axis=1)
        z2 = a1 @ t1.T
        a2 = np.insert(sigmoid(z2), 0, np.ones(m), axis=1)
        h = sigmoid(a2 @ t2.T)
        cost = (-np.multiply(y, np.log(h)) - np.multiply(1 - y, np.log(1 - h))).sum() / m
        delta1, delta2 = np.zeros(t1.shape), np.zeros(t2.shape)
        warnings.simplefilter("ignore", PendingDeprecationWarning)  # np.matrix, as the course used it
        for i in range(m):
            z2i = np.insert(z2[i, :], 0, np.ones(1), axis=0)
            d3i = h[i, :] - y[i, :]
            d2i = np.multiply(t2.T @ d3i, sigmoid(z2i) * (1 - sigmoid(z2i)))
            delta2 += (1 / m) * np.matrix(d3i).T @ np.matrix(a2[i, :])
            delta1 += (1 / m) * np.matrix(d2i[1:]).T @ np.matrix(a1[i, :])
        float(cost)
