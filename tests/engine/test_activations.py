"""Activations: known values, derivatives against central differences, stability for large |z|."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from bpnn_xp.backends import to_numpy
from bpnn_xp.engine.activations import ACTIVATIONS, get_activation
from bpnn_xp.errors import BpnnValueError
from tests.backend_cases import assert_close


def test_sigmoid_derivative_known_values(backend, dtype):
    """The course notes' table: sigmoid'(z) at -1, -0.5, 0, 0.5, 1."""
    z = backend.asarray([-1.0, -0.5, 0.0, 0.5, 1.0], dtype)
    expected = np.array([0.196612, 0.235004, 0.25, 0.235004, 0.196612])
    assert_close(get_activation("sigmoid").derivative(z), expected, rtol=0, atol=5e-7, like=z)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_derivative_matches_central_differences(backend, name):
    h = 1e-6
    host = np.linspace(-3.0, 3.0, 41) + 0.0123  # avoid the kink of relu at exactly 0
    z = backend.asarray(host, "float64")
    act = get_activation(name)
    numeric = (act.fn(backend.asarray(host + h, "float64")) - act.fn(backend.asarray(host - h, "float64"))) / (2 * h)
    assert_close(act.derivative(z), numeric, rtol=1e-7, atol=1e-9, like=z)


@pytest.mark.parametrize("name", sorted(ACTIVATIONS))
def test_forward_matches_closed_form(backend, dtype, name):
    host = np.linspace(-5.0, 5.0, 23)
    closed = {
        "sigmoid": 1.0 / (1.0 + np.exp(-host)),
        "tanh": np.tanh(host),
        "relu": np.maximum(host, 0.0),
        "leaky_relu": np.where(host > 0, host, 0.01 * host),
        "identity": host,
    }[name]
    z = backend.asarray(host, dtype)
    out = get_activation(name).fn(z)
    assert out.dtype == z.dtype
    assert_close(out, closed, rtol=1e-6 if dtype == "float32" else 1e-12, atol=1e-7 if dtype == "float32" else 1e-15, like=z)


def test_sigmoid_is_stable_for_large_inputs(backend, dtype):
    z = backend.asarray([-1e4, -800.0, -50.0, 0.0, 50.0, 800.0, 1e4], dtype)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # an overflow RuntimeWarning would fail the test
        a = to_numpy(get_activation("sigmoid").fn(z))
        d = to_numpy(get_activation("sigmoid").derivative(z))
    assert np.all(np.isfinite(a)) and np.all(np.isfinite(d))
    assert a[0] == 0.0 and a[-1] == 1.0 and a[3] == 0.5
    assert np.all((a >= 0) & (a <= 1))


def test_unknown_activation_lists_valid_names():
    with pytest.raises(BpnnValueError, match="unknown activation 'swish'.*relu.*sigmoid"):
        get_activation("swish")
