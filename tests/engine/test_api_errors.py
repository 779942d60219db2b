"""The library API answers bad arguments with the project's errors (subclasses of ValueError/TypeError) naming the
argument and what was expected, never NumPy's or array-api-compat's internals."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import backends
from bpnn_xp.data import one_hot
from bpnn_xp.data.userforms import encode_labels
from bpnn_xp.engine import Network, Trainer
from bpnn_xp.errors import BpnnError, BpnnTypeError, BpnnValueError, DataFileError, DeviceError


def small() -> Network:
    return Network.create([3, 4, 2], "tanh", seed=0, dtype="float64")


@pytest.mark.parametrize("method", ["feedforward", "predict", "logits"])
@pytest.mark.parametrize("X", [np.zeros((5, 4)), np.zeros((5, 2)), np.zeros(3), np.zeros((2, 3, 1))])
def test_inputs_of_the_wrong_width_name_the_expected_shape(method, X):
    with pytest.raises(BpnnValueError, match=r"X must have shape \(n_samples, 3\) for this network's 3 inputs, got"):
        getattr(small(), method)(X)


@pytest.mark.parametrize("labels", [[[0, 1], [1]], [[0], [1, 2], 3]])
def test_ragged_label_lists_are_one_error_naming_the_labels(labels):
    with pytest.raises(BpnnValueError, match="labels must be one label per sample .* ragged list"):
        one_hot(labels, 3)
    with pytest.raises(DataFileError, match="ragged list"):
        encode_labels(labels, "y")


def test_text_labels_for_one_hot_are_a_type_error_naming_them():
    with pytest.raises(BpnnTypeError, match="labels must be class indices"):
        one_hot(np.array(["a", "b"]), 2)


@pytest.mark.parametrize("seed", [-1, -(2**40), 1.5, "7", True])
def test_a_bad_seed_is_one_error_naming_seed(seed):
    with pytest.raises(BpnnValueError, match=r"seed must be a whole number >= 0 \(or a numpy Generator\), got"):
        Network.create([3, 2], seed=seed)
    with pytest.raises(BpnnValueError, match="seed must be"):
        Trainer(small(), seed=seed)


def test_parameters_from_two_array_libraries_name_both():
    torch = pytest.importorskip("torch")
    net = small()
    mixed = [torch.asarray(net.weights[0]), net.weights[1]]
    with pytest.raises(BpnnTypeError, match="one array library, got arrays of numpy, torch") as info:
        Network(mixed, list(net.biases))
    assert "Multiple namespaces" not in str(info.value) and isinstance(info.value, TypeError)


def test_float16_parameters_are_refused_with_the_reason():
    net = small()
    half = [np.asarray(p, np.float16) for p in net.params]
    with pytest.raises(BpnnValueError, match="float32 or all float64, got float16/float16 .*float16 is too coarse"):
        Network(half[0::2], half[1::2])
    with pytest.raises(BpnnValueError, match="unknown dtype 'float16'"):
        Network.create([3, 2], dtype="float16")


@pytest.mark.parametrize("device", ["array-api-strict:no_float64", "array-api-strict:no_x64"])
def test_a_device_without_float64_is_a_device_error_naming_both(device):
    pytest.importorskip("array_api_strict")
    backend = backends.resolve_device(device)
    with pytest.raises(DeviceError, match=rf"device {device} cannot hold float64 arrays; use dtype float32 or another device"):
        Network.create([3, 2], device=backend, dtype="float64")
    assert Network.create([3, 2], device=backend, dtype="float32").sizes == [3, 2]  # float32 works there


def test_every_error_above_is_the_projects():
    assert issubclass(BpnnValueError, (BpnnError, ValueError)) and issubclass(BpnnTypeError, (BpnnError, TypeError))
    assert issubclass(DeviceError, BpnnValueError)
