"""Shared fixtures: ``backend`` and ``dtype`` parametrize every engine test over the backends."""

from __future__ import annotations

import numpy as np
import pytest

from bpnn_xp import backends
from tests.backend_cases import DEVICES, DTYPES


@pytest.fixture(params=DEVICES)
def backend(request: pytest.FixtureRequest) -> backends.Backend:
    """A resolved Backend (namespace + device) for each available device."""
    be = backends.resolve_device(request.param)
    with be.use():
        yield be


@pytest.fixture(params=DTYPES)
def dtype(request: pytest.FixtureRequest) -> str:
    return request.param


@pytest.fixture
def host_rng() -> np.random.Generator:
    return np.random.default_rng(12345)


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Print the figures the engine's acceptance asks for: worst gradient check and backend drift."""
    from tests import test_cross_backend
    from tests.backends import test_cuda_kernels
    from tests.engine import test_gradients

    for key, value in sorted(test_cuda_kernels.CALLS.items()):
        terminalreporter.write_line(f"array-library calls per step (784-256-10 ReLU, softmax, Adam, batch 128): {key}: {value:g}")
    if test_cuda_kernels.COMPILED:
        arches = sorted({k.rsplit(" ", 1)[1] for k in test_cuda_kernels.COMPILED})
        total = sum(test_cuda_kernels.COMPILED.values())
        builds = len(test_cuda_kernels.COMPILED)
        terminalreporter.write_line(f"NVRTC: {builds} kernel builds for {', '.join(arches)}, {total:,} bytes")

    if test_gradients.GRADCHECK_RESULTS:
        terminalreporter.write_line(
            f"gradient check: {len(test_gradients.GRADCHECK_RESULTS)} cases, largest relative difference "
            f"{max(test_gradients.GRADCHECK_RESULTS):.3e}"
        )
    for key, value in sorted(test_cross_backend.CROSS_BACKEND_RESULTS.items()):
        terminalreporter.write_line(f"cross-backend vs numpy: {key}: max relative difference {value:.3e}")
