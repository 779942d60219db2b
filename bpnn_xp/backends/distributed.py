"""Communicators for data-parallel training: one process (no MPI) or many ranks under ``mpiexec``.

The engine never imports mpi4py: it is handed a communicator and calls its methods only.
``SingleProcess`` is the default and does nothing (``allreduce_sum`` returns the buffer as it is);
``MPIComm`` wraps an mpi4py communicator. ``allreduce_sum`` sums a flat 1-D buffer over all ranks IN
PLACE: NumPy buffers go straight to MPI; CuPy buffers are staged through host memory by default
(works everywhere), or summed on the GPU with NCCL (``gpu_reduce="nccl"``, unique id broadcast over
MPI) or handed to a CUDA-aware MPI (``gpu_reduce="cuda-aware"``). Any other namespace (torch,
array-api-strict) is staged through the host.

``from_environment()`` gives an ``MPIComm`` only when the process was started by an MPI launcher
with more than one rank (the launchers' environment variables say so), and imports mpi4py only then.
A rank that fails must not leave the others waiting in a collective: ``guard()`` turns any exception
into a message on stderr and ``MPI_Abort`` of the whole job (exceptions every rank raises alike, such
as a diverged cost computed from reduced sums, may be let through).
"""

from __future__ import annotations

import contextlib
import os
import sys
import time
from collections.abc import Iterator
from typing import Any

import array_api_compat
import numpy as np

from ..errors import BpnnValueError, DeviceError

GPU_REDUCE_MODES = ("host", "nccl", "cuda-aware")
# (size variable, rank variable) of the launchers we recognise: MPICH/Hydra and Intel MPI (PMI),
# Open MPI, PMIx-based launchers, Slurm's srun, MVAPICH.
LAUNCHER_VARIABLES = (
    ("PMI_SIZE", "PMI_RANK"),
    ("OMPI_COMM_WORLD_SIZE", "OMPI_COMM_WORLD_RANK"),
    ("PMIX_SIZE", "PMIX_RANK"),
    ("SLURM_STEP_NUM_TASKS", "SLURM_PROCID"),
    ("MV2_COMM_WORLD_SIZE", "MV2_COMM_WORLD_RANK"),
)


class GpuReduceUnavailable(DeviceError):
    """The --gpu-reduce asked for cannot work here; raised on every rank, said once (``quiet`` on ranks > 0)."""

    def __init__(self, message: str, quiet: bool = False) -> None:
        super().__init__(message)
        self.quiet = quiet


