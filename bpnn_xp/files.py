"""Writing files safely: atomic replacement, one-line errors users can act on, and a lock per run folder.

Every file bpnn writes (models, metadata, plots) goes through ``atomic_write``: readers see the old
file or the new one, never half of one, and any failure (full disk, size limit, read-only mount, a
folder in the way...) leaves the old file intact, removes the temp file and raises a ``WriteError``
whose message names the path, the cause and the fix. ``RunLock`` stops two processes from writing
the same run folder. Only the standard library is imported here: the app layer imports this module.
"""

from __future__ import annotations

import errno
import os
import re
from pathlib import Path
from types import TracebackType

from .errors import RunLockedError, WriteError

try:  # POSIX only; on Windows RunLock falls back to no locking (see RunLock.acquire).
    import fcntl
except ImportError:  # pragma: no cover - exercised on Windows only
    fcntl = None  # type: ignore[assignment]

__all__ = ["LOCK_NAME", "RunLock", "atomic_write", "clean_stale_temps", "ensure_folder", "write_error", "write_text"]

LOCK_NAME = ".lock"

_OUT_OF_SPACE = "free some space or choose another --out"
_FILE_IN_THE_WAY = "a file is in the way where a folder is needed"
_CAUSES: dict[int, str] = {
    errno.ENOSPC: f"no space left on device; {_OUT_OF_SPACE}",
    errno.EFBIG: "the file-size limit (ulimit -f) was exceeded; raise it or choose another --out",
    errno.EROFS: "read-only file system; choose another --out",
    errno.EACCES: "permission denied; check the folder's permissions or choose another --out",
    errno.EPERM: "permission denied; check the folder's permissions or choose another --out",
    errno.EISDIR: "a folder is in the way where a file is needed; remove it or choose another --out",
    errno.ENOTDIR: _FILE_IN_THE_WAY,
    errno.EEXIST: _FILE_IN_THE_WAY,
    errno.ENAMETOOLONG: "the name is too long for the file system; choose a shorter --out",
    errno.ENOENT: "its folder does not exist; create it first or choose another --out",
    errno.ENOLCK: "the file system does not support locking; choose another --out",
}
if hasattr(errno, "EDQUOT"):
    _CAUSES[errno.EDQUOT] = f"the disk quota is exceeded; {_OUT_OF_SPACE}"


def write_error(path: Path | str, exc: OSError) -> WriteError:
    """The one-line WriteError for ``exc`` raised while writing ``path``: the path, the cause in words, the fix."""
    code = exc.errno
    cause = _CAUSES.get(code) if code is not None else None
    if cause is None:
        cause = (os.strerror(code) if code is not None else str(exc) or type(exc).__name__).lower()
    elif cause == _FILE_IN_THE_WAY:
        cause = _file_in_the_way(Path(path))
    error = WriteError(f"cannot write {path}: {cause}")
    error.errno = code  # str(error) stays the message: OSError only reformats when strerror is set too
    return error


def _file_in_the_way(path: Path) -> str:
    """The 'file in the way' phrase, naming the blocking file when it is not ``path`` itself."""
    for candidate in (path, *path.parents):
        if candidate.exists() and not candidate.is_dir():
            where = "" if candidate == path else f" ({candidate})"
            return f"{_FILE_IN_THE_WAY}{where}; remove it or choose another --out"
    return f"{_FILE_IN_THE_WAY}; remove it or choose another --out"


def ensure_folder(path: Path | str) -> Path:
    """Create ``path`` and its parents if needed; failures become a one-line WriteError."""
    folder = Path(path)
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise write_error(folder, exc) from exc
    return folder


def atomic_write(path: Path | str, payload: bytes, durable: bool = True) -> Path:
    """Replace ``path`` with ``payload`` so readers see the old file or the new one, never half of one.

    ``durable`` also flushes the file and its folder to disk (fsync) so the write survives a power cut;
    files that can be rebuilt from another (model.json, metrics.csv) skip that cost on every epoch.

    The temp file ``.{name}.{pid}.{random}.tmp`` sits in the same folder (so ``os.replace`` is atomic)
    and is created with mode 0o666, so the umask applies as for any other file. On any failure the
    temp file is removed and the old file is left intact; OSErrors become a one-line WriteError and
    KeyboardInterrupt/SystemExit are re-raised unchanged.
    """
    target = Path(path)
    clean_stale_temps(target.parent, target.name)
    temp: Path | None = None
    try:
        if target.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(target))
        temp, handle = _open_temp(target)
        try:
            _write_all(handle, payload)
            if durable:
                os.fsync(handle)
        finally:
            os.close(handle)
        os.replace(temp, target)
        temp = None
    except BaseException as exc:
        if temp is not None:
            _remove_quietly(temp)
        if isinstance(exc, OSError) and not isinstance(exc, WriteError):
            raise write_error(target, exc) from exc
        raise
    if durable:
        _fsync_folder(target.parent)
    return target


def write_text(path: Path | str, text: str, durable: bool = True) -> Path:
    """``atomic_write`` for text, encoded as UTF-8."""
    return atomic_write(path, text.encode("utf-8"), durable)


