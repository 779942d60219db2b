"""Models and checkpoints on disk: one ``.npz`` (loaded with ``allow_pickle=False``) plus a JSON sidecar.

The ``.npz`` holds the parameters (``param.0`` = W1, ``param.1`` = b1, ...), the optimizer state
(``opt.<name>.<i>``), preprocessing arrays and, as ``__meta__``, the UTF-8 JSON metadata
(architecture, data set, preprocessing, metrics, history, versions, trainer state). Everything
needed to load lives in that one file, written atomically (temp file + fsync + rename), so a crash
mid-write leaves the previous checkpoint intact. ``model.json`` beside it is a readable copy.
"""

from __future__ import annotations

import io
import json
import os
import platform
import tempfile
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from . import backend as backends
from .costs import MeanSquaredError
from .data.prep import Preprocessing
from .errors import DataFileError
from .network import Network
from .optimizers import Optimizer

FORMAT = "bpnn_xp-model"
FORMAT_VERSION = 1
MODEL_FILE = "model.npz"


@dataclass
class SavedModel:
    """A model read back from disk: the network plus everything saved beside it."""

    network: Network
    meta: dict[str, Any]
    preprocessing: Preprocessing
    optimizer_state: dict[str, list[np.ndarray]] = field(default_factory=dict)
    path: Path | None = None


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
        "output_activation": cost.output.name if isinstance(cost, MeanSquaredError) else None,
        "dtype": str(backends.to_numpy(network.biases[0][:1]).dtype),
    }


def versions() -> dict[str, str]:
    from . import __version__

    return {"bpnn_xp": __version__, "numpy": np.__version__, "python": platform.python_version()}


def save_model(
    path: str | Path,
    network: Network,
    meta: dict[str, Any] | None = None,
    preprocessing: Preprocessing | None = None,
    optimizer: Optimizer | None = None,
) -> Path:
    """Write ``network`` (and optionally optimizer state) atomically; returns the .npz path."""
    target = model_path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    meta = dict(meta or {})
    meta.update(format=FORMAT, format_version=FORMAT_VERSION, architecture=architecture(network), versions=versions())
    preprocessing = preprocessing or Preprocessing()
    meta["preprocessing"] = {"standardize": preprocessing.standardize}
    arrays = {f"param.{i}": backends.to_numpy(p) for i, p in enumerate(network.params)}
    arrays.update(preprocessing.arrays())
    if optimizer is not None:
        meta["optimizer_state"] = {"name": optimizer.name, "t": optimizer.t, "hyperparameters": optimizer.hyperparameters()}
        for key, states in optimizer.state.items():
            arrays.update({f"opt.{key}.{i}": backends.to_numpy(s) for i, s in enumerate(states)})
    text = json.dumps(meta, indent=2, default=_json_default)
    arrays["__meta__"] = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write(target, buffer.getvalue())
    atomic_write(target.with_suffix(".json"), text.encode("utf-8"))
    return target


def atomic_write(path: Path, payload: bytes) -> None:
    """Write bytes to ``path`` so that readers see the old file or the new one, never half of one."""
    handle, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as out:
            out.write(payload)
            out.flush()
            os.fsync(out.fileno())
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def load_model(path: str | Path, device: str | backends.Backend = "cpu") -> SavedModel:
    """Read a model written by ``save_model`` onto ``device``; any other file gives a DataFileError."""
    source = model_path(path)
    if not source.is_file():
        raise DataFileError(f"model file {source} does not exist; pass the .npz or the run directory holding {MODEL_FILE}")
    if not zipfile.is_zipfile(source):
        raise DataFileError(f"{source} is not a bpnn_xp model (not an .npz archive)")
    try:
        with np.load(source, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except ValueError as exc:
        if "pickle" in str(exc):  # never relay NumPy's hint to load pickles
            raise DataFileError(
                f"{source} is not a bpnn_xp model (it holds pickled objects, which bpnn_xp never loads)"
            ) from None
        raise DataFileError(f"{source} is not a bpnn_xp model (corrupt .npz: {exc})") from None
    except (zipfile.BadZipFile, OSError, EOFError, KeyError, NotImplementedError) as exc:
        raise DataFileError(f"{source} is not a bpnn_xp model (corrupt .npz: {type(exc).__name__}: {exc})") from None
    if "__meta__" not in arrays:
        raise DataFileError(f"{source} is an .npz file but not a bpnn_xp model (no metadata)")
    try:
        meta = json.loads(arrays.pop("__meta__").tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise DataFileError(f"{source}: model metadata is corrupt ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataFileError(f"{source} is not a bpnn_xp model (format {meta.get('format') if isinstance(meta, dict) else '?'!r})")
    if meta.get("format_version", 0) > FORMAT_VERSION:
        raise DataFileError(f"{source} was written by a newer bpnn_xp (format {meta['format_version']}); upgrade bpnn_xp")
    network = _rebuild(source, meta, arrays, device)
    prep = meta.get("preprocessing", {})
    preprocessing = Preprocessing(bool(prep.get("standardize")), arrays.get("preprocess.mean"), arrays.get("preprocess.std"))
    if preprocessing.standardize and (preprocessing.mean is None or preprocessing.std is None):
        raise DataFileError(f"{source}: standardization statistics are missing")
    opt_state: dict[str, list[np.ndarray]] = {}
    for key in sorted((k for k in arrays if k.startswith("opt.")), key=lambda k: (k.split(".")[1], int(k.split(".")[2]))):
        opt_state.setdefault(key.split(".")[1], []).append(arrays[key])
    return SavedModel(network, meta, preprocessing, opt_state, source)


def _rebuild(source: Path, meta: dict[str, Any], arrays: dict[str, np.ndarray], device: Any) -> Network:
    try:
        arch = meta["architecture"]
        sizes = [int(s) for s in arch["sizes"]]
        dtype = str(arch["dtype"])
        from .costs import get_cost

        cost = get_cost(arch["cost"], arch.get("output_activation"))
        activations = list(arch["activations"])
    except (KeyError, TypeError, ValueError) as exc:
        raise DataFileError(f"{source}: architecture in the metadata is incomplete ({exc})") from None
    backend = device if isinstance(device, backends.Backend) else backends.resolve_device(device)
    params = []
    for i, (fan_in, fan_out) in enumerate(zip(sizes[:-1], sizes[1:])):
        for j, shape in enumerate([(fan_in, fan_out), (fan_out,)]):
            key = f"param.{2 * i + j}"
            if key not in arrays:
                raise DataFileError(f"{source}: parameter {key} is missing")
            if arrays[key].shape != shape:
                raise DataFileError(f"{source}: {key} has shape {arrays[key].shape}, the architecture says {shape}")
            params.append(backend.asarray(arrays[key], dtype))
    return Network(params[0::2], params[1::2], activations, cost)


def restore_optimizer(optimizer: Optimizer, saved: SavedModel) -> None:
    """Put the saved step count and state arrays back into ``optimizer`` on the network's device."""
    info = saved.meta.get("optimizer_state")
    if not info:
        return
    if info["name"] != optimizer.name:
        raise DataFileError(f"the checkpoint was trained with {info['name']}; resume with --optimizer {info['name']}")
    like = saved.network.weights[0]
    optimizer.t = int(info["t"])
    optimizer.state = {k: [backends.from_host(a, like) for a in v] for k, v in saved.optimizer_state.items()}


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot store {type(value).__name__} in model metadata")
