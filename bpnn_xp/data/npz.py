"""An untrusted .npz read the one guarded way (a user's data file and a model file alike), and the user-data form
"an .npz with arrays X and y".

Nothing is unpickled (``allow_pickle=False``); every member's .npy header (format version, dtype, shape) is read
and checked against a byte limit and against the member's stored size before the member is inflated; whatever
goes wrong is one DataFileError made by the caller's ``refuse(reason)``, so each file kind keeps its own words.
"""

from __future__ import annotations

import contextlib
import io
import math
import zipfile
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

import numpy as np

from ..errors import DataFileError

Refuse = Callable[[str], DataFileError]  # reason -> the caller's one-line error
NPY_MAGIC = b"\x93NUMPY"
MAX_ARRAY_BYTES = 1 << 31  # a user's .npz member claiming more (uncompressed) is refused before it is inflated
PICKLED = "holds pickled objects, which bpnn_xp never loads"


@dataclass
class GuardedNpz:
    """An open .npz whose members' stored sizes are known; ``read`` checks a member's header before inflating it."""

    archive: Any  # numpy's NpzFile
    sizes: dict[str, int]  # each member's stored (uncompressed) size, by name without .npy
    refuse: Refuse

    def read(self, key: str, max_bytes: int) -> np.ndarray:
        """Member ``key`` as an array: no objects, at most ``max_bytes`` and no more than the member holds."""
        try:
            shape, dtype = self._header(key)
            if dtype.hasobject:
                raise self.refuse(f"{key} {PICKLED}")
            nbytes = math.prod(shape) * dtype.itemsize
            if nbytes > max_bytes or nbytes > self.sizes[key]:
                raise self.refuse(f"{key} claims a {shape} array of {nbytes} bytes, over the limit or more than the file holds")
            return np.asarray(self.archive[key])
        except DataFileError:
            raise
        except ValueError as exc:
            pickled = "pickle" in str(exc) or "Object arrays" in str(exc)  # never relay NumPy's hint to load pickles
            raise self.refuse(f"{key} {PICKLED}" if pickled else f"{key} is not a readable array ({exc})") from None
        except (OSError, EOFError, KeyError, zipfile.BadZipFile, zlib.error, NotImplementedError, MemoryError) as exc:
            raise self.refuse(f"{key} is truncated or corrupt ({type(exc).__name__}: {exc})") from None

    def _header(self, key: str) -> tuple[tuple[int, ...], np.dtype]:
        zipped = self.archive.zip
        name = f"{key}.npy" if f"{key}.npy" in zipped.namelist() else key
        with zipped.open(name) as member:
            version = np.lib.format.read_magic(member)
            if version not in ((1, 0), (2, 0)):
                raise self.refuse(f"{key} is stored in .npy format version {version}; save it again with numpy.savez")
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, _, dtype = read(member)
        return shape, dtype


@contextlib.contextmanager
def open_npz(file: Path | BinaryIO, refuse: Refuse) -> Iterator[GuardedNpz]:
    """The archive in ``file`` (a path or bytes in memory), or ``refuse(reason)`` when it is no readable .npz."""
    if _starts_with(file, NPY_MAGIC):
        raise refuse("a single .npy array, not an .npz archive")
    if not zipfile.is_zipfile(file):
        raise refuse("not an .npz archive")
    try:
        with zipfile.ZipFile(_rewound(file)) as zipped:
            sizes = {info.filename.removesuffix(".npy"): info.file_size for info in zipped.infolist()}
        archive = np.load(_rewound(file), allow_pickle=False)
    except (ValueError, OSError, EOFError, zipfile.BadZipFile, NotImplementedError) as exc:
        raise refuse(f"it {PICKLED}" if "pickle" in str(exc) else f"corrupt .npz: {type(exc).__name__}: {exc}") from None
    if not isinstance(archive, np.lib.npyio.NpzFile):
        raise refuse("a single .npy array, not an .npz archive")
    with archive:
        yield GuardedNpz(archive, dict(sorted(sizes.items())), refuse)


def _rewound(file: Path | BinaryIO) -> Path | BinaryIO:
    if isinstance(file, io.IOBase):
        file.seek(0)
    return file


def _starts_with(file: Path | BinaryIO, magic: bytes) -> bool:
    try:
        if isinstance(file, io.IOBase):
            return _rewound(file).read(len(magic)) == magic
        with open(file, "rb") as handle:
            return handle.read(len(magic)) == magic
    except OSError:
        return False


def read_npz(path: Path) -> tuple[np.ndarray, np.ndarray, tuple[int, int] | None]:
    """(X as n x F, y, image shape if X was n x H x W) from a user's .npz archive with arrays X and y."""

    def refuse(reason: str) -> DataFileError:
        return DataFileError(f"{path} is not a readable .npz archive ({reason}); save it with numpy.savez(path, X=..., y=...)")

    with open_npz(path, refuse) as npz:
        if "X" not in npz.sizes or "y" not in npz.sizes:
            held = ", ".join(npz.sizes) or "nothing"
            raise DataFileError(f"{path} must hold arrays X and y (numpy.savez(path, X=features, y=labels)); it holds {held}")
        X, y = npz.read("X", MAX_ARRAY_BYTES), npz.read("y", MAX_ARRAY_BYTES)
    if X.dtype.kind not in ("b", "i", "u", "f"):
        raise DataFileError(f"{path}: X holds {X.dtype} values; it must be a real numeric array")
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if X.ndim == 3:
        return X.reshape(X.shape[0], -1), y, (int(X.shape[1]), int(X.shape[2]))
    if X.ndim != 2:
        raise DataFileError(f"{path}: X has shape {X.shape}; it must be n x features or n x height x width")
    return X, y, None
