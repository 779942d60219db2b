"""TrainConfig: every setting of a training run, built from the settings table (settings.py), and ``validate()``.

The launcher and the Python API build the same TrainConfig and call the same ``validate()``, so a bad
setting gets the same one-line error either way, before any data is loaded. A validated config holds
canonical names (``"L-BFGS"`` becomes ``"lbfgs"``) and is saved in every model file.

Defaults: the launcher's are the fields below (tuned on digits and mnist5k: 256 ReLU units, Adam
1e-3, batch 32, 40 epochs, L2 0.5; float32, but float64 for the scipy methods, which stall in
float32; light augmentation of images of 16x16 or more). ``Trainer`` in the engine shares the batch size (32) but
defaults to no penalty (``l2=0``), since a penalty only makes sense once the data is known.
"""

from __future__ import annotations

import warnings
from dataclasses import asdict, fields, make_dataclass, replace
from pathlib import Path
from typing import Any

from .data import canonical_dataset_name
from .engine import DEFAULT_BATCH_SIZE, FULL_BATCH, check_schedule_fits, is_full_batch_method, resolve_initializer
from .errors import SettingError, SettingWarning
from .settings import AUTO, TRAIN_SETTINGS

FILE_DATASET = "file"  # the dataset name of a run trained on --data PATH
ARRAYS_DATASET = "arrays"  # the dataset name of a run fitted on arrays in Python (bpnn_xp.sklearn); its data is not on disk


class _TrainConfigMethods:
    """What TrainConfig does besides holding the fields built from the settings table."""

    def validate(self) -> Any:
        """A copy with canonical names, or a SettingError naming the first bad setting and the fix."""
        values = {s.name: s.check(s.name, getattr(self, s.name)) for s in TRAIN_SETTINGS}
        values["dataset"] = FILE_DATASET if values["data"] is not None else canonical_dataset(values["dataset"])
        _check_together(values)
        full_batch = is_full_batch_method(values["optimizer"])
        if full_batch:
            _note_unused_full_batch_settings(values)
            values["batch_size"] = FULL_BATCH
        if values["dtype"] == AUTO:  # the scipy methods stall in float32
            values["dtype"] = "float64" if full_batch else "float32"
        for key in ("data", "val_data"):  # evaluate/resume from anywhere
            if values[key] is not None:
                values[key] = str(Path(values[key]).expanduser().resolve())
        return replace(self, **values)

    def initializer(self) -> str:
        """``auto`` means He for ReLU-like layers and Glorot otherwise."""
        return resolve_initializer(self.init, self.activation)

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON-ready settings (``download`` is not kept: a saved run never fetches again)."""
        return asdict(replace(self, download=False))

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> Any:
        """A TrainConfig from saved settings: unknown keys ignored, old spellings of full batch read."""
        known = {f.name for f in fields(cls)}
        values = {k: v for k, v in stored.items() if k in known}
        if values.get("batch_size") in (0, None):  # model files before 0.2 spelled full batch 0
            values["batch_size"] = FULL_BATCH
        values.setdefault("augment", "none")  # runs from before --augment were trained undistorted; resume them so
        return cls(**values)


TrainConfig = make_dataclass(
    "TrainConfig",
    [(s.name, s.type, s.field()) for s in TRAIN_SETTINGS],
    bases=(_TrainConfigMethods,),
)
TrainConfig.__module__ = __name__  # pickled by name (sweep workers receive configs)
TrainConfig.__doc__ = "Every setting of a training run (settings.TRAIN_SETTINGS); saved in the model so a run can be resumed."


def canonical_dataset(name: str) -> str:
    """A registered data set's name, or the marker of a run fitted on in-memory arrays or trained on a file."""
    return name if name in (ARRAYS_DATASET, FILE_DATASET) else canonical_dataset_name(name)


def _check_together(values: dict[str, Any]) -> None:
    """Settings that are each valid but do not fit together."""
    if values["val_fraction"] + values["test_fraction"] >= 1.0:
        raise SettingError("val_fraction and test_fraction leave no data to train on; make them add up to less than 1",
                           "val_fraction", "test_fraction")  # fmt: skip
    if values["test_fraction"] <= 0 and values["dataset"] != "mnist":  # mnist brings its own test set
        raise SettingError("test_fraction 0 leaves no test data to report on; give test_fraction > 0 (e.g. 0.2)", "test_fraction")
    if values["early_stopping"] and values["val_fraction"] <= 0 and values["val_data"] is None:
        raise SettingError("early_stopping watches the validation cost; give val_fraction > 0 or val_data", "early_stopping",
                          "val_fraction")
    n_hidden, rates = len(values["hidden"]), values["dropout"]
    if len(rates) > 1 and len(rates) != n_hidden:
        raise SettingError(f"dropout gives {len(rates)} rates but hidden has {n_hidden} layer(s); give one rate or one per "
                           "hidden layer", "dropout", "hidden")  # fmt: skip
    optimizer = values["optimizer"]
    used = {"dropout": any(rates), "input_dropout": bool(values["input_dropout"]), "max_norm": values["max_norm"] is not None}
    stepwise = [name for name, on in used.items() if on]
    if is_full_batch_method(optimizer) and stepwise:
        raise SettingError(f"{stepwise[0]} changes every step, but {optimizer} minimises one fixed cost; use a minibatch "
                           "optimizer (adam, sgd...)", stepwise[0])  # fmt: skip
    if is_full_batch_method(optimizer) and values["augment"].strip().lower() not in (AUTO, "none", "off"):
        raise SettingError(f"augment changes the images every epoch, but {optimizer} minimises one fixed cost; "
                           "use a minibatch optimizer (adam, sgd...) or drop augment", "augment")  # fmt: skip
    check_schedule_fits("lr_schedule", values["lr_schedule"], optimizer)
    if values["early_stopping"] and is_full_batch_method(optimizer):
        raise SettingError(f"early_stopping works with the minibatch optimizers, not {optimizer}", "early_stopping")


def _note_unused_full_batch_settings(values: dict[str, Any]) -> None:
    """Say (as a warning the CLI prints as a note) which settings a scipy method does not use."""
    unused, batch_size = [], values["batch_size"]
    if values["lr"] is not None:
        unused.append("lr (it chooses its own step lengths)")
    if batch_size not in (FULL_BATCH, DEFAULT_BATCH_SIZE):
        unused.append(f"batch_size {batch_size} (it always uses the whole training set)")
    if unused:
        message = f"{values['optimizer']} ignores " + " and ".join(unused)
        warnings.warn(SettingWarning(message, "lr", "batch_size"), stacklevel=3)