class SingleProcess:
    """The communicator of a run without MPI: one rank; every collective is the identity."""

    rank = 0
    size = 1
    local_rank = 0
    local_size = 1
    gpu_reduce = "host"

    def allreduce_sum(self, buffer: Any) -> Any:
        """The sum over one rank is the buffer itself (returned unchanged)."""
        return buffer

    def barrier(self) -> None:
        """Nothing to wait for."""

    def abort(self, exc: BaseException) -> None:
        """Nothing to stop: the caller re-raises ``exc`` as usual."""

    @contextlib.contextmanager
    def guard(self, collective: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
        """Exceptions pass through unchanged (there are no other ranks to free)."""
        yield

    def device(self, spec: str) -> str:
        """The device string unchanged: one process uses the device it was given."""
        return spec

    def __repr__(self) -> str:
        return "SingleProcess()"


ABORT_GRACE_S = 0.5  # seconds between the failing rank's message and MPI_Abort


class MPIComm:
    """Data-parallel collectives over an mpi4py communicator (COMM_WORLD unless one is given)."""

    def __init__(self, comm: Any = None, gpu_reduce: str = "host") -> None:
        if gpu_reduce not in GPU_REDUCE_MODES:
            raise BpnnValueError(f"unknown GPU reduction {gpu_reduce!r}; choose one of: {', '.join(GPU_REDUCE_MODES)}")
        MPI = _import_mpi()
        self.MPI = MPI
        self.comm = comm if comm is not None else MPI.COMM_WORLD
        self.rank, self.size = int(self.comm.Get_rank()), int(self.comm.Get_size())
        node = self.comm.Split_type(MPI.COMM_TYPE_SHARED, key=self.rank)  # the ranks on this machine
        self.local_rank, self.local_size = int(node.Get_rank()), int(node.Get_size())
        node.Free()
        self.gpu_reduce = gpu_reduce
        self._nccl: Any = None
        self._nccl_device: int | None = None
        self.check_gpu_reduce()

    def check_gpu_reduce(self) -> None:
        """Refuse an unusable --gpu-reduce on every rank before any work starts (rank 0 alone says why)."""
        from . import gpu_probe

        problem = None
        if self.gpu_reduce == "nccl":
            problem = gpu_probe.nccl_problem()
        elif self.gpu_reduce == "cuda-aware":
            problem = gpu_probe.cuda_aware_mpi_problem(self.MPI)
        if not self._anyone(problem is not None):
            return
        message = problem or f"--gpu-reduce {self.gpu_reduce} cannot work on another rank's node; use --gpu-reduce host"
        raise GpuReduceUnavailable(message, quiet=self.rank != 0)

    def _anyone(self, flag: bool) -> bool:
        """True on every rank when ``flag`` is true on at least one (a collective: every rank must call it)."""
        flags = np.array([int(flag)], dtype=np.int32)
        self.comm.Allreduce(self.MPI.IN_PLACE, flags, op=self.MPI.MAX)
        return bool(flags[0])

    # ------------------------------------------------------------------ collectives
    def allreduce_sum(self, buffer: Any) -> Any:
        """Sum the 1-D ``buffer`` over all ranks, in place; returns the same buffer."""
        if getattr(buffer, "ndim", 1) != 1:
            raise BpnnValueError(f"allreduce_sum takes a flat 1-D buffer, got {buffer.ndim}-D")
        if isinstance(buffer, np.ndarray):
            self._allreduce_host(buffer)
        elif array_api_compat.is_cupy_array(buffer):
            self._allreduce_cupy(buffer)
        else:
            self._allreduce_staged(buffer)
        return buffer

    def _allreduce_host(self, buffer: np.ndarray) -> None:
        """MPI's in-place sum of a contiguous host buffer (copied through a contiguous one otherwise)."""
        if buffer.flags.c_contiguous and buffer.flags.writeable:
            self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)
            return
        staged = np.ascontiguousarray(buffer)
        self.comm.Allreduce(self.MPI.IN_PLACE, staged, op=self.MPI.SUM)
        buffer[...] = staged

    def _allreduce_staged(self, buffer: Any) -> None:
        """Any array-API buffer: copy to the host, sum there, copy the sums back into ``buffer``."""
        from .devices import from_host, to_numpy

        host = np.array(to_numpy(buffer), copy=True, order="C")
        self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
        buffer[...] = from_host(host, like=buffer, dtype=buffer.dtype)

    def _allreduce_cupy(self, buffer: Any) -> None:
        """A CuPy buffer: host-staged (default), NCCL on the GPU, or a CUDA-aware MPI."""
        import cupy

        with buffer.device:
            if self.gpu_reduce == "nccl":
                self._allreduce_nccl(buffer)
                return
            if self.gpu_reduce == "cuda-aware":
                if not buffer.flags.c_contiguous:
                    raise BpnnValueError("a CUDA-aware allreduce needs a contiguous CuPy buffer")
                cupy.cuda.get_current_stream().synchronize()  # MPI reads device memory outside CuPy's stream
                self.comm.Allreduce(self.MPI.IN_PLACE, buffer, op=self.MPI.SUM)  # via __cuda_array_interface__
                return
            host = cupy.asnumpy(buffer)  # waits for the kernels that wrote the buffer
            self.comm.Allreduce(self.MPI.IN_PLACE, host, op=self.MPI.SUM)
            buffer.set(host)

    def _allreduce_nccl(self, buffer: Any) -> None:
        """Sum with NCCL on the current stream of the buffer's GPU (communicator made on first use)."""
        import cupy
        from cupy.cuda import nccl

        if not buffer.flags.c_contiguous:
            raise BpnnValueError("an NCCL allreduce needs a contiguous CuPy buffer")
        dtypes = {"float32": nccl.NCCL_FLOAT32, "float64": nccl.NCCL_FLOAT64}
        if str(buffer.dtype) not in dtypes:
            raise BpnnValueError(f"NCCL sums float32 or float64 buffers here, got {buffer.dtype}")
        communicator = self._nccl_for(buffer.device.id)
        stream = cupy.cuda.get_current_stream()
        ptr = buffer.data.ptr
        communicator.allReduce(ptr, ptr, buffer.size, dtypes[str(buffer.dtype)], nccl.NCCL_SUM, stream.ptr)

    def _nccl_for(self, device_id: int) -> Any:
        """The NCCL communicator for this rank's GPU; its unique id is broadcast from rank 0 over MPI."""
        if self._nccl is not None:
            if device_id != self._nccl_device:
                raise DeviceError(f"the NCCL communicator was made on cuda:{self._nccl_device}, not cuda:{device_id}")
            return self._nccl
        from cupy.cuda import nccl

        uid = np.zeros(128, dtype=np.int64)  # NCCL_UNIQUE_ID_BYTES
        if self.rank == 0:
            raw = nccl.get_unique_id()
            uid = np.asarray(raw, dtype=np.int64)
        self.comm.Bcast(uid, root=0)  # plain numbers, no pickle
        self._nccl = nccl.NcclCommunicator(self.size, tuple(int(c) for c in uid), self.rank)
        self._nccl_device = device_id
        return self._nccl

    def barrier(self) -> None:
        """Wait until every rank got here."""
        self.comm.Barrier()

    # ------------------------------------------------------------------ failures
    def abort(self, exc: BaseException) -> None:
        """Tell the user which rank failed and why, then stop every rank (no one waits in a collective)."""
        if isinstance(exc, KeyboardInterrupt):  # Ctrl-C reaches every rank; the checkpoints are whole (atomic writes)
            text = f"bpnn: interrupted; stopping all {self.size} ranks; the last completed epoch's checkpoint is kept\n"
            code = 130
        else:
            message = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            what = f"{type(exc).__name__}: {message}"
            text = f"bpnn: rank {self.rank} of {self.size} failed: {what}; stopping all {self.size} ranks\n"
            code = 1
        sys.stderr.write(text)
        sys.stderr.flush()
        time.sleep(ABORT_GRACE_S)  # let the launcher forward the line: MPI_Abort tears its I/O down (lost in 2 of 25 runs)
        self.comm.Abort(code)
        os._exit(code)  # some MPIs (MPICH 5) return from MPI_Abort while the launcher tears the job down

    @contextlib.contextmanager
    def guard(self, collective: tuple[type[BaseException], ...] = ()) -> Iterator[None]:
        """Abort the whole job on an exception, except types in ``collective`` (raised on every rank alike)."""
        try:
            yield
        except collective:
            raise
        except BaseException as exc:
            if self.size > 1:
                self.abort(exc)
            raise

    # ------------------------------------------------------------------ devices
    def device(self, spec: str) -> str:
        """One GPU per rank: "cuda" / "auto" become cuda:<local rank> (modulo the GPUs here); "auto" takes the
        CPU on every rank unless every rank's GPU passes the trial computation; an explicit cuda:N is checked."""
        spec = (spec or "cpu").strip().lower()
        if self.size == 1:
            return spec
        if spec.startswith("cuda:"):
            return self._explicit_gpu(spec)
        if spec not in ("cuda", "cupy", "auto"):
            return spec
        from . import gpu_probe
        from .devices import cupy_gpu_count

        count = cupy_gpu_count()
        if spec == "auto":
            chosen = f"cuda:{self.local_rank % count}" if count else "cpu"
            broken = count == 0 or gpu_probe.cuda_problem(self.local_rank % count) is not None
            return "cpu" if self._anyone(broken) else chosen  # all ranks on one kind of device
        if count == 0:
            raise DeviceError("device 'cuda' asked for but CuPy sees no GPU on this node; use --device cpu")
        self._check_gpus_per_rank(count, "--device cuda")
        return f"cuda:{self.local_rank % count}"

    def _explicit_gpu(self, spec: str) -> str:
        """cuda:N puts every rank of this node on GPU N: refused where the reduction needs one GPU per rank."""
        if self.gpu_reduce == "nccl" and self.local_size > 1:
            raise DeviceError(
                f"--device {spec} puts all {self.local_size} ranks of this node on one GPU, but NCCL needs one GPU per "
                "rank; use --device cuda (rank i takes GPU i) or --gpu-reduce host"
            )
        return spec

    def _check_gpus_per_rank(self, count: int, what: str) -> None:
        if self.gpu_reduce == "nccl" and self.local_size > count:
            raise DeviceError(
                f"{self.local_size} ranks on this node but {count} GPU(s): NCCL needs one GPU per rank ({what}); "
                "start fewer ranks per node or use the host-staged reduction"
            )

    def __repr__(self) -> str:
        return f"MPIComm(rank={self.rank}, size={self.size}, local_rank={self.local_rank}, gpu_reduce={self.gpu_reduce!r})"


