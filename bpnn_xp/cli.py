"""The ``bpnn`` launcher: train, evaluate, predict, gradcheck, devices and plot.

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

from . import backend as backends
from .activations import ACTIVATIONS
from .costs import COSTS
from .data import DATASETS
from .errors import BpnnError, BpnnValueError, DivergenceError, unknown_name
from .initializers import INITIALIZERS
from .optimizers import OPTIMIZERS, SCIPY_METHODS

app = typer.Typer(
    help="Train and use backpropagation networks for digit recognition on the CPU (NumPy) or a GPU (CuPy).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console(stderr=True, soft_wrap=True)  # messages: dynamic text goes through escape()
PROGRESS_EVERY = 10  # batches between progress-bar updates (each one reads the cost from the device)
out = Console(soft_wrap=True, markup=False)  # results: file names and reports print verbatim


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into one line and an exit code instead of a traceback."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except DivergenceError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(1) from None
        except BpnnError as exc:
            console.print(f"[red]error:[/red] {escape(str(exc))}", highlight=False)
            raise typer.Exit(2) from None
        except MemoryError:
            console.print("[red]error:[/red] out of memory; try a smaller --batch-size or fewer hidden units")
            raise typer.Exit(2) from None
        except Exception as exc:  # out of GPU memory surfaces as the backend's own type
            if "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower():
                console.print(
                    f"[red]error:[/red] the device ran out of memory ({type(exc).__name__}); try a smaller --batch-size",
                    soft_wrap=True,
                )
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
        if not part.isdigit() or int(part) <= 0:
            raise BpnnValueError(f"{option} takes positive integers separated by commas, like 256,128 (or none); got {text!r}")
        sizes.append(int(part))
    return sizes


def parse_batch_size(text: str) -> int:
    """'full' or '0' -> 0 (full batch), else a positive integer."""
    if text.strip().lower() in ("full", "0"):
        return 0
    if not text.strip().isdigit():
        raise BpnnValueError(f"--batch-size must be a positive integer, or 0/full for full batch; got {text!r}")
    return int(text)


def _choices(names: Any) -> str:
    return ", ".join(names)


@app.command()
@friendly_errors
def train(
    dataset: Annotated[str, typer.Option(help=f"Data set: {_choices(DATASETS)}.")] = "digits",
    data_dir: Annotated[str | None, typer.Option(help="Directory of the MNIST IDX files, or the course .mat file.")] = None,
    download: Annotated[bool, typer.Option(help="Fetch MNIST into --data-dir (SHA-256 checked).")] = False,
    device: Annotated[str, typer.Option(help=f"Where to train: {backends.DEVICE_HELP}.")] = "cpu",
    batch_size: Annotated[str, typer.Option(help="Samples per step; 0 or 'full' = full batch.")] = "32",
    hidden: Annotated[
        str, typer.Option(help="Hidden layer sizes, comma separated, e.g. 256,128; none for no hidden layer.")
    ] = "256",
    activation: Annotated[str, typer.Option(help=f"Hidden activation: {_choices(ACTIVATIONS)}.")] = "relu",
    cost: Annotated[str, typer.Option(help=f"Cost (it fixes the output layer): {_choices(COSTS)}.")] = "softmax_cross_entropy",
    optimizer: Annotated[str, typer.Option(help=f"Optimizer: {_choices([*OPTIMIZERS, *SCIPY_METHODS])}.")] = "adam",
    lr: Annotated[
        float | None,
        typer.Option(
            help="Learning rate (default: tuned per optimizer: adam 0.001, rmsprop 0.001, sgd 0.5, momentum/nesterov 0.1)."
        ),
    ] = None,
    epochs: Annotated[
        int, typer.Option(help="Epochs to train (iterations for lbfgs/cg, cost evaluations for tnc); with --resume, epochs more.")
    ] = 40,
    l2: Annotated[float, typer.Option(help="L2 penalty lambda (weights only), as lambda/(2n) sum W^2.")] = 0.5,
    l1: Annotated[float, typer.Option(help="L1 penalty lambda (weights only).")] = 0.0,
    init: Annotated[str, typer.Option(help=f"Initializer: auto (He for relu, else Glorot), {_choices(INITIALIZERS)}.")] = "auto",
    dtype: Annotated[str, typer.Option(help="float32 or float64.")] = "float32",
    seed: Annotated[int, typer.Option(help="Seed for splits, initialization and shuffling.")] = 0,
    val_fraction: Annotated[float, typer.Option(help="Share of the data held out for validation.")] = 0.1,
    test_fraction: Annotated[float, typer.Option(help="Share held out for the final test (mnist uses its own test set).")] = 0.2,
    early_stopping: Annotated[
        int, typer.Option(help="Stop after this many epochs without validation improvement (0 = off).")
    ] = 0,
    standardize: Annotated[
        bool, typer.Option(help="Standardize with the training split's mean and std (one value each).")
    ] = True,
    out_dir: Annotated[
        str | None, typer.Option("--out", help="Run directory for model.npz/model.json [default: runs/DATASET].")
    ] = None,
    resume: Annotated[str | None, typer.Option(help="Continue from a saved model/checkpoint (its settings are reused).")] = None,
    json_output: Annotated[
        bool, typer.Option("--json", help="Print the final metrics as JSON on stdout (no progress bar).")
    ] = False,
) -> None:
    """Train a network and report its test accuracy. With no options: digits on the CPU, in seconds."""
    from .checkpoint import load_model
    from .workflow import TrainConfig, config_from_model, run_training

    if resume:
        saved = load_model(resume)
        config = config_from_model(saved, epochs=epochs, device=device, out=out_dir or str(Path(saved.path).parent))
    else:
        config = TrainConfig(
            dataset=dataset, data_dir=data_dir, download=download, device=device, batch_size=parse_batch_size(batch_size),
            hidden=parse_hidden(hidden), activation=activation, cost=cost, optimizer=optimizer, lr=lr, epochs=epochs,
            l2=l2, l1=l1, init=init, dtype=dtype, seed=seed, val_fraction=val_fraction, test_fraction=test_fraction,
            early_stopping=early_stopping, standardize=standardize, out=out_dir or f"runs/{dataset}",
        )  # fmt: skip
    _check_options(config)
    progress = Progress(
        TextColumn("[bold]epoch {task.fields[epoch]}"), BarColumn(), MofNCompleteColumn(),
        TextColumn("cost {task.fields[cost]:.4f}  acc {task.fields[acc]:.2%}  {task.fields[rate]:,.0f} samples/s"),
        TimeElapsedColumn(), console=console, disable=json_output, transient=False,
    )  # fmt: skip
    state: dict[str, Any] = {"task": None}

    def on_batch(p: Any) -> None:
        if state["task"] is None:
            state["task"] = progress.add_task("train", total=p.n_batches * config.epochs, epoch="", cost=0.0, acc=0.0, rate=0.0)
        step = (p.epoch - 1 - start_epoch) * p.n_batches + p.batch
        progress.update(state["task"], completed=step, epoch=f"{p.epoch}", cost=p.cost, acc=p.accuracy, rate=p.samples_per_second)

    def on_epoch(r: Any) -> None:
        if json_output:
            return
        val = f"  val cost {r.val_cost:.4f}  val acc {r.val_accuracy:.2%}" if r.val_cost is not None else ""
        progress.console.print(
            f"epoch {r.epoch:>3}: cost {r.cost:.4f}  acc {r.accuracy:.2%}{val}  ({r.samples_per_second:,.0f} samples/s)",
            highlight=False,
        )

    start_epoch = int(saved.meta.get("trainer", {}).get("epoch", 0)) if resume else 0
    try:
        with progress, warnings.catch_warnings():
            warnings.simplefilter("always", UserWarning)
            warnings.simplefilter("ignore", RuntimeWarning)  # NumPy overflow on the way to NaN: divergence is reported
            warnings.showwarning = lambda message, *args, **kwargs: console.print(
                f"note: {escape(str(message))}", highlight=False
            )
            result = run_training(config, resume=resume, on_epoch=on_epoch, on_batch=on_batch, log_every=PROGRESS_EVERY)
    except KeyboardInterrupt:
        where = escape(str(config.out))
        console.print(f"interrupted; the last completed epoch is saved in {where}/model.npz; continue with --resume {where}")
        raise typer.Exit(130) from None
    metrics = dict(result.metrics, model=str(result.model_path))
    if json_output:
        out.print_json(json.dumps(metrics))
        return
    console.print(
        f"[bold green]test accuracy {metrics['test_accuracy']:.2%}[/bold green] on {metrics['test_samples']} samples "
        f"({config.dataset}, {metrics['epochs']} epochs, {metrics['train_seconds']:.1f} s on {metrics['device']}); "
        f"model saved to {escape(str(result.model_path))}",
        highlight=False,
    )


def _check_options(config: Any) -> None:
    """Reject bad settings before any data is loaded."""
    from .activations import get_activation
    from .costs import get_cost
    from .initializers import get_initializer
    from .optimizers import canonical_optimizer_name

    if config.dataset not in DATASETS:
        raise unknown_name("dataset", config.dataset, DATASETS)
    get_activation(config.activation)
    get_cost(config.cost)
    canonical_optimizer_name(config.optimizer)
    if config.init != "auto":
        get_initializer(config.init)
    if config.dtype not in backends.DTYPES:
        raise BpnnValueError(f"--dtype must be float32 or float64, got {config.dtype!r}")
    if config.lr is not None and not config.lr > 0:
        raise BpnnValueError(f"--lr must be positive, got {config.lr}")
    if config.l2 < 0 or config.l1 < 0:
        raise BpnnValueError("--l2 and --l1 must be >= 0")
    if config.epochs < 0:
        raise BpnnValueError(f"--epochs must be >= 0, got {config.epochs}")
    if config.early_stopping < 0:
        raise BpnnValueError(f"--early-stopping takes a number of epochs >= 0 (0 = off), got {config.early_stopping}")
    if config.early_stopping and config.val_fraction <= 0 and config.dataset != "mnist":
        raise BpnnValueError("--early-stopping watches the validation cost; give --val-fraction > 0")


def _load_for_use(model: str, device: str) -> Any:
    from .checkpoint import load_model

    return load_model(model, device)


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
    from .reports import classification_summary, format_confusion
    from .workflow import config_from_model, predict_classes, prepare_data

    saved = _load_for_use(model, device)
    config = config_from_model(saved, data_dir=data_dir)
    data = prepare_data(config, saved.preprocessing)
    chosen = data.split(split)
    predicted, _ = predict_classes(saved.network, chosen.X, config.dtype)
    summary = classification_summary(chosen.labels, predicted, data.dataset.n_classes)
    if json_output:
        out.print_json(json.dumps({k: v for k, v in summary.items() if k != "text"} | {"split": split}))
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
    from .data.images import load_inputs
    from .workflow import predict_classes

    saved = _load_for_use(model, device)
    shape = saved.meta.get("dataset", {}).get("image_shape")
    X, names = load_inputs(images, saved.network.sizes[0], tuple(shape) if shape else None)
    dtype = saved.meta["architecture"]["dtype"]
    classes, probs = predict_classes(saved.network, saved.preprocessing.apply(X), dtype)
    rows = [{"input": n, "class": int(c), "probability": float(p)} for n, c, p in zip(names, classes, probs)]
    if json_output:
        out.print_json(json.dumps(rows))
        return
    for row in rows:
        out.print(f"{row['input']}: {row['class']} (p={row['probability']:.3f})", highlight=False)


@app.command()
@friendly_errors
def gradcheck(
    sizes: Annotated[str, typer.Option(help="Layer sizes, input first, e.g. 4,5,3.")] = "4,5,3",
    activation: Annotated[str, typer.Option(help=f"Hidden activation: {_choices(ACTIVATIONS)}.")] = "sigmoid",
    cost: Annotated[str, typer.Option(help=f"Cost: {_choices(COSTS)}.")] = "softmax_cross_entropy",
    l2: Annotated[float, typer.Option(help="L2 penalty lambda.")] = 0.0,
    l1: Annotated[float, typer.Option(help="L1 penalty lambda.")] = 0.0,
    samples: Annotated[int, typer.Option(help="Random samples in the batch.")] = 10,
    device: Annotated[str, typer.Option(help=f"Backend: {backends.DEVICE_HELP}.")] = "cpu",
    dtype: Annotated[str, typer.Option(help="float64 (recommended) or float32.")] = "float64",
    threshold: Annotated[float, typer.Option(help="Fail (exit 1) above this relative difference.")] = 1e-7,
    seed: Annotated[int, typer.Option(help="Seed for the network and data.")] = 0,
) -> None:
    """Compare backprop with central differences on a small random network; exit 1 above --threshold."""
    import numpy as np

    from .data import one_hot
    from .gradcheck import gradient_check
    from .network import Network

    layer_sizes = parse_hidden(sizes, "--sizes")
    if len(layer_sizes) < 2 or samples <= 0:
        raise BpnnValueError("--sizes needs at least an input and an output size (e.g. 4,5,3) and --samples must be > 0")
    backend = backends.resolve_device(device)
    rng = np.random.default_rng(seed)
    with backend.use():
        net = Network.create(layer_sizes, activation, cost, "glorot", rng, backend, dtype)
        X = backend.asarray(rng.normal(size=(samples, layer_sizes[0])), dtype)
        Y = backend.asarray(one_hot(rng.integers(0, layer_sizes[-1], samples), layer_sizes[-1]), dtype)
        difference = gradient_check(net, X, Y, l2=l2, l1=l1)
    verdict = "OK" if difference <= threshold else "FAILED"
    out.print(
        f"relative difference {difference:.3e} ({verdict}, threshold {threshold:g}; "
        f"{net.n_params} parameters on {backend.name}, {dtype})",
        highlight=False,
    )
    if difference > threshold:
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
    from . import plots
    from .training import History
    from .workflow import config_from_model, predict_classes, prepare_data

    saved = _load_for_use(model, "cpu")
    target = Path(out_dir) if out_dir else saved.path.parent
    config = config_from_model(saved, data_dir=data_dir)
    written = []
    history = History.from_dict(saved.meta.get("history", {}))
    if history.records:
        written.append(plots.learning_curves(history.as_columns(), target / "learning_curves.png"))
    data = prepare_data(config, saved.preprocessing)
    chosen = data.split(split)
    shape = data.dataset.image_shape
    predict = lambda X: predict_classes(saved.network, X, config.dtype)[0]  # noqa: E731
    if shape is not None:
        images = chosen.X
        if saved.preprocessing.standardize:  # draw the pixels, not the standardized features
            images = chosen.X * saved.preprocessing.std + saved.preprocessing.mean
        written.append(
            plots.sample_grid(images[:100], shape, predict(chosen.X[:100]), chosen.labels[:100], target / "samples.png")
        )
        if len(saved.network.sizes) > 2:
            weights = backends.to_numpy(saved.network.weights[0])
            written.append(plots.hidden_units(weights, shape, target / "hidden_units.png"))
    if data.dataset.n_features == 2:
        written.append(plots.decision_boundary(predict, chosen.X, chosen.labels, target / "decision_boundary.png"))
    from sklearn.metrics import confusion_matrix

    matrix = confusion_matrix(chosen.labels, predict(chosen.X), labels=list(range(data.dataset.n_classes)))
    written.append(plots.confusion(matrix, target / "confusion.png", f"Confusion matrix ({split} split)"))
    for path in written:
        out.print(str(path), highlight=False)


def main() -> None:
    """Console-script entry point."""
    app()


if __name__ == "__main__":
    sys.exit(main())
