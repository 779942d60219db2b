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
from .config import ARRAYS_DATASET, TrainConfig
from .data import Dataset, Preprocessing, Split, load_dataset, make_splits, one_hot
from .engine import (
    BatchProgress,
    EpochRecord,
    History,
    Network,
    Trainer,
    evaluate,
    get_cost,
    gradient_check,
    is_full_batch_method,
)
from .errors import BpnnValueError, DataFileError, DivergenceError, SettingError
from .files import write_text
from .runs import METRICS_FILE, claim_run_dir, locked_run_dir, metrics_csv, same_folder


@dataclass
class PreparedData:
    """Host data after splitting and preprocessing (``to_device`` moves a split to the device once)."""

    dataset: Dataset
    train: Split
    val: Split | None
    test: Split
    preprocessing: Preprocessing
    raw_train: Split | None = None  # the training split before preprocessing (pixels in [0, 1]), for augmentation

    def split(self, name: str) -> Split:
        """The split called test, val or train, or a one-line error."""
        chosen = {"test": self.test, "val": self.val, "train": self.train}.get(name)
        if name == "val" and chosen is None:
            raise SettingError("this run holds no validation data (it was trained with val_fraction 0); give split test or train",
                               "val_fraction", "split")  # fmt: skip
        if chosen is None:
            raise SettingError(f"split must be test, val or train (val needs val_fraction > 0 at training); got {name!r}",
                               "split", "val_fraction")  # fmt: skip
        return chosen


@dataclass
class RunResult:
    network: Network
    history: History
    metrics: dict[str, Any]
    model_path: Path | None


def load_data(config: TrainConfig, reading: dict[str, Any] | None = None) -> Dataset:
    """The data a config names: the user's own (``--data PATH``, read as ``reading`` says when a model read it before)
    or a named data set."""
    if config.data is not None:
        from .data.userdata import load_user_data

        return load_user_data(config.data, config.label_column, reading=reading)
    if config.dataset == ARRAYS_DATASET:
        raise SettingError("this model was fitted on arrays in Python, so its data is not on disk; score it on data PATH", "data")
    return load_dataset(config.dataset, config.data_dir, config.download, seed=config.seed)


def prepare_data(config: TrainConfig, preprocessing: Preprocessing | None = None,
                 reading: dict[str, Any] | None = None) -> PreparedData:  # fmt: skip
    """Load, split (seeded, stratified) and preprocess; fits standardization on the training split."""
    dataset = load_data(config, reading)
    val_fraction = 0.0 if config.val_data is not None else config.val_fraction  # the user's own set replaces the share
    splits = make_splits(dataset, val_fraction, config.test_fraction, seed=config.seed)
    if preprocessing is None:
        preprocessing = Preprocessing(config.standardize).fit(splits.train.X)
    if len(splits.test) == 0 or len(splits.train) == 0:
        raise SettingError(
            f"{dataset.name} has {len(dataset.labels)} samples: the splits leave {len(splits.train)} to train on and "
            f"{len(splits.test)} to test on; change test_fraction or val_fraction", "test_fraction", "val_fraction"
        )
    apply = lambda s: None if s is None else Split(preprocessing.apply(s.X), s.labels)  # noqa: E731
    val = splits.val if config.val_data is None else load_validation(config.val_data, config.label_column, dataset)
    return PreparedData(dataset, apply(splits.train), apply(val), apply(splits.test), preprocessing, splits.train)


def load_validation(path: str, label_column: str | None, dataset: Dataset) -> Split:
    """The user's validation set (``--val-data``), read like ``--data`` and scaled like the training data; its labels
    re-indexed to the training data's classes (a subset is fine, an unknown class is one clear error)."""
    from .data.userdata import check_compatible, load_user_data

    val = load_user_data(path, label_column, dataset.image_shape, for_evaluation=True, pixel_scale=dataset.pixel_scale)
    check_compatible(val, dataset.n_features, dataset.n_classes, dataset.image_shape, dataset.class_names)
    return val.test if val.test is not None else Split(val.X, val.labels)


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
    overwrite: bool = False,
    comm: Any = None,
) -> RunResult:
    """Train as ``config`` says (or continue the checkpoint ``resume``, loaded or a path); save to ``config.out``.

    A checkpoint and ``metrics.csv`` are written after every epoch, so an interrupted run (Ctrl-C) loses at
    most the epoch in progress and resumes exactly from the last completed one. A new run never replaces a
    run already saved in ``config.out`` unless ``overwrite`` is true.

    Under ``mpiexec -n N`` (or with an MPI ``comm`` from ``backends.distributed``) the N processes train one
    model data-parallel; rank 0 alone writes the run folder, and a failure on any rank stops them all.
    """
    from .backends import distributed

    comm = comm if comm is not None else distributed.from_environment()
    with comm.guard(collective=(DivergenceError,)):
        config = config.validate()
        if comm.rank != 0:  # rank 0 alone writes checkpoints, metrics.csv and the lock
            config = replace(config, out=None)
        if resume is not None and not isinstance(resume, SavedModel):
            resume = checkpoint.load_model(resume)
        with locked_run_dir(config.out) if config.out else contextlib.nullcontext():
            if config.out and (resume is None or not same_folder(Path(config.out), resume.run_dir)):
                claim_run_dir(Path(config.out), overwrite)  # a resumed run writes freely only into its own folder
            return _run_training(config, resume, on_epoch=on_epoch, on_batch=on_batch, log_every=log_every, comm=comm)


