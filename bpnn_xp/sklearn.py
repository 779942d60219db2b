"""scikit-learn estimators on any array library: ``BpnnClassifier`` and ``BpnnRegressor``.

Parameter names follow ``MLPClassifier``/``MLPRegressor`` where the meaning is the same
(``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``, ``batch_size``, ``learning_rate_init``,
``max_iter``, ``tol``, ``n_iter_no_change``, ``early_stopping``, ``validation_fraction``, ``momentum``,
``beta_1``, ``beta_2``, ``epsilon``, ``random_state``, ``warm_start``), plus ``init``, ``device`` and
``dtype``. ``solver`` takes the engine's names: adam, sgd (plain), momentum, nesterov (MLPClassifier's
"sgd" with its defaults), rmsprop, and the full-batch scipy methods lbfgs, cg, tnc. ``alpha`` is the
L2 penalty as MLPClassifier applies it, ``alpha / (2 * batch) * sum W^2`` per step.

Where the data lives: with scikit-learn's ``array_api_dispatch=True`` and torch, CuPy or
array-api-strict inputs, training runs on their namespace and device, and predictions come back in
it (``device`` is not used then); otherwise the data is NumPy, training runs on ``device`` ("cpu",
"cuda", "torch", ...) and results come back as NumPy. ``save`` writes the CLI's run format and
``load`` reads any run back as a fitted estimator that applies the run's stored preprocessing.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import time
import warnings
from pathlib import Path
from typing import Any

import array_api_compat
import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import assert_all_finite, check_is_fitted, column_or_1d, validate_data

from . import backends, checkpoint
from .config import ARRAYS_DATASET, TrainConfig
from .data.prep import Preprocessing, one_hot
from .engine import (
    DEFAULT_BATCH_SIZE,
    Network,
    Trainer,
    canonical_optimizer_name,
    evaluate,
    get_activation,
    get_cost,
    get_initializer,
    get_optimizer,
    is_full_batch_method,
)
from .engine.optimizers import DEFAULT_LR
from .errors import BpnnError, BpnnValueError, DataFileError

AUTO_BATCH = 200  # MLPClassifier's batch_size="auto": min(200, n_samples)
PREDICT_CHUNK = 8192  # rows per forward pass when predicting, to bound device memory
ESTIMATOR_META = "estimator"  # the meta key where save() keeps what only an estimator needs


class _BpnnBase(BaseEstimator):
    """What the classifier and the regressor share: settings, the training loop, device handling, save."""

    _cost = "softmax_cross_entropy"

    def __init__(
        self,
        hidden_layer_sizes: Any = (100,),
        activation: str = "relu",
        solver: str = "adam",
        alpha: float = 1e-4,
        batch_size: Any = "auto",
        learning_rate_init: float = 1e-3,
        max_iter: int = 200,
        tol: float = 1e-4,
        n_iter_no_change: int = 10,
        early_stopping: bool = False,
        validation_fraction: float = 0.1,
        momentum: float = 0.9,
        beta_1: float = 0.9,
        beta_2: float = 0.999,
        epsilon: float = 1e-8,
        random_state: Any = None,
        warm_start: bool = False,
        init: str = "auto",
        device: str = "cpu",
        dtype: str | None = None,
    ) -> None:
        self.hidden_layer_sizes = hidden_layer_sizes
        self.activation = activation
        self.solver = solver
        self.alpha = alpha
        self.batch_size = batch_size
        self.learning_rate_init = learning_rate_init
        self.max_iter = max_iter
        self.tol = tol
        self.n_iter_no_change = n_iter_no_change
        self.early_stopping = early_stopping
        self.validation_fraction = validation_fraction
        self.momentum = momentum
        self.beta_1 = beta_1
        self.beta_2 = beta_2
        self.epsilon = epsilon
        self.random_state = random_state
        self.warm_start = warm_start
        self.init = init
        self.device = device
        self.dtype = dtype

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.array_api_support = True  # trains on the inputs' namespace and device under array_api_dispatch
        return tags

    # ------------------------------------------------------------------ settings
    def _check_settings(self) -> dict[str, Any]:
        """The parameters checked and in canonical form, or one BpnnValueError naming the parameter."""
        hidden = self.hidden_layer_sizes
        hidden = [hidden] if isinstance(hidden, numbers.Integral) else hidden
        if not isinstance(hidden, (list, tuple)) or any(not _is_whole(h, least=1) for h in hidden):
            raise BpnnValueError(
                f"hidden_layer_sizes must be positive integers, like (100,) or (256, 128); got {self.hidden_layer_sizes!r}"
            )
        for name in ("max_iter", "n_iter_no_change"):
            if not _is_whole(getattr(self, name), least=1):
                raise BpnnValueError(f"{name} must be a whole number >= 1, got {getattr(self, name)!r}")
        for name, low, high in (("alpha", 0.0, math.inf), ("tol", 0.0, math.inf), ("validation_fraction", 0.0, 1.0)):
            value = getattr(self, name)
            if not _is_real(value) or not low <= value < high or (name == "validation_fraction" and value == 0.0):
                raise BpnnValueError(f"{name} must be a number in {'(0, 1)' if high == 1.0 else '[0, inf)'}, got {value!r}")
        if not _is_real(self.learning_rate_init) or not 0 < self.learning_rate_init < math.inf:
            raise BpnnValueError(f"learning_rate_init must be a positive number, got {self.learning_rate_init!r}")
        solver = canonical_optimizer_name(self.solver)
        if self.dtype is not None and self.dtype not in backends.DTYPES:
            raise BpnnValueError(f"dtype must be None (follow the input), 'float32' or 'float64'; got {self.dtype!r}")
        if self.early_stopping and is_full_batch_method(solver):
            raise BpnnValueError(f"early_stopping works with the minibatch solvers (adam, sgd, ...), not {solver}")
        for name, low, high in (("momentum", 0.0, 1.0), ("beta_1", 0.0, 1.0), ("beta_2", 0.0, 1.0), ("epsilon", 0.0, math.inf)):
            value = getattr(self, name)
            if not _is_real(value) or not low <= value < high or (name == "epsilon" and value == 0.0):
                raise BpnnValueError(f"{name} must be a number in {'[0, 1)' if high == 1.0 else '(0, inf)'}, got {value!r}")
        activation = get_activation(self.activation).name
        if self.init != "auto":
            get_initializer(self.init)  # an unknown name gets the list of known ones
        init = self.init if self.init != "auto" else ("he" if activation in ("relu", "leaky_relu") else "glorot")
        return {"hidden": [int(h) for h in hidden], "activation": activation, "solver": solver, "init": init}

    def _batch(self, n: int) -> int:
        """Samples per step: "auto" is min(200, n); larger than n is clipped to n with a warning."""
        size = self.batch_size
        if isinstance(size, str) and size in ("auto", "full"):
            return min(AUTO_BATCH, n) if size == "auto" else n
        if not _is_whole(size, least=1):
            raise BpnnValueError(f"batch_size must be 'auto', 'full' or a positive whole number, got {size!r}")
        if size > n:
            warnings.warn(
                f"batch_size {size} is larger than the {n} training samples; it is clipped to {n}", UserWarning, stacklevel=4
            )
        return min(int(size), n)

    def _seed(self) -> int:
        """A seed for the engine's host Generator: an int random_state is used as is (the CLI's --seed)."""
        if _is_whole(self.random_state, least=0):
            return int(self.random_state)
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _new_optimizer(self, solver: str) -> Any:
        """The first-order optimizer the settings name (None for the full-batch scipy methods)."""
        if is_full_batch_method(solver):
            return None
        settings: dict[str, Any] = {}
        if solver == "adam":
            settings = {"beta1": self.beta_1, "beta2": self.beta_2, "eps": self.epsilon}
        elif solver in ("momentum", "nesterov"):
            settings = {"momentum": self.momentum}
        elif solver == "rmsprop":
            settings = {"eps": self.epsilon}
        return get_optimizer(solver, float(self.learning_rate_init), **settings)

    def _new_trainer(self, network: Network, solver: str, seed: int) -> Trainer:
        optimizer = self._new_optimizer(solver)
        return Trainer(network, optimizer if optimizer is not None else solver, seed=seed)

    # ------------------------------------------------------------------ fitting
    def _fit(self, X: Any, y: Any, partial: bool, classes: Any = None) -> Any:
        """fit (partial=False) or partial_fit: validate, place the data, build or reuse the network, train."""
        settings = self._check_settings()
        solver, method = settings["solver"], "partial_fit" if partial else "fit"
        first = not hasattr(self, "network_") or not (partial or self.warm_start)
        if partial and is_full_batch_method(solver):
            raise BpnnValueError(f"partial_fit works with the minibatch solvers (adam, sgd, ...), not {solver}")
        X = validate_data(self, X, reset=first, dtype="numeric")
        targets = self._targets(_host_targets(y, self), first, classes)
        if targets.shape[0] != X.shape[0]:
            raise BpnnValueError(
                f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {targets.shape[0]}]"
            )
        source = _input_backend(X)
        if first:
            backend = source or backends.resolve_device(self.device)
            dtype = self.dtype or ("float64" if is_full_batch_method(solver) else _follow_dtype(X, source))
            prep = None
        else:
            self._check_namespace(X, method)
            backend, dtype, prep = self._network_backend(), _dtype_name(self.network_.weights[0]), self.preprocessing_
        with backend.use():
            X_dev, Y_dev = _on_device(X, source, backend, dtype, prep), backend.asarray(targets, dtype)
            if first:
                self._start(settings, backend, dtype, X.shape[1], _namespace_key(source))
            started = time.perf_counter()
            self._train(solver, X_dev, Y_dev, partial)
            self.fit_seconds_ = time.perf_counter() - started
        return self

    def _start(self, settings: dict[str, Any], backend: backends.Backend, dtype: str, n_features: int, namespace: str) -> None:
        """A fresh network and trainer, and the fitted attributes reset."""
        seed = self._seed()
        sizes = [n_features, *settings["hidden"], self._n_outputs()]
        cost = get_cost(self._cost)
        self.network_ = Network.create(sizes, settings["activation"], cost, settings["init"], seed, backend, dtype)
        self._trainer = self._new_trainer(self.network_, settings["solver"], seed)
        self._seed_used, self._fit_namespace = seed, namespace
        self.preprocessing_ = Preprocessing(False)
        self.loss_curve_: list[float] = []
        self.n_iter_ = 0
        self.t_ = 0
        for stale in ("_source_config", "_source_dataset"):  # what a loaded run said about its data
            self.__dict__.pop(stale, None)

    def _train(self, solver: str, X: Any, Y: Any, partial: bool) -> None:
        """Full-batch methods in one call; minibatch solvers epoch by epoch with MLPClassifier's stopping rules."""
        trainer = self._trainer
        if is_full_batch_method(solver):
            trainer.batch_size, trainer.l2 = "full", float(self.alpha)  # one step sees all n samples: l2 = alpha
            self._l2_used = trainer.l2
            return self._train_full_batch(trainer, X, Y)
        early = bool(self.early_stopping) and not partial
        validation = None
        if early:
            X, Y, validation = self._split_validation(X, Y)
        n = X.shape[0]
        batch = self._batch(n)
        trainer.batch_size, trainer.l2 = batch, float(self.alpha) * n / batch  # alpha/(2 batch) sum W^2 per step
        self._l2_used = trainer.l2
        stopper = _Stopper(float(self.tol), int(self.n_iter_no_change), early)
        for _ in range(1 if partial else int(self.max_iter)):
            record = trainer.fit(X, Y, epochs=1).records[-1]
            self.loss_curve_.append(record.cost)
            self.loss_, self.n_iter_, self.t_ = record.cost, self.n_iter_ + 1, self.t_ + n
            score = self._validation_score(validation) if early else None
            if stopper.update(record.cost, score, self.network_):
                break
        else:
            if not partial:
                warnings.warn(
                    f"{type(self).__name__} stopped after max_iter={self.max_iter} epochs without converging; "
                    "raise max_iter or learning_rate_init",
                    ConvergenceWarning,
                    stacklevel=3,
                )
        self._finish_stopping(stopper, early)

    def _finish_stopping(self, stopper: _Stopper, early: bool) -> None:
        """MLPClassifier's fitted stopping attributes; early stopping puts back the best epoch's parameters."""
        if early:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = stopper.scores, stopper.best_score, None
            if stopper.best_params is not None:
                self.network_.load_flat(stopper.best_params)
        else:
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = stopper.best_loss, None, None

    def _train_full_batch(self, trainer: Trainer, X: Any, Y: Any) -> None:
        before = len(trainer.history.records)
        trainer.fit(X, Y, epochs=int(self.max_iter))
        costs = [r.cost for r in trainer.history.records[before:]]
        self.loss_curve_ += costs
        self.n_iter_ += len(costs)
        self.t_ += X.shape[0] * len(costs)
        self.loss_ = costs[-1] if costs else float(trainer.last_minimize.cost)
        self.best_loss_, self.validation_scores_, self.best_validation_score_ = min(costs, default=self.loss_), None, None
        result = trainer.last_minimize
        if result is not None and not result.success:
            warnings.warn(
                f"{trainer.method} stopped without converging ({result.message}); raise max_iter",
                ConvergenceWarning,
                stacklevel=3,
            )

    def _split_validation(self, X: Any, Y: Any) -> tuple[Any, Any, tuple[Any, Any]]:
        """A seeded (stratified for classifiers) validation split, taken on the device."""
        from sklearn.model_selection import train_test_split

        n = X.shape[0]
        stratify = backends.to_numpy(Y).argmax(axis=1) if self._cost != "mse" else None
        try:
            train, val = train_test_split(
                np.arange(n), test_size=float(self.validation_fraction), random_state=self._seed_used, stratify=stratify
            )
        except ValueError as exc:
            raise BpnnValueError(
                f"early_stopping cannot split off a validation set of {n} samples ({exc}); "
                "give more data, a larger validation_fraction, or early_stopping=False"
            ) from None
        take = lambda a, rows: backends.from_host(rows, like=a)  # noqa: E731
        xp = self.network_.xp
        pick = lambda a, rows: xp.take(a, take(a, rows), axis=0)  # noqa: E731
        return pick(X, train), pick(Y, train), (pick(X, val), pick(Y, val))

    # ------------------------------------------------------------------ predicting
    def _outputs(self, X: Any, method: str) -> tuple[Any, backends.Backend | None]:
        """Network outputs (class probabilities or regression values) for X, and the input's backend.

        The outputs are on the network's device; the caller returns them in the input's namespace.
        """
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype="numeric")
        self._check_namespace(X, method)
        source = _input_backend(X)
        network = self.network_
        backend = self._network_backend()
        with backend.use():
            X_dev = _on_device(X, source, backend, _dtype_name(network.weights[0]), self.preprocessing_)
            xp, cost = network.xp, network.cost_function
            chunks = []
            for start in range(0, X_dev.shape[0], PREDICT_CHUNK):
                z = network.logits(X_dev[start : min(start + PREDICT_CHUNK, X_dev.shape[0]), ...])
                chunks.append(cost.class_probabilities(z, xp) if self._cost != "mse" else cost.predict(z, xp))
            out = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=0)
        return out, source

    def _check_namespace(self, X: Any, method: str) -> None:
        """Under array_api_dispatch, X must come from the namespace and device the estimator was fitted on."""
        if not get_config()["array_api_dispatch"]:
            return
        got = _namespace_key(_input_backend(X))
        if got != self._fit_namespace:
            raise BpnnValueError(
                f"Inputs passed to {type(self).__name__}.{method}() must use the same namespace and device as those "
                f"passed to fit(): fit got {self._fit_namespace}, {method}() got {got}; move X there first"
            )

    def _network_backend(self) -> backends.Backend:
        """The backend the network's parameters live on."""
        return backends.backend_of(self.network_.weights[0])

    @staticmethod
    def _returned(array: Any, source: backends.Backend | None) -> Any:
        """A result in the caller's namespace: on the input's device under dispatch, else host NumPy."""
        return array if source is not None else backends.to_numpy(array)

    # ------------------------------------------------------------------ pickling (sklearn clones and joblib)
    def __getstate__(self) -> dict[str, Any]:
        """Plain host arrays instead of the device network and trainer (modules and devices do not pickle)."""
        state = self.__dict__.copy()
        if "network_" in state:
            state["network_"] = _network_state(state["network_"])
        if "_trainer" in state:
            state["_trainer"] = {"method": state["_trainer"].method, "state": state["_trainer"].state_dict()}
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        network, trainer = state.pop("network_", None), state.pop("_trainer", None)
        self.__dict__.update(state)
        if network is not None:
            self.network_ = _network_from_state(network)
            if trainer is not None:
                self._trainer = self._new_trainer(self.network_, trainer["method"], getattr(self, "_seed_used", 0))
                self._trainer.load_state_dict(trainer["state"])

    # ------------------------------------------------------------------ the CLI's run format
    @property
    def coefs_(self) -> list[np.ndarray]:
        """Host copies of the weight matrices W_1, W_2, ... (MLPClassifier's coefs_)."""
        check_is_fitted(self)
        return [backends.to_numpy(w) for w in self.network_.weights]

    @property
    def intercepts_(self) -> list[np.ndarray]:
        """Host copies of the bias vectors b_1, b_2, ... (MLPClassifier's intercepts_)."""
        check_is_fitted(self)
        return [backends.to_numpy(b) for b in self.network_.biases]

    def save(self, path: str | Path) -> Path:
        """Write the fitted model in the CLI's run format (``bpnn evaluate/predict`` read it); returns the .npz path."""
        check_is_fitted(self)
        meta = {
            "config": self._train_config().to_dict(),
            "dataset": self._dataset_info(),
            "metrics": {
                "train_samples": getattr(self, "_n_train", None),
                "epochs": self.n_iter_,
                "train_cost": getattr(self, "loss_", None),
                "train_seconds": getattr(self, "fit_seconds_", None),
                "device": self._network_backend().name,
            },
            ESTIMATOR_META: {
                "class": type(self).__name__,
                "params": _json_params(self.get_params()),
                "n_iter": self.n_iter_,
                "t": self.t_,
                "loss_curve": list(self.loss_curve_),
            },
        }
        trainer = getattr(self, "_trainer", None)
        return checkpoint.save_model(path, self.network_, meta, self.preprocessing_, trainer)

    def _train_config(self) -> TrainConfig:
        """The TrainConfig a CLI run with these settings would store (the data set name comes from a loaded run)."""
        settings = self._check_settings()
        full_batch = is_full_batch_method(settings["solver"])
        source = getattr(self, "_source_config", None) or {}
        data_keys = {f.name for f in dataclasses.fields(TrainConfig)} & {"dataset", "data", "label_column", "data_dir"}
        return TrainConfig(
            **({"dataset": ARRAYS_DATASET} | {k: source[k] for k in data_keys if k in source}),  # a loaded run keeps its data
            device=self._network_backend().name,
            batch_size="full" if full_batch else (self.batch_size if _is_whole(self.batch_size, 1) else DEFAULT_BATCH_SIZE),
            hidden=settings["hidden"],
            activation=settings["activation"],
            cost=self._cost,
            optimizer=settings["solver"],
            lr=None if full_batch else float(self.learning_rate_init),
            epochs=int(self.max_iter),
            l2=float(getattr(self, "_l2_used", self.alpha)),
            init=settings["init"],
            dtype=str(_dtype_name(self.network_.weights[0])),
            seed=int(getattr(self, "_seed_used", 0)),
            val_fraction=float(self.validation_fraction) if self.early_stopping else 0.0,
            test_fraction=min(float(source.get("test_fraction", 0.2)), (1.0 - float(self.validation_fraction)) / 2),
            early_stopping=int(self.n_iter_no_change) if self.early_stopping else 0,
            standardize=bool(self.preprocessing_.standardize),
        ).validate()


