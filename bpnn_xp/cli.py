"""The ``bpnn`` launcher: parse strings, call the workflow, print. Nothing else lives here.

Every user mistake ends in one line on stderr naming the problem and the fix, with exit code 2;
training that diverges exits 1; Ctrl-C exits 130 after pointing at the last checkpoint.
"""

from __future__ import annotations

import functools
import json
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from . import backends
from .config import CHOICES, TrainConfig, check_batch_size_option
from .errors import BpnnError, BpnnValueError, DivergenceError

app = typer.Typer(
    help="Train and use backpropagation networks for digit recognition on the CPU (NumPy) or a GPU (CuPy).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)  # messages: dynamic text goes through escape()
PROGRESS_EVERY = 10  # batches between progress-bar updates (each one reads the cost from the device)
out = Console(soft_wrap=True, markup=False)  # results: file names and reports print verbatim
DEFAULTS = TrainConfig()


def error(message: str) -> None:
    """One line on stderr, dynamic text escaped."""
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into one line and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DivergenceError as exc:
            error(str(exc))
            raise typer.Exit(1) from None
        except BpnnError as exc:
            error(str(exc))
            raise typer.Exit(2) from None
        except MemoryError:
            error("out of memory; try a smaller --batch-size or fewer hidden units")
            raise typer.Exit(2) from None
        except Exception as exc:  # out of GPU memory surfaces as the backend's own type
            if "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower():
                error(f"the device ran out of memory ({type(exc).__name__}); try a smaller --batch-size")
                raise typer.Exit(2) from None
            raise

    return wrapper


def parse_hidden(text: str, option: str = "--hidden") -> list[int]:
    """'256,128' -> [256, 128]; 'none' -> no hidden layer (a softmax/logistic regression)."""
    if text.strip().lower() == "none":
        return []
    sizes = []
    for part in text.split(","):
        part = part.strip()
        if not (part.isascii() and part.isdigit()) or int(part) <= 0:
            raise BpnnValueError(f"{option} takes positive integers separated by commas, like 256,128 (or none); got {text!r}")
        sizes.append(int(part))
    return sizes


def parse_batch_size(text: str) -> int | str:
    """'full' -> full batch, else a positive integer."""
    text = text.strip()
    return check_batch_size_option(int(text) if text.isascii() and text.isdigit() else text)


def _choices(kind: str) -> str:
    return ", ".join(CHOICES[kind])


class TrainingDisplay:
    """Progress bar over all epochs of this run, and one line per finished epoch."""

    def __init__(self, epochs: int, first_epoch: int, quiet: bool) -> None:
        self.epochs, self.first_epoch, self.quiet = epochs, first_epoch, quiet
        self.progress = Progress(
            TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("cost {task.fields[cost]:.4f}  acc {task.fields[acc]:.2%}  {task.fields[rate]:,.0f} samples/s"),
            TimeElapsedColumn(), console=console, disable=quiet, transient=False,
        )  # fmt: skip
        self.task: Any = None

    def on_batch(self, p: Any) -> None:
        if self.task is None:
            self.task = self.progress.add_task("train", total=p.n_batches * self.epochs, epoch="", cost=0.0, acc=0.0, rate=0.0)
        step = (p.epoch - 1 - self.first_epoch) * p.n_batches + p.batch
        self.progress.update(
            self.task, completed=step, epoch=f"{p.epoch}", cost=p.cost, acc=p.accuracy, rate=p.samples_per_second
        )

    def on_epoch(self, r: Any) -> None:
        if self.quiet:
            return
        val = f"  val cost {r.val_cost:.4f}  val acc {r.val_accuracy:.2%}" if r.val_cost is not None else ""
        self.progress.console.print(
            f"epoch {r.epoch:>3}: cost {r.cost:.4f}  acc {r.accuracy:.2%}{val}  ({r.samples_per_second:,.0f} samples/s)",
            highlight=False,
        )


@app.command()
@friendly_errors
def train(
    dataset: Annotated[str, typer.Option(help=f"Data set: {_choices('dataset')}.")] = DEFAULTS.dataset,
    data_dir: Annotated[str | None, typer.Option(help="Directory of the MNIST IDX files, or the course .mat file.")] = None,
    download: Annotated[bool, typer.Option(help="Fetch MNIST into --data-dir (SHA-256 checked).")] = False,
    device: Annotated[str, typer.Option(help=f"Where to train: {backends.DEVICE_HELP}.")] = DEFAULTS.device,
    batch_size: Annotated[str, typer.Option(help="Samples per step, or 'full' for full batch.")] = str(DEFAULTS.batch_size),
    hidden: Annotated[
        str, typer.Option(help="Hidden layer sizes, comma separated, e.g. 256,128; none for no hidden layer.")
    ] = ",".join(map(str, DEFAULTS.hidden)),
    activation: Annotated[str, typer.Option(help=f"Hidden activation: {_choices('activation')}.")] = DEFAULTS.activation,
    cost: Annotated[str, typer.Option(help=f"Cost (it fixes the output layer): {_choices('cost')}.")] = DEFAULTS.cost,
    optimizer: Annotated[str, typer.Option(help=f"Optimizer: {_choices('optimizer')}.")] = DEFAULTS.optimizer,
    lr: Annotated[
        float | None,
        typer.Option(
            help="Learning rate (default: tuned per optimizer: adam 0.001, rmsprop 0.001, sgd 0.5, momentum/nesterov 0.1)."
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option(help="Epochs to train (iterations for lbfgs/cg, cost evaluations for tnc); with --resume, epochs more.")
    ] = DEFAULTS.epochs,
    l2: Annotated[float, typer.Option(help="L2 penalty lambda (weights only), as lambda/(2n) sum W^2.")] = DEFAULTS.l2,
    l1: Annotated[float, typer.Option(help="L1 penalty lambda (weights only).")] = DEFAULTS.l1,
    init: Annotated[str, typer.Option(help=f"Initializer: {_choices('init')} (auto: He for relu, else Glorot).")] = DEFAULTS.init,
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = DEFAULTS.dtype,
    seed: Annotated[int, typer.Option(help="Seed for splits, initialization and shuffling.")] = DEFAULTS.seed,
    val_fraction: Annotated[float, typer.Option(help="Share of the data held out for validation.")] = DEFAULTS.val_fraction,
    test_fraction: Annotated[
        float, typer.Option(help="Share held out for the final test (mnist uses its own test set).")
    ] = DEFAULTS.test_fraction,
    early_stopping: Annotated[
        int, typer.Option(help="Stop after this many epochs without validation improvement (0 = off).")
    ] = DEFAULTS.early_stopping,
    standardize: Annotated[
        bool, typer.Option(help="Standardize with the training split's mean and std (one value each).")
    ] = DEFAULTS.standardize,
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Run directory for model.npz/model.json [default: runs/DATASET].")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Continue from a saved model/checkpoint (its settings are reused).")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the final metrics as JSON on stdout (no progress bar).")
    ] = False,
) -> None:
    """Train a network and report its test accuracy. With no options: digits on the CPU, in seconds."""
    from .workflow import open_model, resume_config

    saved = open_model(resume) if resume else None
    if saved is not None:
        config = resume_config(saved, epochs=epochs, device=device, out=out_dir or str(saved.run_dir))
    else:
        config = TrainConfig(
            dataset=dataset, data_dir=data_dir, download=download, device=device, batch_size=parse_batch_size(batch_size),
            hidden=parse_hidden(hidden), activation=activation, cost=cost, optimizer=optimizer, lr=lr, epochs=epochs,
            l2=l2, l1=l1, init=init, dtype=dtype, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
            early_stopping=early_stopping, standardize=standardize, out=out_dir or f"runs/{dataset}",
        )  # fmt: skip
    config = config.validate()  # before any data is loaded
    metrics = _train_with_display(config, saved, json_output)
    if json_output:
        out.print_json(json.dumps(metrics))
        return
    console.print(
        f"[bold green]test accuracy {metrics['test_accuracy']:.2%}[/bold green] on {metrics['test_samples']} samples "
        f"({config.dataset}, {metrics['epochs']} epochs, {metrics['train_seconds']:.1f} s on {metrics['device']}); "
        f"model saved to {escape(metrics['model'])}",
        highlight=False,
    )


