"""The backends every engine test runs on, and ``assert_close`` (SciPy's xp_assert_close idea).

One parametrization over (device, dtype) in the scikit-learn style: numpy, array-api-strict on a
fake non-default device, torch on the CPU and CuPy on a GPU (marked ``gpu``). A backend that is not
installed here is skipped with the reason, never silently passed.
"""

from __future__ import annotations

import importlib.util
from typing import Any

import numpy as np
import pytest
from array_api_compat import array_namespace
from array_api_compat import device as device_of

from bpnn_xp import backends


def cuda_skip_reason() -> str | None:
    """Why the CuPy/CUDA variants skip here (None: a GPU that passes the trial computation)."""
    if importlib.util.find_spec("cupy") is None:
        return "CuPy is not installed (pip install 'bpnn_xp[cuda12]')"
    from bpnn_xp.backends import gpu_probe

    problem = gpu_probe.cuda_problem(0)  # a GPU that is counted but cannot compute skips too, with the reason
    return f"no usable CUDA GPU: {problem}" if problem else None


def array_api_check_skip_reason(check: Any) -> str | None:
    """Why one of scikit-learn's array-API checks must skip here: it wants torch on CUDA or CuPy, and they do not work.

    scikit-learn runs its torch-cuda variants whenever ``torch.backends.cuda.is_built()`` (true for PyPI's default
    torch even without a GPU) and its CuPy variants whenever CuPy imports; both then die on the missing driver.
    """
    keywords = getattr(check, "keywords", {})
    places = [(keywords.get("array_namespace"), keywords.get("device_name"))]
    places += [tuple(keywords[k])[:2] for k in ("other_ns_and_device", "X_ns_and_device") if k in keywords]
    from bpnn_xp.backends import gpu_probe

    if any(ns == "torch" and str(dev).startswith("cuda") for ns, dev in places):
        problem = gpu_probe.torch_cuda_problem()
        if problem:
            return f"needs torch on a CUDA GPU: {problem}"
    if any(ns == "cupy" for ns, _ in places):
        return cuda_skip_reason()
    return None


def _param(device: str, reason: str | None, *marks: Any) -> Any:
    skip = [pytest.mark.skip(reason=reason)] if reason else []
    return pytest.param(device, marks=[*marks, *skip], id=device)


DEVICES = [
    _param("cpu", None),
    _param(
        "array-api-strict:device1",
        None if importlib.util.find_spec("array_api_strict") else "array-api-strict is not installed (pip install '.[test]')",
    ),
    _param("torch", None if importlib.util.find_spec("torch") else "torch is not installed (pip install '.[torch]')"),
    _param("cuda", cuda_skip_reason(), pytest.mark.gpu),
]
DTYPES = ["float64", "float32"]

# Relative tolerance by dtype for results computed along different but equivalent paths.
TOLERANCE = {"float64": 1e-10, "float32": 1e-4}


def assert_close(actual: Any, expected: Any, rtol: float | None = None, atol: float = 0.0, like: Any = None) -> None:
    """Values close, and ``actual`` still in the namespace and device of ``like`` (if given).

    Both sides go to NumPy; the tolerance defaults by dtype; a failure names the worst element.
    """
    if like is not None:
        assert array_namespace(actual) is array_namespace(like), (
            f"result left its namespace: {array_namespace(actual).__name__} != {array_namespace(like).__name__}"
        )
        assert device_of(actual) == device_of(like), f"result moved from {device_of(like)} to {device_of(actual)}"
    a = backends.to_numpy(actual).astype(np.float64)
    e = backends.to_numpy(expected).astype(np.float64) if not np.isscalar(expected) else np.float64(expected)
    if rtol is None:
        rtol = TOLERANCE[str(np.asarray(backends.to_numpy(actual)).dtype)] if a.dtype.kind == "f" else 0.0
    assert a.shape == np.shape(e), f"shape {a.shape} != {np.shape(e)}"
    err = np.abs(a - e)
    bound = atol + rtol * np.abs(e)
    if np.any(err > bound) or np.any(np.isnan(a) != np.isnan(e)):
        worst = np.unravel_index(np.argmax(err - bound), err.shape) if err.ndim else ()
        raise AssertionError(
            f"not close (rtol={rtol:g}, atol={atol:g}): worst at {worst}: actual {a[worst]!r} vs expected "
            f"{np.asarray(e)[worst]!r} (|diff| {err[worst]:.3e}); {int(np.sum(err > bound))} of {err.size} elements off"
        )


def relative_max_difference(actual: Any, expected: Any) -> float:
    """max |a - e| / max |e| on host copies: the figure the cross-backend tests quote."""
    a = backends.to_numpy(actual).astype(np.float64)
    e = backends.to_numpy(expected).astype(np.float64)
    return float(np.max(np.abs(a - e)) / max(np.max(np.abs(e)), 1e-300))
