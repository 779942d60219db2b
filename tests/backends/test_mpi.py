"""Data-parallel training over MPI: 2 ranks give the single-process model; a failing rank stops the job.

The oracle is the same training run in this process without a communicator (``tests/backends/mpi_worker.py``
holds both). The MPI runs need mpi4py and an ``mpiexec`` (``pip install 'bpnn_xp[mpi-local]'``); they
skip with the reason where either is missing. The communicator's logic that needs no MPI is tested
here directly.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from bpnn_xp.backends import distributed
from bpnn_xp.errors import BpnnValueError
from tests.backends import mpi_worker

ROOT = Path(__file__).resolve().parents[2]
RANKS = 2
TOLERANCE = 1e-10  # float64 parameters, relative to their largest magnitude


def find_mpiexec() -> str | None:
    """The mpiexec beside this Python (the mpich wheel's), else the first on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.is_file() else shutil.which("mpiexec")


def mpi_skip_reason() -> str | None:
    if importlib.util.find_spec("mpi4py") is None:
        return "mpi4py is not installed (pip install 'bpnn_xp[mpi-local]')"
    if find_mpiexec() is None:
        return "no mpiexec found beside Python or on PATH (pip install mpich)"
    return None


needs_mpi = pytest.mark.skipif(mpi_skip_reason() is not None, reason=str(mpi_skip_reason()))


def launch(out: Path, *extra: str, timeout: float = 60) -> subprocess.CompletedProcess:
    """mpiexec -n 2 python tests/backends/mpi_worker.py --out OUT ... with one BLAS thread per rank."""
    env = {**os.environ, "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    command = [find_mpiexec(), "-n", str(RANKS), sys.executable, str(Path(mpi_worker.__file__)), "--out", str(out), *extra]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout, cwd=ROOT)


@pytest.fixture(scope="module")
def mpi_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One 2-rank run of every case; the folder of the parameters each rank saved."""
    out = tmp_path_factory.mktemp("mpi")
    result = launch(out)
    assert result.returncode == 0, f"mpiexec failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
    return out


def relative(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-300))


@needs_mpi
@pytest.mark.parametrize("case", list(mpi_worker.CASES))
def test_two_ranks_train_the_single_process_model(mpi_run, case):
    single, single_costs = mpi_worker.train_case(case)
    ranks = [np.load(mpi_run / f"{case}.rank{r}.npy", allow_pickle=False) for r in range(RANKS)]
    costs = np.load(mpi_run / f"{case}.costs.rank0.npy", allow_pickle=False)
    assert np.array_equal(ranks[0], ranks[1]), "the ranks hold different parameters"
    initial = mpi_worker.Network.create([6, 8, 3], activation="tanh", seed=3, dtype="float64").flatten()
    assert relative(single, np.asarray(initial)) > 1e-3, "training did not move the parameters: the comparison proves nothing"
    assert relative(ranks[0], single) < TOLERANCE
    assert len(costs) == len(single_costs)
    np.testing.assert_allclose(costs, single_costs, rtol=1e-9)


@needs_mpi
def test_a_failing_rank_stops_the_job_with_a_clear_message(tmp_path):
    result = launch(tmp_path, "--fail-rank", "1", timeout=60)  # a hang would end in TimeoutExpired
    assert result.returncode != 0
    assert "rank 1 of 2 failed: BpnnValueError: deliberate failure on rank 1 in epoch 2" in result.stderr
    assert "Traceback" not in result.stderr


def test_from_environment_without_a_launcher_is_single_process_and_skips_mpi4py():
    code = (
        "import sys; from bpnn_xp.backends import distributed; "
        "c = distributed.from_environment(environ={}); print(type(c).__name__, c.rank, c.size, 'mpi4py' in sys.modules)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert result.stdout.split() == ["SingleProcess", "0", "1", "False"], result.stderr


def test_plain_training_never_imports_mpi4py():
    code = (
        "import sys; from tests.backends import mpi_worker; mpi_worker.train_case('adam'); "
        "print('mpi4py' in sys.modules)"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PMI_", "OMPI_", "PMIX_", "SLURM_"))}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, timeout=60, env=env)
    assert result.stdout.strip() == "False", result.stderr


@pytest.mark.parametrize(
    ("environ", "size"),
    [
        ({}, 1),
        ({"PMI_SIZE": "4", "PMI_RANK": "2"}, 4),
        ({"OMPI_COMM_WORLD_SIZE": "3", "OMPI_COMM_WORLD_RANK": "0"}, 3),
        ({"SLURM_STEP_NUM_TASKS": "8", "SLURM_PROCID": "5"}, 8),
        ({"PMI_SIZE": "4"}, 1),  # a size without a rank is not a launch
        ({"OMPI_COMM_WORLD_SIZE": "x", "OMPI_COMM_WORLD_RANK": "0"}, 1),
    ],
)
def test_launched_size_reads_the_launchers_variables(environ, size):
    assert distributed.launched_size(environ) == size


def test_single_process_collectives_are_the_identity():
    comm = distributed.single_process()
    buffer = np.arange(5.0)
    assert comm.allreduce_sum(buffer) is buffer
    np.testing.assert_array_equal(buffer, np.arange(5.0))
    assert comm.device("cuda") == "cuda"
    with pytest.raises(ZeroDivisionError), comm.guard():
        raise ZeroDivisionError  # no other rank: the exception passes through unchanged


def test_unknown_gpu_reduction_is_one_clear_error():
    with pytest.raises(BpnnValueError, match="unknown GPU reduction 'gloo'; choose one of: host, nccl, cuda-aware"):
        distributed.from_environment(gpu_reduce="gloo", environ={})


class HalfOfTwo(distributed.SingleProcess):
    """Poses as rank 0 of 2 whose partner adds zeros (the sum is this rank's share): counts the allreduces."""

    rank, size = 0, 2

    def __init__(self) -> None:
        self.calls = 0

    def allreduce_sum(self, buffer):
        self.calls += 1
        return buffer


def test_one_gradient_allreduce_per_step_one_for_metrics_per_epoch_one_at_start():
    comm = HalfOfTwo()
    optimizer, batch_size, _, l2, rows = mpi_worker.CASES["adam"]
    X, Y = mpi_worker.case_data(rows)
    network = mpi_worker.Network.create([6, 8, 3], activation="tanh", seed=3, dtype="float64")
    trainer = mpi_worker.Trainer(network, optimizer, 0.02, batch_size, l2=l2, seed=11, comm=comm)
    trainer.fit(X, Y, 2)
    steps = -(-rows // batch_size)
    assert comm.calls == 1 + 2 * steps + 2  # parameter sync, gradients, epoch metrics


def launch_cli(*args: str, ranks: int = RANKS, timeout: float = 120) -> subprocess.CompletedProcess:
    """mpiexec -n RANKS python -m bpnn_xp ARGS, one BLAS thread per rank."""
    environment = dict(os.environ, OMP_NUM_THREADS="1", OPENBLAS_NUM_THREADS="1", NUMBA_NUM_THREADS="1")
    command = [find_mpiexec(), "-n", str(ranks), sys.executable, "-m", "bpnn_xp", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=timeout, env=environment, cwd=ROOT)


@needs_mpi
def test_the_launcher_under_mpiexec_writes_once_and_resumes_on_one_rank(tmp_path):
    """`mpiexec -n 2 bpnn train`: one result on stdout, one run folder recording 2 processes; it resumes in one process."""
    out = tmp_path / "run"
    result = launch_cli("train", "--dataset", "blobs", "--hidden", "8", "--epochs", "2", "--out", str(out), "--json")
    assert result.returncode == 0, result.stderr
    metrics = json.loads(result.stdout)  # exactly one JSON document: rank 1 printed nothing
    assert metrics["processes"] == 2 and metrics["epochs"] == 2
    saved = json.loads((out / "model.json").read_text())
    written = sorted(p.name for p in out.iterdir() if p.name != ".lock")
    assert saved["processes"] == 2 and written == ["metrics.csv", "model.json", "model.npz"]
    resumed = subprocess.run([sys.executable, "-m", "bpnn_xp", "train", "--resume", str(out), "--epochs", "1", "--json"],
                             capture_output=True, text=True, timeout=120, cwd=ROOT)  # fmt: skip
    assert resumed.returncode == 0, resumed.stderr
    assert json.loads(resumed.stdout)["epochs"] == 3 and json.loads(resumed.stdout)["processes"] == 1


@needs_mpi
def test_a_usage_error_under_mpiexec_stops_every_rank(tmp_path):
    """A run folder that already holds a run is refused on rank 0; rank 1 must not wait for it forever."""
    out = tmp_path / "run"
    assert launch_cli("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--out", str(out)).returncode == 0
    refused = launch_cli("train", "--dataset", "blobs", "--hidden", "4", "--epochs", "1", "--out", str(out), timeout=60)
    assert refused.returncode != 0 and "--overwrite" in refused.stderr and "Traceback" not in refused.stderr
