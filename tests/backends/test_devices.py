"""Device strings, clear errors for devices that cannot be had, and moving arrays in and out."""

from __future__ import annotations

import importlib.util
import warnings

import numpy as np
import pytest

from bpnn_xp import backends
from bpnn_xp.backends import devices
from bpnn_xp.errors import DeviceError


def test_round_trip_to_numpy(backend, dtype):
    host = np.arange(12.0).reshape(3, 4)
    moved = backend.asarray(host, dtype)
    assert str(moved.dtype).endswith(dtype)
    back = backends.to_numpy(moved)
    assert isinstance(back, np.ndarray) and back.dtype == np.dtype(dtype)
    assert np.array_equal(back, host)


def test_from_host_lands_on_the_device_of_like(backend):
    like = backend.asarray(np.zeros(2), "float64")
    moved = backends.from_host(np.array([3, 1, 2]), like)
    assert backends.backend_of(moved).name.split(":")[0] == backend.name.split(":")[0]
    assert np.array_equal(backends.to_numpy(moved), [3, 1, 2])


@pytest.mark.parametrize("spec,name", [("cpu", "cpu"), ("numpy", "cpu"), ("CPU", "cpu")])
def test_cpu_aliases(spec, name):
    assert backends.resolve_device(spec).name == name


def test_auto_falls_back_to_cpu_without_a_gpu():
    from bpnn_xp.backends import gpu_probe

    expected = "cuda:0" if gpu_probe.cuda_problem(0) is None else "cpu"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # the note when CuPy is installed but cannot compute
        assert backends.resolve_device("auto").name == expected


def test_cuda_without_cupy_names_the_extra(monkeypatch):
    find_spec = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "cupy" else find_spec(name, *a))
    with pytest.raises(DeviceError, match=r"needs CuPy.*bpnn_xp\[cuda12\].*Available here: cpu"):
        backends.resolve_device("cuda")


def test_cuda_without_gpu_or_out_of_range(monkeypatch):
    """Simulate CuPy present with 0 or 1 GPUs: the errors say what is available."""
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: object() if name == "cupy" else None)
    monkeypatch.setattr(devices, "cupy_gpu_count", lambda: 0)
    with pytest.raises(DeviceError, match="sees no usable CUDA GPU: .*use --device cpu"):
        backends.resolve_device("cuda:0")
    monkeypatch.setattr(devices, "cupy_gpu_count", lambda: 1)
    with pytest.raises(DeviceError, match=r"GPU index 3 is out of range: this machine has 1 GPU\(s\), cuda:0..cuda:0"):
        backends.resolve_device("cuda:3")


@pytest.mark.parametrize("spec", ["tpu", "cuda:x", "array-api-strict:nowhere"])
def test_unknown_devices(spec):
    with pytest.raises(DeviceError):
        backends.resolve_device(spec)


def test_strict_fake_device_is_not_the_default():
    pytest.importorskip("array_api_strict", reason="array-api-strict is not installed")
    be = backends.resolve_device("array-api-strict:device1")
    assert be.device != be.xp.__array_namespace_info__().default_device()


def test_describe_backends_lists_numpy_usable():
    rows = {r["backend"]: r for r in backends.describe_backends()}
    assert rows["numpy"]["usable"] == "yes" and rows["numpy"]["version"] == np.__version__
    assert set(rows) == {"numpy", "cupy", "array-api-strict", "torch"}


@pytest.mark.parametrize("name", ["array-api-strict", "array-api-strict:device1"])
def test_backend_of_an_array_names_a_device_resolve_device_reads_back(name):
    """The estimator places new data where an input lives by this name: it must resolve to the same device."""
    pytest.importorskip("array_api_strict")
    backend = backends.resolve_device(name)
    found = backends.backend_of(backend.asarray([[1.0]], "float32"))
    assert backends.resolve_device(found.name).device == backend.device
