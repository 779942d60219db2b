"""bpnn_xp.files: atomic writes that leave the old file intact on every failure, one-line WriteErrors, RunLock."""

from __future__ import annotations

import errno
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from bpnn_xp import files
from bpnn_xp.errors import BpnnError, RunLockedError, WriteError
from bpnn_xp.files import RunLock, atomic_write, clean_stale_temps, ensure_folder, write_text

PACKAGE_DIR = Path(files.__file__).parent
# Child processes import bpnn_xp.files without running the package __init__ (NumPy, SciPy...): files.py
# needs only .errors, and this keeps each child to a few tens of milliseconds.
CHILD_PRELUDE = f"""
import sys, types
package = types.ModuleType("bpnn_xp")
package.__path__ = [{str(PACKAGE_DIR)!r}]
sys.modules["bpnn_xp"] = package
from bpnn_xp.errors import WriteError, RunLockedError
from bpnn_xp.files import RunLock, atomic_write
"""
POSIX_ONLY = pytest.mark.skipif(os.name != "posix", reason="needs POSIX (fork, rlimits, flock, umask modes)")


def run_child(code: str, **kwargs) -> subprocess.CompletedProcess:
    """Run ``code`` (after the prelude) in a fresh interpreter that writes no bytecode."""
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    script = CHILD_PRELUDE + textwrap.dedent(code)
    return subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=30, **kwargs)


def temps(folder: Path) -> list[str]:
    """The names of the temp files left in ``folder``."""
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


def dead_pid() -> int:
    """The pid of a process that has exited and been reaped."""
    child = subprocess.Popen([sys.executable, "-c", ""])
    child.wait()
    return child.pid


def open_descriptors() -> int | None:
    """How many file descriptors this process has open (None where /proc is not there to tell)."""
    return len(os.listdir("/proc/self/fd")) if os.path.isdir("/proc/self/fd") else None


def assert_one_line(exc: BaseException, *parts: str) -> None:
    """The message is one line and mentions each of ``parts``."""
    message = str(exc)
    assert "\n" not in message, message
    for part in parts:
        assert part in message, message


# --- content and atomicity -------------------------------------------------------------------------------


