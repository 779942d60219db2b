"""The launcher's commands on a saved run: evaluate, predict, plot, info, export, serve, and the course's weight files.

They are plain functions here; cli.py registers each one (``COMMANDS``) with its error handling.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from .cli_common import DATA_FORMS, DeviceOpt, LabelColumnOpt, Opt, OverwriteOpt, console, out, warnings_as_notes
from .errors import BpnnValueError

EvalDataOpt = Annotated[str | None, Opt("--data", help=f"Score other data instead of a split: {DATA_FORMS}.")]
DataDirMovedOpt = Annotated[str | None, Opt(help="Where the model's MNIST/.mat training data lives now, if it moved.")]


def _check_data_dir(saved: Any, data_dir: str | None, data: str | None) -> None:
    """--data-dir only relocates mnist/mat training data; anything else is a mistake worth one line."""
    if data_dir is None:
        return
    if data is not None:
        raise BpnnValueError("--data-dir relocates the model's own training data; with --data PATH it is not used, drop it")
    if saved.config.dataset not in ("mnist", "mat"):
        raise BpnnValueError(
            f"--data-dir is only read for models trained on mnist or mat; this one was trained on {saved.config.dataset}. "
            "To score other data give --data PATH"
        )


SplitOpt = Annotated[str | None, Opt(help="Which split of the training data to score: test, val or train [default: test]; "
                                           "not with --data, whose whole file is scored.")]


def _chosen_split(split: str | None, data: str | None) -> str:
    """The split to score: --split with --data would be ignored, so it is refused instead."""
    if split is not None and data is not None:
        raise BpnnValueError(f"--split {split} picks a split of the model's own data, but --data {data} is scored whole; "
                             "drop --split (or --data to score a split)")  # fmt: skip
    return split or "test"


def evaluate(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    split: SplitOpt = None,
    data: EvalDataOpt = None,
    label_column: LabelColumnOpt = None,
    device: DeviceOpt = "cpu",
    data_dir: DataDirMovedOpt = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix on a split of the model's data, or on --data."""
    from .models import evaluate_model, open_model
    from .reports import format_confusion

    split = _chosen_split(split, data)
    saved = open_model(model, device)
    _check_data_dir(saved, data_dir, data)
    summary = evaluate_model(saved, split, data_dir, data, label_column)
    if json_output:
        out.print_json(json.dumps({k: v for k, v in summary.items() if k != "text"}))
        return
    where = data if data is not None else split
    out.print(f"{where} accuracy: {summary['accuracy']:.2%} on {summary['samples']} samples", highlight=False)
    out.print(summary["text"], highlight=False)
    out.print(
        "confusion matrix (rows: true class, columns: predicted):\n" + format_confusion(summary["confusion_matrix"]),
        highlight=False,
    )


def predict(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    images: Annotated[list[Path], typer.Argument(help=".npy arrays, image files (PNG, JPEG...), folders or quoted globs.")],
    top_k: Annotated[int, typer.Option(help="Show the k most likely classes with their probabilities.")] = 1,
    show: Annotated[Path | None, typer.Option(help="Write a PNG sheet of what the network saw (after normalising).")] = None,
    normalize: Annotated[bool, typer.Option(help="Redraw images like the training digits: ink polarity, crop, "
                                                  "fit and centre (--no-normalize only resizes).")] = True,  # fmt: skip
    device: DeviceOpt = "cpu",
    json_output: Annotated[bool, typer.Option("--json", help="Predictions as JSON, every class's probability included.")] = False,
) -> None:
    """Class and probability for each input; drawings are normalised the way the training digits were made."""
    from .models import open_model, predict_files

    with warnings_as_notes():
        rows = predict_files(open_model(model, device), images, top_k, normalize, show)
    if json_output:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        if top_k == 1:
            out.print(f"{row['input']}: {row['class']} (p={row['probability']:.3f})", highlight=False)
        else:
            ranked = ", ".join(f"{r['class']} ({r['probability']:.3f})" for r in row["top_k"])
            out.print(f"{row['input']}: {ranked}", highlight=False)
    if show is not None:
        console.print(f"what the network saw: {escape(str(show))}", highlight=False)


