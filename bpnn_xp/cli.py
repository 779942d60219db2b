"""The ``bpnn`` launcher: parse strings, call the workflow, print. Nothing else lives here.

Every user mistake ends in one line on stderr naming the problem and the fix, with exit code 2;
training that diverges exits 1; Ctrl-C exits 130 after pointing at the last checkpoint.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import json
import re
import sys
import time
import warnings
from collections.abc import Callable, Iterator
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.table import Table

from . import backends
from .cli_common import (
    PROGRESS_EVERY,
    OneLineUsageErrors,
    Opt,
    OverwriteOpt,
    QuietOpt,
    Terminated,
    TrainingDisplay,
    console,
    error,
    get_current_context,
    out,
    stop_on_sigterm,
    warnings_as_notes,
    written_since,
)
from .config import TrainConfig
from .errors import (
    BpnnError,
    BpnnValueError,
    DataFileError,
    DivergenceError,
    NamesSettings,
    SettingError,
    SettingFileError,
)
from .settings import TRAIN_SETTINGS, Setting, flag_of, train_setting

app = typer.Typer(
    cls=OneLineUsageErrors,  # a parser error of any command is one line, exit 2
    help="Train and use backpropagation networks for digit recognition on the CPU (NumPy) or a GPU (CuPy).",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)


MEMORY_HINTS = {  # the knob each command actually has
    "train": "try a smaller --batch-size or fewer --hidden units",
    "gradcheck": "try smaller --sizes or fewer --samples",
}
MEMORY_HINT = "the data does not fit in memory; give fewer inputs at a time, or use a --device with more memory"


@contextlib.contextmanager
def settings_as_flags() -> Iterator[None]:
    """Errors that name settings, respelled with their flags before anything else (an MPI guard) reports them."""
    try:
        yield
    except (SettingError, SettingFileError) as exc:
        raise (DataFileError if isinstance(exc, DataFileError) else BpnnValueError)(exc.spelled(flag_of)) from None


def friendly_errors(command: Callable[..., Any]) -> Callable[..., Any]:
    """Turn our errors into one line and an exit code instead of a traceback."""
    hint = MEMORY_HINTS.get(command.__name__, MEMORY_HINT)

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            with warnings_as_notes():  # e.g. "--device auto: using the CPU because ..." as one note line
                return command(*args, **kwargs)
        except DivergenceError as exc:
            error(str(exc))
            raise typer.Exit(1) from None
        except BpnnError as exc:  # a setting's name becomes its flag: "epochs must be..." -> "--epochs must be..."
            if not getattr(exc, "quiet", False):  # raised on every MPI rank alike: rank 0 alone says it
                error(own_options(exc.spelled(flag_of) if isinstance(exc, NamesSettings) else str(exc)))
            raise typer.Exit(2) from None
        except MemoryError:
            error(f"out of memory; {hint}")
            raise typer.Exit(2) from None
        except Exception as exc:  # out of GPU memory surfaces as the backend's own type
            if "OutOfMemory" in type(exc).__name__ or "out of memory" in str(exc).lower():
                error(f"the device ran out of memory ({type(exc).__name__}); {hint}")
                raise typer.Exit(2) from None
            if backends.gpu_probe.is_gpu_library_error(exc):  # NVRTC, cuBLAS, the driver: advice, not a traceback
                error(backends.gpu_probe.gpu_failure_advice(exc))
                raise typer.Exit(2) from None
            raise

    return wrapper


OUTPUT_PARAMETERS = ("out_dir", "out_file", "show")  # the parameter that says where a command writes


def own_options(message: str) -> str:
    """``message`` with --out (which the lower layers name as the fix for a folder or file they cannot write) said as
    the running command's own output option, or as 'another place' when the command writes nothing of its own."""
    context = get_current_context(silent=True)
    if context is None or "--out" not in message:
        return message
    flags = {opt for param in context.command.params for opt in param.opts}
    if "--out" in flags:
        return message
    output = next((p.opts[0] for p in context.command.params if p.name in OUTPUT_PARAMETERS), None)
    return re.sub(r"--out\b", output, message) if output else re.sub(r"(another )?--out\b", "another place", message)