def _train_with_display(config: TrainConfig, saved: Any, quiet: bool) -> dict[str, Any]:
    """Run the training with progress display and notes; Ctrl-C points at the last checkpoint."""
    from .workflow import run_training

    display = TrainingDisplay(config.epochs, saved.epoch if saved is not None else 0, quiet)
    try:
        with display.progress, warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy overflow on the way to NaN: divergence is reported
            warnings.showwarning = lambda message, *args, **kwargs: console.print(
                f"note: {escape(str(message))}", highlight=False
            )
            result = run_training(config, saved, display.on_epoch, display.on_batch, PROGRESS_EVERY)
    except KeyboardInterrupt:
        where = escape(str(config.out))
        console.print(f"interrupted; the last completed epoch is saved in {where}/model.npz; continue with --resume {where}")
        raise typer.Exit(130) from None
    return dict(result.metrics, model=str(result.model_path))


@app.command()
@friendly_errors
def evaluate(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    split: Annotated[str, typer.Option(help="Which split to score: test, val or train.")] = "test",
    device: Annotated[str, typer.Option(help=f"Where to compute: {backends.DEVICE_HELP}.")] = "cpu",
    data_dir: Annotated[str | None, typer.Option(help="Data directory, if it moved since training.")] = None,
    json_output: Annotated[bool, typer.Option("--json", help="Print the report as JSON.")] = False,
) -> None:
    """Accuracy, per-class precision/recall/F1 and the confusion matrix on a split of the model's data."""
    from .reports import format_confusion
    from .workflow import evaluate_model, open_model

    summary = evaluate_model(open_model(model, device), split, data_dir)
    if json_output:
        out.print_json(json.dumps({k: v for k, v in summary.items() if k != "text"}))
        return
    out.print(f"{split} accuracy: {summary['accuracy']:.2%} on {summary['samples']} samples", highlight=False)
    out.print(summary["text"], highlight=False)
    out.print(
        "confusion matrix (rows: true class, columns: predicted):\n" + format_confusion(summary["confusion_matrix"]),
        highlight=False,
    )


