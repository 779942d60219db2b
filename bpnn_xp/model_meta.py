"""What a model file's metadata must hold, checked before anything is built from it: the format and its version,
the architecture, the members the architecture calls for (and their sizes, against zip bombs), and the stored
settings, data description, counters and random-number state."""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from . import backends, checks
from .config import TrainConfig
from .engine import History
from .errors import BpnnError, DataFileError

FORMAT = "bpnn_xp-model"
FORMAT_VERSION = 1
EARLY_BEST = "early.best_params"  # the early-stopping stopper's best parameters (flat), when it has seen one
NPY_HEADER_SLACK = 1 << 12  # an .npy member's header is at most a few hundred bytes


def parse_meta(source: Path, raw: np.ndarray) -> dict[str, Any]:
    if raw.dtype != np.uint8 or raw.ndim != 1:
        raise DataFileError(f"{source}: model metadata is corrupt (not UTF-8 bytes)")
    try:
        meta = json.loads(raw.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise DataFileError(f"{source}: model metadata is corrupt ({type(exc).__name__})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        found = meta.get("format") if isinstance(meta, dict) else type(meta).__name__
        raise DataFileError(f"{source} is not a bpnn_xp model (format {found!r})")
    version = meta.get("format_version")
    if not checks.is_whole(version, 1):
        raise DataFileError(f"{source}: format_version must be a whole number >= 1, got {version!r}")
    if version > FORMAT_VERSION:
        raise DataFileError(f"{source} was written by a newer bpnn_xp (format {version}); upgrade bpnn_xp")
    return meta


def expected_members(meta: dict[str, Any], present: dict[str, int]) -> list[str]:
    """The members this metadata calls for, and only those (others are never read)."""
    arch = meta.get("architecture")
    sizes = arch.get("sizes") if isinstance(arch, dict) else None
    n_layers = len(sizes) - 1 if isinstance(sizes, list) and len(sizes) >= 2 else 0
    wanted = [f"param.{i}" for i in range(2 * n_layers)]
    if (meta.get("preprocessing") or {}).get("standardize"):
        wanted += ["preprocess.mean", "preprocess.std"]
    info = meta.get("optimizer_state")
    if isinstance(info, dict):
        wanted += [k for k in present if k.startswith("opt.") and k.count(".") == 2]
    if isinstance(meta.get("early_stopping"), dict):
        wanted.append(EARLY_BEST)
    return [k for k in wanted if k in present]


def check_member_sizes(source: Path, meta: dict[str, Any], sizes: dict[str, int], expected: list[str]) -> None:
    """Refuse members whose declared size is far beyond what the architecture allows (zip bombs)."""
    arch = meta.get("architecture") or {}
    layer_sizes = arch.get("sizes") if isinstance(arch.get("sizes"), list) else []
    try:
        largest = max((int(a) * int(b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])), default=0)
    except (TypeError, ValueError):
        raise DataFileError(f"{source}: architecture.sizes must be whole numbers") from None
    limit = largest * 8 + NPY_HEADER_SLACK
    total = sum(int(a) * int(b) + int(b) for a, b in zip(layer_sizes[:-1], layer_sizes[1:])) * 8 + NPY_HEADER_SLACK
    for key in expected:
        if (key.startswith(("param.", "opt.")) and sizes[key] > limit) or (key == EARLY_BEST and sizes[key] > total):
            raise DataFileError(f"{source}: member {key} declares {sizes[key]} bytes, more than the architecture allows")


def check_meta(meta: dict[str, Any]) -> None:
    """Architecture fields have the right types and values."""
    arch = meta.get("architecture")
    if not isinstance(arch, dict):
        raise DataFileError("architecture is missing")
    sizes = arch.get("sizes")
    if (
        not isinstance(sizes, list)
        or len(sizes) < 2
        or not all(checks.is_whole(s, 1) for s in sizes)
    ):
        raise DataFileError(f"architecture.sizes must be a list of at least two positive integers, got {sizes!r}")
    if arch.get("dtype") not in backends.DTYPES:
        raise DataFileError(f"architecture.dtype must be float32 or float64, got {arch.get('dtype')!r}")
    activations = arch.get("activations")
    if (
        not isinstance(activations, list)
        or len(activations) != len(sizes) - 2
        or not all(isinstance(a, str) for a in activations)
    ):
        raise DataFileError(f"architecture.activations must name {len(sizes) - 2} activation(s), got {activations!r}")
    for name in (*activations, arch.get("cost"), arch.get("output_activation") or "identity"):
        if not isinstance(name, str):
            raise DataFileError(f"architecture names must be strings, got {name!r}")
    if not isinstance(meta.get("config", {}), dict) or not isinstance(meta.get("dataset", {}), dict):
        raise DataFileError("config and dataset must be JSON objects")


def check_saved_state(meta: dict[str, Any]) -> None:
    """Stored config, data description, counters, RNG state and history are what we would write."""
    config = meta.get("config")
    if config:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                TrainConfig.from_dict(config).validate()
            except BpnnError as exc:
                raise DataFileError(f"stored config: {exc}") from None
    check_dataset_info(meta.get("dataset") or {}, meta["architecture"]["sizes"])
    trainer = meta.get("trainer") or {}
    for where, value in (
        ("trainer.epoch", trainer.get("epoch", 0)),
        ("optimizer_state.t", (meta.get("optimizer_state") or {}).get("t", 0)),
        ("trainer.schedule_end", 0 if trainer.get("schedule_end") is None else trainer["schedule_end"]),
    ):
        if not checks.is_whole(value, 0):
            raise DataFileError(f"{where} must be a whole number >= 0, got {value!r}")
    if trainer.get("rng_state") is not None:
        try:
            np.random.PCG64().state = trainer["rng_state"]
        except (TypeError, ValueError, KeyError, OverflowError) as exc:
            raise DataFileError(f"trainer.rng_state is not a random-number state ({type(exc).__name__})") from None
    try:
        History.from_dict(meta.get("history") or {})
    except (TypeError, ValueError, KeyError, AttributeError) as exc:
        raise DataFileError(f"history is corrupt ({type(exc).__name__}: {exc})") from None
    if not isinstance(meta.get("metrics", {}), dict):
        raise DataFileError("metrics must be a JSON object")


def check_dataset_info(info: dict[str, Any], sizes: list[int]) -> None:
    """The image shape fits the input layer; the class count fits the output layer."""
    shape = info.get("image_shape")
    if shape is not None:
        if (
            not isinstance(shape, list)
            or len(shape) != 2
            or not all(checks.is_whole(v, 1) for v in shape)
        ):
            raise DataFileError(f"dataset.image_shape must be two positive integers, got {shape!r}")
        if shape[0] * shape[1] != sizes[0]:
            raise DataFileError(f"dataset.image_shape {shape} does not give the {sizes[0]} inputs the network takes")
    classes = info.get("n_classes")
    if classes is not None and (not checks.is_whole(classes) or classes != max(sizes[-1], 2)):
        raise DataFileError(f"dataset.n_classes must be {max(sizes[-1], 2)} for {sizes[-1]} output(s), got {classes!r}")
    scale = info.get("pixel_scale")
    if scale is not None and not (checks.is_real(scale) and 0 < scale < 1e9):
        raise DataFileError(f"dataset.pixel_scale must be a positive number (255, 16 or 1), got {scale!r}")
    check_reading(info.get("reading"))
    names = info.get("class_names")
    if names is not None and (
        not isinstance(names, list) or len(names) != max(sizes[-1], 2) or not all(isinstance(n, (str, int)) for n in names)
    ):
        raise DataFileError(f"dataset.class_names must list {max(sizes[-1], 2)} names, got {str(names)[:80]}")


def check_reading(reading: Any) -> None:
    """dataset.reading (how a CSV was read) holds only what the CSV reader takes, in its types."""
    if reading is None:
        return
    label = reading.get("label_column") if isinstance(reading, dict) else None
    if (
        not isinstance(reading, dict)
        or reading.get("form") != "csv"
        or reading.get("delimiter") not in (",", ";", "\t")
        or not isinstance(reading.get("header"), bool)
        or not isinstance(reading.get("index_column", False), bool)
        or not (isinstance(label, str) or checks.is_whole(label))
    ):
        raise DataFileError(f"dataset.reading must describe how a CSV file was read, got {str(reading)[:120]}")
