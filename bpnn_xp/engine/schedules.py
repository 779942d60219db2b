"""Learning-rate schedules: the step size of each minibatch epoch, from the base rate and where the epoch is in the plan.

``constant`` keeps the base rate. ``cosine`` (Loshchilov & Hutter 2017, without restarts) sets epoch t of a plan of
T epochs (t = 0 .. T-1 epochs done before it) to ``lr * (1 + cos(pi t / T)) / 2``: the full rate first, then a
smooth fall towards 0, so the last epochs take small steps and the final weights are not the noisy end of a
fixed-rate walk. The plan ends at the last epoch of the longest ``fit`` asked for so far (epoch counter + epochs):
an interrupted run resumed to its planned end takes the same steps as one that never stopped, and a run continued
beyond its plan stretches the curve to the new end.
"""

from __future__ import annotations

import math
from typing import Any

from .. import checks
from ..errors import BpnnValueError, SettingError
from .optimizers import is_full_batch_method

LR_SCHEDULES = ("constant", "cosine")


def check_lr_schedule(name: str, value: Any) -> str:
    """``value`` as a schedule's canonical name; anything else is a SettingError naming the choices."""
    text = value.strip().lower() if isinstance(value, str) else value
    if text not in LR_SCHEDULES:
        raise SettingError(f"{name} must be one of {', '.join(LR_SCHEDULES)}, got {value!r}", name)
    return text


def check_schedule_fits(name: str, schedule: str, method: str) -> None:
    """A schedule other than constant needs a minibatch optimizer: the scipy methods choose their own step lengths."""
    if schedule != "constant" and is_full_batch_method(method):
        raise SettingError(f"{name} sets each epoch's learning rate, but {method} chooses its own step lengths; use a "
                           f"minibatch optimizer (adam, sgd...) or {name} constant", name)  # fmt: skip


def scheduled_lr(schedule: str, base_lr: float, epoch: int, end: int) -> float:
    """The rate of the epoch after ``epoch`` done ones, in a plan that ends after epoch ``end``."""
    if schedule == "constant" or end <= 0:
        return base_lr
    return base_lr * 0.5 * (1.0 + math.cos(math.pi * min(epoch, end - 1) / end))


class LrSchedule:
    """A trainer's schedule: its name, the base rate and the plan's end (kept in checkpoints for an exact resume)."""

    def __init__(self, name: str = "constant", base_lr: float | None = None) -> None:
        self.name = check_lr_schedule("lr_schedule", name)
        self.base_lr = base_lr
        self.end = 0  # the epoch the plan ends at; 0 until a fit asks for epochs

    @property
    def active(self) -> bool:
        return self.name != "constant"

    def plan(self, epoch: int, epochs: int) -> None:
        """A fit of ``epochs`` more epochs from ``epoch``: the plan reaches at least its last one."""
        self.end = max(self.end, epoch + epochs)

    def lr_for(self, epoch: int) -> float | None:
        """The rate of the epoch after ``epoch`` done ones (None: no base rate, a full-batch method)."""
        return None if self.base_lr is None else scheduled_lr(self.name, self.base_lr, epoch, self.end)

    def load_end(self, end: Any) -> None:
        """The plan's end from a checkpoint (a whole number >= 0; absent in older files: 0)."""
        end = 0 if end is None else end
        if not checks.is_whole(end, 0):
            raise BpnnValueError(f"the saved schedule end must be a whole number >= 0, got {end!r}")
        self.end = int(end)
