"""Error types of bpnn_xp: every problem a user can cause is one of these, with a one-line message."""

from __future__ import annotations


class BpnnError(Exception):
    """Base class: catch this to handle every error bpnn_xp raises on purpose."""


class BpnnValueError(BpnnError, ValueError):
    """A value is out of range or inconsistent (bad shape, unknown name, NaN in the data...)."""


class BpnnTypeError(BpnnError, TypeError):
    """An argument has the wrong type (non-numeric array, wrong container...)."""


class DeviceError(BpnnValueError):
    """A device was asked for that cannot be had here (no CuPy, no GPU, index out of range)."""


class DataFileError(BpnnValueError):
    """A data or model file is missing, truncated, corrupt or not in the expected format."""


class DivergenceError(BpnnError, FloatingPointError):
    """Training produced a NaN or infinite cost."""


def unknown_name(kind: str, name: object, valid: list[str] | tuple[str, ...]) -> BpnnValueError:
    """The error for an unknown activation/cost/optimizer/... name, listing the valid ones."""
    return BpnnValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(valid)}")
