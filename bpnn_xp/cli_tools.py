"""The launcher's checking tools: bpnn gradcheck (backprop against central differences on a random network).

A plain function here; cli.py registers it (``TOOLS``) with its error handling.
"""

from __future__ import annotations

from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from . import checks
from .cli_common import DeviceOpt, QuietOpt, console, out
from .settings import train_setting


def gradcheck(
    sizes: Annotated[str, typer.Option(help="Layer sizes, input first, e.g. 4,5,3.")] = "4,5,3",
    activation: Annotated[str, typer.Option(help=train_setting("activation").help)] = "sigmoid",
    cost: Annotated[str, typer.Option(help=train_setting("cost").help)] = "softmax_cross_entropy",
    l2: Annotated[float, typer.Option(help="L2 penalty lambda.")] = 0.0,
    l1: Annotated[float, typer.Option(help="L1 penalty lambda.")] = 0.0,
    samples: Annotated[int, typer.Option(help="Random samples in the batch.")] = 10,
    device: DeviceOpt = "cpu",
    dtype: Annotated[str, typer.Option(help="float64 (recommended) or float32.")] = "float64",
    threshold: Annotated[float, typer.Option(help="Fail (exit 1) above this relative difference.")] = 1e-7,
    seed: Annotated[int, typer.Option(help="Seed for the network and data.")] = 0,
    yes: Annotated[bool, typer.Option("--yes", help="Check a network over the size limit (two forward passes per "
                                                    "parameter: minutes for large ones).")] = False,  # fmt: skip
    quiet: QuietOpt = False,
) -> None:
    """Compare backprop with central differences on a small random network; exit 1 above --threshold.

    The check makes two forward passes per parameter; it says how many first and shows progress on stderr."""
    from .workflow import check_gradients, gradcheck_work

    checks.real("threshold", threshold, 0, low_open=True)
    layer_sizes = checks.parse_hidden("sizes", sizes)
    parameters, passes = gradcheck_work(layer_sizes, samples, yes)
    if not quiet:
        console.print(f"gradcheck: {parameters:,} parameters, {passes:,} forward passes over {samples} samples",
                      highlight=False)  # fmt: skip
    progress = Progress(TextColumn("[bold]parameters"), MofNCompleteColumn(), BarColumn(), TimeElapsedColumn(),
                        console=console, disable=quiet or parameters < 2000, transient=True)  # fmt: skip
    task = progress.add_task("gradcheck", total=parameters)
    with progress:
        result = check_gradients(layer_sizes, activation=activation, cost=cost, l2=l2, l1=l1, samples=samples,
                                 device=device, dtype=dtype, seed=seed, yes=yes,
                                 progress=lambda done, total: progress.update(task, completed=done))  # fmt: skip
    verdict = "OK" if result.difference <= threshold else "FAILED"
    out.print(
        f"relative difference {result.difference:.3e} ({verdict}, threshold {threshold:g}; "
        f"{result.n_params} parameters on {result.device}, {result.dtype})",
        highlight=False,
    )
    if verdict != "OK":
        raise typer.Exit(1)


TOOLS = {"gradcheck": gradcheck}