def test_new_content_replaces_old_and_returns_the_path(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    assert atomic_write(target, b"old") == target
    assert atomic_write(str(target), bytearray(b"new content")) == target
    assert target.read_bytes() == b"new content"
    assert write_text(tmp_path / "model.json", "caf\u00e9\n").read_bytes() == "caf\u00e9\n".encode()
    assert temps(tmp_path) == []


def test_failed_replace_keeps_old_file_and_leaves_no_temp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")

    def refuse(src, dst):
        raise PermissionError(errno.EACCES, "Permission denied", str(dst))

    monkeypatch.setattr(files.os, "replace", refuse)
    with pytest.raises(WriteError) as info:
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert_one_line(info.value, f"cannot write {target}", "permission denied", "--out")
    assert isinstance(info.value, OSError) and isinstance(info.value, BpnnError)
    assert info.value.errno == errno.EACCES
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


@pytest.mark.parametrize("interrupt", [KeyboardInterrupt, SystemExit])
def test_interrupt_during_write_keeps_old_file_and_leaves_no_temp(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, interrupt: type[BaseException]
) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")
    real_write = os.write

    def write_then_interrupt(handle, data):
        real_write(handle, bytes(data[:2]))  # half a file is on disk when the interrupt comes
        raise interrupt()

    monkeypatch.setattr(files.os, "write", write_then_interrupt)
    with pytest.raises(interrupt):
        atomic_write(target, b"new content")
    monkeypatch.undo()
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


def test_full_disk_simulated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "model.npz"
    target.write_bytes(b"old")

    def full(handle, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(files.os, "write", full)
    with pytest.raises(WriteError) as info:
        atomic_write(target, b"new")
    monkeypatch.undo()
    assert_one_line(info.value, f"cannot write {target}: no space left on device", "free some space")
    assert target.read_bytes() == b"old"
    assert temps(tmp_path) == []


# --- umask -----------------------------------------------------------------------------------------------


@POSIX_ONLY
@pytest.mark.parametrize(("umask", "mode"), [(0o022, 0o644), (0o077, 0o600), (0o002, 0o664)])
def test_umask_is_honoured(tmp_path: Path, umask: int, mode: int) -> None:
    target = tmp_path / "model.json"
    target.write_bytes(b"old")
    os.chmod(target, 0o600)
    previous = os.umask(umask)
    try:
        atomic_write(target, b"new")
    finally:
        os.umask(previous)
    assert target.stat().st_mode & 0o777 == mode


# --- things in the way -----------------------------------------------------------------------------------


def test_target_is_a_directory(tmp_path: Path) -> None:
    target = tmp_path / "model.npz"
    (target / "inside").mkdir(parents=True)
    with pytest.raises(WriteError) as info:
        atomic_write(target, b"new")
    assert_one_line(info.value, f"cannot write {target}", "a folder is in the way")
    assert (target / "inside").is_dir()
    assert temps(tmp_path) == []


def test_parent_is_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("not a folder")
    with pytest.raises(WriteError) as info:
        atomic_write(blocker / "x" / "model.npz", b"new")
    assert_one_line(info.value, "a file is in the way where a folder is needed", f"({blocker})")
    assert blocker.read_text() == "not a folder"


def test_ensure_folder(tmp_path: Path) -> None:
    nested = tmp_path / "runs" / "a" / "b"
    assert ensure_folder(nested) == nested and nested.is_dir()
    assert ensure_folder(str(nested)) == nested  # exists already: fine
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(WriteError) as info:
        ensure_folder(blocker)
    assert_one_line(info.value, f"cannot write {blocker}: a file is in the way where a folder is needed;")
    with pytest.raises(WriteError) as info:
        ensure_folder(blocker / "sub")
    assert_one_line(info.value, f"cannot write {blocker / 'sub'}: a file is in the way", f"({blocker})")


def test_missing_folder_and_long_name(tmp_path: Path) -> None:
    with pytest.raises(WriteError) as info:
        atomic_write(tmp_path / "missing" / "model.npz", b"x")
    assert_one_line(info.value, "its folder does not exist")
    with pytest.raises(WriteError) as info:
        atomic_write(tmp_path / ("x" * 300), b"x")
    assert_one_line(info.value, "the name is too long")


@POSIX_ONLY
def test_permission_denied_by_mode_bits(tmp_path: Path) -> None:
    if os.geteuid() == 0:
        pytest.skip("running as root, which ignores permission bits (the read-only mount test covers refusal)")
    folder = tmp_path / "locked"
    folder.mkdir()
    folder.chmod(0o500)
    try:
        with pytest.raises(WriteError) as info:
            atomic_write(folder / "model.npz", b"x")
    finally:
        folder.chmod(0o700)
    assert_one_line(info.value, "permission denied")


# --- resource limits and real file systems ---------------------------------------------------------------


@POSIX_ONLY
def test_file_size_limit_gives_one_line_error_and_keeps_old_file(tmp_path: Path) -> None:
    import resource

    target = tmp_path / "model.npz"
    target.write_bytes(b"previous model")
    limit = 4096

    def limit_file_size() -> None:
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))

    code = f"""
    try:
        atomic_write({str(target)!r}, b"x" * {8 * limit})
    except WriteError as exc:
        print(exc)
        sys.exit(2)
    """
    result = run_child(code, preexec_fn=limit_file_size)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    expected = f"cannot write {target}: the file-size limit (ulimit -f) was exceeded; raise it or choose another --out\n"
    assert result.stdout == expected
    assert target.read_bytes() == b"previous model"
    assert temps(tmp_path) == []


@pytest.fixture
def mount_point(tmp_path: Path):
    """A folder to mount on, unmounted afterwards; skips where mounting is not permitted."""
    if not sys.platform.startswith("linux") or shutil.which("mount") is None:
        pytest.skip("needs Linux and the mount command")
    point = tmp_path / "mnt"
    point.mkdir()
    mounted: list[Path] = []

    def mount(*args: str) -> Path:
        result = subprocess.run(["mount", *args, str(point)], capture_output=True, text=True)
        if result.returncode != 0:
            pytest.skip(f"mounting is not permitted here: {(result.stderr.strip() or str(result.returncode)).splitlines()[0]}")
        mounted.append(point)
        return point

    yield mount
    for path in reversed(mounted):
        subprocess.run(["umount", "-l", str(path)], capture_output=True)


def test_real_full_disk_on_a_tiny_tmpfs(mount_point) -> None:
    folder = mount_point("-t", "tmpfs", "-o", "size=64k", "tmpfs")
    target = folder / "model.npz"
    atomic_write(target, b"previous model")
    with pytest.raises(WriteError) as info:
        atomic_write(target, os.urandom(256 * 1024))
    assert_one_line(info.value, f"cannot write {target}: no space left on device; free some space or choose another --out")
    assert info.value.errno == errno.ENOSPC
    assert target.read_bytes() == b"previous model"
    assert temps(folder) == []
    atomic_write(target, b"fits")  # the space the failed write took is back
    assert target.read_bytes() == b"fits"