def _run_training(config: TrainConfig, resume: SavedModel | None, on_epoch: Any, on_batch: Any, log_every: int,
                  comm: Any) -> RunResult:  # fmt: skip
    """``run_training`` once the settings are checked and the run folder is ours."""
    backend = backends.resolve_device(comm.device(config.device))  # one GPU per rank
    data = prepare_data(config, resume.preprocessing if resume else None, resume.reading if resume else None)
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
        trainer = Trainer(network, optimizer=config.optimizer, lr=config.lr, batch_size=config.batch_size, l2=config.l2,
                          l1=config.l1, seed=config.seed, comm=comm, dropout=config.dropout, input_dropout=config.input_dropout,
                          max_norm=config.max_norm, lr_schedule=config.lr_schedule)  # fmt: skip
        if resume:
            _restore(trainer, resume)
        seconds = _fit(trainer, data, config, backend, (on_epoch, on_batch), log_every)
        test_cost, test_accuracy = evaluate(network, *to_device(data.test, backend, config.dtype, n_classes))
    metrics = _run_metrics(trainer, data, backend, test_cost, test_accuracy, seconds)
    metrics["augment"] = augment_setting(config, data.dataset)  # what --augment auto chose
    path = _save(Path(config.out), trainer, data, config, metrics) if config.out else None
    return RunResult(network, trainer.history, metrics, path)


def _restore(trainer: Trainer, saved: SavedModel) -> None:
    """Put a checkpoint's training state into ``trainer``; a bad field names the file."""
    try:
        trainer.load_state_dict(saved.trainer_state())
    except BpnnValueError as exc:
        raise DataFileError(f"{saved.path}: {exc}") from None


def _fit(trainer: Trainer, data: PreparedData, config: TrainConfig, backend: backends.Backend,
         callbacks: tuple[Any, Any], log_every: int) -> float:  # fmt: skip
    """Run ``trainer.fit`` with a checkpoint and metrics.csv after every epoch; returns the seconds it took."""
    on_epoch, on_batch = callbacks
    n_classes = data.dataset.n_classes
    X, Y = to_device(data.train, backend, config.dtype, n_classes)
    validation = to_device(data.val, backend, config.dtype, n_classes) if data.val is not None else None
    out = Path(config.out) if config.out else None

    def after_epoch(record: EpochRecord) -> None:
        if out is not None:
            _save(out, trainer, data, config, {})
            write_text(out / METRICS_FILE, metrics_csv(trainer.history), durable=False)  # rebuilt from model.npz's history
        if on_epoch is not None:
            on_epoch(record)

    started = time.perf_counter()
    try:
        trainer.fit(X, Y, epochs=config.epochs, validation=validation, early_stopping=config.early_stopping or None,
                    on_epoch=after_epoch, on_batch=on_batch, log_every=log_every,
                    epoch_inputs=augmented_inputs(config, data, backend),
                    sample_weight=class_weights(config.class_weight, data.train.labels, n_classes, backend,
                                                config.dtype))  # fmt: skip
    except DivergenceError as exc:
        if out is not None and trainer.history.records:  # saved after every good epoch
            raise DivergenceError(f"{exc}; the last good checkpoint (epoch {trainer.epoch}) is in {out}") from None
        raise
    return time.perf_counter() - started


def class_weights(class_weight: Any, labels: Any, n_classes: int, backend: backends.Backend, dtype: str) -> Any:
    """Per-row weights on the device for ``class_weight`` ('balanced': n / (classes x count), scikit-learn's rule,
    over the classes present), or None."""
    if class_weight is None:
        return None
    counts = np.bincount(labels, minlength=n_classes).astype(np.float64)
    present = counts > 0
    per_class = np.where(present, len(labels) / (present.sum() * np.maximum(counts, 1)), 0.0)
    return backend.asarray(per_class[labels], dtype)


AUTO_AUGMENT = "light"  # measured on mnist5k (scripts/results/mnist5k_study.md): +1.2 points on held-out digits
AUTO_AUGMENT_MIN_SIDE = 16  # 8x8 digits stay undistorted (and the default run stays quick)


def augment_setting(config: TrainConfig, dataset: Dataset) -> str:
    """The --augment text in force: ``auto`` is light distortions for images of 16x16 or more trained in minibatches
    (the scipy methods minimise one fixed cost), else none."""
    if config.augment.strip().lower() != "auto":
        return config.augment
    shape = dataset.image_shape
    usable = shape is not None and min(shape) >= AUTO_AUGMENT_MIN_SIDE and not is_full_batch_method(config.optimizer)
    return AUTO_AUGMENT if usable else "none"