GpuReduceOpt = Annotated[str, Opt(help="Under mpiexec with GPUs: sum gradients by host (staged through memory, works "
                                        "everywhere), nccl, or cuda-aware (a CUDA-aware MPI).")]
RESUMABLE_FLAGS = ", ".join(s.option for s in TRAIN_SETTINGS if s.resumable)
ResumeOpt = Annotated[str | None, Opt(help=f"Continue a saved run (only {RESUMABLE_FLAGS} change).")]
JsonOpt = Annotated[bool, Opt("--json", help="Print the final metrics as JSON on stdout (progress stays on stderr).")]
TRAIN_ONLY_OPTIONS = {  # the train command's options that are no setting of the run: (annotation, default)
    "overwrite": (OverwriteOpt, False),
    "resume": (ResumeOpt, None),
    "json_output": (JsonOpt, False),
    "quiet": (QuietOpt, False),
    "gpu_reduce": (GpuReduceOpt, "host"),
}
RESUMABLE = {s.name for s in TRAIN_SETTINGS if s.resumable} | set(TRAIN_ONLY_OPTIONS)  # may change on --resume


METAVARS = {int: "INTEGER", float: "FLOAT", float | None: "FLOAT"}


def _option(setting: Setting) -> inspect.Parameter:
    """The train option of one setting: a flag pair for a bool, else text that the setting parses."""
    declared = (setting.flag,) if setting.flag else ()
    if setting.type is bool:
        return inspect.Parameter(setting.name, inspect.Parameter.KEYWORD_ONLY, default=setting.default,
                                 annotation=Annotated[bool, Opt(*declared, help=setting.help)])  # fmt: skip
    default = _as_text(setting.default)
    kind = str if default is not None else str | None
    metavar = setting.metavar or METAVARS.get(setting.type, "TEXT")
    return inspect.Parameter(setting.name, inspect.Parameter.KEYWORD_ONLY, default=default,
                             annotation=Annotated[kind, Opt(*declared, help=setting.help, metavar=metavar)])  # fmt: skip


def _as_text(value: Any) -> str | None:
    """A default as the CLI shows and reads it: [256] -> '256', [] -> 'none'."""
    if isinstance(value, list):
        return ",".join(str(v) for v in value) if value else "none"
    return None if value is None else str(value)


def with_train_options(command: Callable[..., Any]) -> Callable[..., Any]:
    """Give ``command(ctx, **options)`` one option per row of the settings table, then the train-only options."""
    parameters = [inspect.Parameter("ctx", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=typer.Context)]
    parameters += [_option(setting) for setting in TRAIN_SETTINGS]
    parameters += [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default, annotation=annotation)
                   for name, (annotation, default) in TRAIN_ONLY_OPTIONS.items()]  # fmt: skip
    command.__signature__ = inspect.Signature(parameters, return_annotation=None)  # type: ignore[attr-defined]
    return command


def settings_from_options(options: dict[str, Any], names: Any = None) -> dict[str, Any]:
    """The typed settings of the given options (all by default): text parsed by the settings table, bools as they are."""
    chosen = [s for s in TRAIN_SETTINGS if names is None or s.name in names]
    return {s.name: options[s.name] if s.type is bool or options[s.name] is None else s.from_text(options[s.name])
            for s in chosen}  # fmt: skip


@app.command()
@with_train_options
@friendly_errors
def train(ctx: typer.Context, **options: Any) -> None:
    """Train a network and report its test accuracy. With no options: digits on the CPU, in seconds.

    Results go to stdout, progress to stderr; each epoch is logged in the run folder's metrics.csv."""
    _train(ctx, options)


