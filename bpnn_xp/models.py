"""Using a saved run: open it, score it on a split or other data, predict files, draw its plots, describe it,
and move weights between it and the course's .mat format."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, checkpoint
from .checkpoint import SavedModel
from .data import Split
from .engine import Network
from .engine.layers import PREDICT_BATCH, row_batches
from .errors import BpnnValueError, SettingError, WriteError
from .files import write_text
from .runs import METRICS_FILE, metrics_csv
from .workflow import PreparedData, prepare_data, resume_config

SPLITS = ("test", "val", "train")


def open_model(path: str | Path, device: str = "cpu") -> SavedModel:
    """A saved run (its directory or model.npz) loaded onto ``device``; a stale model.json is rewritten."""
    saved = checkpoint.load_model(path, backends.resolve_device(device))
    with contextlib.suppress(WriteError):  # a read-only copy of a run is still usable
        checkpoint.repair_sidecar(saved)
        _repair_metrics_csv(saved)
    return saved


def _repair_metrics_csv(saved: SavedModel) -> None:
    """Rewrite metrics.csv from the model's history when a crash left it behind the model (written without fsync)."""
    if saved.path is None or not saved.history.records:
        return
    path, text = saved.run_dir / METRICS_FILE, metrics_csv(saved.history)
    if not path.exists():  # not a run folder we write (a model file copied elsewhere): leave the folder alone
        return
    try:
        current = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        current = None
    if current != text:
        write_text(path, text)


