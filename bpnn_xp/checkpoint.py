"""Models and checkpoints on disk: one ``.npz`` (loaded with ``allow_pickle=False``) plus a JSON sidecar.

The ``.npz`` holds the parameters (``param.0`` = W1, ``param.1`` = b1, ...), the optimizer state
(``opt.<name>.<i>``), preprocessing arrays and, as ``__meta__``, the UTF-8 JSON metadata
(architecture, data set, preprocessing, metrics, history, versions, trainer state). Everything
needed to load lives in that one file, written atomically, so a crash mid-write leaves the previous
checkpoint intact. ``model.json`` beside it is a readable copy. Every file read is untrusted: each
field is checked and a bad one is named in one line.
"""

from __future__ import annotations

import io
import json
import math
import platform
import uuid
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

import numpy as np

from . import backends
from .config import TrainConfig
from .data.npz import open_npz
from .data.prep import Preprocessing
from .engine import History, Network, Trainer, get_activation, get_cost
from .errors import BpnnError, DataFileError
from .files import atomic_write, ensure_folder
from .model_meta import (
    EARLY_BEST,
    FORMAT,
    FORMAT_VERSION,
    check_member_sizes,
    check_meta,
    check_saved_state,
    expected_members,
    parse_meta,
)

MODEL_FILE = "model.npz"
LEGACY_PIXEL_SCALES = {"digits": 16.0, "mnist": 255.0, "mnist5k": 255.0}  # files from before pixel_scale was saved
MAX_META_BYTES = 64 << 20  # metadata beyond this is not ours


@dataclass
class SavedModel:
    """A model read back from disk: the network plus everything saved beside it."""

    network: Network
    meta: dict[str, Any]
    preprocessing: Preprocessing
    optimizer_arrays: dict[str, list[np.ndarray]] = field(default_factory=dict)
    path: Path | None = None
    early_best_params: np.ndarray | None = None  # the early-stopping stopper's best parameters, flat

    @cached_property
    def config(self) -> TrainConfig:
        """The settings the model was trained with."""
        return TrainConfig.from_dict(self.meta.get("config") or {})

    @property
    def dtype(self) -> str:
        return str(self.meta["architecture"]["dtype"])

    @property
    def image_shape(self) -> tuple[int, int] | None:
        shape = (self.meta.get("dataset") or {}).get("image_shape")
        return (int(shape[0]), int(shape[1])) if shape else None

    @property
    def pixel_scale(self) -> float:
        """What raw pixel values were divided by in training (255, 16 or 1); older files by their data set's name."""
        info = self.meta.get("dataset") or {}
        if info.get("pixel_scale") is not None:
            return float(info["pixel_scale"])
        return LEGACY_PIXEL_SCALES.get(str(info.get("name")), 1.0)

    @property
    def class_names(self) -> list[str] | None:
        """Class names in output order (image folders, text labels); None means the classes are 0..K-1."""
        names = (self.meta.get("dataset") or {}).get("class_names")
        return [str(n) for n in names] if names else None

    @property
    def reading(self) -> dict[str, Any] | None:
        """How the training file was read (a CSV's label column, delimiter, header), applied to later --data files."""
        return (self.meta.get("dataset") or {}).get("reading")

    def class_name(self, index: int) -> str | int:
        """What to print for class ``index``: its name, or the index itself."""
        names = self.class_names
        return names[index] if names else int(index)

    @property
    def n_classes(self) -> int:
        return int((self.meta.get("dataset") or {}).get("n_classes") or max(self.network.sizes[-1], 2))

    @property
    def metrics(self) -> dict[str, Any]:
        return dict(self.meta.get("metrics") or {})

    @property
    def epoch(self) -> int:
        return int((self.meta.get("trainer") or {}).get("epoch", 0))

    @property
    def history(self) -> History:
        return History.from_dict(self.meta.get("history") or {})

    @property
    def run_dir(self) -> Path:
        return self.path.parent if self.path is not None else Path(".")

    def trainer_state(self) -> dict[str, Any]:
        """The saved training state in ``Trainer.load_state_dict``'s form."""
        info = self.meta.get("optimizer_state")
        optimizer = dict(info, state=self.optimizer_arrays) if info else None
        trainer = self.meta.get("trainer") or {}
        stopping = self.meta.get("early_stopping")
        if isinstance(stopping, dict):
            best = stopping.get("best_cost")
            stopping = dict(stopping, best_cost=math.inf if best is None else best, best_params=self.early_best_params)
        return {"epoch": trainer.get("epoch", 0), "rng_state": trainer.get("rng_state"), "history": self.meta.get("history"),
                "optimizer": optimizer, "early_stopping": stopping, "mask_rng_state": trainer.get("mask_rng_state"),
                "schedule_end": trainer.get("schedule_end")}  # fmt: skip


def model_path(path: str | Path) -> Path:
    """The .npz file for a path that names the file or the run directory holding ``model.npz``."""
    path = Path(path)
    return path / MODEL_FILE if path.is_dir() or path.suffix != ".npz" else path


