"""Minibatch training: shuffling from the seeded host Generator, batches gathered on the device.

No host-device sync happens per step: the cost and the count of correct predictions are summed on
the device and read once per epoch (or every ``log_every`` batches for a progress display).
Full-batch scipy methods (L-BFGS-B, CG, TNC) run through the same ``Trainer.fit``.
"""

from __future__ import annotations

import math
import time
import warnings
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from array_api_compat import array_namespace
from array_api_compat import device as device_of

from . import backend as backends
from .errors import BpnnTypeError, BpnnValueError, DeviceError, DivergenceError
from .network import Network
from .optimizers import SCIPY_METHODS, Optimizer, canonical_optimizer_name, get_optimizer
from .scipy_optimize import minimize


@dataclass
class EpochRecord:
    """Metrics of one epoch (one iteration for scipy methods)."""

    epoch: int
    cost: float
    accuracy: float
    val_cost: float | None = None
    val_accuracy: float | None = None
    seconds: float = 0.0
    samples_per_second: float = 0.0


@dataclass
class History:
    """Per-epoch records; ``as_columns`` gives plot-ready lists."""

    records: list[EpochRecord] = field(default_factory=list)
    stopped_early: bool = False
    best_epoch: int | None = None

    def as_columns(self) -> dict[str, list[Any]]:
        keys = EpochRecord.__dataclass_fields__
        return {k: [getattr(r, k) for r in self.records] for k in keys}

    def to_dict(self) -> dict[str, Any]:
        return {"records": [asdict(r) for r in self.records], "stopped_early": self.stopped_early, "best_epoch": self.best_epoch}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> History:
        return cls([EpochRecord(**r) for r in data.get("records", [])], data.get("stopped_early", False), data.get("best_epoch"))


@dataclass
class BatchProgress:
    """What a progress display sees every ``log_every`` batches (values read from the device)."""

    epoch: int
    batch: int
    n_batches: int
    cost: float
    accuracy: float
    samples_per_second: float


def labels_of(Y: Any) -> Any:
    """Class index per row of a target matrix: argmax of one-hot rows, threshold 0.5 for one column."""
    xp = array_namespace(Y)
    if Y.shape[1] == 1:
        return xp.astype(Y[:, 0] > 0.5, xp.int64)
    return xp.argmax(Y, axis=1)


def count_correct(logits: Any, labels: Any, xp: Any) -> Any:
    """Number of rows whose predicted class equals the label, as a 0-d device array."""
    if logits.shape[1] == 1:
        predicted = xp.astype(logits[:, 0] > 0.0, xp.int64)  # sigmoid(z) > 0.5  <=>  z > 0
    else:
        predicted = xp.argmax(logits, axis=1)
    return xp.sum(xp.astype(predicted == labels, xp.int64))


def evaluate(
    network: Network, X: Any, Y: Any, batch_size: int = 8192, l2: float = 0.0, l1: float = 0.0, n: int | None = None
) -> tuple[float, float]:
    """(mean cost incl. penalties, accuracy) of ``network`` on (X, Y), in batches to bound memory.

    ``n`` is the training-set size the penalties are normalized by, so validation and training
    costs are comparable; it defaults to the number of rows in X.
    """
    xp = network.xp
    m = X.shape[0]
    if m == 0:
        raise BpnnValueError("cannot evaluate on zero samples")
    labels = labels_of(Y)
    cost_sum = xp.zeros((), dtype=network.dtype, device=network.device)
    correct = xp.zeros((), dtype=xp.int64, device=network.device)
    for start in range(0, m, batch_size):
        stop = min(start + batch_size, m)  # the array API leaves out-of-bounds slices undefined
        xb, yb = X[start:stop, ...], Y[start:stop, ...]
        z = network.logits(xb)
        cost_sum += network.cost_function.fn(z, yb, xp) * float(xb.shape[0])
        correct += count_correct(z, labels[start:stop], xp)
    cost = float(cost_sum) / m + float(network.penalty(l2, l1, n or m))
    return cost, int(correct) / m