def predict_scores(network: Network, X: np.ndarray, batch_size: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """(class, scores per class) of each row of host features from one forward pass on the network's device.

    Scores are probabilities for softmax outputs; the class is read from the logits exactly as training counts
    accuracy (a single output decides by its sign).
    """
    if X.ndim != 2 or X.shape[1] != network.sizes[0]:
        raise BpnnValueError(f"the model takes {network.sizes[0]} features per sample, got data of shape {X.shape}")
    like, cost = network.weights[0], network.cost_function
    classes, scores = [], []
    with backends.device_context(like):
        for start, stop in row_batches(X.shape[0], batch_size):
            z = network.logits(backends.from_host(X[start:stop], like, dtype=like.dtype))
            classes.append(backends.to_numpy(cost.classes(z)).astype(np.int64))
            scores.append(backends.to_numpy(cost.class_probabilities(z)))
    return np.concatenate(classes), np.concatenate(scores).astype(np.float64)


def predict_classes(network: Network, X: np.ndarray, batch_size: int = PREDICT_BATCH) -> tuple[np.ndarray, np.ndarray]:
    """(class, probability of that class) per row of host features, computed on the network's device."""
    classes, scores = predict_scores(network, X, batch_size)
    return classes, scores[np.arange(len(classes)), classes]


def load_split(saved: SavedModel, split: str, data_dir: str | None = None) -> tuple[PreparedData, Split]:
    """The named split of the data a saved model was trained on, preprocessed as at training."""
    if split not in SPLITS:
        raise SettingError(f"split must be test, val or train; got {split!r}", "split")
    data = prepare_data(resume_config(saved, data_dir=data_dir), saved.preprocessing, reading=saved.reading)
    chosen = data.split(split)
    if saved.config.data is not None:  # the file may have changed since training: classes matched by name
        from .data.userdata import class_lookup

        chosen = Split(chosen.X, class_lookup(data.dataset, saved.n_classes, saved.class_names)[chosen.labels])
    return data, chosen


def load_other_data(saved: SavedModel, path: str | Path, label_column: str | None = None) -> Split:
    """Data the model was not trained on (``--data PATH``), checked against the model's input and classes,
    scaled and preprocessed the way its training data was; labels re-indexed to the model's classes."""
    from .data.userdata import check_compatible, load_user_data

    dataset = load_user_data(path, label_column, saved.image_shape, for_evaluation=True, pixel_scale=saved.pixel_scale,
                             reading=saved.reading)
    check_compatible(dataset, saved.network.sizes[0], saved.n_classes, saved.image_shape, saved.class_names)
    rows = dataset.test if dataset.test is not None else Split(dataset.X, dataset.labels)
    return Split(saved.preprocessing.apply(rows.X), rows.labels)


def _scored_split(saved: SavedModel, split: str, data_dir: str | None, data: str | Path | None,
                  label_column: str | None) -> Split:  # fmt: skip
    """The rows to score: another data set (``data``), or a split of the training data."""
    if data is not None:
        return load_other_data(saved, data, label_column)
    return load_split(saved, split, data_dir)[1]


def evaluate_model(saved: SavedModel, split: str = "test", data_dir: str | None = None, data: str | Path | None = None,
                   label_column: str | None = None) -> dict[str, Any]:  # fmt: skip
    """Accuracy, per-class report and confusion matrix of a saved model on a split of its data, or on ``data``."""
    from .reports import classification_summary

    chosen = _scored_split(saved, split, data_dir, data, label_column)
    predicted, _ = predict_classes(saved.network, chosen.X)
    summary = classification_summary(chosen.labels, predicted, saved.n_classes, saved.class_names)
    source = {"data": str(data)} if data is not None else {"split": split}
    return summary | source | {"class_names": saved.class_names}


def predict_files(saved: SavedModel, paths: list[Path], top_k: int = 1, normalize: bool = True,
                  show: Path | None = None) -> list[dict[str, Any]]:  # fmt: skip
    """Class, probability, the ``top_k`` best classes and every class's probability for each input row.

    Images are redrawn the way the training digits were made (``normalize``); ``show`` writes a sheet of
    exactly what the network saw.
    """
    from .data.images import load_inputs
    from .ranking import top_k as best_k

    if show is not None and saved.image_shape is None:
        raise SettingError(f"show draws the images the network saw, but this model takes {saved.network.sizes[0]} features, "
                           "not images; drop show", "show")  # fmt: skip
    if show is not None and (Path(show).is_dir() or Path(show).exists()):
        raise SettingError(f"show {str(show)!r} already exists; give a new file name for the sheet, such as seen.png", "show")
    X, names = load_inputs(paths, saved.network.sizes[0], saved.image_shape, saved.pixel_scale, normalize)
    classes, scores = predict_scores(saved.network, saved.preprocessing.apply(X))
    order, probs = best_k(scores, top_k)
    rows = []
    for i, name in enumerate(names):
        rows.append({
            "input": name, "class": saved.class_name(classes[i]), "probability": float(scores[i, classes[i]]),
            "top_k": [{"class": saved.class_name(c), "probability": float(p)} for c, p in zip(order[i], probs[i])],
            "probabilities": {str(saved.class_name(c)): float(v) for c, v in enumerate(scores[i])},
        })  # fmt: skip
    if show is not None:
        from . import plots

        titles = [f"{r['input']}\n{r['class']} ({r['probability']:.2f})" for r in rows]
        plots.input_sheet(X.reshape(-1, *saved.image_shape), titles, show)
    return rows


def make_plots(saved: SavedModel, target: Path, split: str = "test", data_dir: str | None = None,
               data: str | Path | None = None, label_column: str | None = None) -> list[Path]:  # fmt: skip
    """Learning curves, predictions, hidden units, confusion matrix and (2-D data) decision boundary."""
    from . import plots
    from .reports import confusion_matrix

    written = []
    if saved.history.records:
        written.append(plots.learning_curves(saved.history.as_columns(), target / "learning_curves.png"))
    chosen = _scored_split(saved, split, data_dir, data, label_column)
    predicted = predict_classes(saved.network, chosen.X)[0]
    shape = saved.image_shape
    if shape is not None:
        pixels = saved.preprocessing.invert(chosen.X)  # draw the pixels, not the standardized features
        written.append(plots.sample_grid(pixels, shape, predicted, chosen.labels, target / "samples.png", seed=saved.config.seed))
        if len(saved.network.sizes) > 2:
            weights = backends.to_numpy(saved.network.weights[0])
            layer = f"hidden layer 1 of {len(saved.network.sizes) - 2} ({weights.shape[0]} inputs -> {weights.shape[1]} units)"
            written.append(plots.hidden_units(weights, shape, target / "hidden_units.png", layer))
    if saved.network.sizes[0] == 2:
        predict = lambda X: predict_classes(saved.network, X)[0]  # noqa: E731
        raw = saved.preprocessing.invert(chosen.X)  # the data's own units
        written.append(plots.decision_boundary(predict, raw, chosen.labels, target / "decision_boundary.png",
                                               saved.preprocessing.apply, saved.class_names))  # fmt: skip
    matrix = confusion_matrix(chosen.labels, predicted, saved.n_classes)
    where = f"{data}" if data is not None else f"{split} split"
    written.append(plots.confusion(matrix, target / "confusion.png", f"Confusion matrix ({where})"))
    return written


def run_info(saved: SavedModel) -> dict[str, Any]:
    """What a saved run is: architecture, parameter count, data and input convention, settings, metrics."""
    network, info = saved.network, dict(saved.meta.get("dataset") or {})
    config = saved.config
    return {
        "model": str(saved.path),
        "architecture": {"sizes": network.sizes, "activations": [a.name for a in network.activations],
                         "cost": network.cost_function.name, "dtype": saved.dtype, "parameters": network.n_params},
        "data": info | {"pixel_scale": saved.pixel_scale},
        "training": {"optimizer": config.optimizer, "lr": config.lr, "batch_size": config.batch_size, "epochs": saved.epoch,
                     "l2": config.l2, "l1": config.l1, "augment": config.augment, "seed": config.seed,
                     "standardize": saved.preprocessing.standardize, "processes": saved.meta.get("processes", 1)},
        "metrics": saved.metrics,
        "versions": saved.meta.get("versions", {}),
    }  # fmt: skip


def import_course_weights(weights: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """A run folder made from the course's ex4weights.mat (see ``course.import_course``)."""
    from .course import import_course

    return import_course(weights, out_dir, overwrite)


def export_course_weights(model: str | Path, path: str | Path, overwrite: bool = False) -> Path:
    """A saved 400-h-10 sigmoid model written as the course's Theta1/Theta2 .mat file."""
    from .course import export_course

    return export_course(open_model(model), path, overwrite)
