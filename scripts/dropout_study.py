"""Accuracy study on mnist5k (issue 23 item 5): a recipe, its ablations, the pilots it was chosen from, the default run.

    python scripts/dropout_study.py [--only NAME,...] [--seeds 7] [--first-seed 0] [--cache DIR] [--write-results]

Every run is ``bpnn train --dataset mnist5k --seed S <flags>`` built from the launcher's own pieces (workflow's
prepare_data, build_network, augmented_inputs, the Trainer with the config's settings), without a run folder (no
checkpoint writes timed), on the split of seed 0 (stratified: 3,500 train, 500 validation, 1,000 held-out test; the
README's figures are for that split) unless a row says ``own_split`` (the split of its own seed, as the CLI does).
The recipe was chosen on validation accuracy (the ``pilot`` rows); the test accuracy is never used to choose.
``--cache DIR`` keeps one JSON file per (setting, seed) so runs can be split over processes and resumed;
``--write-results`` summarizes the cache into studies/mnist5k-dropout/results.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bpnn_xp import backends  # noqa: E402
from bpnn_xp.config import TrainConfig  # noqa: E402
from bpnn_xp.engine import Trainer, evaluate  # noqa: E402
from bpnn_xp.files import write_text  # noqa: E402
from bpnn_xp.settings import train_setting  # noqa: E402
from bpnn_xp.workflow import augmented_inputs, build_network, prepare_data, to_device  # noqa: E402

RESULTS = ROOT / "studies" / "mnist5k-dropout"
ROUND1 = {"hidden": [256, 256], "augment": "standard", "epochs": 100, "dropout": [0.3], "max_norm": 3.0}  # first guess
RECIPE = {"hidden": [512, 512], "augment": "standard", "epochs": 100, "lr_schedule": "cosine", "max_norm": 3.0}


@dataclass(frozen=True)
class Setting:
    """One row: the ``bpnn train`` settings that differ from its defaults (besides --dataset mnist5k)."""

    name: str
    group: str  # default, recipe, ablation, pilot, round 1, other splits
    changes: dict[str, Any] = field(default_factory=dict)
    own_split: bool = False  # True: the split of the run's own seed (exactly `bpnn train --seed S`), not seed 0's

    def flags(self) -> str:
        """The row as ``bpnn train`` options."""
        parts = []
        for key, value in self.changes.items():
            if isinstance(value, list):
                text = ",".join(f"{v:g}" if isinstance(v, float) else str(v) for v in value) or "none"
            else:
                text = "none" if value is None else f"{value:g}" if isinstance(value, float) else str(value)
            parts.append(f"{train_setting(key).option} {text}")
        return " ".join(parts) or "(defaults)"


def r1(key: str, value: Any) -> dict[str, Any]:
    return ROUND1 | {key: value}


SETTINGS = [
    Setting("default", "default"),
    # the recipe (chosen on validation in round 2) and what each part buys
    Setting("recipe", "recipe", RECIPE),
    Setting("no-cosine", "ablation", RECIPE | {"lr_schedule": "constant"}),
    Setting("no-augment", "ablation", RECIPE | {"augment": "none"}),
    Setting("no-max-norm", "ablation", RECIPE | {"max_norm": None}),
    Setting("with-dropout-0.1", "ablation", RECIPE | {"dropout": [0.1]}),
    # the recipe and round 1's validation choice on other splits (seeds 1-5, each its own 1,000 held-out digits)
    Setting("recipe@own-split", "other splits", RECIPE, own_split=True),
    Setting("r1:no-dropout@own-split", "other splits", r1("dropout", []), own_split=True),
    # round 2 pilots (seeds 100-103; 256,256 rows 100-105): the cosine learning-rate schedule, widths, light dropout
    Setting("pilot2:256x2-constant", "pilot", RECIPE | {"hidden": [256, 256], "lr_schedule": "constant"}),
    Setting("pilot2:256x2", "pilot", RECIPE | {"hidden": [256, 256]}),
    Setting("pilot2:512x2", "pilot", RECIPE),
    Setting("pilot2:512x2+d0.1", "pilot", RECIPE | {"dropout": [0.1]}),
    Setting("pilot2:512x2+d0.2", "pilot", RECIPE | {"dropout": [0.2]}),
    Setting("pilot2:1024x2", "pilot", RECIPE | {"hidden": [1024, 1024]}),
    # round 1 (constant learning rate; 7 seeds, pilots 100-101): dropout rates, input dropout, max-norm, widths
    Setting("r1:d0.3+mn3", "round 1", ROUND1),
    Setting("r1:no-dropout", "round 1", r1("dropout", [])),
    Setting("r1:no-augment", "round 1", r1("augment", "none")),
    Setting("r1:no-max-norm", "round 1", r1("max_norm", None)),
    Setting("r1:augment-only", "round 1", ROUND1 | {"dropout": [], "max_norm": None}),
    Setting("r1:d0.1+mn3", "round 1", r1("dropout", [0.1])),
    Setting("r1 pilot:d0.3+mn3", "pilot", ROUND1),
    Setting("r1 pilot:d0.5+mn3", "pilot", r1("dropout", [0.5])),
    Setting("r1 pilot:d0.3+in0.1+mn3", "pilot", ROUND1 | {"input_dropout": 0.1}),
    Setting("r1 pilot:no-dropout", "pilot", r1("dropout", [])),
    Setting("r1 pilot:d0.1+mn3", "pilot", r1("dropout", [0.1])),
    Setting("r1 pilot:d0.2+mn2", "pilot", ROUND1 | {"dropout": [0.2], "max_norm": 2.0}),
    Setting("r1 pilot:512x2+d0.5+in0.2+mn3", "pilot", ROUND1 | {"hidden": [512, 512], "dropout": [0.5], "input_dropout": 0.2}),
    Setting("r1 pilot:no-dropout-e150", "pilot", r1("dropout", []) | {"epochs": 150}),
    Setting("r1 pilot:512x2-no-dropout", "pilot", r1("dropout", []) | {"hidden": [512, 512]}),
    Setting("r1 pilot:512x2+d0.2+mn3", "pilot", ROUND1 | {"hidden": [512, 512], "dropout": [0.2]}),
    Setting("r1 pilot:1024x2-no-dropout", "pilot", r1("dropout", []) | {"hidden": [1024, 1024]}),
]


FINDINGS = [
    "- Recipe (chosen on validation in round 2): `--hidden 512,512 --augment standard --epochs 100 --lr-schedule cosine "
    "--max-norm 3`, **98.99% (98.9-99.1)** on the held-out 1,000 digits of seed 0's split, 7 seeds; validation 98.03%. "
    "On five other splits (`recipe@own-split`, each scored on its own held-out 1,000) it gives 98.52% (98.2-98.9): "
    "the 1,000 test digits of seed 0's split read about half a point easier than others (no test digit is in the "
    "training split; 1-nearest-neighbour accuracy is alike on its validation and test digits, 93.0% and 93.5%).",
    "- What each part buys (7 seeds, split of seed 0): the cosine rate 0.8 points (98.21% with a constant rate, "
    "97.7-98.9; paired by seed the cosine run is ahead on every seed), augmentation 3.1 points (95.87% without). "
    "Max-norm 3 never binds in the recipe (largest hidden column norm 2.26-2.61): without it every seed trains to the "
    "same numbers, so it is a guard, not a gain; with a constant rate it does bind (2.91-3.00).",
    "- Dropout does not help at this data size, in either round: with the recipe, dropout 0.1 gives 98.81% (98.6-99.2), "
    "validation 98.00% against 98.03%; in the round-2 pilots 0.1 and 0.2 were below no dropout on validation (98.10% and "
    "97.75% against 98.25%), and in round 1 (256,256, constant rate) every rate from 0.1 to 0.5, with or without input "
    "dropout, was below no dropout on validation. With augmentation the network underfits its distorted training "
    "images (train accuracy 94.6% in the recipe, 92.8% with dropout 0.1) and dropout takes capacity it needs.",
    "- Threads: the rows ran with one BLAS thread, and `bpnn train` with those flags and one thread reproduces them "
    "exactly (seed 0: 99.10%, as the recipe row's seed 0). With the default threads (2 here) OpenBLAS sums in another "
    "order and a 100-epoch float32 run ends elsewhere within the spread: seed 0 gave 98.80%, seeds 1 and 2 on their "
    "own splits 98.60% and 98.60% (one thread: 98.60% and 98.90%).",
    "- Width: 512,512 beat 256,256 and 1024,1024 on validation with the cosine rate (pilots 98.25% against 97.73% and "
    "98.15%); 1024,1024 takes about twice as long.",
    "- Round 1 (constant rate) had stopped at 97.96% (97.1-98.6) for its validation choice (`r1:no-dropout`, 256,256, "
    "max-norm 3); on the same five other splits that choice gives 97.58% (97.4-97.8), the recipe 98.52% (98.2-98.9): it is "
    "ahead by about 0.9 points on other held-out digits too.",
    "- The default run (`bpnn train --dataset mnist5k`, unchanged: 256 units, light augmentation, constant rate, "
    "40 epochs) gives 96.93% (96.2-97.4) over 7 seeds in about 25 s of training; dropout, max-norm and the schedule "
    "are off by default and cost nothing then (no masks drawn, no extra kernel per step).",
]
_DATA: dict[int, Any] = {}


def train_one(setting: Setting, seed: int) -> dict[str, Any]:
    """One ``bpnn train --dataset mnist5k --seed SEED <flags>`` run on the split of seed 0, without a run folder."""
    config = TrainConfig(dataset="mnist5k", seed=seed, **setting.changes).validate()
    split = seed if setting.own_split else 0
    if split not in _DATA:  # the split and standardization of --seed 0 (the held-out 1,000 of the README), or the run's
        _DATA[split] = prepare_data(TrainConfig(dataset="mnist5k", seed=split).validate())
    data, backend = _DATA[split], backends.resolve_device("cpu")
    n_classes = data.dataset.n_classes
    network = build_network(config, data.dataset.n_features, n_classes, backend)
    trainer = Trainer(network, optimizer=config.optimizer, lr=config.lr, batch_size=config.batch_size, l2=config.l2,
                      l1=config.l1, seed=seed, dropout=config.dropout, input_dropout=config.input_dropout,
                      max_norm=config.max_norm, lr_schedule=config.lr_schedule)  # fmt: skip
    X, Y = to_device(data.train, backend, config.dtype, n_classes)
    validation = to_device(data.val, backend, config.dtype, n_classes)
    started = time.perf_counter()
    trainer.fit(X, Y, epochs=config.epochs, validation=validation, epoch_inputs=augmented_inputs(config, data, backend))
    seconds = time.perf_counter() - started
    records = trainer.history.records
    return {"setting": setting.name, "seed": seed, "epochs": trainer.epoch,
            "test_accuracy": evaluate(network, *to_device(data.test, backend, config.dtype, n_classes))[1],
            "val_accuracy": records[-1].val_accuracy, "train_accuracy": records[-1].accuracy, "train_seconds": seconds,
            "val_curve": [r.val_accuracy for r in records],
            "max_column_norm": max(float(np.linalg.norm(backends.to_numpy(w), axis=0).max())
                                   for w in network.weights[:-1])}  # fmt: skip


def cache_path(cache: Path, setting: Setting, seed: int) -> Path:
    return cache / f"{setting.name.replace(':', '_').replace('+', '_').replace(' ', '-')}-s{seed}.json"


def cached_runs(setting: Setting, cache: Path) -> list[dict[str, Any]]:
    runs = [json.loads(p.read_text()) for p in cache.glob("*.json")]
    return sorted((r for r in runs if r["setting"] == setting.name), key=lambda r: r["seed"])


def stats(runs: list[dict[str, Any]], key: str) -> dict[str, float]:
    values = np.array([r[key] for r in runs]) * 100.0
    return {"mean": float(values.mean()), "min": float(values.min()), "max": float(values.max())}


def summarize(setting: Setting, runs: list[dict[str, Any]]) -> dict[str, Any]:
    return {"name": setting.name, "group": setting.group, "flags": setting.flags(), "seeds": [r["seed"] for r in runs],
            "epochs": runs[0]["epochs"], "val": stats(runs, "val_accuracy"), "test": stats(runs, "test_accuracy"),
            "train": stats(runs, "train_accuracy"),
            "train_seconds": float(np.median([r["train_seconds"] for r in runs])),
            "tests": [r["test_accuracy"] for r in runs], "vals": [r["val_accuracy"] for r in runs],
            "max_column_norm": max((r["max_column_norm"] for r in runs if "max_column_norm" in r), default=None)}  # fmt: skip


def percent(s: dict[str, float]) -> str:
    return f"{s['mean']:.2f} ({s['min']:.1f}-{s['max']:.1f})"


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    lines = ["# mnist5k: an accuracy recipe (dropout, max-norm, augmentation, cosine rate) and its ablations (issue 23)", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ", f"Machine: {meta['machine']}", "",
             "Each row is `bpnn train --dataset mnist5k --seed S` with the flags shown (the launcher's pieces, no run "
             "folder). All rows but the `@own-split` ones use the split of seed 0: 3,500 train, 500 validation, 1,000 "
             "held-out test digits; seeds then change the initial weights, shuffling, dropout masks and augmentation "
             "draws. `@own-split` rows use each seed's own split (exactly `bpnn train --seed S`), so each is scored on "
             "other held-out digits. Accuracy in % as mean (min-max) over the seeds, at the last epoch. Choices were made "
             "on validation accuracy among pilot rows (round 1: seeds 100-101; round 2: seeds 100-103, the 256,256 rows "
             "100-105); test accuracy was never used to choose. Round-2 pilots were trained by an on_epoch hook setting "
             "the same cosine rate before `--lr-schedule` existed; this script reproduces `pilot2:512x2` seed 100 from "
             "the finished option bit for bit (val 0.980, test 0.989, train 0.948571). Train s is the median training "
             "time per run on a 2-core machine shared with other jobs (noisy; compare rows run at the same time only). "
             "Rows were trained by `OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python scripts/dropout_study.py --cache "
             "DIR --only NAMES --seeds N [--first-seed K]`, two processes at a time, and summarized by the command above.",
             "",
             "| setting | flags | seeds | epochs | val % | test % | train % | train s |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for r in rows:
        lines.append(f"| {r['name']} | `{r['flags']}` | {len(r['seeds'])} | {r['epochs']} | {percent(r['val'])} | "
                     f"{percent(r['test'])} | {percent(r['train'])} | {r['train_seconds']:.0f} |")  # fmt: skip
    return "\n".join(lines + ["", "## Findings", "", *FINDINGS]) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", default="", help="comma-separated setting names (default: all)")
    parser.add_argument("--seeds", type=int, default=7)
    parser.add_argument("--first-seed", type=int, default=0)
    parser.add_argument("--cache", type=Path, default=None)
    parser.add_argument("--from-cache", action="store_true", help="summarize the cache, train nothing")
    parser.add_argument("--write-results", action="store_true")
    args = parser.parse_args(argv)
    chosen = [s for s in SETTINGS if not args.only or s.name in args.only.split(",")]
    rows = []
    for setting in chosen:
        runs = cached_runs(setting, args.cache) if args.from_cache else []
        for seed in [] if args.from_cache else range(args.first_seed, args.first_seed + args.seeds):
            path = cache_path(args.cache, setting, seed) if args.cache else None
            if path is not None and path.is_file():
                runs.append(json.loads(path.read_text()))
                continue
            runs.append(train_one(setting, seed))
            if path is not None:
                write_text(path, json.dumps(runs[-1]))
            print(f"{setting.name} seed {seed}: test {runs[-1]['test_accuracy']:.4f} val {runs[-1]['val_accuracy']:.4f} "
                  f"{runs[-1]['train_seconds']:.0f} s", flush=True)  # fmt: skip
        if runs:
            rows.append(summarize(setting, runs))
            print(f"{setting.name:24s} val {percent(rows[-1]['val'])} test {percent(rows[-1]['test'])}", flush=True)
    meta = {"command": "python scripts/dropout_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average "
                       f"{os.getloadavg()[0]:.1f} at the end), Python {platform.python_version()}"}  # fmt: skip
    if args.write_results:
        RESULTS.mkdir(parents=True, exist_ok=True)
        write_text(RESULTS / "results.json", json.dumps({"meta": meta, "rows": rows}, indent=1))
        write_text(RESULTS / "results.md", markdown(rows, meta))
    return {"meta": meta, "rows": rows}


if __name__ == "__main__":
    main()
