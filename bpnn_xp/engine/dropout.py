"""Inverted dropout: per-layer rates, and the keep masks drawn from a seeded host stream.

During training each unit of a hidden layer (and, if asked, each input) is kept with probability 1 - rate and
the kept ones are scaled by 1/(1 - rate), so evaluation and prediction use the network as it is, with no
dropout and no rescaling (Srivastava et al. 2014, the "inverted" form). The backward pass multiplies the
deltas by the same masks (``Network.forward_backward``).

Masks come from a host ``Generator`` (its own stream, spawned from the trainer's seed and saved in every
checkpoint beside the shuffling stream), drawn for the GLOBAL batch, so every backend and every MPI rank sees
the same masks (a rank keeps its rows ``[rank::size]``) and cross-backend equivalence and bit-exact resume hold.
On a GPU the boolean masks (one byte per unit: batch 128 x 1024 units = 128 KiB a step) are copied with
the batch's other host input; the copy is asynchronous with respect to the kernels already queued, and the
products of a step take far longer, so the host-to-device copy is not the bottleneck. If it ever is (tiny
layers, huge batches), the way out that keeps the host stream as the source of truth is to draw a seed per step
on the host and generate the mask on the device (``cupy.random`` seeded from it), with the equivalence tests
then run on fixed masks (``Network.forward_backward(masks=...)``), as the gradient check already does.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from .. import backends, checks
from ..errors import BpnnValueError


@dataclass(frozen=True)
class Masks:
    """Keep masks for one batch: ``keep[l]`` for activation l (0 = the inputs, then each hidden layer), a boolean
    (rows, width) array or None for no dropout there; ``scales[l]`` = 1/(1 - rate)."""

    keep: list[Any]
    scales: list[float]


def check_rates(rates: Any, n_hidden: int, what: str = "dropout") -> list[float]:
    """One rate in [0, 1) per hidden layer: a single number is used for every layer."""
    if rates is None:
        rates = 0.0
    if isinstance(rates, (int, float)) and not isinstance(rates, bool):
        rates = [float(rates)] * n_hidden
    rates = list(rates)
    if all(checks.is_real(r) and float(r) == 0.0 for r in rates):
        return [0.0] * n_hidden  # no dropout, whatever the count of zeros
    if len(rates) == 1 and n_hidden > 1:
        rates = rates * n_hidden
    if len(rates) != n_hidden:
        raise BpnnValueError(f"{what} gives {len(rates)} rates for {n_hidden} hidden layers; give one rate or one per layer")
    for rate in rates:
        if isinstance(rate, bool) or not isinstance(rate, (int, float)) or not (0.0 <= rate < 1.0) or not math.isfinite(rate):
            raise BpnnValueError(f"{what} rates must be numbers in [0, 1), got {rate!r}")
    return [float(r) for r in rates]


class Dropout:
    """The dropout of a training run: a rate per activation (inputs first) and the host stream its masks come from."""

    def __init__(self, rates: Sequence[float], input_rate: float, rng: Any) -> None:
        self.rates = [float(input_rate), *(float(r) for r in rates)]
        self.rng = rng

    @property
    def active(self) -> bool:
        return any(self.rates)

    def draw(self, rows: int, widths: Sequence[int], like: Any, rank: int = 0, size: int = 1) -> Masks:
        """Masks for a global batch of ``rows`` rows (widths: inputs, then each hidden layer), this rank's share
        ``[rank::size]``, on ``like``'s device. The stream advances the same way on every rank and backend."""
        keep: list[Any] = []
        for rate, width in zip(self.rates, widths):
            if not rate:
                keep.append(None)
                continue
            mask = self.rng.random((rows, width)) >= rate  # kept with probability 1 - rate
            if size > 1:
                mask = mask[rank::size]
            keep.append(backends.from_host(mask, like=like))
        return Masks(keep, [1.0 / (1.0 - r) for r in self.rates])