def augmented_inputs(config: TrainConfig, data: PreparedData, backend: backends.Backend) -> Callable[[int], Any] | None:
    """With ``--augment``: a function giving each epoch's distorted training images on the device, else None.

    Each epoch's distortions come from a Generator seeded with (seed, epoch), so a resumed run sees the same images.
    """
    from .data.augment import parse_augment

    augmentation = parse_augment(augment_setting(config, data.dataset))
    if augmentation is None or augmentation.is_identity:
        return None
    shape = data.dataset.image_shape
    if shape is None or data.raw_train is None:
        raise SettingError(f"augment distorts images, but {data.dataset.name} holds no images; drop augment", "augment")
    pixels = data.raw_train.X

    def inputs(epoch: int) -> Any:
        distorted = augmentation.apply_flat(pixels, shape, np.random.default_rng([config.seed, epoch]))
        return backend.asarray(data.preprocessing.apply(distorted), config.dtype)

    return inputs


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
        "processes": trainer.comm.size,
    }
    history = trainer.history
    if history.records:
        kept = history.records[-1]
        if history.stopped_early:  # the saved parameters are those of the best epoch: report that epoch
            kept = next((r for r in history.records if r.epoch == history.best_epoch), kept)
            metrics.update(best_epoch=history.best_epoch, kept_epoch=kept.epoch, stopped_early=True)
        metrics.update(train_cost=kept.cost, train_accuracy=kept.accuracy, val_cost=kept.val_cost, val_accuracy=kept.val_accuracy)
    if trainer.last_minimize is not None:  # scipy's own account of why it stopped
        result = trainer.last_minimize
        metrics["optimizer_report"] = {"message": result.message, "success": result.success,
                                       "iterations": result.iterations, "evaluations": result.evaluations}  # fmt: skip
    return metrics


def _save(out: Path, trainer: Trainer, data: PreparedData, config: TrainConfig, metrics: dict[str, Any]) -> Path:
    meta = {"config": config.to_dict(), "dataset": dataset_info(data.dataset), "metrics": metrics,
            "processes": trainer.comm.size}  # fmt: skip
    return checkpoint.save_model(out, trainer.network, meta, data.preprocessing, trainer)


def dataset_info(dataset: Dataset) -> dict[str, Any]:
    """The model's input convention, saved with it so predict and evaluate can apply it to raw inputs."""
    info = {"name": dataset.name, "n_classes": dataset.n_classes, "image_shape": dataset.image_shape,
            "pixel_scale": float(dataset.pixel_scale), "class_names": dataset.class_names, "source": dataset.source}  # fmt: skip
    if dataset.reading is not None:  # how the file was read: applied again to every later --data unless overridden
        info["reading"] = dataset.reading
    if dataset.image_shape is not None:
        info["polarity"] = "light_on_dark"  # ink brighter than the page, as in MNIST; drawings are flipped to match
    return info


@dataclass
class GradcheckResult:
    difference: float
    n_params: int
    device: str
    dtype: str


GRADCHECK_LIMIT = 200_000  # parameters x samples above which gradcheck runs only when asked (yes=True)


def gradcheck_work(sizes: list[int], samples: int, yes: bool = False) -> tuple[int, int]:
    """(parameters, forward passes) a gradient check of this network makes (two passes per parameter); a check over
    GRADCHECK_LIMIT parameters x samples is refused unless ``yes``, before any work."""
    if len(sizes) < 2 or samples <= 0:
        raise SettingError("sizes needs at least an input and an output size (e.g. 4,5,3) and samples must be > 0", "sizes",
                           "samples")  # fmt: skip
    parameters = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    if parameters * samples > GRADCHECK_LIMIT and not yes:
        raise SettingError(f"a gradient check of {parameters:,} parameters makes {2 * parameters:,} forward passes of "
                           f"{samples} rows each (over the limit of {GRADCHECK_LIMIT:,} for parameters x rows); give smaller "
                           "sizes or fewer samples, or yes to run it anyway", "sizes", "samples", "yes")  # fmt: skip
    return parameters, 2 * parameters


def check_gradients(sizes: list[int], activation: str, cost: str, l2: float = 0.0, l1: float = 0.0, samples: int = 10,
                    device: str = "cpu", dtype: str = "float64", seed: int = 0, yes: bool = False,
                    progress: Any = None) -> GradcheckResult:  # fmt: skip
    """Backprop against central differences on a small random network and random data.

    Central differences cost two forward passes per parameter: more than GRADCHECK_LIMIT parameters x samples
    is refused unless ``yes``; ``progress(done, total)`` is called as the parameters are probed."""
    gradcheck_work(sizes, samples, yes)
    backend = backends.resolve_device(device)
    rng = np.random.default_rng(seed)
    with backend.use():
        net = Network.create(sizes, activation, cost, "glorot", rng, backend, dtype)
        X = backend.asarray(rng.normal(size=(samples, sizes[0])), dtype)
        Y = backend.asarray(one_hot(rng.integers(0, sizes[-1], samples), sizes[-1]), dtype)
        difference = gradient_check(net, X, Y, l2=l2, l1=l1, progress=progress)
    return GradcheckResult(difference, net.n_params, backend.name, dtype)
