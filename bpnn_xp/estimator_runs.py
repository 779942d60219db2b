"""What the scikit-learn estimators share with the rest of bpnn_xp: their parameters from the settings table,
the mapping between those parameters and a run's TrainConfig (both ways), restoring a saved run as a fitted
estimator, and where the estimators' data lives (host or an array-API device).
"""

from __future__ import annotations

from typing import Any

import array_api_compat
import numpy as np
from sklearn import get_config

from . import backends, checks
from .checkpoint import SavedModel
from .config import ARRAYS_DATASET, TrainConfig
from .data.prep import Preprocessing, label_array
from .engine import DEFAULT_BATCH_SIZE, FULL_BATCH, is_full_batch_method
from .engine.optimizers import DEFAULT_LR
from .errors import BpnnValueError, DataFileError
from .settings import ESTIMATOR_SETTINGS, SAME, TRAIN_SETTINGS, Setting

ESTIMATOR_META = "estimator"  # the meta key where save() keeps what only an estimator needs
DATA_KEYS = ("dataset", "data", "label_column", "data_dir")  # a loaded run keeps saying where its data came from
PARAMETERS: dict[str, tuple[Setting, Any]] = {  # estimator parameter -> (its settings row, its default)
    s.sklearn: (s, s.default if s.sklearn_default is SAME else s.sklearn_default)
    for s in [*TRAIN_SETTINGS, *ESTIMATOR_SETTINGS]
    if s.sklearn
}
MAPPED = [s for s in TRAIN_SETTINGS if s.sklearn]  # train settings the estimator takes, under their MLPClassifier names


def train_config(estimator: Any, settings: dict[str, Any]) -> TrainConfig:
    """The TrainConfig a CLI run with the estimator's checked ``settings`` would store (a loaded run keeps its data)."""
    full_batch = is_full_batch_method(settings["solver"])
    source = getattr(estimator, "_source_config", None) or {}
    early = bool(settings["early_stopping"])
    values = {s.name: settings[s.sklearn] for s in MAPPED}  # the table's mapping, then what the estimator means otherwise
    values.update({"dataset": ARRAYS_DATASET} | {k: source[k] for k in DATA_KEYS if k in source})
    values.update(
        device=estimator._network_backend().name,
        batch_size=FULL_BATCH if full_batch else (settings["batch_size"] if checks.is_whole(settings["batch_size"], 1)
                                                  else DEFAULT_BATCH_SIZE),
        cost=estimator._cost,
        lr=None if full_batch else float(settings["learning_rate_init"]),
        l2=float(getattr(estimator, "_l2_used", settings["alpha"])),  # alpha as the engine's penalty
        dtype=dtype_name(estimator.network_.weights[0]),
        seed=int(getattr(estimator, "_seed_used", 0)),
        val_fraction=float(settings["validation_fraction"]) if early else 0.0,
        test_fraction=min(float(source.get("test_fraction", 0.2)), (1.0 - float(settings["validation_fraction"])) / 2),
        early_stopping=int(settings["n_iter_no_change"]) if early else 0,
        standardize=bool(estimator.preprocessing_.standardize),
    )  # fmt: skip
    return TrainConfig(**values).validate()


def stored_params(cls: type, stored: dict[str, Any], saved: SavedModel) -> dict[str, Any]:
    """The estimator parameters a run was trained with: save()'s own record, else read from the CLI config."""
    params = stored.get("params")
    if params is not None:
        known = cls().get_params()
        if not isinstance(params, dict) or not set(params) <= set(known):
            raise DataFileError(f"estimator.params must be an object with keys among {sorted(known)}")
        hidden = params.get("hidden_layer_sizes")
        return params | ({"hidden_layer_sizes": tuple(hidden)} if isinstance(hidden, list) else {})
    config, batch = saved.config, saved.config.batch_size
    samples = saved.metrics.get("train_samples")
    alpha = config.l2  # full batch: l2 = alpha; minibatch: l2 = alpha * n / batch, undone when n is known
    if isinstance(batch, int) and isinstance(samples, int) and samples > 0:
        alpha = config.l2 * min(batch, samples) / samples
    params = {s.sklearn: getattr(config, s.name) for s in MAPPED if s.name != "device"}  # device: load's argument
    return params | {
        "hidden_layer_sizes": tuple(config.hidden),
        "alpha": float(alpha),
        "learning_rate_init": float(config.lr or DEFAULT_LR.get(config.optimizer, 1e-3)),
        "early_stopping": bool(config.early_stopping),
        "n_iter_no_change": int(config.early_stopping or 10),
        "validation_fraction": float(config.val_fraction or 0.1),
        "random_state": int(config.seed),
        "dtype": saved.dtype,
    }


