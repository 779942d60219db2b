"""What the launcher does, usable without it: train, evaluate, predict, plot and gradient-check.

``run_training`` loads a data set, splits and preprocesses it on the host, moves it to the device
once, builds the network, trains (checkpointing after every epoch), evaluates on the test split and
saves the model with its metrics. The other entry points work on a saved model (``SavedModel``).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, checkpoint
from .checkpoint import SavedModel
from .config import TrainConfig
from .data import Dataset, Preprocessing, Split, load_dataset, make_splits, one_hot
from .engine import BatchProgress, EpochRecord, History, Network, Trainer, evaluate, get_cost, gradient_check
from .errors import BpnnValueError, DataFileError, DivergenceError, WriteError
from .files import RunLock

SPLITS = ("test", "val", "train")


@dataclass
class PreparedData:
    """Host data after splitting and preprocessing (``to_device`` moves a split to the device once)."""

    dataset: Dataset
    train: Split
    val: Split | None
    test: Split
    preprocessing: Preprocessing

    def split(self, name: str) -> Split:
        """The split called test, val or train, or a one-line error."""
        chosen = {"test": self.test, "val": self.val, "train": self.train}.get(name)
        if chosen is None:
            raise BpnnValueError(f"--split must be test, val or train (val needs --val-fraction > 0 at training); got {name!r}")
        return chosen


@dataclass
class RunResult:
    network: Network
    history: History
    metrics: dict[str, Any]
    model_path: Path | None


def prepare_data(config: TrainConfig, preprocessing: Preprocessing | None = None) -> PreparedData:
    """Load, split (seeded, stratified) and preprocess; fits standardization on the training split."""
    dataset = load_dataset(config.dataset, config.data_dir, config.download, seed=config.seed)
    splits = make_splits(dataset, config.val_fraction, config.test_fraction, seed=config.seed)
    if preprocessing is None:
        preprocessing = Preprocessing(config.standardize).fit(splits.train.X)
    if len(splits.test) == 0 or len(splits.train) == 0:
        raise BpnnValueError(
            f"{dataset.name} has {len(dataset.labels)} samples: the splits leave {len(splits.train)} to train on and "
            f"{len(splits.test)} to test on; change --test-fraction/--val-fraction"
        )
    apply = lambda s: None if s is None else Split(preprocessing.apply(s.X), s.labels)  # noqa: E731
    return PreparedData(dataset, apply(splits.train), apply(splits.val), apply(splits.test), preprocessing)


def to_device(split: Split, backend: backends.Backend, dtype: str, n_classes: int) -> tuple[Any, Any]:
    """(X, one-hot Y) of a split on the device, moved once."""
    return backend.asarray(split.X, dtype), backend.asarray(one_hot(split.labels, n_classes), dtype)


def build_network(config: TrainConfig, n_features: int, n_classes: int, backend: backends.Backend) -> Network:
    """A fresh network for ``config``: input and output sizes from the data."""
    sizes = [n_features, *config.hidden, n_classes]
    cost = get_cost(config.cost, config.output_activation)
    return Network.create(sizes, config.activation, cost, config.initializer(), config.seed, backend, config.dtype)


def resume_config(saved: SavedModel, **overrides: Any) -> TrainConfig:
    """The TrainConfig a saved model was trained with, with the given settings replaced (None keeps)."""
    return replace(saved.config, **{k: v for k, v in overrides.items() if v is not None})


def run_training(
    config: TrainConfig,
    resume: SavedModel | str | Path | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    log_every: int = 0,
) -> RunResult:
    """Train as ``config`` says (or continue the checkpoint ``resume``, loaded or a path); save to ``config.out``.

    A checkpoint is written after every epoch, so an interrupted run (Ctrl-C) loses at most the
    epoch in progress and resumes exactly from the last completed one.
    """
    config = config.validate()
    if resume is not None and not isinstance(resume, SavedModel):
        resume = checkpoint.load_model(resume)
    with RunLock(config.out) if config.out else contextlib.nullcontext():
        return _run_training(config, resume, on_epoch, on_batch, log_every)


def _run_training(config: TrainConfig, resume: SavedModel | None, on_epoch: Any, on_batch: Any, log_every: int) -> RunResult:
    """``run_training`` once the settings are checked and the run folder is ours."""
    backend = backends.resolve_device(config.device)
    data = prepare_data(config, resume.preprocessing if resume else None)
    n_classes = data.dataset.n_classes
    with backend.use():
        if resume:
            network = resume.network.to(backend, config.dtype)
        else:
            network = build_network(config, data.dataset.n_features, n_classes, backend)
        if network.sizes[0] != data.dataset.n_features:
            raise BpnnValueError(
                f"the model takes {network.sizes[0]} features but {config.dataset} has {data.dataset.n_features}"
            )
        trainer = Trainer(network, config.optimizer, config.lr, config.batch_size, config.l2, config.l1, seed=config.seed)
        if resume:
            _restore(trainer, resume)
        seconds = _fit(trainer, data, config, backend, on_epoch, on_batch, log_every)
        test_cost, test_accuracy = evaluate(network, *to_device(data.test, backend, config.dtype, n_classes))
    metrics = _run_metrics(trainer, data, backend, test_cost, test_accuracy, seconds)
    path = _save(Path(config.out), trainer, data, config, metrics) if config.out else None
    return RunResult(network, trainer.history, metrics, path)


def _restore(trainer: Trainer, saved: SavedModel) -> None:
    """Put a checkpoint's training state into ``trainer``; a bad field names the file."""
    try:
        trainer.load_state_dict(saved.trainer_state())
    except BpnnValueError as exc:
        raise DataFileError(f"{saved.path}: {exc}") from None


