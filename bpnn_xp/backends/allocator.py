"""glibc's malloc thresholds pinned where its own dynamic rule would take them, for the NumPy fast path.

Why: a backprop step makes and frees arrays of a few hundred KB to a few MB (layer outputs, deltas,
the cost's temporaries). glibc starts with a 128 KB mmap threshold that it raises as such blocks are
freed, but then returns the freed top of the heap to the OS (trim threshold = 2x mmap threshold), so
the next step page-faults its memory in again; pinned, a step reuses its memory (~10-20% faster,
measured: docs/decisions.md).

What: ``mallopt(M_MMAP_THRESHOLD, 32 MB)`` (glibc's own upper bound for the dynamic threshold on 64-bit)
and ``mallopt(M_TRIM_THRESHOLD, 64 MB)`` (its 2x rule), once, when the first NumPy network picks its
kernels. This changes malloc's behaviour for the whole process (any library in it); the cost is that
freed memory goes back to the OS later: the top of the main heap is trimmed only past 64 MB free,
and blocks below 32 MB come from the heap instead of their own mappings. ``BPNN_XP_MALLOC=default``
(set before bpnn_xp creates its first NumPy network) leaves glibc alone; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import functools
import platform

from . import environment

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc's malloc.h
MMAP_THRESHOLD = 32 << 20
TRIM_THRESHOLD = 64 << 20


@functools.cache
def tune() -> str:
    """Pin the thresholds (once per process); returns what was done, in a few words."""
    if environment.malloc() == "default":
        return "glibc defaults (BPNN_XP_MALLOC=default)"
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return "the platform's defaults (not glibc)"
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return "glibc defaults (mallopt not found)"
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    if mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD) != 1 or mallopt(M_TRIM_THRESHOLD, TRIM_THRESHOLD) != 1:
        return "glibc defaults (mallopt refused)"
    return "malloc thresholds pinned (mmap 32 MB, trim 64 MB)"