class BpnnClassifier(ClassifierMixin, _BpnnBase):
    """A multilayer perceptron classifier (softmax output, cross-entropy) trained by bpnn_xp's engine.

    Fitted attributes as MLPClassifier: ``classes_``, ``n_features_in_``, ``loss_``, ``loss_curve_``,
    ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``n_iter_``, ``t_``,
    ``coefs_``, ``intercepts_``; plus ``network_`` (the engine's Network) and ``preprocessing_``.
    """

    _cost = "softmax_cross_entropy"

    def fit(self, X: Any, y: Any) -> BpnnClassifier:
        """Train on X (n_samples, n_features) and labels y (integers, strings, ...); returns self."""
        return self._fit(X, y, partial=False)

    def partial_fit(self, X: Any, y: Any, classes: Any = None) -> BpnnClassifier:
        """One epoch over (X, y); the first call needs ``classes``, every label that will ever appear."""
        return self._fit(X, y, partial=True, classes=classes)

    def predict_proba(self, X: Any) -> Any:
        """Class probabilities, shape (n_samples, n_classes), columns in ``classes_`` order."""
        proba, source = self._outputs(X, "predict_proba")
        return self._returned(proba, source)

    def predict_log_proba(self, X: Any) -> Any:
        """Natural log of ``predict_proba``."""
        proba, source = self._outputs(X, "predict_log_proba")
        return self._returned(self.network_.xp.log(proba), source)

    def predict(self, X: Any) -> Any:
        """The most probable class per row, as a label from ``classes_``."""
        proba, source = self._outputs(X, "predict")
        xp = self.network_.xp
        index = xp.argmax(proba, axis=1)
        if source is not None and self.classes_.dtype.kind in "biuf":  # numeric labels stay on the input's device
            return xp.take(source.asarray(self.classes_), index, axis=0)
        return self.classes_[backends.to_numpy(index)]

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """Mean accuracy on (X, y), computed on the host."""
        from sklearn.metrics import accuracy_score

        return float(
            accuracy_score(_host_targets(y, self), backends.to_numpy(self.predict(X)), sample_weight=_host(sample_weight))
        )

    def _n_outputs(self) -> int:
        return len(self.classes_)

    def _targets(self, y: np.ndarray, first: bool, classes: Any) -> np.ndarray:
        """One-hot rows for the labels y; on a first fit, ``classes_`` is set from y (or ``classes``)."""
        y = column_or_1d(y, warn=True)
        if y.dtype.kind in "fc":
            assert_all_finite(y, input_name="y")
        check_classification_targets(y)
        if first:
            known = np.unique(_host(classes) if classes is not None else y)
            if len(known) < 2:
                raise BpnnValueError(f"{type(self).__name__} needs at least 2 classes in y, got 1 class ({known[0]!r})")
            self.classes_ = known
        elif classes is not None and not np.array_equal(np.unique(_host(classes)), self.classes_):
            raise BpnnValueError(f"classes={classes!r} differs from the classes of the first partial_fit call, {self.classes_!r}")
        unseen = np.setdiff1d(y, self.classes_)
        if unseen.size:
            raise BpnnValueError(
                f"y holds labels {unseen[:5].tolist()} not among the classes the model was started with "
                f"{self.classes_[:10].tolist()}; fit afresh (warm_start=False) or pass every class to partial_fit"
            )
        self._n_train = int(y.shape[0])
        return one_hot(np.searchsorted(self.classes_, y), len(self.classes_))

    def _validation_score(self, validation: tuple[Any, Any]) -> float:
        return evaluate(self.network_, *validation)[1]

    def _dataset_info(self) -> dict[str, Any]:
        """The CLI's dataset record, with the labels: names as text (the CLI's key) and as typed values."""
        labels = {"class_names": [str(c) for c in self.classes_], "classes": self.classes_.tolist()}
        return _base_dataset_info(self) | {"n_classes": int(max(self.network_.sizes[-1], 2))} | labels


