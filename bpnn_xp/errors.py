"""Error types of bpnn_xp, and the one helper that turns a user's name for something into ours.

Every problem a user can cause is one of these types, with a one-line message that names the
problem and the fix; the CLI prints it and exits 2 (1 for divergence).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping


class BpnnError(Exception):
    """Base class: catch this to handle every error bpnn_xp raises on purpose."""


class BpnnValueError(BpnnError, ValueError):
    """A value is out of range or inconsistent (bad shape, unknown name, NaN in the data...)."""


class NamesSettings:
    """A message that mentions settings by name (``settings``), so each interface can respell them with
    ``spelled``: the CLI as flags, the estimator as its parameters. Paths and values in such messages are
    quoted (repr), so that a folder called "out" is never respelled."""

    def __init__(self, message: str, *settings: str) -> None:
        super().__init__(message)
        self.settings = settings

    def spelled(self, spelling: Callable[[str], str]) -> str:
        """The message with every setting name it mentions written as ``spelling(name)`` (a name stands after a space
        or '(' and is followed by no word character, '/', '.' or '-': paths such as runs/out stay as they are)."""
        text = str(self)
        for name in sorted(self.settings, key=len, reverse=True):
            text = re.sub(rf"(?<![^\s(]){re.escape(name)}(?![\w/.-])", spelling(name).replace("\\", "\\\\"), text)
        return text


class SettingError(NamesSettings, BpnnValueError):
    """A setting's value is bad, or two settings do not fit together; the message names them."""


class SettingWarning(NamesSettings, UserWarning):
    """A note about settings (one that is not used, say); the message names them."""


class BpnnTypeError(BpnnError, TypeError):
    """An argument has the wrong type (non-numeric array, wrong container...)."""


class DeviceError(BpnnValueError):
    """A device was asked for that cannot be had here (no CuPy, no GPU, index out of range)."""


class DeviceDtypeError(NamesSettings, DeviceError):
    """The device cannot hold the dtype asked for; the message names the device and dtype settings."""


class DataFileError(BpnnValueError):
    """A data or model file is missing, truncated, corrupt or not in the expected format."""


class SettingFileError(NamesSettings, DataFileError):
    """A data file problem whose fix is a setting (point data_dir elsewhere, name the label_column...)."""


class WriteError(BpnnError, OSError):
    """A file or folder could not be written (permissions, full disk, size limit, a folder in the way)."""


class RunLockedError(BpnnError):
    """Another process is writing the same run directory."""


class DivergenceError(BpnnError, FloatingPointError):
    """Training produced a NaN or infinite cost."""


def normalize_name(name: object) -> str:
    """The lookup key for a user's name: lower case, spaces trimmed, '-' and ' ' read as '_'."""
    return str(name).strip().lower().replace("-", "_").replace(" ", "_")


def canonical_name(kind: str, name: object, valid: Iterable[str], aliases: Mapping[str, str] | None = None) -> str:
    """Our canonical name for ``name`` (matched case-insensitively, through ``aliases``), or an error
    that lists the valid names. The single place where activation, cost, optimizer, initializer,
    dataset and scipy-method names are looked up."""
    valid = list(valid)
    key = normalize_name(name)
    key = (aliases or {}).get(key, key)
    if key not in valid:
        raise unknown_name(kind, name, valid)
    return key


def unknown_name(kind: str, name: object, valid: Iterable[str]) -> BpnnValueError:
    """The error for an unknown activation/cost/optimizer/... name, listing the valid ones."""
    return BpnnValueError(f"unknown {kind} {name!r}; choose one of: {', '.join(valid)}")
