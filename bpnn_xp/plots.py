"""Pictures of a training run (matplotlib, Agg backend, PNG files).

Learning curves, a stratified random sample of images with true and predicted labels, the first hidden
layer's weights drawn as images (one tile per hidden unit, as in the course notes), 2-D decision boundaries
in the data's own units, confusion matrices, the sheet of inputs as the network saw them, and a sweep's
accuracy and learning curves.
"""

from __future__ import annotations

import io
import math
from collections.abc import Callable
from dataclasses import dataclass
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


def stratified_sample(labels: np.ndarray, n: int, seed: int = 0) -> np.ndarray:
    """Indices of ``n`` items drawn at random within each class, in proportion to the classes' sizes, every class
    present when n >= the number of classes; ordered by class so a grid reads row by row. Seeded: same call, same pick."""
    labels = np.asarray(labels).reshape(-1)
    rng = np.random.default_rng(seed)
    if n >= len(labels):
        return np.lexsort((np.arange(len(labels)), labels))
    classes, counts = np.unique(labels, return_counts=True)
    if n < len(classes):
        chosen = set(rng.choice(classes, size=n, replace=False).tolist())
        take = np.array([1 if c in chosen else 0 for c in classes.tolist()])
    else:
        take = _allocate(counts, n)
    picks = [np.sort(rng.choice(np.flatnonzero(labels == c), size=k, replace=False)) for c, k in zip(classes, take) if k]
    return np.concatenate(picks) if picks else np.zeros(0, dtype=np.int64)


def _allocate(counts: np.ndarray, n: int) -> np.ndarray:
    """How many to take of each class: at least one each, the rest by largest remainder of the proportional quota."""
    quota = n * counts / counts.sum()
    take = np.minimum(np.maximum(1, np.floor(quota)).astype(np.int64), counts)
    while take.sum() < n:  # at most one pass per class: hand out by largest remaining shortfall
        short = np.where(take < counts, quota - take, -np.inf)
        take[int(np.argmax(short))] += 1
    while take.sum() > n:  # the minimum of one each overshot: take back where the quota is most exceeded
        over = np.where(take > 1, take - quota, -np.inf)
        take[int(np.argmax(over))] -= 1
    return take


def sample_grid(
    images: np.ndarray,
    image_shape: tuple[int, int],
    predicted: np.ndarray,
    truth: np.ndarray,
    path: Path,
    n: int = 100,
    seed: int = 0,
) -> Path:
    """A stratified random sample of up to ``n`` images, each titled with its true and predicted label (red when wrong)."""
    chosen = stratified_sample(np.asarray(truth), n, seed)
    cols = max(1, math.ceil(math.sqrt(len(chosen))))
    rows = max(1, math.ceil(len(chosen) / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.05, rows * 1.2), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, chosen):
        wrong = predicted[i] != truth[i]
        ax.imshow(np.asarray(images[i]).reshape(image_shape), cmap="gray_r")
        ax.set_title(f"true {int(truth[i])}\npred {int(predicted[i])}", fontsize=7, color="red" if wrong else "black")
    errors = int(sum(predicted[i] != truth[i] for i in chosen))
    fig.suptitle(f"{len(chosen)} of {len(truth)} images, sampled per class (seed {seed}); red: wrong ({errors})")
    return _save(fig, path)


def hidden_units(
    weights: np.ndarray, image_shape: tuple[int, int], path: Path, layer_name: str | None = None, max_units: int = 256
) -> Path:
    """A layer's incoming weights of each unit drawn as an image, one tile per unit (the first ``max_units``), the
    figure titled with the layer (default: "hidden layer 1 (inputs -> units)") and how many units are shown."""
    n_units = weights.shape[1]
    shown = min(n_units, max_units)
    name = layer_name or f"hidden layer 1 ({weights.shape[0]} -> {n_units})"
    cols = math.ceil(math.sqrt(shown))
    rows = math.ceil(shown / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.9 + 0.6), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < shown:
            tile = weights[:, i].reshape(image_shape)
            limit = np.abs(tile).max() or 1.0
            ax.imshow(tile, cmap="RdBu_r", vmin=-limit, vmax=limit)
    fig.suptitle(f"{name}: incoming weights of {shown} of {n_units} units (red +, blue -)")
    fig.n_tiles = shown  # read by tests
    return _save(fig, path)