def _fit(trainer: Trainer, data: PreparedData, config: TrainConfig, backend: backends.Backend,
         on_epoch: Any, on_batch: Any, log_every: int) -> float:  # fmt: skip
    """Run ``trainer.fit`` with a checkpoint after every epoch; returns the seconds it took."""
    n_classes = data.dataset.n_classes
    X, Y = to_device(data.train, backend, config.dtype, n_classes)
    validation = to_device(data.val, backend, config.dtype, n_classes) if data.val is not None else None
    out = Path(config.out) if config.out else None

    def after_epoch(record: EpochRecord) -> None:
        if out is not None:
            _save(out, trainer, data, config, {})
        if on_epoch is not None:
            on_epoch(record)

    started = time.perf_counter()
    try:
        trainer.fit(X, Y, config.epochs, validation, config.early_stopping or None, after_epoch, on_batch, log_every)
    except DivergenceError as exc:
        if out is not None and trainer.history.records:  # saved after every good epoch
            raise DivergenceError(f"{exc}; the last good checkpoint (epoch {trainer.epoch}) is in {out}") from None
        raise
    return time.perf_counter() - started


def _run_metrics(trainer: Trainer, data: PreparedData, backend: backends.Backend, test_cost: float, test_accuracy: float,
                 seconds: float) -> dict[str, Any]:  # fmt: skip
    metrics = {
        "test_accuracy": test_accuracy,
        "test_cost": test_cost,
        "test_samples": len(data.test),
        "train_samples": len(data.train),
        "epochs": trainer.epoch,
        "train_seconds": seconds,
        "device": backend.name,
    }
    if trainer.history.records:
        last = trainer.history.records[-1]
        metrics.update(train_cost=last.cost, train_accuracy=last.accuracy, val_accuracy=last.val_accuracy)
    if trainer.history.stopped_early:  # the saved parameters are those of the best epoch
        metrics["best_epoch"] = trainer.history.best_epoch
    if trainer.last_minimize is not None:  # scipy's own account of why it stopped
        result = trainer.last_minimize
        metrics["optimizer_report"] = {"message": result.message, "success": result.success,
                                       "iterations": result.iterations, "evaluations": result.evaluations}  # fmt: skip
    return metrics


def _save(out: Path, trainer: Trainer, data: PreparedData, config: TrainConfig, metrics: dict[str, Any]) -> Path:
    meta = {
        "config": config.to_dict(),
        "dataset": {"name": data.dataset.name, "n_classes": data.dataset.n_classes, "image_shape": data.dataset.image_shape},
        "metrics": metrics,
    }
    return checkpoint.save_model(out, trainer.network, meta, data.preprocessing, trainer)


# ---------------------------------------------------------------------- using a saved model
def open_model(path: str | Path, device: str = "cpu") -> SavedModel:
    """A saved run (its directory or model.npz) loaded onto ``device``; a stale model.json is rewritten."""
    saved = checkpoint.load_model(path, backends.resolve_device(device))
    with contextlib.suppress(WriteError):  # a read-only copy of a run is still usable
        checkpoint.repair_sidecar(saved)
    return saved