class Trainer:
    """Trains one network with one optimizer; holds what a resumed run needs (epoch, rng, optimizer)."""

    def __init__(
        self,
        network: Network,
        optimizer: str | Optimizer = "adam",
        lr: float | None = None,
        batch_size: int | None = 128,
        l2: float = 0.0,
        l1: float = 0.0,
        seed: Any = 0,
    ) -> None:
        self.network = network
        self.method = canonical_optimizer_name(optimizer) if isinstance(optimizer, str) else optimizer.name
        if isinstance(optimizer, Optimizer):
            self.optimizer: Optimizer | None = optimizer
        elif self.method in SCIPY_METHODS:
            self.optimizer = None
        else:
            self.optimizer = get_optimizer(self.method, lr)
        self.batch_size = _check_batch_size(batch_size)
        self.l2 = _non_negative("l2", l2)
        self.l1 = _non_negative("l1", l1)
        self.rng = backends.host_rng(seed)
        self.epoch = 0
        self.history = History()

    # ------------------------------------------------------------------ the loop
    def fit(
        self,
        X: Any,
        Y: Any,
        epochs: int = 10,
        validation: tuple[Any, Any] | None = None,
        early_stopping: int | None = None,
        on_epoch: Callable[[EpochRecord], None] | None = None,
        on_batch: Callable[[BatchProgress], None] | None = None,
        log_every: int = 0,
    ) -> History:
        """Train for ``epochs`` more epochs (iterations for scipy methods) on device arrays (X, Y).

        ``early_stopping=k`` stops when the validation cost has not improved for k epochs and puts
        back the best parameters. A NaN/Inf cost raises DivergenceError after restoring the last good
        parameters.
        """
        check_training_data(self.network, X, Y)
        if epochs < 0:
            raise BpnnValueError(f"epochs must be >= 0, got {epochs}")
        if self.method in SCIPY_METHODS:
            return self._fit_full_batch(X, Y, epochs, validation, on_epoch)
        if self.batch_size is not None and self.batch_size > X.shape[0]:
            warnings.warn(
                f"batch size {self.batch_size} is larger than the {X.shape[0]} training samples: training uses full batches",
                stacklevel=2,
            )
        best = (math.inf, None, None)  # (val cost, epoch, flat params)
        patience = 0
        for _ in range(epochs):
            last_good, rng_state = self.network.flatten(), self.rng.bit_generator.state
            record = self._run_epoch(X, Y, on_batch, log_every)
            if not math.isfinite(record.cost):
                self.network.load_flat(last_good)  # the parameters and counters of the last good epoch
                self.epoch -= 1
                self.rng.bit_generator.state = rng_state
                raise DivergenceError(
                    f"training diverged in epoch {record.epoch}: the cost became {record.cost}; "
                    f"the parameters of epoch {record.epoch - 1} were kept. Try a smaller learning rate "
                    f"(now {self.optimizer.lr:g})"
                )
            if validation is not None:
                record.val_cost, record.val_accuracy = evaluate(self.network, *validation, l2=self.l2, l1=self.l1, n=X.shape[0])
            self.history.records.append(record)
            if on_epoch is not None:
                on_epoch(record)
            if early_stopping and validation is not None:
                if record.val_cost < best[0]:
                    best, patience = (record.val_cost, record.epoch, self.network.flatten()), 0
                else:
                    patience += 1
                    if patience >= early_stopping:
                        self.network.load_flat(best[2])
                        self.history.stopped_early, self.history.best_epoch = True, best[1]
                        break
        return self.history

    def _run_epoch(self, X: Any, Y: Any, on_batch: Callable[[BatchProgress], None] | None, log_every: int) -> EpochRecord:
        network, xp = self.network, self.network.xp
        n = X.shape[0]
        batch = min(self.batch_size or n, n)
        n_batches = math.ceil(n / batch)
        labels = labels_of(Y)
        order = backends.from_host(self.rng.permutation(n), like=X)
        cost_sum = xp.zeros((), dtype=network.dtype, device=network.device)
        correct = xp.zeros((), dtype=xp.int64, device=network.device)
        self.epoch += 1
        started = time.perf_counter()
        seen = 0
        for b in range(n_batches):
            rows = order[b * batch : min((b + 1) * batch, n)]
            xb, yb = xp.take(X, rows, axis=0), xp.take(Y, rows, axis=0)
            cost, grads, logits = network.forward_backward(xb, yb, self.l2, self.l1, n)
            self.optimizer.step(network.params, grads)
            m = xb.shape[0]
            seen += m
            cost_sum += cost * float(m)
            correct += count_correct(logits, xp.take(labels, rows, axis=0), xp)
            if on_batch is not None and log_every and ((b + 1) % log_every == 0 or b + 1 == n_batches):
                elapsed = time.perf_counter() - started
                on_batch(
                    BatchProgress(
                        self.epoch, b + 1, n_batches, float(cost_sum) / seen, int(correct) / seen, seen / max(elapsed, 1e-9)
                    )
                )
        total = float(cost_sum) / n  # the one sync of the epoch
        accuracy = int(correct) / n
        seconds = time.perf_counter() - started
        return EpochRecord(self.epoch, total, accuracy, seconds=seconds, samples_per_second=n / max(seconds, 1e-9))

    def _fit_full_batch(self, X: Any, Y: Any, iterations: int, validation: Any, on_epoch: Any) -> History:
        started = [time.perf_counter()]
        n = X.shape[0]

        def record_iteration(iteration: int, cost: float) -> None:
            self.epoch += 1
            _, accuracy = evaluate(self.network, X, Y)
            seconds = time.perf_counter() - started[0]
            record = EpochRecord(self.epoch, cost, accuracy, seconds=seconds, samples_per_second=n / max(seconds, 1e-9))
            if validation is not None:
                record.val_cost, record.val_accuracy = evaluate(self.network, *validation, l2=self.l2, l1=self.l1, n=X.shape[0])
            self.history.records.append(record)
            if on_epoch is not None:
                on_epoch(record)
            started[0] = time.perf_counter()

        result = minimize(self.network, X, Y, self.method, max_iter=iterations, l2=self.l2, l1=self.l1, callback=record_iteration)
        if not math.isfinite(result.cost):
            raise DivergenceError(f"{self.method} ended with cost {result.cost}; check the data for NaN/Inf")
        return self.history