def _train(ctx: typer.Context, options: dict[str, Any]) -> None:
    """The train command once its options are read."""
    from .backends import distributed

    if distributed.launched_size() > 1:
        _check_before_mpi(ctx, options, distributed.launched_rank())
    comm = distributed.from_environment(options["gpu_reduce"])  # several ranks only under mpiexec/srun
    with warnings_as_notes(), comm.guard(collective=(DivergenceError,)), settings_as_flags():
        saved, config = _config_from_options(ctx, options | {"speaks": comm.rank == 0})
        metrics = _train_with_display(config, saved, options["quiet"] or comm.rank != 0, options["overwrite"], comm)
    if comm.rank != 0:  # rank 0 reports for the whole job
        return
    if options["json_output"]:
        out.print_json(json.dumps(metrics))
        return
    report = metrics.get("optimizer_report")
    if report:
        out.print(f"{config.optimizer}: {report['message']} ({report['iterations']} iterations, "
                  f"{report['evaluations']} cost evaluations)")  # fmt: skip
    if metrics.get("stopped_early"):
        kept = metrics["kept_epoch"]
        out.print(f"early stopping: no validation improvement after epoch {kept}; stopped at epoch {metrics['epochs']}, "
                  f"kept epoch {kept} (val acc {metrics['val_accuracy']:.2%})")  # fmt: skip
    source = config.data if config.data is not None else config.dataset
    out.print(
        f"test accuracy {metrics['test_accuracy']:.2%} on {metrics['test_samples']} samples "
        f"({source}, {metrics['epochs']} epochs, {metrics['train_seconds']:.1f} s on {metrics['device']}); "
        f"model saved to {metrics['model']}"
    )


def _check_before_mpi(ctx: typer.Context, options: dict[str, Any], rank: int) -> None:
    """Under mpiexec, the settings are checked on every rank before MPI starts: a usage error is the same on every
    rank, so each exits 2 without a collective or MPI_Abort, and rank 0 alone says it."""
    try:
        with warnings.catch_warnings(), settings_as_flags():
            warnings.simplefilter("ignore")  # notes are said once, later, by rank 0
            if _dataset_and_data(options):
                raise BpnnValueError("give either --dataset NAME or --data PATH, not both")
            if options["resume"]:
                _refuse_unresumable(ctx)
            else:
                config = TrainConfig(**settings_from_options(options)).validate()
                if config.data is not None and not Path(config.data).exists():
                    raise DataFileError(f"data {config.data} does not exist; give a file or folder that every rank can read")
    except BpnnError as exc:
        exc.quiet = rank != 0  # type: ignore[attr-defined]
        raise


def _refuse_unresumable(ctx: typer.Context) -> None:
    """--resume with options that would change the model or its data: refused by name."""
    refused = sorted(_given(ctx) - RESUMABLE)
    if refused:
        names = ", ".join(flag_of(n) for n in refused)
        raise BpnnValueError(f"--resume continues the saved run, so {names} cannot change; drop them or train a new run "
                             "with --out")  # fmt: skip


def _dataset_and_data(o: dict[str, Any]) -> bool:
    """Whether both --dataset (other than its default) and --data were given."""
    return o["dataset"] != train_setting("dataset").default and o["data"] is not None


def _given(ctx: typer.Context) -> set[str]:
    """The options the user typed (or set through the environment), as opposed to defaults."""
    sources = {k: getattr(ctx.get_parameter_source(k), "name", "") for k in ctx.params}
    return {k for k, source in sources.items() if source in ("COMMANDLINE", "ENVIRONMENT")}


def _config_from_options(ctx: typer.Context, o: dict[str, Any]) -> tuple[Any, TrainConfig]:
    """(saved run or None, validated TrainConfig) from the train command's options."""
    if _dataset_and_data(o):
        raise BpnnValueError("give either --dataset NAME or --data PATH, not both")
    if o["resume"]:
        from .models import open_model
        from .workflow import resume_config

        _refuse_unresumable(ctx)
        saved = open_model(o["resume"])
        given = _given(ctx)
        changes = settings_from_options(o, given & RESUMABLE)
        config = resume_config(saved, **changes | {"out": changes.get("out") or str(saved.run_dir)})
        return saved, config.validate()
    config = TrainConfig(**settings_from_options(o)).validate()  # before any data is loaded
    if config.out and o.get("speaks", True):  # rank 0, which writes, checks the folder here, where messages get flags
        from .runs import check_run_dir

        check_run_dir(Path(config.out), o["overwrite"])
    return None, replace(config, out=config.out or _free_default_folder(config, o["overwrite"], o.get("speaks", True)))


