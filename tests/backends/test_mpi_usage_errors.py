"""Usage errors under mpiexec are one line: the settings are checked on every rank before MPI starts, rank 0 alone
says what is wrong, and every rank exits 2 without MPI_Abort (no abort noise from the launcher)."""

from __future__ import annotations

import pytest

from bpnn_xp.backends import distributed
from tests.backends.test_mpi import launch_cli, needs_mpi


@needs_mpi
@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--lr", "-1"], "error: --lr must be a positive number, got -1.0"),
        (["--epochs", "0"], "error: --epochs must be a whole number >= 1, got 0"),
        (["--dataset", "blobs", "--data", "x.csv"], "error: give either --dataset NAME or --data PATH, not both"),
        (["--val-fraction", "0.5", "--test-fraction", "0.5"], "error: --val-fraction and --test-fraction leave no data"),
        (["--data", "no/such.csv"], "error: data "),
        (["--resume", "no/run", "--hidden", "8"], "error: --resume continues the saved run, so --hidden cannot change"),
    ],
)
def test_a_bad_setting_under_mpiexec_is_one_line_and_exit_2_on_every_rank(tmp_path, args, message):
    result = launch_cli("train", *args, "--out", str(tmp_path / "run"), timeout=90)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    lines = [line for line in (result.stdout + result.stderr).splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith(message), lines
    assert "abort" not in result.stderr.lower() and not (tmp_path / "run").exists()


@pytest.mark.parametrize(
    ("environ", "rank"),
    [({}, 0), ({"PMI_SIZE": "2", "PMI_RANK": "1"}, 1), ({"OMPI_COMM_WORLD_SIZE": "4", "OMPI_COMM_WORLD_RANK": "3"}, 3),
     ({"PMI_RANK": "1"}, 0)],  # fmt: skip
)
def test_launched_rank_reads_the_launchers_variables(environ, rank):
    assert distributed.launched_rank(environ) == rank