def train(
    network: Network,
    X: Any,
    Y: Any,
    optimizer: str | Optimizer = "adam",
    epochs: int = 10,
    batch_size: int | None = 128,
    lr: float | None = None,
    l2: float = 0.0,
    l1: float = 0.0,
    seed: Any = 0,
    validation: tuple[Any, Any] | None = None,
) -> History:
    """Train ``network`` in place and return its History (the one-call form of ``Trainer.fit``)."""
    trainer = Trainer(network, optimizer, lr=lr, batch_size=batch_size, l2=l2, l1=l1, seed=seed)
    return trainer.fit(X, Y, epochs=epochs, validation=validation)


def check_training_data(network: Network, X: Any, Y: Any) -> None:
    """(X, Y) fit the network: arrays on its namespace, device and dtype, matching shapes, finite
    values, and targets the cost can use. Otherwise one line that names the problem and the fix."""
    xp = network.xp
    for name, array in (("X", X), ("Y", Y)):
        try:
            namespace = array_namespace(array)
        except TypeError:
            raise BpnnTypeError(f"{name} must be an array (NumPy, CuPy, ...), got {type(array).__name__}") from None
        if namespace is not xp or device_of(array) != network.device:
            raise DeviceError(
                f"{name} is on {namespace.__name__.split('.')[-1]}/{device_of(array)} but the network is on "
                f"{xp.__name__.split('.')[-1]}/{network.device}; move the data with Backend.asarray (same --device)"
            )
        if not xp.isdtype(array.dtype, "real floating"):
            raise BpnnTypeError(f"{name} must hold floating-point numbers, got {array.dtype}; convert it with astype(float32)")
        if array.dtype != network.dtype:
            raise BpnnTypeError(f"{name} is {array.dtype} but the network is {network.dtype}; use one dtype for both")
        if array.ndim != 2:
            raise BpnnValueError(f"{name} must be 2-D (samples x {'features' if name == 'X' else 'outputs'}), got {array.ndim}-D")
    if X.shape[0] == 0:
        raise BpnnValueError("the training data has zero samples")
    if X.shape[0] != Y.shape[0]:
        raise BpnnValueError(f"X has {X.shape[0]} samples but Y has {Y.shape[0]}")
    if X.shape[1] != network.sizes[0]:
        raise BpnnValueError(f"X has {X.shape[1]} features but the network's input layer has {network.sizes[0]}")
    if Y.shape[1] != network.sizes[-1]:
        raise BpnnValueError(f"Y has {Y.shape[1]} columns but the network has {network.sizes[-1]} outputs; match the class count")
    if not bool(xp.all(xp.isfinite(X))):
        raise BpnnValueError("X contains NaN or infinite values; remove or impute them before training")
    if not bool(xp.all(xp.isfinite(Y))):
        raise BpnnValueError("Y contains NaN or infinite values")
    cost = network.cost_function.name
    if cost in ("softmax_cross_entropy", "sigmoid_cross_entropy") and not bool(xp.all((Y >= 0.0) & (Y <= 1.0))):
        raise BpnnValueError(f"{cost} needs targets in [0, 1] (one-hot rows); got values outside")
    if cost == "softmax_cross_entropy" and not bool(xp.all(xp.abs(xp.sum(Y, axis=1) - 1.0) < 1e-3)):
        raise BpnnValueError(
            "softmax_cross_entropy needs one class per sample (rows summing to 1); "
            "for multi-label targets use --cost sigmoid_cross_entropy"
        )


def _check_batch_size(batch_size: int | None) -> int | None:
    if batch_size is None or batch_size == 0:
        return None
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 0:
        raise BpnnValueError(f"batch size must be a positive integer, or 0 for full batch; got {batch_size!r}")
    return batch_size


def _non_negative(what: str, value: float) -> float:
    value = float(value)
    if not math.isfinite(value) or value < 0:
        raise BpnnValueError(f"penalty {what} must be >= 0, got {value}")
    return value


__all__ = ["BatchProgress", "EpochRecord", "History", "Trainer", "evaluate", "train"]