def _free_default_folder(config: TrainConfig, overwrite: bool, speaks: bool = True) -> str:
    """runs/DATASET, or (it holds a run and --overwrite was not given) the next free runs/DATASET-N, said on stderr."""
    from .runs import default_run_name, free_run_dir

    base = default_run_name(config)
    chosen = base if overwrite else str(free_run_dir(base))
    if chosen != base and speaks:  # under mpiexec rank 0 alone says it
        console.print(f"note: {escape(base)} holds an earlier run; this run goes to {escape(chosen)} (--overwrite replaces it)",
                      highlight=False)  # fmt: skip
    return chosen


def _train_with_display(config: TrainConfig, saved: Any, quiet: bool, overwrite: bool = False,
                        comm: Any = None) -> dict[str, Any]:  # fmt: skip
    """Run the training with progress display; Ctrl-C and SIGTERM point at the last checkpoint."""
    from .workflow import run_training

    display = TrainingDisplay(config.epochs, saved.epoch if saved is not None else 0, quiet)
    started = time.time()
    try:
        with stop_on_sigterm(), display.progress:
            result = run_training(config, saved, on_epoch=display.on_epoch, on_batch=display.on_batch,
                                  log_every=PROGRESS_EVERY, overwrite=overwrite, comm=comm)  # fmt: skip
    except (KeyboardInterrupt, Terminated) as exc:
        code = 143 if isinstance(exc, Terminated) else 130
        where = escape(str(config.out))
        if saved is None and display.epochs_done == 0 and not written_since(Path(config.out) / "model.npz", started):
            console.print(f"interrupted before the first epoch finished; nothing was saved in {where}")
        else:
            console.print(f"interrupted; the last completed epoch is saved in {where}/model.npz; continue with --resume {where}")
        raise typer.Exit(code) from None
    return dict(result.metrics, model=str(result.model_path))


def _register_saved_run_commands() -> None:
    """The commands of cli_saved.py (evaluate, predict, plot, info, export, serve, ...) and cli_tools.py (gradcheck),
    with the same error handling."""
    from .cli_saved import COMMANDS
    from .cli_tools import TOOLS

    for name, command in {**COMMANDS, **TOOLS}.items():
        app.command(name)(friendly_errors(command))


_register_saved_run_commands()


@app.command()
def devices() -> None:
    """Which backends and GPUs are usable here, with versions, and the CPU fast path."""
    with warnings_as_notes():
        _print_devices()


def _print_devices() -> None:
    table = Table(title="bpnn_xp backends")
    for column in ("backend", "version", "usable", "devices"):
        table.add_column(column)
    for row in backends.describe_backends():
        table.add_row(row["backend"], row["version"], row["usable"], row["devices"])
    out.print(table)
    out.print("use with --device: " + ", ".join(backends.available_device_names()), highlight=False)
    out.print("CPU fast path: " + backends.cpu_fast_path(), highlight=False)


def _register_sweep_command() -> None:
    """bpnn sweep (cli_sweep.py), with the same error handling."""
    from .cli_sweep import SWEEP_HELP, sweep

    app.command("sweep", help=SWEEP_HELP)(friendly_errors(sweep))


_register_sweep_command()


def main() -> None:
    """Console-script entry point."""
    try:
        app()
    except KeyboardInterrupt:  # Ctrl-C outside training (loading data, plotting...): no traceback
        console.print("interrupted")
        sys.exit(130)


if __name__ == "__main__":
    sys.exit(main())
