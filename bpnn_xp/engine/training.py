"""Minibatch training: shuffling from the seeded host Generator, batches gathered on the device.

No host-device sync happens per step: the cost and the count of correct predictions are summed on
the device (``kernels.epoch_totals``; the CUDA kernels fold this into the cost kernel) and read once per
epoch (or every ``log_every`` batches for a progress display). The penalty (L2/L1) is not computed per
step: an epoch's cost is its mean data cost plus the penalty of the weights the epoch started from
(computed on the device once, read with the sums; for one full batch exactly that step's cost, as
scikit-learn's MLPClassifier reports it).
Full-batch scipy methods (L-BFGS-B, CG, TNC) run through the same ``Trainer.fit``.

Data-parallel training: given a communicator (``backends.distributed``) of N ranks, every rank holds
the whole data set and the same seeded shuffling stream, so all ranks agree on each global batch;
rank r computes the gradient of its rows (``rows[r::N]``), weighted by its share of the batch, and
ONE allreduce of the flat gradient buffer per step gives every rank the single-process mean
gradient (penalty included once: the weights sum to 1), so the optimizers step identically
everywhere. ``batch_size`` is the global batch. Epoch cost and accuracy are summed once per epoch.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from typing import Any

from .. import backends, checks
from ..backends.distributed import SingleProcess
from ..backends.kernels import Totals, Workspace, buffer_for
from ..errors import BpnnValueError, DivergenceError, SettingError
from .dropout import Dropout, Masks, check_rates
from .evaluation import evaluate
from .full_batch import minimize, shard_bounds
from .network import Network
from .optimizers import Optimizer, canonical_optimizer_name, get_optimizer, is_full_batch_method
from .records import BatchProgress, EpochRecord, History
from .schedules import LrSchedule, check_schedule_fits
from .stopping import EarlyStopping, StoppingPolicy
from .training_inputs import (
    DEFAULT_BATCH_SIZE,
    FULL_BATCH,
    check_batch_size,
    check_training_data,
    host_float,
    inputs_for_epoch,
    non_negative,
    normalized_weights,
    positive_number,
    warn_large_batch,
    whole_number,
)


class Trainer:
    """Trains one network with one optimizer; holds what a resumed run needs (epoch, rng, optimizer)."""

    def __init__(
        self,
        network: Network,
        optimizer: str | Optimizer = "adam",
        lr: float | None = None,
        batch_size: int | str = DEFAULT_BATCH_SIZE,
        l2: float = 0.0,
        l1: float = 0.0,
        seed: Any = 0,
        comm: Any = None,
        dropout: float | Sequence[float] | None = None,
        input_dropout: float = 0.0,
        max_norm: float | None = None,
        lr_schedule: str = "constant",
    ) -> None:
        self.network = network
        self.comm = comm if comm is not None else SingleProcess()  # backends.distributed: SingleProcess or MPIComm
        self.method = optimizer.name if isinstance(optimizer, Optimizer) else canonical_optimizer_name(optimizer)
        self.optimizer: Optimizer | None
        if isinstance(optimizer, Optimizer):
            self.optimizer = optimizer
        else:
            full_batch = is_full_batch_method(self.method)
            self.optimizer = None if full_batch else get_optimizer(self.method, lr, fast=getattr(network, "fast", True))
        optimizer_free = self.optimizer is not None and self.optimizer.kernels is None
        if optimizer_free and self.optimizer.fast == getattr(network, "fast", True):
            self.optimizer.kernels = getattr(network, "kernels", None)  # the network's own (one set of scratch buffers)
        self.schedule = LrSchedule(lr_schedule, None if self.optimizer is None else self.optimizer.lr)
        check_schedule_fits("lr_schedule", self.schedule.name, self.method)
        self.batch_size = check_batch_size(batch_size)
        self.l2 = non_negative("l2", l2)
        self.l1 = non_negative("l1", l1)
        self.rng = backends.host_rng(seed)
        rates = check_rates(dropout, len(network.sizes) - 2)
        input_rate = check_rates(input_dropout, 1, "input_dropout")[0]
        self.dropout = Dropout(rates, input_rate, self.rng.spawn(1)[0])  # its own stream: shuffling stays as it was
        self.max_norm = None if max_norm is None else positive_number("max_norm", max_norm)
        self._row_weights: Any = None  # the training rows' weights during a fit (mean 1), or None
        self._penalty_n: float | None = None  # what the penalty is divided by: n, or the sum of the sample weights
        self.epoch = 0
        self.history = History()
        self.last_minimize: Any = None  # scipy's summary after a full-batch fit
        self.stopper: EarlyStopping | None = None  # kept between fit calls and in checkpoints, so a resumed run stops alike
        self._workspace: Workspace | None = None  # reused step buffers while fit runs (see Network.forward_backward)

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
        epoch_inputs: Callable[[int], Any] | None = None,
        stopping: StoppingPolicy | None = None,
        sample_weight: Any = None,
    ) -> History:
        """Train for ``epochs`` more epochs (iterations for scipy methods) on device arrays (X, Y).

        ``early_stopping=k`` stops when the validation cost has not improved for k epochs and puts
        back the best parameters; it needs ``validation``. A NaN/Inf cost raises DivergenceError
        after restoring the last good parameters. ``epoch_inputs(epoch)``, when given, is called
        before each minibatch epoch with the number of the epoch about to run and returns the X to
        train on in it (same shape and row order as X, e.g. augmented images; Y is unchanged).
        ``stopping`` is any other stopping policy (engine.stopping), asked after every minibatch epoch.
        ``sample_weight`` (a vector on the network's device, >= 0, not all 0) makes the cost the weighted mean
        sum(w_i loss_i)/sum(w_i) and divides the penalty by sum(w_i) (scikit-learn's meaning: integer weights equal
        repeated rows). A minibatch's rows carry w_i n/sum(w), so each step's gradient is an unbiased estimate of
        the weighted mean's (scikit-learn divides by each batch's weight sum, which an all-zero batch makes 0).

        With a communicator of several ranks, every rank calls ``fit`` with the same data and
        arguments; an exception on one rank stops the whole job (no rank is left in a collective),
        except a divergence, which every rank sees alike and raises.
        """
        with self.comm.guard(collective=(DivergenceError,)):
            check_training_data(self.network, X, Y)
            self._row_weights, self._penalty_n = normalized_weights(self.network, sample_weight, X.shape[0])
            epochs = whole_number("epochs", epochs)
            stopper = self._early_stopping(early_stopping, validation)
            self.stopper = stopper  # the checkpointed one; another policy is the caller's
            stopper = stopping if stopping is not None else stopper
            self.history.stopped_early, self.history.best_epoch = False, None  # a resumed run reports its own stop
            with backends.device_context(self.network.weights[0]):
                self._sync_parameters()
                if self.optimizer is None:
                    if self.dropout.active or self.max_norm is not None:
                        raise SettingError(f"dropout and max_norm change every step; {self.method} minimizes one fixed "
                                           "full-batch cost: use a minibatch optimizer (adam, sgd...)", "dropout", "max_norm")
                    if epoch_inputs is not None:
                        raise BpnnValueError(
                            f"epoch_inputs (new inputs every epoch) needs a minibatch optimizer; {self.method} "
                            "minimizes one fixed full-batch cost"
                        )
                    return self._fit_full_batch(X, Y, epochs, validation, on_epoch)
                warn_large_batch(self.batch_size, X.shape[0])
                self.schedule.plan(self.epoch, epochs)
                self._workspace = self.network.kernels.workspace()  # the steps' temporaries, reused
                try:
                    self._minibatch_epochs(X, Y, epochs, validation, stopper, on_epoch, on_batch, log_every, epoch_inputs)
                finally:
                    self._workspace = None  # its buffers are freed with the fit
        return self.history

    def _minibatch_epochs(self, X: Any, Y: Any, epochs: int, validation: Any, stopper: StoppingPolicy | None,
                          on_epoch: Any, on_batch: Any, log_every: int, epoch_inputs: Any) -> None:  # fmt: skip
        """Up to ``epochs`` minibatch epochs, each reported and checked for an early stop."""
        for _ in range(epochs):
            if self.schedule.active:
                self.optimizer.lr = self.schedule.lr_for(self.epoch)
            record = self._guarded_epoch(inputs_for_epoch(self.network, epoch_inputs, self.epoch + 1, X), Y, on_batch,
                                         log_every)  # fmt: skip
            self._finish_epoch(record, X.shape[0], validation, on_epoch)
            if stopper is not None and stopper.should_stop(record, self.network):
                if stopper.best_params is not None:
                    self.network.load_flat(stopper.best_params)
                self.history.stopped_early, self.history.best_epoch = True, stopper.best_epoch
                break

    def _sync_parameters(self) -> None:
        """Every rank starts from rank 0's parameters (an allreduce where only rank 0 adds non-zeros)."""
        if self.comm.size == 1:
            return
        network, xp = self.network, self.network.xp
        if self.comm.rank == 0:
            flat = network.flatten()
        else:
            flat = xp.zeros((network.n_params,), dtype=network.dtype, device=network.device)
        self.comm.allreduce_sum(flat)
        network.load_flat(flat)

    def _early_stopping(self, patience: int | None, validation: Any) -> EarlyStopping | None:
        """The stopper for this fit: the one carried from an earlier fit or checkpoint when the patience is the same."""
        if not patience:
            return None
        patience = whole_number("early_stopping", patience)
        if validation is None:
            raise BpnnValueError("early stopping watches the validation cost; pass validation=(X_val, Y_val)")
        if self.stopper is not None and self.stopper.patience == patience:
            return self.stopper
        return EarlyStopping(patience)

    def _guarded_epoch(self, X: Any, Y: Any, on_batch: Any, log_every: int) -> EpochRecord:
        """One epoch; on a NaN/Inf cost, put back the parameters, counter and shuffling of the last good one."""
        last_good, rng_state = self.network.flatten(), self.rng.bit_generator.state
        mask_state = self.dropout.rng.bit_generator.state
        record = self._run_epoch(X, Y, on_batch, log_every)
        if not math.isfinite(record.cost):
            self.network.load_flat(last_good)
            self.epoch -= 1
            self.rng.bit_generator.state = rng_state
            self.dropout.rng.bit_generator.state = mask_state
            raise DivergenceError(
                f"training diverged in epoch {record.epoch}: the cost became {record.cost}; "
                f"the parameters of epoch {record.epoch - 1} were kept. Try a smaller learning rate "
                f"(now {self.optimizer.lr:g})"
            )
        return record

    def _finish_epoch(self, record: EpochRecord, n: int, validation: Any, on_epoch: Any) -> None:
        """Add validation metrics, keep the record and tell the caller."""
        if validation is not None:
            n = self._penalty_n or n
            record.val_cost, record.val_accuracy = evaluate(self.network, *validation, l2=self.l2, l1=self.l1, n=n)
        self.history.records.append(record)
        if on_epoch is not None:
            on_epoch(record)

    def _run_epoch(self, X: Any, Y: Any, on_batch: Callable[[BatchProgress], None] | None, log_every: int) -> EpochRecord:
        network = self.network
        n = X.shape[0]
        batch = n if self.batch_size == FULL_BATCH else min(self.batch_size, n)
        n_batches = math.ceil(n / batch)
        order = backends.from_host(self.rng.permutation(n), like=X)
        totals = network.kernels.epoch_totals(network.dtype, network.device)
        penalty = network.penalty(self.l2, self.l1, self._penalty_n or n) if self.l2 or self.l1 else None  # the starting weights'
        rank, size = self.comm.rank, self.comm.size
        self.epoch += 1
        started, mine = time.perf_counter(), 0
        for b in range(n_batches):
            rows = order[b * batch : min((b + 1) * batch, n)]
            global_rows = rows.shape[0]
            if size > 1:
                rows = rows[rank::size]  # this rank's share of the global batch
            m = rows.shape[0]
            xb = network.kernels.take_rows(X, rows, buffer_for(self._workspace, "X", (m, *X.shape[1:]), X.dtype))
            yb = network.kernels.take_rows(Y, rows, buffer_for(self._workspace, "Y", (m, *Y.shape[1:]), Y.dtype))
            wb = None if self._row_weights is None else network.xp.take(self._row_weights, rows, axis=0)
            masks = self.dropout.draw(global_rows, network.sizes[:-1], X, rank, size) if self.dropout.active else None
            self._step(xb, yb, n, global_rows, totals, masks, wb)
            mine += m
            if on_batch is not None and log_every and ((b + 1) % log_every == 0 or b + 1 == n_batches):
                seen, local = min((b + 1) * batch, n), max(mine, 1)  # with several ranks: this rank's rows
                rate = seen / max(time.perf_counter() - started, 1e-9)
                cost_sum, correct = network.kernels.read_totals(totals)
                cost = cost_sum / local + host_float(penalty)
                on_batch(BatchProgress(self.epoch, b + 1, n_batches, cost, correct / local, rate))
        seconds = time.perf_counter() - started
        total_cost, total_correct = self._epoch_sums(*network.kernels.read_totals(totals))  # the one sync of the epoch
        return EpochRecord(
            self.epoch, total_cost / n + host_float(penalty), total_correct / n, seconds=seconds,
            samples_per_second=n / max(seconds, 1e-9), lr=self.optimizer.lr,
        )

    def _step(self, xb: Any, yb: Any, n: int, global_rows: int, totals: Totals | None = None, masks: Masks | None = None,
              wb: Any = None) -> None:  # fmt: skip
        """One optimizer step on a batch (this rank's share of it); its cost and correct count go to ``totals``;
        ``masks``: the batch's dropout, ``wb``: its rows' weights. Max-norm follows the step."""
        network, n = self.network, self._penalty_n or n
        if self.comm.size > 1:
            grads = self._reduced_gradients(xb, yb, n, global_rows, totals, masks, wb)
            self.optimizer.step(network.params, grads)
            self._constrain()
            return
        folds = network.kernels.folds_penalty and network.flat is not None and self.optimizer.kernels is network.kernels
        fold = bool(self.l2 or self.l1) and folds
        l2, l1 = (0.0, 0.0) if fold else (self.l2, self.l1)
        _, grads, _ = network.forward_backward(xb, yb, l2, l1, n, self._workspace, totals, penalty_cost=False, masks=masks,
                                               row_weights=wb)  # fmt: skip
        self.optimizer.step(network.params, grads, network.penalty_fold(self.l2, self.l1, n) if fold else None)
        self._constrain()

    def _constrain(self) -> None:
        """Max-norm: every hidden unit's incoming weight vector (a column of W) back to norm <= max_norm."""
        if self.max_norm is not None:
            for w in self.network.weights[:-1]:
                self.network.kernels.max_norm(w, self.max_norm)

    def _reduced_gradients(self, xb: Any, yb: Any, n: float, global_rows: int, totals: Totals | None, masks: Masks | None,
                           wb: Any) -> list[Any]:  # fmt: skip
        """The global batch's mean gradient on every rank: shares weighted by rows, ONE allreduce of the flat buffer."""
        network, xp, m = self.network, self.network.xp, xb.shape[0]
        grads = None
        if m == 0:  # fewer rows in this batch than ranks: this rank adds nothing
            flat = xp.zeros((network.n_params,), dtype=network.dtype, device=network.device)
        else:
            _, grads, _ = network.forward_backward(xb, yb, self.l2, self.l1, n, self._workspace, totals, penalty_cost=False,
                                                   masks=masks, row_weights=wb)  # fmt: skip
            flat = getattr(grads, "flat", None)
            if flat is None:
                flat = network.flatten(grads)
            flat *= m / global_rows  # penalty gradients too: the shares sum to 1 over the ranks
        self.comm.allreduce_sum(flat)
        if grads is None or getattr(grads, "flat", None) is not flat:  # the sums live in `flat` only
            grads = network.kernels.views(flat, [tuple(p.shape) for p in network.params])
        return grads

    def _epoch_sums(self, cost_sum: float, correct: int) -> tuple[float, float]:
        """(cost sum, correct count) over all ranks: one small allreduce per epoch, none on one rank."""
        if self.comm.size == 1:
            return cost_sum, correct
        network, xp = self.network, self.network.xp
        sums = xp.asarray([cost_sum, float(correct)], dtype=xp.float64, device=network.device)
        self.comm.allreduce_sum(sums)
        return float(sums[0]), float(sums[1])

    def _fit_full_batch(self, X: Any, Y: Any, iterations: int, validation: Any, on_epoch: Any) -> History:
        n = X.shape[0]
        started = time.perf_counter()

        def record_iteration(iteration: int, cost: float) -> None:
            nonlocal started
            self.epoch += 1
            seconds = time.perf_counter() - started
            accuracy = self._accuracy(X, Y)
            record = EpochRecord(self.epoch, cost, accuracy, seconds=seconds, samples_per_second=n / max(seconds, 1e-9))
            self._finish_epoch(record, n, validation, on_epoch)
            started = time.perf_counter()

        result = minimize(self.network, X, Y, self.method, iterations, self.l2, self.l1, callback=record_iteration,
                          comm=self.comm, row_weights=self._row_weights, penalty_n=self._penalty_n)  # fmt: skip
        self.last_minimize = result
        if not math.isfinite(result.cost):
            raise DivergenceError(f"{self.method} ended with cost {result.cost}; check the data for NaN/Inf")
        return self.history

    def _accuracy(self, X: Any, Y: Any) -> float:
        """Accuracy on (X, Y); with several ranks each scores its share of the rows and the counts are summed."""
        if self.comm.size == 1:
            return evaluate(self.network, X, Y)[1]
        n, network = X.shape[0], self.network
        start, stop = shard_bounds(n, self.comm.rank, self.comm.size)
        correct = round(evaluate(network, X[start:stop, ...], Y[start:stop, ...])[1] * (stop - start)) if stop > start else 0
        counts = network.xp.asarray([float(correct)], dtype=network.xp.float64, device=network.device)
        self.comm.allreduce_sum(counts)
        return float(counts[0]) / n

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        """Everything a resumed run needs besides the parameters: epoch, shuffling stream, history, optimizer."""
        return {
            "epoch": self.epoch,
            "rng_state": self.rng.bit_generator.state,
            "mask_rng_state": self.dropout.rng.bit_generator.state,
            "history": self.history.to_dict(),
            "optimizer": self.optimizer.state_dict() if self.optimizer is not None else None,
            "early_stopping": self.stopper.state_dict() if self.stopper is not None else None,
            "schedule_end": self.schedule.end,
        }

    def load_state_dict(self, saved: dict[str, Any]) -> None:
        """Continue from a ``state_dict``: the next epoch, shuffling and optimizer step are exactly as they were."""
        epoch = saved.get("epoch", 0)
        if not checks.is_whole(epoch, 0):
            raise BpnnValueError(f"the saved epoch counter must be a whole number >= 0, got {epoch!r}")
        if saved.get("rng_state") is not None:
            try:
                self.rng.bit_generator.state = saved["rng_state"]
            except (TypeError, ValueError, KeyError) as exc:
                raise BpnnValueError(f"the saved random-number state is not usable ({exc})") from None
        if saved.get("mask_rng_state") is not None:
            try:
                self.dropout.rng.bit_generator.state = saved["mask_rng_state"]
            except (TypeError, ValueError, KeyError) as exc:
                raise BpnnValueError(f"the saved dropout random-number state is not usable ({exc})") from None
        if self.optimizer is not None and saved.get("optimizer"):
            self.optimizer.load_state_dict(saved["optimizer"], self.network.params)
        self.schedule.load_end(saved.get("schedule_end"))
        self.history = History.from_dict(saved.get("history") or {})
        self.epoch = epoch
        stopping = saved.get("early_stopping")
        if stopping:
            patience = stopping.get("patience")
            if not checks.is_whole(patience, 1):
                raise BpnnValueError(f"the saved early-stopping patience must be a whole number >= 1, got {patience!r}")
            self.stopper = EarlyStopping(patience)
            self.stopper.load_state_dict(stopping, self.network)


__all__ = ["DEFAULT_BATCH_SIZE", "FULL_BATCH", "BatchProgress", "EarlyStopping", "EpochRecord", "History", "Trainer",
           "check_batch_size", "check_training_data", "evaluate"]
