"""Run under ``mpiexec -n N``: trains the cases of tests/backends/test_mpi.py data-parallel and saves each rank's parameters.

    mpiexec -n 2 python tests/backends/mpi_worker.py --out DIR              # every case in CASES
    mpiexec -n 2 python tests/backends/mpi_worker.py --out DIR --fail-rank 1 # rank 1 raises in epoch 2: the job must stop

The same ``train_case`` runs in the test process without a communicator, as the single-process oracle.
Parameters are written as ``{case}.rank{r}.npy`` (float64, allow_pickle=False, atomic).
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[2]
if str(ROOT) not in sys.path:  # run as a script by mpiexec
    sys.path.insert(0, str(ROOT))

from bpnn_xp import backends  # noqa: E402
from bpnn_xp.backends import distributed  # noqa: E402
from bpnn_xp.engine import Network, Trainer  # noqa: E402
from bpnn_xp.errors import BpnnValueError  # noqa: E402
from bpnn_xp.files import atomic_write  # noqa: E402

# name: (optimizer, batch size, epochs/iterations, l2, rows). Uneven on purpose: 203 rows leave a last
# batch of 3 (shares 2 and 1); batch 1 leaves one rank with nothing to add at every step.
CASES: dict[str, tuple[str, Any, int, float, int]] = {
    "adam": ("adam", 50, 5, 0.05, 203),
    "momentum-batch1": ("momentum", 1, 2, 0.0, 41),
    "lbfgs": ("lbfgs", "full", 25, 0.05, 203),
    "adam-dropout-weighted": ("adam", 50, 5, 0.05, 203),
    "lbfgs-weighted": ("lbfgs", "full", 25, 0.05, 203),
}
# what a case adds to the Trainer: dropout (masks drawn for the global batch, each rank keeping its rows), max-norm;
# and whether its rows carry sample weights (0 to 3, seeded)
TRAINER_EXTRAS: dict[str, dict[str, Any]] = {"adam-dropout-weighted": {"dropout": 0.5, "input_dropout": 0.2, "max_norm": 1.0}}
WEIGHTED = {"adam-dropout-weighted", "lbfgs-weighted"}


def case_data(rows: int, seed: int = 7) -> tuple[Any, Any]:
    """Seeded float64 inputs and one-hot targets of 3 classes that depend on the inputs (learnable)."""
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(rows, 6))
    labels = np.argmax(X[:, :3] + 0.3 * rng.normal(size=(rows, 3)), axis=1)
    Y = np.eye(3)[labels]
    backend = backends.resolve_device("cpu")
    return backend.asarray(X, "float64"), backend.asarray(Y, "float64")


def train_case(name: str, comm: Any = None, epoch_inputs: Any = None) -> tuple[np.ndarray, list[float]]:
    """(final flat float64 parameters, per-epoch costs) of one case, trained with ``comm`` (None: one process)."""
    optimizer, batch_size, epochs, l2, rows = CASES[name]
    X, Y = case_data(rows)
    network = Network.create([6, 8, 3], activation="tanh", seed=3, dtype="float64")
    lr = None if optimizer == "lbfgs" else 0.02
    trainer = Trainer(network, optimizer, lr, batch_size, l2=l2, seed=11, comm=comm, **TRAINER_EXTRAS.get(name, {}))
    weights = None
    if name in WEIGHTED:
        weights = backends.from_host(np.random.default_rng(5).integers(0, 4, rows).astype(np.float64), like=X)
    history = trainer.fit(X, Y, epochs, epoch_inputs=epoch_inputs, sample_weight=weights)
    return backends.to_numpy(network.flatten()).astype(np.float64), [r.cost for r in history.records]


def save(path: Path, array: np.ndarray) -> None:
    """One .npy file, written atomically, no pickle."""
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    atomic_write(path, buffer.getvalue())


def failing_inputs(comm: Any, fail_rank: int, X: Any) -> Any:
    """An epoch_inputs hook that raises on ``fail_rank`` in epoch 2 while the other ranks go on."""

    def inputs(epoch: int) -> Any:
        if epoch == 2 and comm.rank == fail_rank:
            raise BpnnValueError(f"deliberate failure on rank {fail_rank} in epoch {epoch}")
        return X

    return inputs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True, help="folder for the {case}.rank{r}.npy files")
    parser.add_argument("--fail-rank", type=int, default=None, help="make this rank raise in epoch 2 (tests the abort)")
    args = parser.parse_args(argv)
    comm = distributed.from_environment()
    if args.fail_rank is not None:
        X, _ = case_data(CASES["adam"][4])
        train_case("adam", comm, epoch_inputs=failing_inputs(comm, args.fail_rank, X))
        return 0
    for name in CASES:
        params, costs = train_case(name, comm)
        save(args.out / f"{name}.rank{comm.rank}.npy", params)
        save(args.out / f"{name}.costs.rank{comm.rank}.npy", np.asarray(costs, dtype=np.float64))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