class BpnnRegressor(RegressorMixin, _BpnnBase):
    """A multilayer perceptron regressor (identity output, squared error) trained by bpnn_xp's engine.

    One or several outputs; fitted attributes as BpnnClassifier without ``classes_``.
    """

    _cost = "mse"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_samples, n_outputs) is learnt jointly
        return tags

    def fit(self, X: Any, y: Any) -> BpnnRegressor:
        """Train on X (n_samples, n_features) and targets y (n_samples,) or (n_samples, n_outputs); returns self."""
        return self._fit(X, y, partial=False)

    def partial_fit(self, X: Any, y: Any) -> BpnnRegressor:
        """One epoch over (X, y), starting the model on the first call."""
        return self._fit(X, y, partial=True)

    def predict(self, X: Any) -> Any:
        """Predicted targets: shape (n_samples,) for one output, (n_samples, n_outputs) otherwise."""
        values, source = self._outputs(X, "predict")
        if values.shape[1] == 1:
            values = self.network_.xp.reshape(values, (-1,))
        return self._returned(values, source)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 on (X, y), computed on the host."""
        from sklearn.metrics import r2_score

        return float(r2_score(_host_targets(y, self), backends.to_numpy(self.predict(X)), sample_weight=_host(sample_weight)))

    def _n_outputs(self) -> int:
        return self.n_outputs_

    def _targets(self, y: np.ndarray, first: bool, classes: Any = None) -> np.ndarray:
        """y as a float (n_samples, n_outputs) matrix; the output count is fixed by the first fit."""
        y = np.asarray(y)
        if y.dtype.kind == "O":
            try:
                y = y.astype(np.float64)
            except (TypeError, ValueError):
                raise BpnnValueError("y must hold numbers for a regressor; for labels use BpnnClassifier") from None
        if y.ndim not in (1, 2) or y.dtype.kind not in "biuf":
            raise BpnnValueError(f"y must be numbers of shape (n_samples,) or (n_samples, n_outputs), got {y.dtype} {y.shape}")
        assert_all_finite(y, input_name="y")
        y = y.reshape(-1, 1) if y.ndim == 1 else y
        if first:
            self.n_outputs_ = int(y.shape[1])
        elif y.shape[1] != self.n_outputs_:
            raise BpnnValueError(f"y has {y.shape[1]} output(s) but the model was started with {self.n_outputs_}")
        self._n_train = int(y.shape[0])
        return y.astype(np.float64)

    def _validation_score(self, validation: tuple[Any, Any]) -> float:
        """R^2 (averaged over outputs) of the network on the validation split, as MLPRegressor scores it."""
        X, Y = validation
        xp = self.network_.xp
        residual = backends.to_numpy(xp.sum((Y - self.network_.feedforward(X)) ** 2, axis=0)).astype(np.float64)
        spread = backends.to_numpy(xp.sum((Y - xp.mean(Y, axis=0)) ** 2, axis=0)).astype(np.float64)
        safe = np.where(spread > 0, spread, 1.0)
        return float(np.mean(np.where(spread > 0, 1.0 - residual / safe, np.where(residual > 0, 0.0, 1.0))))

    def _dataset_info(self) -> dict[str, Any]:
        """The CLI's dataset record; a regressor has no classes."""
        return _base_dataset_info(self) | {"n_classes": None, "class_names": None}


