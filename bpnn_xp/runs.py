"""Run folders: where a run is written by default, which folder holds a run already, claiming one, and the
per-epoch log (metrics.csv) each run folder keeps beside its model."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from . import checkpoint
from .config import TrainConfig
from .engine import History
from .errors import SettingError
from .files import LOCK_NAME, RunLock

METRICS_FILE = "metrics.csv"


OLD_RUN_PICTURES = ("learning_curves.png", "samples.png", "hidden_units.png", "confusion.png", "decision_boundary.png")


def holds_run(folder: Path) -> bool:
    """Whether ``folder`` already holds a saved run, or files a run would overwrite (model.npz, model.json, metrics.csv)."""
    return any((folder / name).exists() for name in (checkpoint.MODEL_FILE, "model.json", METRICS_FILE))


def same_folder(a: Path, b: Path) -> bool:
    """Whether two paths name one folder (resolving links and relative parts)."""
    try:
        return a.resolve() == b.resolve()
    except OSError:
        return False


def refuse_taken(folder: Path, overwrite: bool) -> None:
    """A SettingError when ``folder`` holds an earlier run (or files a run writes) and ``overwrite`` is not given."""
    if holds_run(folder) and not overwrite:
        raise SettingError(
            f"{str(folder)!r} already holds a run (or its model.json/metrics.csv); pass overwrite to replace it, "
            f"resume {str(folder)!r} to continue it, or choose another out", "overwrite", "resume", "out"
        )


def check_run_dir(folder: Path, overwrite: bool) -> None:
    """Refuse now what ``run_training`` would refuse: a folder another process is writing, or one holding a run.
    A check leaves nothing behind: folders it had to create for the lock are removed again."""
    created = _first_missing(folder)
    try:
        with RunLock(folder):
            refuse_taken(folder, overwrite)
    finally:
        if created is not None:
            _remove_empty(folder, created)


@contextlib.contextmanager
def locked_run_dir(folder: Path | str) -> Iterator[RunLock]:
    """The run folder locked (created if needed); when what runs inside fails and the folders this call created hold
    nothing but the lock, they are removed again, so a refused or failed run leaves no empty folder behind."""
    folder = Path(folder)
    created = _first_missing(folder)
    try:
        with RunLock(folder) as lock:
            yield lock
    except BaseException:
        if created is not None:
            _remove_empty(folder, created)
        raise


def _first_missing(folder: Path) -> Path | None:
    """The outermost of ``folder`` and its parents that does not exist yet (None when ``folder`` exists)."""
    missing = None
    for candidate in (folder, *folder.parents):
        if candidate.exists():
            break
        missing = candidate
    return missing


def _remove_empty(folder: Path, outermost: Path) -> None:
    """Remove ``folder``'s lock file and then each folder up to ``outermost`` while it is empty; best effort."""
    try:
        if [entry.name for entry in os.scandir(folder)] == [LOCK_NAME]:
            (folder / LOCK_NAME).unlink()
        for candidate in (folder, *folder.parents):
            candidate.rmdir()  # fails (and stops) at the first folder that holds anything
            if candidate == outermost:
                break
    except OSError:
        pass


def claim_run_dir(folder: Path, overwrite: bool) -> None:
    """Refuse a folder holding an earlier run (or files a run writes); with ``overwrite``, drop its pictures.

    The model and metrics.csv are replaced atomically at the first checkpoint, so an interrupted first
    epoch still leaves the old run whole."""
    refuse_taken(folder, overwrite)
    if holds_run(folder):
        for name in OLD_RUN_PICTURES:
            (folder / name).unlink(missing_ok=True)


def free_run_dir(base: str | Path) -> Path:
    """``base`` if it holds no run yet, else the first free ``base-2``, ``base-3``, ... (the default --out)."""
    base = Path(base)
    candidate, number = base, 1
    while holds_run(candidate):
        number += 1
        candidate = base.with_name(f"{base.name}-{number}")
    return candidate


def default_run_name(config: TrainConfig) -> str:
    """runs/DATASET, or runs/<data file stem> for --data."""
    if config.data is not None:
        stem = Path(Path(config.data).resolve().name).stem or "data"
        return f"runs/{stem}"
    return f"runs/{config.dataset}"



def metrics_csv(history: History) -> str:
    """The per-epoch log: one CSV row per epoch (empty validation cells when there is no validation split)."""
    columns = ("epoch", "cost", "accuracy", "val_cost", "val_accuracy", "seconds", "samples_per_second", "lr")
    lines = [",".join(columns)]
    for record in history.records:
        lines.append(",".join("" if getattr(record, c) is None else f"{getattr(record, c):.10g}" for c in columns))
    return "\n".join(lines) + "\n"
