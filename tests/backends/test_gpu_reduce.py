"""--gpu-reduce is checked before any rank starts work, and GPUs are one per rank where NCCL needs it.

NCCL's absence is CuPy's own answer (``cupy.cuda.nccl.available`` is False, faked in tests/fake_cupy.py);
whether the MPI is CUDA-aware is the MPI's own answer (``MPIX_Query_cuda_support``, which the mpich wheel
answers 0). The 2-rank runs need mpiexec and skip with the reason where it is missing.
"""

from __future__ import annotations

import types

import numpy as np
import pytest

from bpnn_xp.backends import distributed, gpu_probe
from bpnn_xp.errors import DeviceError
from tests import fake_cupy
from tests.backends.test_mpi import launch_cli, mpi_skip_reason, needs_mpi


def test_nccl_missing_is_found_at_start_up(monkeypatch):
    fake_cupy.install(monkeypatch, None, nccl_available=False)
    assert "pip install 'nvidia-nccl-cu12>=2.18.1,<3'" in str(gpu_probe.nccl_problem())
    fake_cupy.install(monkeypatch, None, nccl_available=True)
    assert gpu_probe.nccl_problem() is None


@pytest.mark.skipif(mpi_skip_reason() is not None, reason=str(mpi_skip_reason()))
def test_the_mpich_wheel_says_it_is_not_cuda_aware(monkeypatch):
    from mpi4py import MPI

    monkeypatch.delenv(gpu_probe.TRUST_CUDA_AWARE, raising=False)
    answer = gpu_probe.query_cuda_support(MPI)
    assert answer in (0, 1)  # MPICH >= 4 and Open MPI both answer
    if answer == 0:
        assert "MPIX_Query_cuda_support() = 0" in str(gpu_probe.cuda_aware_mpi_problem(MPI))
    assert gpu_probe.cuda_aware_mpi_problem(MPI, environ={gpu_probe.TRUST_CUDA_AWARE: "1"}) is None


def test_an_mpi_that_cannot_be_asked_is_refused_with_the_way_out():
    silent = types.SimpleNamespace(__file__="/nonexistent/libmpi.so", Get_library_version=lambda: "Some MPI 1.0\n")
    problem = gpu_probe.cuda_aware_mpi_problem(silent, environ={})
    assert "cannot be asked" in problem and "Some MPI 1.0" in problem and gpu_probe.TRUST_CUDA_AWARE in problem


def fake_comm(gpu_reduce: str, local_size: int, flag_from_others: int = 0) -> distributed.MPIComm:
    """An MPIComm without MPI: rank 0 of 2 ranks on this node; the other rank's vote is ``flag_from_others``."""

    class Comm:
        def Allreduce(self, _, buffer, op):
            buffer[...] = np.maximum(buffer, flag_from_others)

    comm = object.__new__(distributed.MPIComm)
    comm.MPI = types.SimpleNamespace(IN_PLACE=None, MAX="max")
    comm.comm, comm.rank, comm.size, comm.local_rank, comm.local_size = Comm(), 0, 2, 0, local_size
    comm.gpu_reduce = gpu_reduce
    return comm


def test_an_explicit_gpu_under_mpi_gets_the_one_gpu_per_rank_check():
    with pytest.raises(DeviceError, match=r"--device cuda:1 puts all 2 ranks of this node on one GPU, but NCCL"):
        fake_comm("nccl", local_size=2).device("cuda:1")
    assert fake_comm("host", local_size=2).device("cuda:1") == "cuda:1"  # host-staged sums share a GPU fine
    assert fake_comm("nccl", local_size=1).device("cuda:1") == "cuda:1"  # one rank per node


def test_auto_under_mpi_takes_the_cpu_on_every_rank_when_any_gpu_fails(monkeypatch):
    fake_cupy.install(monkeypatch, None, gpus=2)
    assert fake_comm("host", 2).device("auto") == "cuda:0"
    assert fake_comm("host", 2, flag_from_others=1).device("auto") == "cpu"  # the other rank's GPU failed
    fake_cupy.install(monkeypatch, "no-nvrtc", gpus=2)
    assert fake_comm("host", 2).device("auto") == "cpu"


def test_the_reduction_check_votes_and_only_rank_0_speaks(monkeypatch):
    fake_cupy.install(monkeypatch, None, nccl_available=True)
    comm = fake_comm("nccl", 1, flag_from_others=1)
    with pytest.raises(distributed.GpuReduceUnavailable, match="another rank") as refused:
        comm.check_gpu_reduce()
    assert not refused.value.quiet
    comm.rank = 1
    with pytest.raises(distributed.GpuReduceUnavailable) as refused:
        comm.check_gpu_reduce()
    assert refused.value.quiet


def expected_problem(mode: str) -> str | None:
    """What this machine's NCCL or MPI answers, asked in this process (None: the reduction can work here)."""
    if mode == "nccl":
        return gpu_probe.nccl_problem()
    from mpi4py import MPI

    return gpu_probe.cuda_aware_mpi_problem(MPI, environ={})


@needs_mpi
@pytest.mark.parametrize("mode", ["nccl", "cuda-aware"])
def test_two_ranks_refuse_an_unusable_reduction_in_one_line_before_work(tmp_path, mode, monkeypatch):
    """Here (no libnccl; the mpich wheel) both are refused; where they work, the run goes through."""
    monkeypatch.delenv(gpu_probe.TRUST_CUDA_AWARE, raising=False)
    out = tmp_path / "run"
    result = launch_cli("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--device", "cpu",
                        "--gpu-reduce", mode, "--out", str(out), timeout=90)  # fmt: skip
    if expected_problem(mode) is None:
        assert result.returncode == 0, result.stderr
        return
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert result.returncode == 2, result.stderr
    assert len(errors) == 1 and f"--gpu-reduce {mode}" in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not out.exists()  # refused before any rank started work