def decision_boundary(
    predict: Callable[[np.ndarray], np.ndarray],
    X: np.ndarray,
    labels: np.ndarray,
    path: Path,
    to_model: Callable[[np.ndarray], np.ndarray] | None = None,
    class_names: list[str] | None = None,
    feature_names: tuple[str, str] = ("x1", "x2"),
) -> Path:
    """The predicted class over a grid covering 2-D data, drawn in the data's own units (``X`` raw; ``to_model`` maps raw
    points to the model's features, e.g. the standardisation, before ``predict``), with the training points and a legend."""
    X, labels = np.asarray(X, dtype=np.float64), np.asarray(labels).astype(np.int64)
    pad = 0.1 * (X.max(axis=0) - X.min(axis=0)) + 1e-3
    lo, hi = X.min(axis=0) - pad, X.max(axis=0) + pad
    gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 300), np.linspace(lo[1], hi[1], 300))
    grid = np.column_stack([gx.ravel(), gy.ravel()])
    regions = np.asarray(predict(to_model(grid) if to_model is not None else grid)).reshape(gx.shape)
    n_classes = int(max(labels.max(), regions.max())) + 1
    names = list(class_names) if class_names and len(class_names) >= n_classes else [str(c) for c in range(n_classes)]
    colours = matplotlib.colors.ListedColormap([plt.get_cmap("tab10")(c % 10) for c in range(n_classes)])
    fig, ax = plt.subplots(figsize=(6.5, 5))
    ax.contourf(gx, gy, regions, alpha=0.25, cmap=colours, levels=np.arange(n_classes + 1) - 0.5)
    for c in np.unique(labels):
        members = labels == c
        ax.scatter(X[members, 0], X[members, 1], color=colours(int(c)), edgecolors="k", s=20, label=str(names[int(c)]))
    ax.legend(title="class (training points)", fontsize=8, loc="best")
    ax.set(xlabel=feature_names[0], ylabel=feature_names[1], title="Decision boundary (data units), shaded by predicted class")
    return _save(fig, path)