def _open_temp(target: Path) -> tuple[Path, int]:
    """Create a new temp file next to ``target``, named after it and this pid; return its path and descriptor."""
    flags = os.O_CREAT | os.O_EXCL | os.O_WRONLY | getattr(os, "O_BINARY", 0) | getattr(os, "O_CLOEXEC", 0)
    for _ in range(16):
        temp = target.with_name(f".{target.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
        try:
            return temp, os.open(temp, flags, 0o666)
        except FileExistsError:
            continue  # a random-name collision: O_EXCL keeps us off the other file; draw again
    raise FileExistsError(errno.EEXIST, "could not pick an unused temp file name", str(target))


def _write_all(handle: int, payload: bytes) -> None:
    """Write every byte of ``payload`` (os.write may write only part of it, e.g. at a size limit)."""
    view = memoryview(payload).cast("B")
    while view:
        written = os.write(handle, view)
        if written <= 0:
            raise OSError(errno.EIO, "the write made no progress")
        view = view[written:]


def _remove_quietly(path: Path) -> None:
    """Remove ``path`` if it is there; a failure to clean up must not hide the error being raised."""
    try:
        os.unlink(path)
    except OSError:
        pass


def _fsync_folder(folder: Path) -> None:
    """Flush the folder entry so the rename survives a power cut; best effort (not possible on Windows)."""
    if os.name == "nt":
        return
    try:
        handle = os.open(folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(handle)
    except OSError:
        pass
    finally:
        os.close(handle)


def clean_stale_temps(folder: Path | str, name: str) -> list[Path]:
    """Remove the ``.{name}.{pid}.*.tmp`` files left by killed processes (never a live process's); return them."""
    pattern = re.compile(re.escape(f".{name}.") + r"(\d+)\.[0-9a-f]{8}\.tmp")
    try:
        entries = list(os.scandir(folder))
    except OSError:
        return []  # no folder (yet), or not a folder: atomic_write reports that itself
    removed = []
    for entry in entries:
        match = pattern.fullmatch(entry.name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        try:
            os.unlink(entry.path)
        except OSError:
            continue
        removed.append(Path(entry.path))
    return removed


def _pid_alive(pid: int) -> bool:
    """Whether process ``pid`` may be alive; when in doubt, yes (the temp file is then kept)."""
    if pid <= 0 or pid == os.getpid() or os.name == "nt":
        return True  # on Windows os.kill(pid, 0) would terminate the process, not probe it
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (OSError, OverflowError):
        return True  # PermissionError: alive but someone else's
    return True


class RunLock:
    """Exclusive use of a run folder by one process: ``flock`` on ``folder/.lock``, which records the holder's pid.

    The kernel drops the lock when the holder exits, even on SIGKILL, so a killed run never leaves
    its folder locked; the file itself stays (deleting it would let two processes lock two files).
    """

    def __init__(self, folder: Path | str) -> None:
        self.folder = Path(folder)
        self.path = self.folder / LOCK_NAME
        self._handle: int | None = None

    @property
    def held(self) -> bool:
        """Whether this object holds the lock now."""
        return self._handle is not None

    def acquire(self) -> RunLock:
        """Take the lock (creating the folder if needed), or raise RunLockedError naming the holder's pid."""
        ensure_folder(self.folder)
        if fcntl is None:
            return self  # Windows: no flock; concurrent runs in one folder are not detected there
        flags = os.O_RDWR | os.O_CREAT | getattr(os, "O_CLOEXEC", 0)
        try:
            handle = os.open(self.path, flags, 0o666)
        except OSError as exc:
            raise write_error(self.path, exc) from exc
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as exc:
            os.close(handle)
            if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLockedError(self._busy_message()) from None
            raise write_error(self.path, exc) from exc
        _record_pid(handle)
        self._handle = handle
        return self

    def release(self) -> None:
        """Give the lock back (a no-op when not held)."""
        handle, self._handle = self._handle, None
        if handle is None:
            return
        try:
            fcntl.flock(handle, fcntl.LOCK_UN)
        finally:
            os.close(handle)

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, kind: type[BaseException] | None, value: BaseException | None, trace: TracebackType | None) -> None:
        self.release()

    def _busy_message(self) -> str:
        """The RunLockedError message: the folder, the holder's pid, what to do."""
        pid = _read_pid(self.path)
        if pid == os.getpid():
            holder = f"another run in this bpnn process (pid {pid})"
        else:
            holder = f"another bpnn process (pid {pid if pid is not None else 'unknown'})"
        return f"run folder {self.folder} is in use by {holder}; wait for it to finish or choose another --out"


def _record_pid(handle: int) -> None:
    """Write this process's pid into the held lock file; best effort, as it only informs other processes."""
    record = f"{os.getpid()}\n".encode()
    try:
        os.lseek(handle, 0, os.SEEK_SET)
        os.write(handle, record)
        os.ftruncate(handle, len(record))
    except OSError:
        pass


def _read_pid(path: Path) -> int | None:
    """The pid recorded in a lock file, or None when it cannot be read."""
    try:
        return int(path.read_text(encoding="ascii").strip())
    except (OSError, ValueError):
        return None