# ---------------------------------------------------------------------- load
def load(path: str | Path, device: str = "cpu") -> BpnnClassifier | BpnnRegressor:
    """A fitted estimator from a run saved by ``save`` or trained with ``bpnn train``, its network on ``device``."""
    saved = checkpoint.load_model(path, backends.resolve_device(device))
    stored = saved.meta.get(ESTIMATOR_META) or {}
    cost = saved.network.cost_function.name
    cls = BpnnRegressor if cost == "mse" else BpnnClassifier
    try:
        estimator = cls(**_stored_params(cls, stored, saved))
        estimator.device = device
        _restore_fitted(estimator, saved, stored)
    except BpnnError as exc:
        raise DataFileError(f"{saved.path}: {exc}") from None
    return estimator


def _stored_params(cls: type, stored: dict[str, Any], saved: checkpoint.SavedModel) -> dict[str, Any]:
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
    return {
        "hidden_layer_sizes": tuple(config.hidden),
        "activation": config.activation,
        "solver": config.optimizer,
        "alpha": float(alpha),
        "batch_size": batch,
        "learning_rate_init": float(config.lr or DEFAULT_LR.get(config.optimizer, 1e-3)),
        "max_iter": int(config.epochs),
        "early_stopping": bool(config.early_stopping),
        "n_iter_no_change": int(config.early_stopping or 10),
        "validation_fraction": float(config.val_fraction or 0.1),
        "random_state": int(config.seed),
        "init": config.init,
        "dtype": saved.dtype,
    }


