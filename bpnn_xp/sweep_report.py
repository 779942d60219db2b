"""A sweep's tables and plots: results.csv (rewritten atomically after each trial), the manifest, results.md,
accuracy-against-setting plots and overlaid learning curves, read back when an interrupted sweep resumes."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

from .config import TrainConfig
from .errors import BpnnError, DataFileError
from .files import write_text
from .settings import train_setting
from .sweep_folder import MANIFEST, RESULTS_CSV

TRIALS_DIR = "trials"
RESULTS_MD = "results.md"
METRIC_COLUMNS = ("status", "test_accuracy", "val_accuracy", "train_accuracy", "train_cost", "epochs", "seconds",
                  "small_weights", "message")  # fmt: skip


def format_value(value: Any) -> str:
    """A setting as the table and the trial ids show it: hidden [16, 16] -> 16,16 ([] -> none); lr None -> default."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "none"
    if value is None:
        return "default"
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _read_rows(path: Path, wanted: set[str]) -> dict[str, dict[str, Any]]:
    """The finished trials' rows already in results.csv (those of this sweep's trials), by trial id."""
    if not path.exists():
        return {}
    try:
        records = list(csv.DictReader(io.StringIO(path.read_text(encoding="utf-8"))))
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DataFileError(f"{path} cannot be read ({exc}); delete it or pass --no-resume to start the sweep afresh") from None
    rows = {}
    for record in records:  # failed trials are tried again (their cause may have been fixed since)
        if record.get("trial") in wanted and record.get("status") == "ok":
            rows[record["trial"]] = {k: _number(record.get(k, "")) for k in METRIC_COLUMNS}
    return rows


def _number(text: Any) -> Any:
    if text is None or text == "":
        return None
    try:
        return float(text) if any(c in text for c in ".eEn") else int(text)
    except (TypeError, ValueError):
        return text


def _write_csv(out: Path, swept: list[str], configs: list[TrainConfig], ids: list[str], rows: dict[str, Any]) -> Path:
    """results.csv with the finished trials in grid order, written atomically."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["trial", *swept, *METRIC_COLUMNS])
    for config, identity in zip(configs, ids):
        if identity in rows:
            row = rows[identity]
            writer.writerow([identity, *(format_value(getattr(config, k)) for k in swept),
                             *(_cell(row.get(k)) for k in METRIC_COLUMNS)])  # fmt: skip
    return write_text(out / RESULTS_CSV, buffer.getvalue())


def _cell(value: Any) -> str:
    if value is None:
        return ""
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def _write_manifest(out: Path, grid: dict[str, list[Any]], fixed: dict[str, Any], ids: list[str]) -> None:
    manifest = {"grid": grid, "fixed": fixed, "trials": ids, "command": command_text(grid, fixed, out)}
    write_text(out / MANIFEST, json.dumps(manifest, indent=2) + "\n")


def command_text(grid: dict[str, list[Any]], fixed: dict[str, Any], out: Path | str) -> str:
    """The bpnn sweep command that runs this sweep."""
    parts = ["bpnn sweep"]
    for key, values in grid.items():
        separator = train_setting(key).separator
        parts.append(f'--grid "{key}={separator.join(format_value(v) for v in values)}"')
    parts += [f"--set {k}={format_value(v)}" for k, v in fixed.items()]
    return " ".join([*parts, f"--out {out}"])


# ---------------------------------------------------------------------- results.md and plots
def write_report(out: Path, grid: dict[str, list[Any]], configs: list[TrainConfig], ids: list[str], rows: dict[str, Any],
                 fixed: dict[str, Any]) -> list[Path]:  # fmt: skip
    """results.md and the plots; rows in grid order (the first key slowest, values as given); returns the files written."""
    swept = list(grid)
    done = [(c, i, rows[i]) for c, i in zip(configs, ids) if i in rows]
    written = [write_text(out / RESULTS_MD, results_markdown(grid, done, fixed, out))]
    if done:
        plotted = [k for k in swept if k != "seed"] or swept  # seeds are pooled in each point (mean, min-max bar)
        written += [accuracy_plot(out, swept, key, done) for key in plotted]
        written.append(learning_curves_plot(out, swept, done))
    return written


def _percent(value: Any) -> str:
    return "" if value is None or value == "" else f"{100 * float(value):.1f}%"


def results_markdown(grid: dict[str, list[Any]], done: list[tuple[TrainConfig, str, dict[str, Any]]], fixed: dict[str, Any],
                     out: Path) -> str:  # fmt: skip
    """A Markdown table of the finished trials: swept settings, accuracies, cost, epochs, seconds, outcome."""
    swept = list(grid)
    lines = [f"# Sweep: {', '.join(swept)}", "", f"Command: `{command_text(grid, fixed, out)}`", "",
             "| " + " | ".join([*swept, "test acc", "val acc", "train acc", "train cost", "epochs", "seconds", "small weights",
                               "outcome"]) + " |",
             "|" + "---|" * len(swept) + "---:|" * 7 + "---|"]  # fmt: skip
    for config, _, row in done:
        cost = row.get("train_cost")
        cells = [*(format_value(getattr(config, k)) for k in swept), _percent(row.get("test_accuracy")),
                 _percent(row.get("val_accuracy")), _percent(row.get("train_accuracy")),
                 "" if cost is None else f"{float(cost):.4g}", _cell(row.get("epochs")),
                 "" if row.get("seconds") is None else f"{float(row['seconds']):.1f}", _percent(row.get("small_weights")),
                 "ok" if row.get("status") == "ok" else f"failed: {row.get('message', '')}".replace("|", "/")]  # fmt: skip
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def accuracy_plot(out: Path, swept: list[str], key: str, done: list[tuple[TrainConfig, str, dict[str, Any]]]) -> Path:
    """Test accuracy against one swept setting, one line per combination of the others (seeds pooled)."""
    from . import plots

    others = [k for k in swept if k not in (key, "seed")]
    points = [plots.SweepPoint(getattr(config, key), format_value(getattr(config, key)),
                               ", ".join(f"{k}={format_value(getattr(config, k))}" for k in others) or "test accuracy",
                               float(row["test_accuracy"]) if row.get("status") == "ok" else None)
              for config, _, row in done]  # fmt: skip
    return plots.sweep_accuracy(points, key, bool(others), out / f"accuracy_vs_{key}.png")


def learning_curves_plot(out: Path, swept: list[str], done: list[tuple[TrainConfig, str, dict[str, Any]]]) -> Path:
    """Training cost and validation (else training) accuracy per epoch of every finished trial, overlaid."""
    from . import plots

    curves = []
    for config, identity, row in done:
        history = _history(out / TRIALS_DIR / identity)
        if history:
            label = ", ".join(f"{k}={format_value(getattr(config, k))}" for k in swept)
            curves.append((label, history, row.get("status") == "ok"))
    return plots.sweep_learning_curves(curves, out / "learning_curves.png")


def _history(folder: Path) -> dict[str, list[Any]] | None:
    """A trial's per-epoch history from its saved model, or None where there is none (failed before an epoch)."""
    from .models import open_model

    try:
        columns = open_model(folder).history.as_columns()
    except BpnnError:
        return None
    return columns if columns.get("epoch") else None
