"""The device probe: a GPU that cannot compute is found before training, with one line naming the fix.

CuPy here is the stand-in of tests/fake_cupy.py, which raises what CuPy 14.2 raises on a machine with
no driver, or with a driver but no CUDA libraries (NVRTC, cuBLAS).
"""

from __future__ import annotations

import warnings

import pytest
from typer.testing import CliRunner

from bpnn_xp import backends
from bpnn_xp.backends import devices, gpu_probe
from bpnn_xp.cli import app
from bpnn_xp.errors import DeviceError
from tests import fake_cupy

ADVICE = {  # failure -> what the one line must say
    "no-driver": r"no NVIDIA driver, or one older than CuPy's CUDA .*cudaErrorInsufficientDriver.*bpnn_xp\[cuda12\]",
    "no-device": r"sees no CUDA GPU",
    "no-nvrtc": r"cannot load NVRTC.*libnvrtc.*bpnn_xp\[cuda12\]",
    "no-cublas": r"cannot load cuBLAS.*libcublasLt.*bpnn_xp\[cuda12\]",
    "compile": r"could not compile a kernel.*gpu-architecture",
    "wrong-numbers": r"wrong 2x2 product",
}


@pytest.mark.parametrize("failure", list(ADVICE))
def test_cuda_names_the_fix_when_the_gpu_cannot_compute(monkeypatch, failure):
    fake_cupy.install(monkeypatch, failure)
    with pytest.raises(DeviceError, match=ADVICE[failure]):
        backends.resolve_device("cuda")


@pytest.mark.parametrize("failure", list(ADVICE))
def test_auto_falls_back_to_the_cpu_with_a_note(monkeypatch, failure):
    fake_cupy.install(monkeypatch, failure)
    with pytest.warns(UserWarning, match="--device auto: using the CPU because .*" + ADVICE[failure]):
        assert backends.resolve_device("auto").name == "cpu"


def test_auto_picks_a_gpu_that_passes_the_probe(monkeypatch):
    fake_cupy.install(monkeypatch, None)
    chosen = []
    monkeypatch.setattr(devices, "_cupy_backend", lambda index, probe=False: chosen.append(index) or "gpu backend")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert backends.resolve_device("auto") == "gpu backend" and chosen == [0]


def test_the_probe_runs_once_per_gpu(monkeypatch):
    cupy = fake_cupy.install(monkeypatch, None, gpus=2)
    calls = []
    count = cupy.cuda.runtime.getDeviceCount
    cupy.cuda.runtime.getDeviceCount = lambda: calls.append(1) or count()
    assert gpu_probe.cuda_problem(1) is None and gpu_probe.cuda_problem(1) is None
    assert len(calls) == 1


@pytest.mark.parametrize("failure", ["no-nvrtc", "no-driver"])
def test_the_cli_gives_one_line_and_exit_2(monkeypatch, failure, tmp_path):
    fake_cupy.install(monkeypatch, failure)
    result = CliRunner().invoke(app, ["train", "--dataset", "blobs", "--epochs", "1", "--device", "cuda",
                                      "--out", str(tmp_path / "run")])  # fmt: skip
    assert result.exit_code == 2, result.output
    lines = [line for line in result.output.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("error: ") and ADVICE[failure].split(".*")[0] in lines[0], lines
    assert "Traceback" not in result.output


def test_bpnn_devices_says_why_the_gpu_is_not_usable(monkeypatch):
    fake_cupy.install(monkeypatch, "no-cublas")
    rows = {r["backend"]: r for r in backends.describe_backends()}
    assert rows["cupy"]["usable"].startswith("no: CuPy cannot load cuBLAS") and "Fake GPU" in rows["cupy"]["devices"]


def test_a_gpu_library_error_during_training_is_one_line(monkeypatch, tmp_path):
    """A CUDA failure after the probe (e.g. a kernel that does not compile) is advice, not a traceback."""
    from bpnn_xp import workflow

    def fail(*args, **kwargs):
        raise fake_cupy.FAILURES["compile"][1]

    monkeypatch.setattr(workflow, "run_training", fail)
    result = CliRunner().invoke(app, ["train", "--dataset", "blobs", "--epochs", "1", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2 and "could not compile a kernel" in result.output and "Traceback" not in result.output


def test_the_cuda_extras_pull_the_libraries_the_probe_asks_for():
    """[cuda12]/[cuda13] bring CuPy's CUDA libraries ([ctk]: NVRTC, cuBLAS) and NCCL, as the advice says."""
    from pathlib import Path

    tomllib = pytest.importorskip("tomllib", reason="tomllib comes with Python 3.11")
    project = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    for major in ("12", "13"):
        names = [requirement.split(";")[0].split(">")[0] for requirement in extras[f"cuda{major}"]]
        assert names == [f"cupy-cuda{major}x[ctk]", f"nvidia-nccl-cu{major}"], names
        assert f"[cuda{major}]" in gpu_probe.CUDA_EXTRA
    assert "nvidia-nccl-cu12" in str(gpu_probe.nccl_problem() or "nvidia-nccl-cu12")
