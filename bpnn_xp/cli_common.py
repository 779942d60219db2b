"""What the launcher's commands share: the two consoles, options used by several commands, the training progress
display, SIGTERM handled like Ctrl-C, and warnings printed as notes."""

from __future__ import annotations

import contextlib
import difflib
import re
import signal
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from typer.core import TyperGroup

try:  # typer 0.2x carries its own copy of click, whose exceptions and context are the ones in play
    from typer._click.exceptions import NoSuchOption, UsageError
    from typer._click.globals import get_current_context  # noqa: F401 - the launcher's commands ask it
except ImportError:  # pragma: no cover - typer on the click package
    from click import NoSuchOption, UsageError, get_current_context  # noqa: F401

from .errors import SettingWarning
from .settings import flag_of, train_setting

console = Console(stderr=True, soft_wrap=True)  # messages: dynamic text goes through escape()
PROGRESS_EVERY = 10  # batches between progress-bar updates (each one reads the cost from the device)
out = Console(soft_wrap=True, markup=False)  # results: file names and reports print verbatim
Opt = typer.Option
DATA_FORMS = train_setting("data").help.split(": ", 1)[1].rstrip(".")
LabelColumnOpt = Annotated[str | None, Opt(help=train_setting("label_column").help)]
OverwriteOpt = Annotated[bool, Opt(help="Replace the run already saved in --out (otherwise refused).")]
DeviceOpt = Annotated[str, Opt(help=train_setting("device").help)]
QuietOpt = Annotated[bool, Opt("--quiet", "-q", help="No progress bar or per-epoch lines on stderr.")]


def error(message: str) -> None:
    """One line on stderr, dynamic text escaped."""
    console.print(f"[red]error:[/red] {escape(message)}", highlight=False)


class TrainingDisplay:
    """Progress bar counting epochs (on stderr), and one line per finished epoch."""

    def __init__(self, epochs: int, first_epoch: int, quiet: bool) -> None:
        self.epochs, self.first_epoch, self.quiet = epochs, first_epoch, quiet
        self.progress = Progress(
            TextColumn("[bold]epoch"), MofNCompleteColumn(), BarColumn(),
            TextColumn("cost {task.fields[cost]:.4f}  acc {task.fields[acc]:.2%}  {task.fields[rate]:,.0f} samples/s"),
            TimeElapsedColumn(), console=console, disable=quiet, transient=False,
        )  # fmt: skip
        self.task: Any = None  # added with the first report, so an early error leaves no empty bar behind
        self.epochs_done = 0

    def _update(self, completed: float, cost: float, accuracy: float, rate: float) -> None:
        if self.task is None:
            self.task = self.progress.add_task("train", total=self.epochs, cost=0.0, acc=0.0, rate=0.0)
        self.progress.update(self.task, completed=completed, cost=cost, acc=accuracy, rate=rate)

    def on_batch(self, p: Any) -> None:
        done = p.epoch - 1 - self.first_epoch + p.batch / p.n_batches  # whole epochs plus this one's share
        self._update(done, p.cost, p.accuracy, p.samples_per_second)

    def on_epoch(self, r: Any) -> None:
        self.epochs_done += 1
        self._update(r.epoch - self.first_epoch, r.cost, r.accuracy, r.samples_per_second)
        if self.quiet:
            return
        val = f"  val cost {r.val_cost:.4f}  val acc {r.val_accuracy:.2%}" if r.val_cost is not None else ""
        self.progress.console.print(
            f"epoch {r.epoch:>3}: cost {r.cost:.4f}  acc {r.accuracy:.2%}{val}  ({r.samples_per_second:,.0f} samples/s)",
            highlight=False,
        )


def written_since(path: Path, since: float) -> bool:
    """Whether ``path`` was (re)written at or after ``since`` (this run's checkpoint, not an older run's)."""
    try:
        return path.stat().st_mtime >= since - 1.0  # file systems store coarse times
    except OSError:
        return False


class Terminated(BaseException):
    """SIGTERM, turned into an exception so training stops the way Ctrl-C stops it."""


@contextlib.contextmanager
def stop_on_sigterm() -> Iterator[None]:
    """While training, SIGTERM (a scheduler, ``kill``) is handled like Ctrl-C: last checkpoint kept."""

    def handler(signum: int, frame: Any) -> None:
        raise Terminated

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


@contextlib.contextmanager
def warnings_as_notes() -> Iterator[None]:
    """Our UserWarnings print as one 'note:' line each; NumPy's overflow on the way to NaN is silent."""
    with warnings.catch_warnings():
        warnings.simplefilter("always", UserWarning)
        warnings.simplefilter("ignore", RuntimeWarning)  # divergence is reported by the trainer
        warnings.showwarning = lambda message, *args, **kwargs: console.print(f"note: {escape(note(message))}", highlight=False)
        yield


def note(message: Warning | str) -> str:
    """A warning as a note, a setting's name written as its flag."""
    return message.spelled(flag_of) if isinstance(message, SettingWarning) else str(message)




class OneLineUsageErrors(TyperGroup):
    """The launcher's command group: every parser error of every command (unknown option or command, missing
    argument, bad value) is one line on stderr naming the option and the nearest valid one, exit 2, not a box."""

    def make_context(self, info_name: str | None, args: list[str], parent: Any = None,
                     **extra: Any) -> Any:  # fmt: skip
        with one_line_usage_errors():
            return super().make_context(info_name, args, parent=parent, **extra)

    def invoke(self, ctx: Any) -> Any:
        with one_line_usage_errors():
            return super().invoke(ctx)


@contextlib.contextmanager
def one_line_usage_errors() -> Iterator[None]:
    """click's UsageError said as one 'error:' line, then exit 2 (click.exceptions.Exit prints nothing more)."""
    try:
        yield
    except UsageError as exc:
        error(usage_line(exc))
        raise typer.Exit(2) from None


def usage_line(exc: UsageError) -> str:
    """One line for a parser error: where, what, and the nearest valid option or command (difflib)."""
    context = exc.ctx
    where = context.command_path if context is not None else "bpnn"
    if isinstance(exc, NoSuchOption) and context is not None:
        valid = sorted({o for p in context.command.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")})
        near = difflib.get_close_matches(exc.option_name, valid, n=1, cutoff=0.5)
        hint = f"; did you mean {near[0]}?" if near else f"; {where} --help lists the options"
        return f"{where}: no such option {exc.option_name}{hint}"
    message = " ".join(exc.format_message().split()).rstrip(".")
    unknown = re.search(r"No such command '([^']*)'", message)
    if unknown and context is not None and hasattr(context.command, "list_commands"):
        near = difflib.get_close_matches(unknown[1], context.command.list_commands(context), n=1, cutoff=0.5)
        hint = f"; did you mean {near[0]}?" if near else f"; {where} --help lists them"
        return f"{where}: no such command {unknown[1]!r}{hint}"
    return f"{where}: {message}; {where} --help lists the options"
