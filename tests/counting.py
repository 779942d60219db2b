"""A counting shim for array-library calls on the CPU: what a training step would launch on a GPU.

``CountedArray`` is an ndarray subclass: every ufunc (operators included) and every NumPy function
applied to one counts as one call (nested calls inside it do not); ``counting_numpy`` is a stand-in for
the ``cupy`` module whose functions count the same way; a kernel launch through ``counting_launch``
counts one. With ``no_sync()`` active, anything that would copy a device value to the host on a GPU
(float(), int(), bool(), .item(), .get(), printing) raises ``HostSync``.
"""

from __future__ import annotations

import contextlib
import types
from collections import Counter
from typing import Any

import numpy as np


class HostSync(AssertionError):
    """A device value was read on the host while the step must not synchronise."""


class _State:
    depth = 0
    calls: Counter = Counter()
    forbid_sync = False


STATE = _State()


def _count(label: str, function: Any, *args: Any, **kwargs: Any) -> Any:
    """Run ``function``, counting it as one call unless it runs inside another counted call."""
    if STATE.depth == 0:
        STATE.calls[label] += 1
    STATE.depth += 1
    try:
        return function(*args, **kwargs)
    finally:
        STATE.depth -= 1


def _plain(x: Any) -> Any:
    return x.view(np.ndarray) if isinstance(x, CountedArray) else x


def _wrap(x: Any) -> Any:
    """Results back as counted arrays (NumPy scalars too: on a GPU they would be 0-d device arrays)."""
    if type(x) is np.ndarray:
        return x.view(CountedArray)
    if isinstance(x, np.generic):
        return np.asarray(x).view(CountedArray)
    return x


class CountedArray(np.ndarray):
    """An ndarray whose ufuncs, NumPy functions and copying methods are counted, and which refuses host
    reads under ``no_sync``."""

    def __array_ufunc__(self, ufunc: Any, method: str, *inputs: Any, **kwargs: Any) -> Any:
        out = kwargs.get("out")
        if out:
            kwargs["out"] = tuple(_plain(o) for o in out)
        result = _count(f"{ufunc.__name__}.{method}", getattr(ufunc, method), *(_plain(i) for i in inputs), **kwargs)
        if out:  # in place (z += b): the caller's own arrays
            return out[0] if len(out) == 1 else out
        return tuple(_wrap(r) for r in result) if isinstance(result, tuple) else _wrap(result)

    def __array_function__(self, function: Any, types_: Any, args: Any, kwargs: Any) -> Any:
        implementation = super().__array_function__
        return _count(function.__name__, lambda: _wrap(implementation(function, types_, args, kwargs)))

    def astype(self, *args: Any, **kwargs: Any) -> Any:
        return _count("astype", lambda: _wrap(self.view(np.ndarray).astype(*args, **kwargs)))

    def copy(self, *args: Any, **kwargs: Any) -> Any:
        return _count("copy", lambda: _wrap(self.view(np.ndarray).copy(*args, **kwargs)))

    def _refuse(self, what: str) -> None:
        if STATE.forbid_sync:
            raise HostSync(f"{what} of a device array inside the epoch loop forces a host synchronisation")

    def __float__(self) -> float:
        self._refuse("float()")
        return float(self.view(np.ndarray))

    def __int__(self) -> int:
        self._refuse("int()")
        return int(self.view(np.ndarray))

    def __bool__(self) -> bool:
        self._refuse("bool()")
        return bool(self.view(np.ndarray))

    def __index__(self) -> int:
        self._refuse("index()")
        return self.view(np.ndarray).__index__()

    def item(self, *args: Any) -> Any:
        self._refuse(".item()")
        return self.view(np.ndarray).item(*args)

    def tolist(self) -> Any:
        self._refuse(".tolist()")
        return self.view(np.ndarray).tolist()

    def get(self) -> np.ndarray:
        """CuPy's device-to-host copy."""
        self._refuse(".get()")
        return np.array(self.view(np.ndarray))

    def __repr__(self) -> str:
        self._refuse("repr()")
        return repr(self.view(np.ndarray))


def counted(a: np.ndarray) -> CountedArray:
    """A counted copy of a host array."""
    return np.array(a).view(CountedArray)


def _module_function(name: str) -> Any:
    function = getattr(np, name)
    return lambda *args, **kwargs: _wrap(_count(name, function, *args, **kwargs))


counting_numpy = types.SimpleNamespace(
    **{n: _module_function(n) for n in ("matmul", "take", "sum", "empty", "empty_like", "zeros", "concatenate", "ravel")},
    asnumpy=lambda a: np.array(_plain(a)),
)


def counting_launch(name: str, dtype: Any, grid: int, block: int, args: tuple[Any, ...]) -> None:
    """A kernel launch (one call), run by the NumPy mirror."""
    from bpnn_xp.backends.cuda import mirror

    _count(f"kernel {name}", mirror.launch, name, dtype, grid, block, args)


def reset() -> None:
    STATE.calls.clear()


def total() -> int:
    return sum(STATE.calls.values())


@contextlib.contextmanager
def no_sync():
    """Host reads of counted arrays raise inside this block."""
    STATE.forbid_sync = True
    try:
        yield
    finally:
        STATE.forbid_sync = False
