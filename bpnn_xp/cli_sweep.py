"""The launcher's ``bpnn sweep``: a grid of trainings in parallel (sweep.py does the work); cli.py registers it."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from .cli_common import Opt, QuietOpt, Terminated, console, error, out, stop_on_sigterm, warnings_as_notes
from .sweep_folder import MAX_TRIALS, RESULTS_CSV, check_size, outcome

GridOpt = Annotated[list[str], Opt("--grid", help="A swept setting, key=v1,v2 (hidden and augment take ';' between values, "
                                                  "e.g. hidden=16;64,64;none); repeat --grid for more settings.")]
SetOpt = Annotated[list[str] | None, Opt("--set", help="A fixed train setting for every trial, key=value (e.g. dataset=digits, "
                                                       "epochs=20); repeatable.")]
SweepOutOpt = Annotated[str, Opt("--out", help="Sweep folder: results.csv, results.md, plots, and trials/<id> run folders.")]
WorkersOpt = Annotated[int | None, Opt(help="Trials trained at once, each in its own process [default: one per CPU core].")]
SweepResumeOpt = Annotated[bool, Opt("--resume/--no-resume", help="Skip trials already in results.csv (or train all again).")]


SweepOverwriteOpt = Annotated[bool, Opt(help="Replace what --out holds from another sweep (otherwise refused).")]
YesOpt = Annotated[bool, Opt("--yes", help="Run a grid of more trials than the limit (see bpnn sweep --help).")]


SWEEP_HELP = f"""Train one run per point of a grid of settings, in parallel; write results.csv, results.md and plots.

The grid's size is said first; more than {MAX_TRIALS} trials need --yes. An interrupted sweep resumes: run the
same command again and the finished trials are skipped, the failed ones tried again. --out belongs to one sweep:
another sweep (other --grid keys or --set values) is refused there unless --overwrite."""


def sweep(
    grid: GridOpt,
    out_dir: SweepOutOpt,
    fixed: SetOpt = None,
    workers: WorkersOpt = None,
    resume: SweepResumeOpt = True,
    overwrite: SweepOverwriteOpt = False,
    yes: YesOpt = False,
    quiet: QuietOpt = False,
) -> None:
    from .sweep import parse_grid, parse_settings, run_sweep

    grid_values, settings = parse_grid(grid), parse_settings(fixed or [])
    check_size(grid_values, yes)
    counts = " x ".join(f"{len(v)} {k}" for k, v in grid_values.items())

    def announce(size: int) -> None:  # once --out is this sweep's; said even with --quiet
        console.print(f"sweep: {size:,} trial(s) ({counts}) into {escape(out_dir)}", highlight=False)

    progress = Progress(TextColumn("[bold]trials"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                        TextColumn("{task.fields[last]}"), console=console, disable=quiet)  # fmt: skip
    tasks: list[Any] = []  # the bar appears with the first report, so an early error leaves no empty bar

    def report(done: int, total: int, row: dict[str, Any]) -> None:
        if not tasks:
            progress.start()
            tasks.append(progress.add_task("sweep", total=None, last=""))
        last = ""
        if row.get("status") == "ok":
            last = f"{row['trial']}: test acc {row['test_accuracy']:.2%}"
        elif row:
            last = f"{row['trial']}: failed"
            progress.console.print(f"note: trial {escape(row['trial'])} failed: {escape(str(row['message']))}", highlight=False)
        progress.update(tasks[0], total=total, completed=done, last=escape(last))

    try:
        with stop_on_sigterm(), warnings_as_notes(), contextlib.ExitStack() as stack:
            stack.callback(lambda: tasks and progress.stop())
            folder = run_sweep(grid_values, settings, out_dir, workers, resume, progress=report, overwrite=overwrite, yes=yes,
                               announce=announce)
    except (KeyboardInterrupt, Terminated) as exc:
        console.print(_sweep_interrupted(Path(out_dir)), highlight=False)
        raise typer.Exit(143 if isinstance(exc, Terminated) else 130) from None
    _sweep_outcome(folder)


def _sweep_interrupted(out_dir: Path) -> str:
    """The one line for an interrupted sweep, promising only the results file that is there."""
    ok, failed = outcome(out_dir)
    if ok + failed == 0:
        return "interrupted before any trial finished; run the same command again to start the sweep"
    return (f"interrupted; {ok + failed} finished trial(s) are in {escape(str(out_dir / RESULTS_CSV))}; "
            "run the same command again to continue")  # fmt: skip


def _sweep_outcome(folder: Path) -> None:
    """Say where the results are; a sweep in which every trial failed exits 1."""
    from .sweep_report import RESULTS_MD

    ok, failed = outcome(folder)
    if ok == 0 and failed:
        error(f"every trial failed ({failed}); see the messages in {folder / RESULTS_MD}, fix the cause and run the same "
              "command again (failed trials are retried)")  # fmt: skip
        raise typer.Exit(1)
    if failed:
        console.print(f"note: {failed} of {ok + failed} trials failed (see {escape(str(folder / RESULTS_MD))}); "
                      "the same command retries them", highlight=False)  # fmt: skip
    out.print(f"sweep written: {folder / RESULTS_CSV}, {folder / RESULTS_MD} and plots in {folder}")