@app.command()
@friendly_errors
def predict(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    images: Annotated[list[Path], typer.Argument(help=".npy arrays or image files (PNG, JPEG...).")],
    device: Annotated[str, typer.Option(help=f"Where to compute: {backends.DEVICE_HELP}.")] = "cpu",
    json_output: Annotated[bool, typer.Option("--json", help="Print predictions as JSON.")] = False,
) -> None:
    """Class and probability for each input; images are converted to the model's input size."""
    from .workflow import open_model, predict_files

    rows = predict_files(open_model(model, device), images)
    if json_output:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['input']}: {row['class']} (p={row['probability']:.3f})", highlight=False)


@app.command()
@friendly_errors
def gradcheck(
    sizes: Annotated[str, typer.Option(help="Layer sizes, input first, e.g. 4,5,3.")] = "4,5,3",
    activation: Annotated[str, typer.Option(help=f"Hidden activation: {_choices('activation')}.")] = "sigmoid",
    cost: Annotated[str, typer.Option(help=f"Cost: {_choices('cost')}.")] = "softmax_cross_entropy",
    l2: Annotated[float, typer.Option(help="L2 penalty lambda.")] = 0.0,
    l1: Annotated[float, typer.Option(help="L1 penalty lambda.")] = 0.0,
    samples: Annotated[int, typer.Option(help="Random samples in the batch.")] = 10,
    device: Annotated[str, typer.Option(help=f"Backend: {backends.DEVICE_HELP}.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="float64 (recommended) or float32.")] = "float64",
    threshold: Annotated[float, typer.Option(help="Fail (exit 1) above this relative difference.")] = 1e-7,
    seed: Annotated[int, typer.Option(help="Seed for the network and data.")] = 0,
) -> None:
    """Compare backprop with central differences on a small random network; exit 1 above --threshold."""
    from .workflow import check_gradients

    result = check_gradients(parse_hidden(sizes, "--sizes"), activation, cost, l2, l1, samples, device, dtype, seed)
    verdict = "OK" if result.difference <= threshold else "FAILED"
    out.print(
        f"relative difference {result.difference:.3e} ({verdict}, threshold {threshold:g}; "
        f"{result.n_params} parameters on {result.device}, {result.dtype})",
        highlight=False,
    )
    if verdict != "OK":
        raise typer.Exit(1)


@app.command()
def devices() -> None:
    """Which backends and GPUs are usable here, with versions."""
    table = Table(title="bpnn_xp backends")
    for column in ("backend", "version", "usable", "devices"):
        table.add_column(column)
    for row in backends.describe_backends():
        table.add_row(row["backend"], row["version"], row["usable"], row["devices"])
    out.print(table)
    out.print("use with --device: " + ", ".join(backends.available_device_names()), highlight=False)


@app.command()
@friendly_errors
def plot(
    model: Annotated[str, typer.Argument(help="A run directory or its model.npz.")],
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Where to write the PNGs [default: the model's directory].")
    ] = None,
    split: Annotated[str, typer.Option(help="Split whose samples are drawn: test, val or train.")] = "test",
    data_dir: Annotated[str | None, typer.Option(help="Data directory, if it moved since training.")] = None,
) -> None:
    """Learning curves, a 10x10 grid of predictions, hidden units as images, the confusion matrix,
    and decision boundaries for 2-D data sets."""
    from .workflow import make_plots, open_model

    saved = open_model(model)
    for path in make_plots(saved, Path(out_dir) if out_dir else saved.run_dir, split, data_dir):
        out.print(str(path), highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