def _restore_fitted(estimator: _BpnnBase, saved: checkpoint.SavedModel, stored: dict[str, Any]) -> None:
    """The fitted attributes from a saved run, so the estimator predicts (and can train on) at once."""
    network = saved.network
    estimator.network_, estimator.preprocessing_ = network, saved.preprocessing
    estimator.n_features_in_ = network.sizes[0]
    estimator._fit_namespace = "numpy"
    estimator._seed_used = int(saved.config.seed)
    estimator._source_config = saved.meta.get("config") or {}
    estimator._source_dataset = saved.meta.get("dataset") or {}
    curve = stored.get("loss_curve")
    if curve is not None and (not isinstance(curve, list) or not all(_is_real(c) for c in curve)):
        raise DataFileError("estimator.loss_curve must be a list of finite numbers")
    estimator.loss_curve_ = [float(c) for c in curve] if curve is not None else [r.cost for r in saved.history.records]
    estimator.n_iter_ = saved.epoch if not isinstance(stored.get("n_iter"), int) else stored["n_iter"]
    estimator.t_ = stored.get("t") if isinstance(stored.get("t"), int) else 0
    estimator.loss_ = estimator.loss_curve_[-1] if estimator.loss_curve_ else None
    if isinstance(estimator, BpnnClassifier):
        estimator.classes_ = _stored_classes(saved, network.sizes[-1])
    else:
        estimator.n_outputs_ = network.sizes[-1]
    solver = estimator._check_settings()["solver"]  # stored parameters are untrusted: checked before use
    estimator._trainer = estimator._new_trainer(network, solver, estimator._seed_used)
    state = saved.trainer_state()
    if state.get("optimizer") and state["optimizer"].get("name") != solver:
        state = {**state, "optimizer": None}
    estimator._trainer.load_state_dict(state)


