"""What a training run reports: one record per epoch, the history of a fit, and the progress a display sees."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


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
    lr: float | None = None  # the learning rate the epoch's steps used (None: a full-batch method's own steps)


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