def plot(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Where to write the PNGs [default: the model's directory].")
    ] = None,
    split: SplitOpt = None,
    data: EvalDataOpt = None,
    label_column: LabelColumnOpt = None,
    data_dir: DataDirMovedOpt = None,
) -> None:
    """Learning curves, a stratified sample of predictions, hidden units as images, the confusion matrix,
    and decision boundaries for 2-D data sets."""
    from .models import make_plots, open_model

    split = _chosen_split(split, data)
    saved = open_model(model)
    _check_data_dir(saved, data_dir, data)
    for path in make_plots(saved, Path(out_dir) if out_dir else saved.run_dir, split, data_dir, data, label_column):
        out.print(str(path), highlight=False)


def info(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    json_output: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """What a saved run is: architecture, parameter count, data, settings and metrics."""
    from .models import open_model, run_info

    details = run_info(open_model(model))
    if json_output:
        out.print_json(json.dumps(details, default=str))
        return
    arch, data, training, metrics = details["architecture"], details["data"], details["training"], details["metrics"]
    layers = " -> ".join(str(n) for n in arch["sizes"])
    out.print(f"model: {details['model']}")
    out.print(f"network: {layers} ({', '.join(arch['activations']) or 'no hidden layer'}; {arch['cost']}; {arch['dtype']}), "
              f"{arch['parameters']:,} parameters")  # fmt: skip
    shape = "x".join(str(n) for n in data["image_shape"]) + " images" if data.get("image_shape") else "features"
    names = ", ".join(str(n) for n in data["class_names"]) if data.get("class_names") else f"0..{data.get('n_classes', 0) - 1}"
    out.print(f"data: {data.get('source') or data.get('name')} ({shape}, pixels / {data['pixel_scale']:g}; classes {names})")
    out.print("training: " + ", ".join(f"{k} {v}" for k, v in training.items() if v is not None))
    shown = {k: v for k, v in metrics.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}
    out.print("metrics: " + (", ".join(f"{k} {v:.4g}" if isinstance(v, float) else f"{k} {v}" for k, v in shown.items())
                             or "none yet (the run has not finished)"))  # fmt: skip


def import_course(
    weights: Annotated[Path, typer.Argument(help="The course's ex4weights.mat (Theta1, Theta2).")],
    out_dir: Annotated[str, typer.Option("--out", help="Run folder to create.")],
    overwrite: OverwriteOpt = False,
) -> None:
    """Make a run from the course's Theta1/Theta2, predicting exactly what the course's predict.m predicts."""
    from .models import import_course_weights

    out.print(f"run written to {import_course_weights(weights, out_dir, overwrite)}")


def export_course(
    model: Annotated[str, typer.Argument(help="A run directory (a 400-h-10 sigmoid network) or its model.npz.")],
    out_file: Annotated[Path, typer.Option("--out", help="The .mat file to write (Theta1, Theta2).")],
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a model's weights in the course's layout (Theta1, Theta2; pixels column-major, label 10 for digit 0)."""
    from .models import export_course_weights

    out.print(f"course weights written to {export_course_weights(model, out_file, overwrite)}")


def export(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz (read only; nothing is written there).")],
    out_file: Annotated[Path, typer.Option("--out", help="The file to write (model.onnx, weights.mat).")],
    format: Annotated[str, typer.Option(help="onnx: one ONNX graph taking raw pixels as predict does (needs the onnx "
                                             "extra); course: the course's Theta1/Theta2 .mat.")] = "onnx",  # fmt: skip
    overwrite: Annotated[bool, typer.Option(help="Replace an existing file.")] = False,
) -> None:
    """Write a saved model in another format: ONNX (for onnxruntime and friends) or the course's .mat layout."""
    from .export import export_model

    out.print(f"{format} model written to {export_model(model, out_file, format, overwrite)}")


def serve(
    model: Annotated[str, typer.Argument(help="A run directory of an image model, or its model.npz (read only).")],
    host: Annotated[str, typer.Option(help="Address to listen on. 127.0.0.1 (default): this computer only; 0.0.0.0: everyone "
                                           "who can reach this machine can use the page and POST /predict.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port for the page and POST /predict (0: any free port).")] = 8000,
) -> None:
    """A local web page to draw digits and watch the network read them, plus POST /predict (needs the serve extra)."""
    from .serve import run_server

    run_server(model, host, port, announce=lambda url: out.print(f"bpnn serve: open {url} (Ctrl-C to stop)"))


COMMANDS = {"evaluate": evaluate, "predict": predict, "plot": plot, "info": info, "import-course": import_course,
            "export-course": export_course, "export": export, "serve": serve}  # fmt: skip