def _stored_classes(saved: checkpoint.SavedModel, outputs: int) -> np.ndarray:
    """The class labels of a run: typed labels from save(), names from an image-folder run, else 0..K-1."""
    info = saved.meta.get("dataset") or {}
    n_classes = max(outputs, 2)
    for key in ("classes", "class_names"):
        labels = info.get(key)
        if labels is None:
            continue
        if (
            not isinstance(labels, list)
            or len(labels) != n_classes
            or not all(isinstance(c, (str, int, float, bool)) for c in labels)
        ):
            raise DataFileError(f"dataset.{key} must list {n_classes} labels (strings or numbers), got {labels!r:.200}")
        classes = np.asarray(labels)
        if len(np.unique(classes)) != n_classes:
            raise DataFileError(f"dataset.{key} repeats a label: {labels!r:.200}")
        return classes
    return np.arange(n_classes)


# ---------------------------------------------------------------------- helpers
class _Stopper:
    """MLPClassifier's convergence rule: stop once the training loss (or validation score) has not
    improved by ``tol`` for more than ``patience`` epochs; keeps the best validation parameters."""

    def __init__(self, tol: float, patience: int, on_validation: bool) -> None:
        self.tol, self.patience, self.on_validation = tol, patience, on_validation
        self.best_loss, self.best_score = math.inf, -math.inf
        self.scores: list[float] = []
        self.best_params: Any = None
        self.waited = 0

    def update(self, loss: float, score: float | None, network: Network) -> bool:
        """Record one epoch; True when training should stop."""
        if self.on_validation and score is not None:
            self.scores.append(score)
            self.waited = self.waited + 1 if score < self.best_score + self.tol else 0
            if score > self.best_score:
                self.best_score, self.best_params = score, network.flatten()
        else:
            self.waited = self.waited + 1 if loss > self.best_loss - self.tol else 0
            self.best_loss = min(self.best_loss, loss)
        return self.waited > self.patience


