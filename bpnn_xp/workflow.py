"""The train / evaluate pipeline behind the launcher, usable without it.

``run_training`` loads a data set, splits and preprocesses it on the host, moves it to the device
once, builds the network, trains (checkpointing after every epoch), evaluates on the test split and
saves the model with its metrics. ``prepare_split`` rebuilds the same split for a saved model.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np

from . import backend as backends
from . import checkpoint
from .data import Dataset, Preprocessing, Split, load_dataset, make_splits, one_hot
from .errors import BpnnValueError, DivergenceError
from .network import Network
from .training import BatchProgress, EpochRecord, History, Trainer, evaluate


@dataclass
class TrainConfig:
    """Every setting of a training run; saved in the model so a run can be resumed or re-evaluated."""

    dataset: str = "digits"
    data_dir: str | None = None
    download: bool = False
    device: str = "cpu"
    batch_size: int = 32
    hidden: list[int] = field(default_factory=lambda: [256])
    activation: str = "relu"
    cost: str = "softmax_cross_entropy"
    output_activation: str | None = None
    optimizer: str = "adam"
    lr: float | None = None
    epochs: int = 40
    l2: float = 0.5
    l1: float = 0.0
    init: str = "auto"
    dtype: str = "float32"
    seed: int = 0
    val_fraction: float = 0.1
    test_fraction: float = 0.2
    early_stopping: int = 0
    standardize: bool = True
    out: str | None = None

    def initializer(self) -> str:
        """``auto`` means He for ReLU-like layers and Glorot otherwise."""
        if self.init != "auto":
            return self.init
        return "he" if self.activation in ("relu", "leaky_relu") else "glorot"


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
    apply = lambda s: None if s is None else Split(preprocessing.apply(s.X), s.labels)  # noqa: E731
    return PreparedData(dataset, apply(splits.train), apply(splits.val), apply(splits.test), preprocessing)


def to_device(split: Split, backend: backends.Backend, dtype: str, n_classes: int) -> tuple[Any, Any]:
    """(X, one-hot Y) of a split on the device, moved once."""
    return backend.asarray(split.X, dtype), backend.asarray(one_hot(split.labels, n_classes), dtype)


def build_network(config: TrainConfig, n_features: int, n_classes: int, backend: backends.Backend) -> Network:
    from .costs import get_cost

    sizes = [n_features, *config.hidden, n_classes]
    cost = get_cost(config.cost, config.output_activation)
    return Network.create(sizes, config.activation, cost, config.initializer(), config.seed, backend, config.dtype)


def run_training(
    config: TrainConfig,
    resume: str | Path | None = None,
    on_epoch: Callable[[EpochRecord], None] | None = None,
    on_batch: Callable[[BatchProgress], None] | None = None,
    log_every: int = 0,
) -> RunResult:
    """Train as ``config`` says (or continue the checkpoint ``resume``); save to ``config.out``.

    A checkpoint is written after every epoch, so an interrupted run (Ctrl-C) loses at most the
    epoch in progress and resumes exactly from the last completed one.
    """
    backend = backends.resolve_device(config.device)
    saved = checkpoint.load_model(resume, backend) if resume else None
    data = prepare_data(config, saved.preprocessing if saved else None)
    n_classes = data.dataset.n_classes
    network = saved.network if saved else build_network(config, data.dataset.n_features, n_classes, backend)
    if network.sizes[0] != data.dataset.n_features:
        raise BpnnValueError(f"the model takes {network.sizes[0]} features but {config.dataset} has {data.dataset.n_features}")
    trainer = Trainer(network, config.optimizer, config.lr, config.batch_size, config.l2, config.l1, seed=config.seed)
    if saved:
        _restore_trainer(trainer, saved)
    with backend.use():
        X, Y = to_device(data.train, backend, config.dtype, n_classes)
        validation = to_device(data.val, backend, config.dtype, n_classes) if data.val is not None else None
        out = Path(config.out) if config.out else None
        started = time.perf_counter()

        def after_epoch(record: EpochRecord) -> None:
            if out is not None:
                _save(out, trainer, data, config, {})
            if on_epoch is not None:
                on_epoch(record)

        try:
            trainer.fit(X, Y, config.epochs, validation, config.early_stopping or None, after_epoch, on_batch, log_every)
        except DivergenceError as exc:
            if out is not None and trainer.history.records:  # saved after every good epoch
                raise DivergenceError(f"{exc}; the last good checkpoint (epoch {trainer.epoch}) is in {out}") from None
            raise
        seconds = time.perf_counter() - started
        test_cost, test_accuracy = evaluate(network, *to_device(data.test, backend, config.dtype, n_classes))
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
    path = _save(out, trainer, data, config, metrics) if out is not None else None
    return RunResult(network, trainer.history, metrics, path)


def _save(out: Path, trainer: Trainer, data: PreparedData, config: TrainConfig, metrics: dict[str, Any]) -> Path:
    meta = {
        "config": asdict(replace(config, download=False)),
        "dataset": {"name": data.dataset.name, "n_classes": data.dataset.n_classes, "image_shape": data.dataset.image_shape},
        "metrics": metrics,
        "history": trainer.history.to_dict(),
        "trainer": {"epoch": trainer.epoch, "rng_state": trainer.rng.bit_generator.state},
    }
    return checkpoint.save_model(out, trainer.network, meta, data.preprocessing, trainer.optimizer)


def _restore_trainer(trainer: Trainer, saved: checkpoint.SavedModel) -> None:
    state = saved.meta.get("trainer", {})
    trainer.epoch = int(state.get("epoch", 0))
    if "rng_state" in state:
        trainer.rng.bit_generator.state = state["rng_state"]
    trainer.history = History.from_dict(saved.meta.get("history", {}))
    if trainer.optimizer is not None:
        checkpoint.restore_optimizer(trainer.optimizer, saved)


def config_from_model(saved: checkpoint.SavedModel, **overrides: Any) -> TrainConfig:
    """The TrainConfig a saved model was trained with, with some settings replaced."""
    fields = set(TrainConfig.__dataclass_fields__)
    stored = {k: v for k, v in saved.meta.get("config", {}).items() if k in fields}
    return replace(TrainConfig(**stored), **{k: v for k, v in overrides.items() if v is not None})


def predict_classes(network: Network, X: np.ndarray, dtype: str, batch_size: int = 8192) -> tuple[np.ndarray, np.ndarray]:
    """(class, probability of that class) per row of host features, computed on the network's device."""
    if X.ndim != 2 or X.shape[1] != network.sizes[0]:
        raise BpnnValueError(f"the model takes {network.sizes[0]} features per sample, got data of shape {X.shape}")
    backend = backends.backend_of(network.weights[0])
    classes, probs = [], []
    for start in range(0, X.shape[0], batch_size):
        out = backends.to_numpy(network.feedforward(backend.asarray(X[start : start + batch_size], dtype)))
        if out.shape[1] == 1:
            p1 = out[:, 0]
            cls = (p1 > 0.5).astype(np.int64)
            classes.append(cls)
            probs.append(np.where(cls == 1, p1, 1 - p1))
        else:
            classes.append(out.argmax(axis=1))
            probs.append(out.max(axis=1))
    return np.concatenate(classes), np.concatenate(probs)