def restore_fitted(estimator: Any, saved: SavedModel, stored: dict[str, Any], classifier: bool) -> None:
    """The fitted attributes from a saved run, so the estimator predicts (and can train on) at once."""
    network = saved.network
    estimator.network_, estimator.preprocessing_ = network, saved.preprocessing
    estimator.n_features_in_ = network.sizes[0]
    estimator._fit_namespace, estimator._device_spec = "numpy", estimator.device
    estimator._seed_used = int(saved.config.seed)
    estimator._source_config = saved.meta.get("config") or {}
    estimator._source_dataset = saved.meta.get("dataset") or {}
    estimator._pixel_scale = saved.pixel_scale  # raw inputs are scaled as bpnn predict scales them
    curve = stored.get("loss_curve")
    if curve is not None and (not isinstance(curve, list) or not all(checks.is_real(c) for c in curve)):
        raise DataFileError("estimator.loss_curve must be a list of finite numbers")
    estimator.loss_curve_ = [float(c) for c in curve] if curve is not None else [r.cost for r in saved.history.records]
    estimator.n_iter_ = stored["n_iter"] if checks.is_whole(stored.get("n_iter"), 0) else saved.epoch
    estimator.t_ = stored["t"] if checks.is_whole(stored.get("t"), 0) else 0
    estimator.loss_ = estimator.loss_curve_[-1] if estimator.loss_curve_ else None
    if classifier:
        estimator.classes_ = stored_classes(saved, network.sizes[-1])
    else:
        estimator.n_outputs_ = network.sizes[-1]


def stored_classes(saved: SavedModel, outputs: int) -> np.ndarray:
    """The class labels of a run: typed labels from save(), names from an image-folder run, else 0..K-1."""
    info = saved.meta.get("dataset") or {}
    n_classes = max(outputs, 2)
    for key in ("classes", "class_names"):
        labels = info.get(key)
        if labels is None:
            continue
        if not isinstance(labels, list) or len(labels) != n_classes or not all(isinstance(c, (str, int, float, bool))
                                                                               for c in labels):  # fmt: skip
            raise DataFileError(f"dataset.{key} must list {n_classes} labels (strings or numbers), got {labels!r:.200}")
        classes = np.asarray(labels)
        if len(np.unique(classes)) != n_classes:
            raise DataFileError(f"dataset.{key} repeats a label: {labels!r:.200}")
        return classes
    return np.arange(n_classes)


def base_dataset_info(estimator: Any) -> dict[str, Any]:
    """What a loaded run said about its data (name, image shape, pixel scale...), else: arrays given as they are."""
    return {"name": ARRAYS_DATASET, "image_shape": None, "pixel_scale": 1.0} | (getattr(estimator, "_source_dataset", None) or {})


def json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values (a RandomState instance is not storable: kept as None)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value if isinstance(value, (str, int, float, bool, list, type(None))) else None
    return out


# ---------------------------------------------------------------------- where the data lives
def device_spec(backend: backends.Backend) -> str:
    """A device string ``resolve_device`` takes for an input's backend (backends name every backend that way)."""
    return backend.name


def input_backend(X: Any) -> backends.Backend | None:
    """The backend of a non-NumPy array-API input under array_api_dispatch; None for host (NumPy) data."""
    if not get_config()["array_api_dispatch"] or isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
        return None
    return backends.backend_of(X)


def namespace_key(source: backends.Backend | None) -> str:
    """'numpy' for host data, else 'library on device' (what fit and predict inputs must share)."""
    return "numpy" if source is None else f"{source.library} on {source.device}"


def on_device(X: Any, source: backends.Backend | None, backend: backends.Backend, dtype: str, prep: Preprocessing | None) -> Any:
    """X on the training device in ``dtype`` (host data copied there once), with the preprocessing applied."""
    if source is None:
        X_dev = backend.asarray(np.asarray(X), dtype)
    else:
        X_dev = source.xp.astype(X, source.dtype(dtype), copy=False)
    if prep is not None and prep.standardize:  # one mean and one std (see data.prep.Preprocessing)
        X_dev = (X_dev - float(prep.mean[0])) / float(prep.std[0])
    return X_dev


def dtype_name(array: Any) -> str:
    """'float32' or 'float64' for a float array of any namespace."""
    xp = array_api_compat.array_namespace(array)
    return "float32" if array.dtype == xp.float32 else "float64"


def follow_dtype(X: Any, source: backends.Backend | None) -> str:
    """MLPClassifier's rule: float32 input trains in float32, anything else in float64."""
    xp = source.xp if source is not None else np
    return "float32" if X.dtype == xp.float32 else "float64"


def host(values: Any) -> Any:
    """Array-API arrays (torch, CuPy, array-api-strict) copied to NumPy; anything else unchanged."""
    if values is None or isinstance(values, np.ndarray) or not array_api_compat.is_array_api_obj(values):
        return values
    return backends.to_numpy(values)


def host_targets(y: Any, estimator: Any) -> Any:
    """Targets on the host (labels are encoded there whatever namespace X uses); None is refused as sklearn does."""
    if y is None:
        raise BpnnValueError(f"This {type(estimator).__name__} estimator requires y to be passed, but the target y is None.")
    if isinstance(y, (list, tuple)):  # a ragged list is one error naming y, not NumPy's inhomogeneous-shape message
        label_array(y, "y")
    return host(y)