Communicator = SingleProcess | MPIComm


def _import_mpi() -> Any:
    """mpi4py's MPI module (initialises MPI), or a clear error naming the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError:
        raise BpnnValueError(
            "data-parallel training needs mpi4py: pip install 'bpnn_xp[mpi]' (with your MPI), "
            "or 'bpnn_xp[mpi-local]' (bundles MPICH)"
        ) from None
    return MPI


def launched_size(environ: dict[str, str] | None = None) -> int:
    """How many ranks the MPI launcher says this job has (1 when not started by one)."""
    environ = dict(os.environ) if environ is None else environ
    for size_name, rank_name in LAUNCHER_VARIABLES:
        value = environ.get(size_name, "").strip()
        if value.isdigit() and rank_name in environ:
            return max(int(value), 1)
    return 1


def launched_rank(environ: dict[str, str] | None = None) -> int:
    """This process's rank as the MPI launcher's variables say (0 when not started by one); read before MPI starts."""
    environ = dict(os.environ) if environ is None else environ
    for size_name, rank_name in LAUNCHER_VARIABLES:
        value = environ.get(rank_name, "").strip()
        if environ.get(size_name, "").strip().isdigit() and value.isdigit():
            return int(value)
    return 0


def from_environment(gpu_reduce: str = "host", environ: dict[str, str] | None = None) -> SingleProcess | MPIComm:
    """An MPIComm when launched by mpiexec/srun with more than one rank, else SingleProcess (mpi4py not imported)."""
    if gpu_reduce not in GPU_REDUCE_MODES:
        raise BpnnValueError(f"unknown GPU reduction {gpu_reduce!r}; choose one of: {', '.join(GPU_REDUCE_MODES)}")
    if launched_size(environ) <= 1:
        return SingleProcess()
    comm = MPIComm(gpu_reduce=gpu_reduce)
    return comm if comm.size > 1 else SingleProcess()  # a one-rank "job" (e.g. a batch script) is a plain run


def single_process() -> SingleProcess:
    """The do-nothing communicator of a plain run."""
    return SingleProcess()


__all__ = [
    "GPU_REDUCE_MODES",
    "Communicator",
    "GpuReduceUnavailable",
    "MPIComm",
    "SingleProcess",
    "from_environment",
    "launched_rank",
    "launched_size",
    "single_process",
]