def input_sheet(images: np.ndarray, labels: list[str], path: Path, max_tiles: int = 200) -> Path:
    """What the network actually saw: each input as fed to it (light ink on dark, 0..1), titled with the caller's text
    (the input's name and its predicted class and probability)."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim != 3 or len(images) != len(labels):
        raise ValueError(f"input_sheet needs n x H x W images and n labels, got {images.shape} and {len(labels)}")
    shown = min(len(images), max_tiles)
    cols = max(1, min(shown, 8))
    rows = max(1, math.ceil(shown / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 1.6, rows * 1.9), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, image, label in zip(axes.flat, images[:shown], labels):
        ax.imshow(image, cmap="gray", vmin=0.0, vmax=1.0)
        ax.set_title(str(label), fontsize=7)
    more = f" (first {shown} of {len(images)})" if shown < len(images) else ""
    fig.suptitle(f"What the network saw{more}")
    fig.n_tiles = shown  # read by tests
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


# ---------------------------------------------------------------------- sweeps (bpnn sweep)
@dataclass
class SweepPoint:
    """One finished trial as the accuracy plot sees it: the swept value, its label, its line, and its accuracy (None: failed)."""

    value: Any
    text: str
    line: str
    accuracy: float | None


def sweep_accuracy(points: list[SweepPoint], key: str, legend: bool, path: Path) -> Path:
    """Test accuracy against one swept setting: one line per combination of the others (seeds pooled: mean, min-max bar);
    failed trials are red crosses at 0. Log x for the learning rate and for penalties spanning 100x or more."""
    values = [p.value for p in points]
    numeric = _is_numeric(values)
    categories = list(dict.fromkeys(p.text for p in points))  # in grid order
    fig, ax = plt.subplots(figsize=(6.5, 4.2))
    groups: dict[str, dict[float, list[float]]] = {}
    for point in points:
        x = float(point.value) if numeric else float(categories.index(point.text))
        if point.accuracy is not None:
            groups.setdefault(point.line, {}).setdefault(x, []).append(100 * point.accuracy)
        else:
            ax.plot([x], [0.0], "rx", markersize=9)
    for label, by_x in groups.items():
        xs = sorted(by_x)
        means = [float(np.mean(by_x[x])) for x in xs]
        low = [max(0.0, m - min(by_x[x])) for x, m in zip(xs, means)]  # max: the mean's rounding may pass an end
        high = [max(0.0, max(by_x[x]) - m) for x, m in zip(xs, means)]
        ax.errorbar(xs, means, yerr=[low, high], marker="o", capsize=3, label=label)
    _sweep_x_axis(ax, key, values, numeric, categories)
    failed = any(p.accuracy is None for p in points)
    ax.set(ylabel="test accuracy (%)", title=f"Test accuracy against {key}" + (" (red x: failed)" if failed else ""))
    ax.grid(alpha=0.3)
    if len(groups) > 1 or legend:
        ax.legend(fontsize=7)
    return _save(fig, path)


def _is_numeric(values: list[Any]) -> bool:
    return all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)


def _sweep_x_axis(ax: Any, key: str, values: list[Any], numeric: bool, categories: list[str]) -> None:
    """Log x for lr (and penalties spanning 100x; symlog when 0 is among them), categories as ticks otherwise."""
    ax.set_xlabel(key)
    if not numeric:
        ax.set_xticks(range(len(categories)), categories, rotation=30 if len(categories) > 4 else 0)
        return
    positive = [float(v) for v in values if float(v) > 0]
    wide = bool(positive) and max(positive) / min(positive) >= 100
    if key == "lr" or (key in ("l1", "l2") and wide):
        if all(float(v) > 0 for v in values):
            ax.set_xscale("log")
        else:
            ax.set_xscale("symlog", linthresh=min(positive))


def sweep_learning_curves(curves: list[tuple[str, dict[str, list[Any]], bool]], path: Path) -> Path:
    """Training cost and validation (else training) accuracy per epoch of each (label, history, ok) trial, overlaid;
    dotted: the good epochs of a trial that then failed."""
    fig, (ax_cost, ax_acc) = plt.subplots(1, 2, figsize=(11, 4.2))
    colours = plt.get_cmap("tab10" if len(curves) <= 10 else "tab20")
    for shown, (label, history, ok) in enumerate(curves):
        accuracy = history["val_accuracy"] if all(v is not None for v in history["val_accuracy"]) else history["accuracy"]
        colour, style = colours(shown % colours.N), "-" if ok else ":"
        ax_cost.plot(history["epoch"], history["cost"], style, color=colour, label=label, linewidth=1)
        ax_acc.plot(history["epoch"], [100 * a for a in accuracy], style, color=colour, linewidth=1)
    ax_cost.set(xlabel="epoch", ylabel="training cost", title="Training cost per epoch")
    if curves and _positive_costs(ax_cost):
        ax_cost.set_yscale("log")
    ax_acc.set(xlabel="epoch", ylabel="accuracy (%)", title="Validation accuracy per epoch (training if no validation split)")
    for ax in (ax_cost, ax_acc):
        ax.grid(alpha=0.3)
    if curves:  # below the panels, where it hides no curve
        fig.legend(loc="upper center", bbox_to_anchor=(0.5, 0.0), fontsize=7, ncol=min(3, len(curves)), frameon=False)
    return _save(fig, path)


def _positive_costs(ax: Any) -> bool:
    return all(np.all(np.asarray(line.get_ydata(), dtype=float) > 0) for line in ax.get_lines())