def predict_classes(network: Network, X: np.ndarray, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(class, probability of that class) per row of host features, computed on the network's device."""
    if X.ndim != 2 or X.shape[1] != network.sizes[0]:
        raise BpnnValueError(f"the model takes {network.sizes[0]} features per sample, got data of shape {X.shape}")
    like, cost = network.weights[0], network.cost_function
    classes, probs = [], []
    with backends.device_context(like):
        for start in range(0, X.shape[0], batch_size):
            z = network.logits(backends.from_host(X[start : start + batch_size], like, dtype=like.dtype))
            predicted = backends.to_numpy(cost.classes(z))
            scores = backends.to_numpy(cost.class_probabilities(z))
            classes.append(predicted)
            probs.append(scores[np.arange(len(predicted)), predicted])
    return np.concatenate(classes), np.concatenate(probs)


def load_split(saved: SavedModel, split: str, data_dir: str | None = None) -> tuple[PreparedData, Split]:
    """The named split of the data a saved model was trained on, preprocessed as at training."""
    if split not in SPLITS:
        raise BpnnValueError(f"--split must be test, val or train; got {split!r}")
    data = prepare_data(resume_config(saved, data_dir=data_dir), saved.preprocessing)
    return data, data.split(split)


def evaluate_model(saved: SavedModel, split: str = "test", data_dir: str | None = None) -> dict[str, Any]:
    """Accuracy, per-class report and confusion matrix of a saved model on a split of its data."""
    from .reports import classification_summary

    data, chosen = load_split(saved, split, data_dir)
    predicted, _ = predict_classes(saved.network, chosen.X)
    return classification_summary(chosen.labels, predicted, data.dataset.n_classes) | {"split": split}


def predict_files(saved: SavedModel, paths: list[Path]) -> list[dict[str, Any]]:
    """Class and probability for each row of each input file (.npy arrays, images)."""
    from .data.images import load_inputs

    X, names = load_inputs(paths, saved.network.sizes[0], saved.image_shape)
    classes, probs = predict_classes(saved.network, saved.preprocessing.apply(X))
    return [{"input": n, "class": int(c), "probability": float(p)} for n, c, p in zip(names, classes, probs)]


def make_plots(saved: SavedModel, target: Path, split: str = "test", data_dir: str | None = None) -> list[Path]:
    """Learning curves, predictions, hidden units, confusion matrix and (2-D data) decision boundary."""
    from . import plots
    from .reports import confusion_matrix

    written = []
    history = saved.history
    if history.records:
        written.append(plots.learning_curves(history.as_columns(), target / "learning_curves.png"))
    data, chosen = load_split(saved, split, data_dir)
    predicted = predict_classes(saved.network, chosen.X)[0]
    shape = data.dataset.image_shape
    if shape is not None:
        pixels = saved.preprocessing.invert(chosen.X[:100])  # draw the pixels, not the standardized features
        written.append(plots.sample_grid(pixels, shape, predicted[:100], chosen.labels[:100], target / "samples.png"))
        if len(saved.network.sizes) > 2:
            weights = backends.to_numpy(saved.network.weights[0])
            written.append(plots.hidden_units(weights, shape, target / "hidden_units.png"))
    if data.dataset.n_features == 2:
        predict = lambda X: predict_classes(saved.network, X)[0]  # noqa: E731
        written.append(plots.decision_boundary(predict, chosen.X, chosen.labels, target / "decision_boundary.png"))
    matrix = confusion_matrix(chosen.labels, predicted, data.dataset.n_classes)
    written.append(plots.confusion(matrix, target / "confusion.png", f"Confusion matrix ({split} split)"))
    return written


@dataclass
class GradcheckResult:
    difference: float
    n_params: int
    device: str
    dtype: str


def check_gradients(sizes: list[int], activation: str, cost: str, l2: float = 0.0, l1: float = 0.0, samples: int = 10,
                    device: str = "cpu", dtype: str = "float64", seed: int = 0) -> GradcheckResult:  # fmt: skip
    """Backprop against central differences on a small random network and random data."""
    if len(sizes) < 2 or samples <= 0:
        raise BpnnValueError("--sizes needs at least an input and an output size (e.g. 4,5,3) and --samples must be > 0")
    backend = backends.resolve_device(device)
    rng = np.random.default_rng(seed)
    with backend.use():
        net = Network.create(sizes, activation, cost, "glorot", rng, backend, dtype)
        X = backend.asarray(rng.normal(size=(samples, sizes[0])), dtype)
        Y = backend.asarray(one_hot(rng.integers(0, sizes[-1], samples), sizes[-1]), dtype)
        difference = gradient_check(net, X, Y, l2=l2, l1=l1)
    return GradcheckResult(difference, net.n_params, backend.name, dtype)
