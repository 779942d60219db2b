"""Environment switches of the CPU fast path, read with their accepted values and a clear warning."""

from __future__ import annotations

import os
import warnings

BLAS = {"auto": ("", "auto"), "mkl": ("mkl",), "openblas": ("openblas", "numpy", "off")}
MALLOC = {"pinned": ("", "pinned", "auto", "on"), "default": ("default", "glibc", "off", "0")}
_WARNED: set[tuple[str, str]] = set()


def choice(name: str, accepted: dict[str, tuple[str, ...]]) -> str:
    """The canonical value of environment variable ``name`` (its first key when unset); an unknown value
    warns, naming the accepted ones, and counts as unset."""
    raw = os.environ.get(name, "")
    value = raw.strip().lower()
    for canonical, spellings in accepted.items():
        if value in spellings:
            return canonical
    if (name, raw) not in _WARNED:  # once per process, however often the setting is read
        _WARNED.add((name, raw))
        allowed = ", ".join(s for spellings in accepted.values() for s in spellings if s)
        warnings.warn(f"{name}={raw!r} is not understood (use one of: {allowed}); ignoring it", UserWarning, stacklevel=3)
    return next(iter(accepted))


def blas() -> str:
    """BPNN_XP_BLAS: "auto" (oneMKL where the [mkl] extra is installed), "mkl" (the same, but say so if
    it is missing) or "openblas" (NumPy's own BLAS)."""
    return choice("BPNN_XP_BLAS", BLAS)


def malloc() -> str:
    """BPNN_XP_MALLOC: "pinned" (see ``allocator``) or "default" (leave glibc alone)."""
    return choice("BPNN_XP_MALLOC", MALLOC)