def _base_dataset_info(estimator: _BpnnBase) -> dict[str, Any]:
    """What a loaded run said about its data (name, image shape, pixel scale...), else: arrays given as they are."""
    return {"name": "arrays", "image_shape": None, "pixel_scale": 1.0} | (getattr(estimator, "_source_dataset", None) or {})


def _is_whole(value: Any, least: int) -> bool:
    return isinstance(value, numbers.Integral) and not isinstance(value, bool) and int(value) >= least


def _is_real(value: Any) -> bool:
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(float(value))


def _input_backend(X: Any) -> backends.Backend | None:
    """The backend of a non-NumPy array-API input under array_api_dispatch; None for host (NumPy) data."""
    if not get_config()["array_api_dispatch"] or isinstance(X, np.ndarray) or not array_api_compat.is_array_api_obj(X):
        return None
    return backends.backend_of(X)


def _namespace_key(source: backends.Backend | None) -> str:
    """'numpy' for host data, else 'library on device' (what fit and predict inputs must share)."""
    return "numpy" if source is None else f"{source.library} on {source.device}"


def _on_device(X: Any, source: backends.Backend | None, backend: backends.Backend, dtype: str, prep: Preprocessing | None) -> Any:
    """X on the training device in ``dtype`` (host data copied there once), with the preprocessing applied."""
    if source is None:
        X_dev = backend.asarray(np.asarray(X), dtype)
    else:
        X_dev = source.xp.astype(X, source.dtype(dtype), copy=False)
    if prep is not None and prep.standardize:  # one mean and one std (see data.prep.Preprocessing)
        X_dev = (X_dev - float(prep.mean[0])) / float(prep.std[0])
    return X_dev


