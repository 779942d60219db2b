"""Pictures of a training run (matplotlib, Agg backend, PNG files).

Learning curves, a 10x10 grid of images with predicted labels, the first hidden layer's weights
drawn as images (one tile per hidden unit, as in the course notes) and 2-D decision boundaries.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from .files import atomic_write, ensure_folder  # noqa: E402


def _save(fig: Any, path: Path) -> Path:
    """Render to memory, then write atomically: a failed write leaves the old picture and no temp file."""
    buffer = io.BytesIO()
    try:
        fig.savefig(buffer, format="png", dpi=110, bbox_inches="tight")
    finally:
        plt.close(fig)
    ensure_folder(path.parent)
    return atomic_write(path, buffer.getvalue())


def learning_curves(history: dict[str, list[Any]], path: Path) -> Path:
    """Cost and accuracy per epoch, training and (where recorded) validation, side by side."""
    fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(10, 4))
    epochs = history["epoch"]
    ax_cost.plot(epochs, history["cost"], label="training")
    ax_acc.plot(epochs, [100 * a for a in history["accuracy"]], label="training")
    if any(v is not None for v in history.get("val_cost", [])):
        ax_cost.plot(epochs, history["val_cost"], label="validation")
        ax_acc.plot(epochs, [100 * a for a in history["val_accuracy"]], label="validation")
    ax_cost.set(xlabel="epoch", ylabel="cost", title="Cost per epoch")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Accuracy per epoch")
    for ax in (ax_cost, ax_acc):
        ax.grid(alpha=0.3)
        ax.legend()
    return _save(fig, path)


def sample_grid(images: np.ndarray, image_shape: tuple[int, int], predicted: np.ndarray, truth: np.ndarray, path: Path) -> Path:
    """Up to 100 images in a 10x10 grid, each titled with its predicted label (red when wrong)."""
    count = min(100, len(images))
    fig, axes = plt.subplots(10, 10, figsize=(10, 11))
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < count:
            ax.imshow(images[i].reshape(image_shape), cmap="gray_r")
            ax.set_title(str(int(predicted[i])), fontsize=9, color="black" if predicted[i] == truth[i] else "red")
    fig.suptitle("Predicted labels (red: wrong)")
    return _save(fig, path)


def hidden_units(weights: np.ndarray, image_shape: tuple[int, int], path: Path) -> Path:
    """The first layer's incoming weights of each hidden unit drawn as an image: one tile per unit."""
    n_units = weights.shape[1]
    cols = math.ceil(math.sqrt(n_units))
    rows = math.ceil(n_units / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n_units:
            tile = weights[:, i].reshape(image_shape)
            limit = np.abs(tile).max() or 1.0
            ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"Hidden layer: {n_units} units")
    fig.n_tiles = n_units  # read by tests
    return _save(fig, path)


def decision_boundary(predict: Callable[[np.ndarray], np.ndarray], X: np.ndarray, labels: np.ndarray, path: Path) -> Path:
    """The predicted class over a grid covering 2-D data, with the data points on top."""
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-3
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    regions = predict(np.column_stack([gx.ravel(), gy.ravel()])).reshape(gx.shape)
    fig, ax = plt.subplots(figsize=(6, 5))
    ax.contourf(gx, gy, regions, alpha=0.3, cmap="viridis", levels=np.arange(labels.max() + 2) - 0.5)
    ax.scatter(X[:, 0], X[:, 1], c=labels, cmap="viridis", edgecolors="k", s=20)
    ax.set(xlabel="x1", ylabel="x2", title="Decision boundary")
    return _save(fig, path)


def confusion(matrix: np.ndarray, path: Path, title: str = "Confusion matrix") -> Path:
    """Counts of true (rows) against predicted (columns) classes, with the numbers written in."""
    matrix = np.asarray(matrix)
    fig, ax = plt.subplots(figsize=(6, 5))
    image = ax.imshow(matrix, cmap="Blues")
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        ax.text(j, i, str(count), ha="center", va="center", fontsize=8, color="white" if count > limit else "black")
    ax.set(
        xlabel="predicted class", ylabel="true class", title=title, xticks=range(matrix.shape[1]), yticks=range(matrix.shape[0])
    )
    fig.colorbar(image, ax=ax)
    return _save(fig, path)