def architecture(network: Network) -> dict[str, Any]:
    """The JSON description a network is rebuilt from."""
    cost = network.cost_function
    return {
        "sizes": network.sizes,
        "activations": [a.name for a in network.activations],
        "cost": cost.name,
        "output_activation": cost.output.name if cost.name == "mse" else None,
        "dtype": str(backends.to_numpy(network.biases[0][:1]).dtype),
    }


def versions() -> dict[str, str]:
    from importlib.metadata import PackageNotFoundError, version

    try:
        ours = version("bpnn_xp")
    except PackageNotFoundError:
        ours = "0+unknown"
    return {"bpnn_xp": ours, "numpy": np.__version__, "python": platform.python_version()}


def save_model(
    path: str | Path,
    network: Network,
    meta: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    trainer: Trainer | None = None,
) -> Path:
    """Write ``network`` (and a trainer's resumable state) atomically; returns the .npz path."""
    target = model_path(path)
    archive, text = model_archive(network, meta, preprocessing, trainer)
    ensure_folder(target.parent)
    atomic_write(target, archive)
    atomic_write(target.with_suffix(".json"), text.encode("utf-8"), durable=False)  # a copy: repair_sidecar rebuilds it
    return target


def model_archive(
    network: Network,
    meta: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    trainer: Trainer | None = None,
) -> tuple[bytes, str]:
    """(the model file's bytes, its metadata as JSON): what ``save_model`` writes, also what a pickled estimator holds."""
    meta = dict(meta or {})
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, architecture=architecture(network), versions=versions())
    meta["checkpoint_id"] = uuid.uuid4().hex  # model.json carries the same id: see repair_sidecar
    preprocessing = preprocessing or Preprocessing()
    meta["preprocessing"] = {"standardize": preprocessing.standardize}
    arrays = {f"param.{i}": backends.to_numpy(p) for i, p in enumerate(network.params)}
    arrays.update(preprocessing.arrays())
    if trainer is not None:
        arrays.update(_trainer_meta(trainer, meta))
    text = json.dumps(meta, indent=2, default=_json_default)
    arrays["__meta__"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue(), text


def repair_sidecar(saved: SavedModel) -> bool:
    """Rewrite model.json from the model file when it is missing or belongs to another write
    (a process killed between the two writes); the .npz is the truth. True if it was rewritten."""
    if saved.path is None:
        return False
    sidecar = saved.path.with_suffix(".json")
    try:
        current = json.loads(sidecar.read_text(encoding="utf-8")).get("checkpoint_id")
    except (OSError, ValueError, AttributeError):
        current = None
    if current == saved.meta.get("checkpoint_id") and current is not None:
        return False
    atomic_write(sidecar, json.dumps(saved.meta, indent=2, default=_json_default).encode("utf-8"))
    return True


def _trainer_meta(trainer: Trainer, meta: dict[str, Any]) -> dict[str, np.ndarray]:
    """Put the trainer's state into ``meta``; return its arrays (optimizer state) for the archive."""
    state = trainer.state_dict()
    meta["trainer"] = {"epoch": state["epoch"], "rng_state": state["rng_state"], "mask_rng_state": state["mask_rng_state"],
                       "schedule_end": state["schedule_end"]}  # fmt: skip
    meta["history"] = state["history"]
    arrays: dict[str, np.ndarray] = {}
    stopping = state.get("early_stopping")
    if stopping is not None:
        best = stopping["best_cost"]
        meta["early_stopping"] = {"patience": stopping["patience"], "best_epoch": stopping["best_epoch"],
                                  "waited": stopping["waited"], "best_cost": None if math.isinf(best) else best}  # fmt: skip
        if stopping["best_params"] is not None:
            arrays[EARLY_BEST] = backends.to_numpy(stopping["best_params"])
    optimizer = state["optimizer"]
    if optimizer is None:
        return arrays
    meta["optimizer_state"] = {k: optimizer[k] for k in ("name", "t", "hyperparameters")}
    return arrays | {f"opt.{key}.{i}": a for key, members in optimizer["state"].items() for i, a in enumerate(members)}


def load_model(path: str | Path, device: str | backends.Backend = "cpu") -> SavedModel:
    """Read a model written by ``save_model`` onto ``device``; any other file gives a DataFileError."""
    source = model_path(path)
    if Path(path).is_file() and source != Path(path):
        raise DataFileError(f"{path} is not a bpnn_xp model; pass a run folder or its {MODEL_FILE}")
    if not source.is_file():
        raise DataFileError(f"model file {source} does not exist; pass the .npz or the run directory holding {MODEL_FILE}")
    return _load(source, source, device)


def model_from_archive(archive: bytes, device: str | backends.Backend = "cpu") -> SavedModel:
    """A model from ``model_archive`` bytes, checked exactly as a model file is (``path`` is None)."""
    saved = _load(Path("<model archive>"), io.BytesIO(archive), device)
    saved.path = None
    return saved


def _load(source: Path, file: Path | io.BytesIO, device: str | backends.Backend) -> SavedModel:
    """Read and check a model archive; ``source`` names it in messages."""
    meta, arrays = _read_archive(source, file)
    try:
        check_meta(meta)
        check_saved_state(meta)
        network = _rebuild(meta, arrays, device)
        preprocessing = _preprocessing(meta, arrays)
        optimizer_arrays = _optimizer_arrays(arrays)
        early_best = _early_best(meta, arrays, network.n_params)
    except BpnnError as exc:  # every field check names the file
        raise DataFileError(f"{source}: {exc}") from None
    return SavedModel(network, meta, preprocessing, optimizer_arrays, source, early_best)


def _early_best(meta: dict[str, Any], arrays: dict[str, np.ndarray], n_params: int) -> np.ndarray | None:
    """The stopper's best parameters: n_params finite floats when the saved state says it has them."""
    state = meta.get("early_stopping")
    if not isinstance(state, dict) or state.get("best_epoch") is None:
        return None
    value = arrays.get(EARLY_BEST)
    if value is None or value.shape != (n_params,) or value.dtype.kind != "f" or not np.all(np.isfinite(value)):
        raise DataFileError(f"the early-stopping state needs {EARLY_BEST} of {n_params} finite numbers")
    return value


def _read_archive(source: Path, file: Path | io.BytesIO) -> tuple[dict[str, Any], dict[str, np.ndarray]]:
    """The metadata and the expected arrays of an .npz (read the guarded way), each member's size checked first."""

    def refuse(reason: str) -> DataFileError:
        return DataFileError(f"{source} is not a bpnn_xp model ({reason})")

    with open_npz(file, refuse) as npz:
        if npz.sizes.get("__meta__", MAX_META_BYTES + 1) > MAX_META_BYTES:
            raise DataFileError(f"{source} is an .npz file but not a bpnn_xp model (no metadata)")
        meta = parse_meta(source, npz.read("__meta__", MAX_META_BYTES))
        expected = expected_members(meta, npz.sizes)
        check_member_sizes(source, meta, npz.sizes, expected)
        arrays = {k: npz.read(k, npz.sizes[k]) for k in expected}
    return meta, arrays


def _rebuild(meta: dict[str, Any], arrays: dict[str, np.ndarray], device: Any) -> Network:
    arch = meta["architecture"]
    sizes, dtype = arch["sizes"], arch["dtype"]
    activations = [get_activation(a) for a in arch["activations"]]
    cost = get_cost(arch["cost"], arch.get("output_activation"))
    backend = backends.as_backend(device)
    host = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for j, shape in enumerate([(fan_in, fan_out), (fan_out,)]):
            host.append(_checked_param(arrays, f"param.{2 * i + j}", shape))
    with backend.use():
        params = [backend.asarray(p, dtype) for p in host]
    return Network(params[0::2], params[1::2], activations, cost)


def _checked_param(arrays: dict[str, np.ndarray], key: str, shape: tuple[int, ...]) -> np.ndarray:
    if key not in arrays:
        raise DataFileError(f"parameter {key} is missing")
    value = arrays[key]
    if value.shape != shape:
        raise DataFileError(f"{key} has shape {value.shape}, the architecture says {shape}")
    if value.dtype not in (np.float32, np.float64):
        raise DataFileError(f"{key} must be float32 or float64, got {value.dtype}")
    if not np.all(np.isfinite(value)):
        raise DataFileError(f"{key} holds NaN or infinite values")
    return value


def _preprocessing(meta: dict[str, Any], arrays: dict[str, np.ndarray]) -> Preprocessing:
    standardize = (meta.get("preprocessing") or {}).get("standardize")
    if not isinstance(standardize, bool):
        raise DataFileError(f"preprocessing.standardize must be true or false, got {standardize!r}")
    if not standardize:
        return Preprocessing(False)
    mean, std = arrays.get("preprocess.mean"), arrays.get("preprocess.std")
    for name, value in (("mean", mean), ("std", std)):
        if value is None or value.dtype.kind != "f" or value.shape != (1,) or not np.all(np.isfinite(value)):
            raise DataFileError(f"preprocessing {name} must be one finite number")
    if not std[0] > 0:
        raise DataFileError(f"preprocessing std must be > 0, got {std[0]}")
    return Preprocessing(True, mean, std)


def _optimizer_arrays(arrays: dict[str, np.ndarray]) -> dict[str, list[np.ndarray]]:
    """``opt.<name>.<i>`` members grouped by name, in index order (indices must run 0..n-1)."""
    grouped: dict[str, dict[int, np.ndarray]] = {}
    for key, value in arrays.items():
        if key.startswith("opt."):
            _, name, index = key.split(".")
            if not index.isdigit():
                raise DataFileError(f"optimizer member {key} has a bad index")
            grouped.setdefault(name, {})[int(index)] = value
    for name, members in grouped.items():
        if sorted(members) != list(range(len(members))):
            raise DataFileError(f"optimizer state {name} has gaps in its members {sorted(members)}")
    return {name: [members[i] for i in range(len(members))] for name, members in grouped.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in model metadata")