def _dtype_name(array: Any) -> str:
    """'float32' or 'float64' for a float array of any namespace."""
    xp = array_api_compat.array_namespace(array)
    return "float32" if array.dtype == xp.float32 else "float64"


def _follow_dtype(X: Any, source: backends.Backend | None) -> str:
    """MLPClassifier's rule: float32 input trains in float32, anything else in float64."""
    xp = source.xp if source is not None else np
    return "float32" if X.dtype == xp.float32 else "float64"


def _host(values: Any) -> Any:
    """Array-API arrays (torch, CuPy, array-api-strict) copied to NumPy; anything else unchanged."""
    if values is None or isinstance(values, np.ndarray) or not array_api_compat.is_array_api_obj(values):
        return values
    return backends.to_numpy(values)


def _host_targets(y: Any, estimator: BaseEstimator) -> Any:
    """Targets on the host (labels are encoded there whatever namespace X uses); None is refused as sklearn does."""
    if y is None:
        raise BpnnValueError(f"This {type(estimator).__name__} estimator requires y to be passed, but the target y is None.")
    return _host(y)


def _json_params(params: dict[str, Any]) -> dict[str, Any]:
    """Parameters as JSON values (a RandomState instance is not storable: kept as None)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if isinstance(value, tuple):
            value = list(value)
        if isinstance(value, np.generic):
            value = value.item()
        out[key] = value if isinstance(value, (str, int, float, bool, list, type(None))) else None
    return out


def _network_state(network: Network) -> dict[str, Any]:
    """A Network as host arrays, names and a device string, for pickling."""
    cost = network.cost_function
    backend = backends.backend_of(network.weights[0])
    spec = backend.name
    if backend.library == "array_api_strict":
        spec = f"array-api-strict:{str(getattr(backend.device, '_device', '')).lower()}".rstrip(":")
    return {
        "params": [backends.to_numpy(p) for p in network.params],
        "activations": [a.name for a in network.activations],
        "cost": cost.name,
        "output": cost.output.name if cost.name == "mse" else None,
        "device": spec,
        "fast": network.fast,
    }


def _network_from_state(state: dict[str, Any]) -> Network:
    backend = backends.resolve_device(state["device"])
    with backend.use():
        params = [backend.asarray(p) for p in state["params"]]
    cost = get_cost(state["cost"], state["output"])
    return Network(params[0::2], params[1::2], state["activations"], cost, state["fast"])


__all__ = ["BpnnClassifier", "BpnnRegressor", "load"]
