"""Accuracy study on mnist5k (issue 23 item 5): a dropout recipe, its ablations, and today's default run.

    python scripts/dropout_study.py [--only NAME,...] [--seeds 7] [--first-seed 0] [--cache DIR] [--write-results]

Every run is ``bpnn train --dataset mnist5k --seed S <flags>`` built from the launcher's own pieces (workflow's
prepare_data, build_network, augmented_inputs, the Trainer with the config's settings), without a run folder (no
checkpoint writes timed), on the split of seed 0 (stratified: 3,500 train, 500 validation, 1,000 held-out test; the
README's figures are for that split). Seeds change the initial weights, the shuffling, the dropout masks and the
augmentation draws, never the split. The recipe was chosen on validation accuracy (the
``pilot`` rows, seeds 100 and 101); the test accuracy is reported once per setting and never used to choose.
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
RECIPE = {"hidden": [256, 256], "augment": "standard", "epochs": 100, "dropout": [0.3], "max_norm": 3.0}


@dataclass(frozen=True)
class Setting:
    """One row: the ``bpnn train`` settings that differ from its defaults (besides --dataset mnist5k)."""

    name: str
    group: str  # default, recipe, ablation, pilot
    changes: dict[str, Any] = field(default_factory=dict)

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


def without(key: str, value: Any) -> dict[str, Any]:
    return RECIPE | {key: value}


SETTINGS = [
    Setting("default", "default"),
    Setting("recipe", "recipe", RECIPE),
    Setting("no-dropout", "ablation", without("dropout", [])),
    Setting("no-augment", "ablation", without("augment", "none")),
    Setting("no-max-norm", "ablation", without("max_norm", None)),
    Setting("augment-only", "ablation", RECIPE | {"dropout": [], "max_norm": None}),
    Setting("dropout-0.1", "variant", RECIPE | {"dropout": [0.1]}),
    Setting("pilot:d0.3+mn3", "pilot", RECIPE),
    Setting("pilot:d0.5+mn3", "pilot", RECIPE | {"dropout": [0.5]}),
    Setting("pilot:d0.3+in0.1+mn3", "pilot", RECIPE | {"input_dropout": 0.1}),
    Setting("pilot:no-dropout", "pilot", without("dropout", [])),
    Setting("pilot:d0.1+mn3", "pilot", RECIPE | {"dropout": [0.1]}),
    Setting("pilot:d0.2+mn2", "pilot", RECIPE | {"dropout": [0.2], "max_norm": 2.0}),
    Setting("pilot:512x2+d0.5+in0.2+mn3", "pilot", RECIPE | {"hidden": [512, 512], "dropout": [0.5], "input_dropout": 0.2}),
]


FINDINGS = [
    "- Chosen on validation (500 digits, one digit = 0.2 points): standard augmentation beats everything else by far "
    "(no-augment: 95.89% test); dropout at any rate tried (0.1 to 0.5, with or without input dropout, 256,256 or "
    "512,512) did not raise the validation mean above the run without dropout (pilot seeds 100-101: 97.70% without, "
    "97.40% at 0.1 and 0.2, 97.00% at 0.3, 96.80% at 0.5 and for 512,512 with 0.5 and input 0.2; 7 seeds: 97.40% "
    "without, 97.06% at 0.1 and at 0.3). With augmentation the network already underfits its distorted training images "
    "(train accuracy 91% without dropout, 85% at 0.3, 77% at 0.5), and dropout takes away more capacity.",
    "- The validation choice, `--hidden 256,256 --augment standard --epochs 100 --max-norm 3`, gives 97.96% "
    "(97.1-98.6) over 7 seeds: 0.04 points short of 98.0%. Dropout 0.1 (98.27%, 97.6-98.9) and augmentation alone "
    "(98.07%, 97.7-98.7) read higher on the held-out digits, but their validation means were lower (97.06%, 97.23% "
    "against 97.40%), so picking them would be tuning on the test digits; they are reported, not recommended. The "
    "augmented 256,256 rows differ by less than their seed ranges on both splits.",
    "- Max-norm 3 never binds with dropout 0.3: `no-max-norm` trains to the same numbers as `recipe`, seed by seed "
    "(identical validation curves). With dropout 0.1 it does: the largest hidden column norm ends at the cap "
    "(2.98-3.00, `max_column_norm` in results.json). `augment-only` (neither dropout nor max-norm) is the ablation of "
    "max-norm for the validation choice.",
    "- The default run (`bpnn train --dataset mnist5k`, unchanged: 256 units, light augmentation, 40 epochs) gives "
    "96.93% (96.2-97.4) over 7 seeds in about 25 s of training on this shared machine; dropout and max-norm are off by "
    "default and cost nothing then (no masks drawn, no extra kernel per step).",
]
_DATA: dict[str, Any] = {}


def train_one(setting: Setting, seed: int) -> dict[str, Any]:
    """One ``bpnn train --dataset mnist5k --seed SEED <flags>`` run on the split of seed 0, without a run folder."""
    config = TrainConfig(dataset="mnist5k", seed=seed, **setting.changes).validate()
    if "data" not in _DATA:  # the split and standardization of --seed 0, the held-out 1,000 of the README
        _DATA["data"] = prepare_data(TrainConfig(dataset="mnist5k", seed=0).validate())
    data, backend = _DATA["data"], backends.resolve_device("cpu")
    n_classes = data.dataset.n_classes
    network = build_network(config, data.dataset.n_features, n_classes, backend)
    trainer = Trainer(network, optimizer=config.optimizer, lr=config.lr, batch_size=config.batch_size, l2=config.l2,
                      l1=config.l1, seed=seed, dropout=config.dropout, input_dropout=config.input_dropout,
                      max_norm=config.max_norm)  # fmt: skip
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
    return cache / f"{setting.name.replace(':', '_').replace('+', '_')}-s{seed}.json"


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
    lines = ["# mnist5k: a dropout recipe and its ablations (issue 23 item 5)", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ", f"Machine: {meta['machine']}", "",
             "Each row is `bpnn train --dataset mnist5k --seed S` with the flags shown (the launcher's pieces, no run "
             "folder), on the split of seed 0: 3,500 train, 500 validation, 1,000 held-out test digits, the split fixed by "
             "seed 0. Accuracy in % as mean (min-max) over the seeds, at the last epoch. The recipe was chosen on "
             "validation accuracy among the pilot rows (seeds 100, 101); test accuracy was never used to choose. "
             "Train s is the median training time per run on a 2-core machine shared with other jobs (noisy; "
             "compare rows run at the same time only). Rows were trained by `OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 "
             "python scripts/dropout_study.py --cache DIR --only NAMES --seeds N [--first-seed K]`, two to three "
             "processes at a time, and summarized by the command above.", "",
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