def test_real_read_only_mount(mount_point, tmp_path: Path) -> None:
    source = tmp_path / "source"
    source.mkdir()
    (source / "model.npz").write_bytes(b"previous model")
    folder = mount_point("--bind", str(source))
    remount = subprocess.run(["mount", "-o", "remount,bind,ro", str(folder)], capture_output=True, text=True)
    if remount.returncode != 0:
        pytest.skip(f"remounting read-only is not permitted here: {(remount.stderr.strip() or '?').splitlines()[0]}")
    with pytest.raises(WriteError) as info:
        atomic_write(folder / "model.npz", b"new")
    assert_one_line(info.value, f"cannot write {folder / 'model.npz'}: read-only file system; choose another --out")
    with pytest.raises(WriteError) as info:
        ensure_folder(folder / "run")
    assert_one_line(info.value, "read-only file system")
    assert (folder / "model.npz").read_bytes() == b"previous model"


# --- stale temp files ------------------------------------------------------------------------------------


@POSIX_ONLY
def test_stale_temps_of_dead_processes_are_removed_live_ones_kept(tmp_path: Path) -> None:
    dead = tmp_path / f".model.npz.{dead_pid()}.0123abcd.tmp"
    live = tmp_path / f".model.npz.{os.getpid()}.89abcdef.tmp"
    parent = tmp_path / f".model.npz.{os.getppid()}.00000000.tmp"  # alive, and maybe not ours to signal
    other_file = tmp_path / f".model.json.{dead_pid()}.0123abcd.tmp"
    old_style = tmp_path / ".model.npz.k3j4h5g6.tmp"  # mkstemp's names carry no pid: never touched
    for path in (dead, live, parent, other_file, old_style):
        path.write_bytes(b"partial")
    assert clean_stale_temps(tmp_path, "model.json") == [other_file]
    atomic_write(tmp_path / "model.npz", b"new")
    assert not dead.exists()
    assert live.exists() and parent.exists() and old_style.exists()
    assert (tmp_path / "model.npz").read_bytes() == b"new"


def test_clean_stale_temps_on_missing_folder(tmp_path: Path) -> None:
    assert clean_stale_temps(tmp_path / "missing", "model.npz") == []


# --- RunLock ---------------------------------------------------------------------------------------------

needs_flock = pytest.mark.skipif(files.fcntl is None, reason="no fcntl.flock on this platform: RunLock does not lock")


@needs_flock
def test_run_lock_in_one_process(tmp_path: Path) -> None:
    folder = tmp_path / "runs" / "x"
    with RunLock(folder) as lock:
        assert lock.held and folder.is_dir()
        assert (folder / files.LOCK_NAME).read_text().strip() == str(os.getpid())
        open_before = open_descriptors()
        with pytest.raises(RunLockedError) as info:
            RunLock(folder).acquire()
        assert_one_line(info.value, f"run folder {folder} is in use", f"(pid {os.getpid()})", "choose another --out")
        assert open_descriptors() == open_before  # the refused attempt closed its lock file
    assert not lock.held
    second = RunLock(folder).acquire()  # release let a new holder in
    second.release()
    second.release()  # releasing twice is harmless


@needs_flock
def test_run_lock_held_by_another_process_until_it_is_killed(tmp_path: Path) -> None:
    folder = tmp_path / "run"
    code = f"""
    import time
    lock = RunLock({str(folder)!r}).acquire()
    print("locked", flush=True)
    time.sleep(60)
    """
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    script = CHILD_PRELUDE + textwrap.dedent(code)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True, env=env)
    try:
        assert child.stdout.readline() == "locked\n"
        with pytest.raises(RunLockedError) as info:
            RunLock(folder).acquire()
        assert_one_line(info.value, f"run folder {folder} is in use by another bpnn process (pid {child.pid})")
    finally:
        child.send_signal(signal.SIGKILL)
        child.wait()
        child.stdout.close()
    with RunLock(folder) as lock:  # the kernel dropped the killed holder's lock
        assert lock.held
        assert (folder / files.LOCK_NAME).read_text().strip() == str(os.getpid())


def test_run_lock_folder_blocked_by_a_file(tmp_path: Path) -> None:
    blocker = tmp_path / "run"
    blocker.write_text("x")
    with pytest.raises(WriteError) as info:
        RunLock(blocker).acquire()
    assert_one_line(info.value, "a file is in the way")


def test_module_imports_only_the_standard_library() -> None:
    result = run_child("print(sorted(m for m in ('numpy', 'scipy', 'matplotlib', 'typer') if m in sys.modules))")
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
