"""Sweeps: train one run per point of a grid of settings, in parallel worker processes, and tabulate and plot them.

``parse_grid`` reads ``key=v1,v2`` texts into lists of typed values (``hidden`` and ``augment`` separate values
with ';'), ``trials`` turns a grid and fixed settings into validated TrainConfigs (all checked before any work),
and ``run_sweep`` trains them with joblib (loky processes, one trial per task). The parent process alone writes
``results.csv`` (rewritten atomically after each trial, so an interrupted sweep resumes by skipping the trials
whose rows it holds), then ``results.md`` and the plots. Each trial's run folder is ``OUT/trials/<trial id>``.

Threads: with W workers on C usable cores each worker gets max(1, C // W) BLAS/OpenMP/numba threads (joblib's
``inner_max_num_threads`` sets the environment of the loky workers before they import NumPy, and threadpoolctl
limits BLAS again inside the trial), so W workers never start W x C threads.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import os
import re
import signal
import time
import warnings
from collections.abc import Callable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np

from . import checks
from .config import TrainConfig
from .errors import BpnnError, BpnnValueError, SettingError
from .settings import TRAIN_SETTINGS, train_setting
from .sweep_folder import MAX_TRIALS, RESULTS_CSV, check_size, claim_sweep_folder
from .sweep_report import (
    TRIALS_DIR,
    _read_rows,
    _write_csv,
    _write_manifest,
    format_value,
    write_report,
)

Progress = Callable[[int, int, dict[str, Any]], None]  # (finished, total, the row just finished)


def valid_keys() -> list[str]:
    """The settings a sweep may vary or fix: every train setting but out and download (settings.TRAIN_SETTINGS)."""
    return [s.name for s in TRAIN_SETTINGS if s.sweepable]


# ---------------------------------------------------------------------- parsing
def parse_value(key: str, text: str, option: str = "--grid") -> Any:
    """One value of setting ``key`` from text, parsed as the settings table says; a bad one is one error line."""
    try:
        return train_setting(key).from_text(text)
    except SettingError as exc:
        raise BpnnValueError(f"{option} {exc}") from None


def _split_key(text: str, option: str) -> tuple[str, str]:
    """('lr', '0.1,1') from 'lr=0.1,1', the key canonical ('batch-size' -> 'batch_size'), or one error line."""
    key, sep, values = text.partition("=")
    key = key.strip().lower().replace("-", "_")
    if not sep or not key:
        raise BpnnValueError(f"{option} takes key=values, like lr=0.01,0.1; got {text!r}")
    if key not in valid_keys():
        raise BpnnValueError(f"{option}: unknown setting {key!r}; choose from: {', '.join(valid_keys())}")
    return key, values


def parse_grid(texts: Sequence[str]) -> dict[str, list[Any]]:
    """{'lr': [0.01, 0.1], 'hidden': [[16], [64, 64]]} from ['lr=0.01,0.1', 'hidden=16;64,64'], in the order given."""
    grid: dict[str, list[Any]] = {}
    for text in texts:
        key, values = _split_key(text, "--grid")
        if key in grid:
            raise BpnnValueError(f"--grid {key} is given twice; list all its values in one --grid {key}=...")
        separator = ";" if train_setting(key).separator == ";" or ";" in values else ","
        parts = [v for v in values.split(separator)]
        if not values.strip() or any(not p.strip() for p in parts):
            raise BpnnValueError(f"--grid {key}: an empty value in {values!r}; separate values with '{separator}'")
        parsed = [parse_value(key, p) for p in parts]
        if len({json.dumps(v) for v in parsed}) != len(parsed):
            raise BpnnValueError(f"--grid {key}: a value is listed twice in {values!r}")
        grid[key] = parsed
    return grid


def parse_settings(texts: Sequence[str]) -> dict[str, Any]:
    """{'dataset': 'digits', 'epochs': 20} from ['dataset=digits', 'epochs=20'] (the fixed settings, --set)."""
    settings: dict[str, Any] = {}
    for text in texts:
        key, value = _split_key(text, "--set")
        if key in settings:
            raise BpnnValueError(f"--set {key} is given twice; keep one")
        settings[key] = parse_value(key, value, "--set")
    return settings


# ---------------------------------------------------------------------- trials
def trials(grid: dict[str, list[Any]], fixed: dict[str, Any] | None = None) -> list[TrainConfig]:
    """One validated TrainConfig per grid point (first key slowest), all checked before any work starts.

    Grid points that validate to the same settings (lbfgs ignores the batch size) are kept once."""
    fixed = dict(fixed or {})
    _check_keys(grid, fixed)
    configs, seen = [], set()
    for values in itertools.product(*grid.values()):
        point = dict(zip(grid, values))
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # scipy methods' notes about unused settings
                config = TrainConfig(**{**fixed, **point}).validate()
        except BpnnValueError as exc:
            raise BpnnValueError(f"trial {_readable(point)}: {exc}") from None
        identity = trial_id(config, list(grid))
        if identity not in seen:
            seen.add(identity)
            configs.append(config)
    return configs


def _check_keys(grid: dict[str, list[Any]], fixed: dict[str, Any]) -> None:
    allowed = set(valid_keys())
    for key in [*grid, *fixed]:
        if key not in allowed:
            raise BpnnValueError(f"unknown setting {key!r}; choose from: {', '.join(valid_keys())}")
    both = sorted(set(grid) & set(fixed))
    if both:
        raise BpnnValueError(f"{', '.join(both)} is both swept (--grid) and fixed (--set); keep one")
    if not grid or any(not values for values in grid.values()):
        raise BpnnValueError("a sweep needs at least one --grid key=values with one value or more")


def _readable(point: dict[str, Any]) -> str:
    return ", ".join(f"{k}={format_value(v)}" for k, v in point.items())


def trial_id(config: TrainConfig, swept: Sequence[str]) -> str:
    """A stable folder name: the swept settings readable, then a hash of every setting (so fixed ones count too)."""
    settings = config.to_dict()
    settings.pop("out", None)
    digest = hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()[:8]
    readable = "_".join(f"{k}={format_value(settings[k])}" for k in swept)
    readable = re.sub(r"[^A-Za-z0-9._=,+-]+", "-", readable.replace(",", "-"))[:80]
    return f"{readable}_{digest}"


# ---------------------------------------------------------------------- one trial (in a worker process)
def _run_trial(config: TrainConfig, folder: str, threads: int) -> dict[str, Any]:
    """Train one trial into ``folder``; a divergence or data problem is a failed row, not an exception."""
    from threadpoolctl import threadpool_limits

    from .workflow import run_training

    started = time.perf_counter()
    with threadpool_limits(limits=threads), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # notes and NumPy overflow warnings: the row says what happened
        try:
            result = run_training(replace(config, out=folder), overwrite=True)
        except (BpnnError, FloatingPointError, MemoryError) as exc:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            return {"status": "failed", "seconds": time.perf_counter() - started, "message": message}
    metrics = result.metrics
    return {
        "status": "ok", "test_accuracy": metrics.get("test_accuracy"), "val_accuracy": metrics.get("val_accuracy"),
        "train_accuracy": metrics.get("train_accuracy"), "train_cost": metrics.get("train_cost"),
        "epochs": metrics.get("epochs"), "seconds": time.perf_counter() - started,
        "small_weights": _small_weights(result.network), "message": "",
    }  # fmt: skip


def _small_weights(network: Any) -> float:
    """The share of weights (not biases) with |w| < 1e-3: how sparse a penalty (L1) made the network."""
    from .backends import to_numpy

    weights = [np.abs(to_numpy(w)).ravel() for w in network.weights]
    every = np.concatenate(weights) if weights else np.zeros(0)
    return float(np.mean(every < 1e-3)) if every.size else 0.0


# ---------------------------------------------------------------------- the sweep
def run_sweep(
    grid: dict[str, list[Any]],
    fixed: dict[str, Any] | None,
    out_dir: str | Path,
    workers: int | None = None,
    resume: bool = True,
    progress: Progress | None = None,
    overwrite: bool = False,
    yes: bool = False,
    announce: Callable[[int], None] | None = None,
) -> Path:
    """Train every trial not yet done in ``out_dir/results.csv`` (failed trials are tried again; all of them with
    ``resume=False``), ``workers`` at a time, then write results.md and the plots; returns ``out_dir``.

    The folder is this sweep's: a second process running into it is refused (a lock), and so is a different sweep
    (other swept keys or fixed settings) or a training run already there, unless ``overwrite``. A grid of more than
    MAX_TRIALS trials needs ``yes``. ``announce(trials)`` is called once the folder is this sweep's and the trials are
    checked (before they are built when there are over MAX_TRIALS). Failed trials are rows with their message."""
    if workers is not None:
        checks.whole("workers", workers, 1)
    size = check_size(grid, yes)
    out = Path(out_dir)
    from .runs import locked_run_dir

    with locked_run_dir(out):
        resume = claim_sweep_folder(out, grid, fixed or {}, overwrite) and resume
        if announce is not None and size > MAX_TRIALS:  # building a grid this large takes a while: said before
            announce(size)
        configs = trials(grid, fixed)
        if announce is not None and size <= MAX_TRIALS:  # said once every trial is known to be valid
            announce(size)
        swept = list(grid)
        ids = [trial_id(c, swept) for c in configs]
        rows = _read_rows(out / RESULTS_CSV, set(ids)) if resume else {}
        _write_manifest(out, grid, fixed or {}, ids)
        _write_csv(out, swept, configs, ids, rows)
        todo = [(c, i) for c, i in zip(configs, ids) if i not in rows]
        if progress is not None:
            progress(len(rows), len(ids), {})
        for identity, row in _train_all(todo, out, workers):
            rows[identity] = row
            _write_csv(out, swept, configs, ids, rows)
            if progress is not None:
                progress(len(rows), len(ids), {"trial": identity, **row})
        write_report(out, grid, configs, ids, rows, fixed or {})
    return out


def _train_all(todo: list[tuple[TrainConfig, str]], out: Path, workers: int | None) -> Iterator[tuple[str, dict[str, Any]]]:
    """(trial id, row) pairs as trials finish, in whatever order; loky processes unless one worker is asked for."""
    if not todo:
        return
    cores = _usable_cores()
    count = max(1, min(workers or cores, len(todo)))
    threads = max(1, cores // count)
    if count == 1:  # in this process: no start-up cost, and Ctrl-C stops at once
        for config, identity in todo:
            yield identity, _run_trial(config, str(out / TRIALS_DIR / identity), threads)
        return
    from joblib import Parallel, delayed, parallel_config

    with parallel_config(backend="loky", inner_max_num_threads=threads):
        tasks = (delayed(_tagged)(config, str(out / TRIALS_DIR / identity), threads, identity) for config, identity in todo)
        try:
            yield from Parallel(n_jobs=count, return_as="generator_unordered")(tasks)
        except BaseException:  # Ctrl-C, SIGTERM, an error: the workers are stopped now, not after their trials
            _stop_workers()
            raise


def _stop_workers() -> None:
    """Kill the loky worker processes at once (their trials are unfinished; each run folder keeps its last epoch)."""
    from joblib.externals.loky import reusable_executor

    executor = getattr(reusable_executor, "_executor", None)
    if executor is None:
        return
    try:
        executor.shutdown(wait=True, kill_workers=True)
    except Exception:  # noqa: BLE001 - already stopping; the interrupt is what the user must see
        pass


def _tagged(config: TrainConfig, folder: str, threads: int, identity: str) -> tuple[str, dict[str, Any]]:
    """One trial in a worker, its row tagged with its id (results arrive in any order). Ctrl-C in a terminal reaches
    every process of the group: the worker leaves it to the parent, which stops the workers (no tracebacks)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return identity, _run_trial(config, folder, threads)


def _usable_cores() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------- results.csv
