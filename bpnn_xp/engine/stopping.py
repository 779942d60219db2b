"""When to stop training: the policies ``Trainer.fit(stopping=...)`` asks after every minibatch epoch.

A policy's ``should_stop(record, network)`` sees each finished epoch; when it says stop, the trainer puts back
``best_params`` (when the policy kept some) and notes ``best_epoch`` in the history. ``EarlyStopping`` is the
launcher's rule (validation cost, patience, resumable from a checkpoint); ``ImprovementStopping`` is
MLPClassifier's ``tol``/``n_iter_no_change`` rule on the training loss or a validation score.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Protocol

from .. import backends, checks
from ..errors import BpnnValueError

if TYPE_CHECKING:
    from .network import Network
    from .training import EpochRecord


class StoppingPolicy(Protocol):
    """What ``Trainer.fit`` needs of a stopping rule."""

    best_params: Any  # a flat parameter vector to put back on stopping, or None to keep the last epoch's
    best_epoch: int | None

    def should_stop(self, record: EpochRecord, network: Network) -> bool: ...


class EarlyStopping:
    """Stops when the validation cost has not improved for ``patience`` epochs; keeps the best parameters.

    Its state (``state_dict``) is saved with a checkpoint, so a resumed run stops exactly where an
    uninterrupted one would.
    """

    def __init__(self, patience: int) -> None:
        self.patience = patience
        self.best_cost = math.inf
        self.best_epoch: int | None = None
        self.best_params: Any = None
        self.waited = 0

    def should_stop(self, record: EpochRecord, network: Network) -> bool:
        """Record this epoch's validation cost; True once patience has run out."""
        if record.val_cost is not None and record.val_cost < self.best_cost:
            self.best_cost, self.best_epoch, self.best_params = record.val_cost, record.epoch, network.flatten()
            self.waited = 0
            return False
        self.waited += 1
        return self.waited >= self.patience

    def state_dict(self) -> dict[str, Any]:
        """Counters as plain numbers and the best parameters as a flat device array (None before any improvement)."""
        return {"patience": self.patience, "best_cost": self.best_cost, "best_epoch": self.best_epoch, "waited": self.waited,
                "best_params": self.best_params}  # fmt: skip

    def load_state_dict(self, saved: dict[str, Any], network: Network) -> None:
        """Continue a saved stopper; a bad field is one BpnnValueError."""
        cost, epoch, waited = saved.get("best_cost"), saved.get("best_epoch"), saved.get("waited", 0)
        numbers = isinstance(cost, (int, float)) and isinstance(waited, int) and not isinstance(cost, bool | None)
        if not numbers or isinstance(waited, bool):
            raise BpnnValueError("the saved early-stopping state is corrupt (best_cost and waited must be numbers)")
        if epoch is not None and not checks.is_whole(epoch, 0):
            raise BpnnValueError(f"the saved early-stopping best epoch must be a whole number >= 0, got {epoch!r}")
        params = saved.get("best_params")
        if epoch is not None and (params is None or tuple(params.shape) != (network.n_params,)):
            raise BpnnValueError(f"the saved early-stopping parameters must be {network.n_params} numbers")
        self.best_cost, self.best_epoch, self.waited = float(cost), epoch, max(int(waited), 0)
        self.best_params = None if params is None else backends.from_host(backends.to_numpy(params), like=network.weights[0])


class ImprovementStopping:
    """MLPClassifier's rule: stop once the training loss (or, with ``score``, a validation score) has not improved
    by ``tol`` for more than ``patience`` epochs; with a score, the best-scoring parameters are kept."""

    def __init__(self, tol: float, patience: int, score: Callable[[Network], float] | None = None) -> None:
        self.tol, self.patience, self.score = tol, patience, score
        self.best_loss, self.best_score = math.inf, -math.inf
        self.scores: list[float] = []
        self.best_params: Any = None
        self.best_epoch: int | None = None
        self.waited = 0

    def should_stop(self, record: EpochRecord, network: Network) -> bool:
        """Record one epoch; True when training should stop."""
        if self.score is not None:
            score = self.score(network)
            self.scores.append(score)
            self.waited = self.waited + 1 if score < self.best_score + self.tol else 0
            if score > self.best_score:
                self.best_score, self.best_params, self.best_epoch = score, network.flatten(), record.epoch
        else:
            self.waited = self.waited + 1 if record.cost > self.best_loss - self.tol else 0
            self.best_loss = min(self.best_loss, record.cost)
        return self.waited > self.patience
