"""A sweep's folder and size: whose folder it is (one sweep's, refused to another sweep or a training run), how
many trials a grid makes (more than MAX_TRIALS need yes), and what its results.csv says of the outcome."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

from .errors import BpnnValueError

RESULTS_CSV = "results.csv"
MANIFEST = "sweep.json"
MAX_TRIALS = 1000  # a larger grid runs only with yes=True (--yes): a typo like lr=1e-5..1 in ten keys is a million runs


def grid_size(grid: dict[str, list[Any]]) -> int:
    """How many trials a grid makes (before duplicates are dropped)."""
    return math.prod(len(values) for values in grid.values())


def check_size(grid: dict[str, list[Any]], yes: bool) -> int:
    """The grid's trial count; over MAX_TRIALS it is refused unless ``yes`` (checked before any trial is built)."""
    size = grid_size(grid)
    if size > MAX_TRIALS and not yes:
        counts = " x ".join(f"{len(v)} {k}" for k, v in grid.items())
        raise BpnnValueError(f"the grid makes {size:,} trials ({counts}), over the limit of {MAX_TRIALS:,}; "
                             "pass --yes to run them all, or list fewer values")  # fmt: skip
    return size


def claim_sweep_folder(out: Path, grid: dict[str, list[Any]], fixed: dict[str, Any], overwrite: bool) -> bool:
    """Refuse a folder holding a training run or another sweep (unless ``overwrite``); True when it holds this sweep,
    whose finished trials may then be kept."""
    from .runs import holds_run

    if holds_run(out) and not overwrite:
        raise BpnnValueError(f"{out} holds a training run (model.npz); give the sweep its own --out")
    manifest = out / MANIFEST
    if not manifest.exists():
        if (out / RESULTS_CSV).exists() and not overwrite:
            raise BpnnValueError(f"{out} holds a results.csv of no known sweep; choose another --out or pass --overwrite "
                                 "to replace it")  # fmt: skip
        return False
    try:
        earlier = json.loads(manifest.read_text(encoding="utf-8"))
        same = list(earlier["grid"]) == list(grid) and earlier["fixed"] == json.loads(json.dumps(fixed))
        command = str(earlier.get("command", ""))
    except (OSError, UnicodeDecodeError, ValueError, KeyError, TypeError):
        same, command = False, "unreadable"
    if same:
        return True
    if not overwrite:
        raise BpnnValueError(f"{out} holds another sweep ({command}); choose another --out, or pass --overwrite to "
                             "replace its results")  # fmt: skip
    return False


def outcome(folder: str | Path) -> tuple[int, int]:
    """(trials that succeeded, trials that failed) as the sweep's results.csv records them."""
    path = Path(folder) / RESULTS_CSV
    try:
        records = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error):
        return 0, 0
    statuses = [record.get("status") for record in records]
    return statuses.count("ok"), statuses.count("failed")
