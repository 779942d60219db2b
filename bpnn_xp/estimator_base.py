"""The estimators' shared base: scikit-learn parameters from the settings table, training through ``Trainer``
with MLPClassifier's stopping rule as its policy, prediction in batches, pickling through the model file format.
"""

from __future__ import annotations

import time
import warnings
from pathlib import Path
from typing import Any

import numpy as np
from sklearn import get_config
from sklearn.base import BaseEstimator
from sklearn.exceptions import ConvergenceWarning
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted, validate_data

from . import backends, checkpoint, checks
from .config import TrainConfig
from .data.prep import Preprocessing
from .engine import Network, Trainer, get_cost, get_optimizer, is_full_batch_method
from .engine.layers import row_batches
from .engine.stopping import ImprovementStopping
from .errors import BpnnValueError, SettingError
from .estimator_params import OPTIMIZER_PARAMETERS, checked_parameters, estimator_init, follow_settings
from .estimator_runs import (
    ESTIMATOR_META,
    device_spec,
    dtype_name,
    follow_dtype,
    host,
    host_targets,
    input_backend,
    json_params,
    namespace_key,
    on_device,
    train_config,
)

AUTO_BATCH = 200  # MLPClassifier's batch_size="auto": min(200, n_samples)
class _BpnnBase(BaseEstimator):
    """What the classifier and the regressor share: settings, training through Trainer, device handling, save."""

    _cost = "softmax_cross_entropy"
    __init__ = estimator_init()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.array_api_support = True  # trains on the inputs' namespace and device under array_api_dispatch
        return tags

    # ------------------------------------------------------------------ settings
    def _check_settings(self) -> dict[str, Any]:
        """Every parameter checked by its settings row (messages name the parameter), canonical names, init resolved."""
        return checked_parameters(self)

    def _batch(self, n: int) -> int:
        """Samples per step: "auto" is min(200, n), "full" is n; larger than n is clipped to n with a warning."""
        size = self.batch_size
        if isinstance(size, str) and size in ("auto", "full"):
            return min(AUTO_BATCH, n) if size == "auto" else n
        if size > n:
            warnings.warn(f"batch_size {size} is larger than the {n} training samples; it is clipped to {n}", UserWarning,
                          stacklevel=4)  # fmt: skip
        return min(int(size), n)

    def _seed(self) -> int:
        """A seed for the engine's host Generator: an int random_state is used as is (the CLI's --seed)."""
        if checks.is_whole(self.random_state, 0):
            return int(self.random_state)
        if checks.is_whole(self.random_state, -(2**63)):  # a negative int: NumPy's words otherwise
            raise SettingError(f"random_state must be None, a whole number >= 0 or a numpy RandomState, got "
                               f"{self.random_state!r}", "random_state")  # fmt: skip
        return int(check_random_state(self.random_state).randint(0, 2**31 - 1))

    def _new_trainer(self, network: Network, solver: str, seed: int) -> Trainer:
        """A Trainer for the solver: the first-order optimizers get the estimator's hyperparameters and the dropout."""
        settings = self._check_settings()
        if is_full_batch_method(solver):
            if any(settings["dropout"]) or settings["input_dropout"] or settings["max_norm"] is not None:
                raise SettingError(f"dropout and max_norm change every step; {solver} minimizes one fixed cost: use a "
                                   "minibatch solver (adam, sgd...)", "dropout", "max_norm")  # fmt: skip
            return Trainer(network, solver, seed=seed, lr_schedule=settings["learning_rate"])
        optimizer_settings = {key: getattr(self, name) for key, name in OPTIMIZER_PARAMETERS.get(solver, {}).items()}
        return Trainer(network, get_optimizer(solver, float(self.learning_rate_init), **optimizer_settings), seed=seed,
                       dropout=settings["dropout"], input_dropout=settings["input_dropout"], max_norm=settings["max_norm"],
                       lr_schedule=settings["learning_rate"])  # fmt: skip

    # ------------------------------------------------------------------ fitting
    def _fit(self, X: Any, y: Any, partial: bool, classes: Any = None, sample_weight: Any = None, X_val: Any = None,
             y_val: Any = None) -> Any:  # fmt: skip
        """fit (partial=False) or partial_fit: validate, place the data, build or reuse the network, train.

        ``sample_weight`` (and the classifier's ``class_weight``) weigh each row's loss; ``X_val``/``y_val`` is the
        user's own validation set for early stopping (instead of a ``validation_fraction`` split)."""
        settings = self._check_settings()
        solver, method = settings["solver"], "partial_fit" if partial else "fit"
        first = not hasattr(self, "network_") or not (partial or self.warm_start)
        if partial and is_full_batch_method(solver):
            raise BpnnValueError(f"partial_fit works with the minibatch solvers (adam, sgd, ...), not {solver}")
        if partial and settings["learning_rate"] != "constant":
            raise SettingError(f"learning_rate={settings['learning_rate']!r} plans the rate over max_iter epochs; "
                               "partial_fit trains one per call: use fit, or learning_rate='constant'", "learning_rate")
        X = validate_data(self, X, reset=first, dtype="numeric")
        if not first:
            X = self._in_model_units(X)
        targets = self._targets(host_targets(y, self), first, classes)
        if targets.shape[0] != X.shape[0]:
            raise BpnnValueError(
                f"Found input variables with inconsistent numbers of samples: [{X.shape[0]}, {targets.shape[0]}]"
            )
        weights = self._sample_weights(targets, sample_weight, X.shape[0], partial)
        if (X_val is None) != (y_val is None):
            raise BpnnValueError("give X_val and y_val together (the validation inputs and their targets)")
        source = input_backend(X)
        if first:
            backend = source or backends.resolve_device(self.device)
            dtype = self.dtype if self.dtype in backends.DTYPES else None
            dtype = dtype or ("float64" if is_full_batch_method(solver) else follow_dtype(X, source))
            prep = None
        else:
            self._check_namespace(X, method)
            self._follow_settings(settings)
            backend, dtype, prep = self._network_backend(), dtype_name(self.network_.weights[0]), self.preprocessing_
        with backend.use():
            X_dev, Y_dev = on_device(X, source, backend, dtype, prep), backend.asarray(targets, dtype)
            if first:
                self._start(settings, backend, dtype, X.shape[1], source)
            validation = None if X_val is None else self._validation_set(X_val, y_val, backend, dtype, method)
            W_dev = None if weights is None else backend.asarray(weights, dtype)
            started = time.perf_counter()
            self._train(solver, X_dev, Y_dev, partial, W_dev, validation)
            self.fit_seconds_ = time.perf_counter() - started
        return self

    def _start(self, settings: dict[str, Any], backend: backends.Backend, dtype: str, n_features: int,
               source: backends.Backend | None) -> None:  # fmt: skip
        """A fresh network and trainer, and the fitted attributes reset."""
        seed = self._seed()
        sizes = [n_features, *settings["hidden_layer_sizes"], self._n_outputs()]
        cost = get_cost(self._cost)
        self.network_ = Network.create(sizes, settings["activation"], cost, settings["init"], seed, backend, dtype)
        self._trainer = self._new_trainer(self.network_, settings["solver"], seed)
        self._policy: ImprovementStopping | None = None  # partial_fit's early stopping, kept across calls
        self.stopped_early_ = False
        self._seed_used, self._fit_namespace = seed, namespace_key(source)
        self._device_spec = self.device if source is None else device_spec(source)
        self.preprocessing_ = Preprocessing(False)
        self.loss_curve_: list[float] = []
        self.__dict__.pop("val_loss_curve_", None)
        self.n_iter_ = 0
        self.t_ = 0
        for stale in ("_source_config", "_source_dataset", "_pixel_scale"):  # what a loaded run said about its data
            self.__dict__.pop(stale, None)

    def _follow_settings(self, settings: dict[str, Any]) -> None:
        """Continue the fitted network under changed parameters as scikit-learn does (estimator_params.follow_settings)."""
        follow_settings(self, settings)

    def _in_model_units(self, X: Any) -> Any:
        """A loaded run's raw host inputs (0..255 pixels, 0..16 digits) scaled as its training data was, exactly as
        ``bpnn predict`` scales the same array; estimators fitted in Python take X as it is."""
        scale = float(getattr(self, "_pixel_scale", 1.0))
        if scale == 1.0 or input_backend(X) is not None:
            return X
        from .data.scaling import scale_like_training

        return scale_like_training(X, scale, "X")

    def _train(self, solver: str, X: Any, Y: Any, partial: bool, W: Any = None, validation: Any = None) -> None:
        """Full-batch methods in one call; minibatch solvers in one Trainer.fit with MLPClassifier's stopping rule.

        partial_fit with early_stopping and a validation set keeps its stopping state across calls (scikit-learn
        issue 25693): each call is one epoch; once the score has not improved for n_iter_no_change calls, the best
        parameters are put back and later calls train no more (``stopped_early_``) until the next fit."""
        trainer = self._trainer
        if is_full_batch_method(solver):
            trainer.batch_size, trainer.l2 = "full", float(self.alpha)  # one step sees all n samples: l2 = alpha
            self._l2_used = trainer.l2
            return self._train_full_batch(trainer, X, Y, W)
        if partial and getattr(self, "stopped_early_", False):
            return
        early = bool(self.early_stopping) and (not partial or validation is not None)
        curves = validation  # the user's own set: its cost per epoch goes to val_loss_curve_
        if early and validation is None:
            X, Y, W, validation = self._split_validation(X, Y, W)
        n = X.shape[0]
        batch = self._batch(n)
        trainer.batch_size, trainer.l2 = batch, float(self.alpha) * n / batch  # alpha/(2 batch) sum W^2 per step
        self._l2_used = trainer.l2
        policy = self._stopping_policy(partial, early, validation)
        before = len(trainer.history.records)
        history = trainer.fit(X, Y, epochs=1 if partial else int(self.max_iter), validation=curves, stopping=policy,
                              sample_weight=W)  # fmt: skip
        self._record_epochs([r.cost for r in history.records[before:]], n)
        if curves is not None:
            self.val_loss_curve_ = getattr(self, "val_loss_curve_", []) + [r.val_cost for r in history.records[before:]]
        if not partial and not history.stopped_early:
            warnings.warn(f"{type(self).__name__} stopped after max_iter={self.max_iter} epochs without converging; "
                          "raise max_iter or learning_rate_init", ConvergenceWarning, stacklevel=3)  # fmt: skip
        self._finish_stopping(policy, early)
        if partial and early and history.stopped_early:
            self.stopped_early_ = True

    def _stopping_policy(self, partial: bool, early: bool, validation: Any) -> ImprovementStopping:
        """MLPClassifier's rule; partial_fit with early stopping keeps one policy across its calls."""
        score = (lambda network: self._validation_score(validation)) if early else None
        if partial and early:
            policy = getattr(self, "_policy", None)
            if policy is None or policy.score is None:
                policy = self._policy = ImprovementStopping(float(self.tol), int(self.n_iter_no_change), score)
            policy.score = score  # this call's validation set
            return policy
        return ImprovementStopping(float(self.tol), int(self.n_iter_no_change), score)

    def _sample_weights(self, targets: np.ndarray, sample_weight: Any, n: int, partial: bool) -> np.ndarray | None:
        """Host weights per row: sample_weight times the class weights (None when every row weighs 1)."""
        from sklearn.utils.validation import _check_sample_weight

        weights = None
        if sample_weight is not None:
            weights = _check_sample_weight(host(sample_weight), np.empty((n, 0)), dtype=np.float64, ensure_non_negative=True)
        class_weight = getattr(self, "class_weight", None)
        if class_weight is not None and self._cost == "mse":
            raise SettingError("class_weight weighs classes; a regressor has none: use sample_weight", "class_weight")
        if class_weight is not None:
            from sklearn.utils.class_weight import compute_sample_weight

            if partial and class_weight == "balanced":
                raise SettingError("class_weight='balanced' needs the whole training set; for partial_fit give a dict "
                                   "(e.g. from sklearn.utils.class_weight.compute_class_weight)", "class_weight")  # fmt: skip
            per_row = compute_sample_weight(class_weight, self.classes_[targets.argmax(axis=1)])
            weights = per_row if weights is None else weights * per_row
        if weights is not None and not np.any(weights > 0):
            raise BpnnValueError("the sample weights (with the class weights) are zero for every row; nothing to train on")
        return weights

    def _validation_set(self, X_val: Any, y_val: Any, backend: backends.Backend, dtype: str, method: str) -> tuple[Any, Any]:
        """The user's validation set on the training device, checked like the training data."""
        n_train = getattr(self, "_n_train", None)
        X_val = validate_data(self, X_val, reset=False, dtype="numeric")
        targets = self._targets(host_targets(y_val, self), False, None)
        if n_train is not None:
            self._n_train = n_train  # _targets counts the training rows
        if targets.shape[0] != X_val.shape[0]:
            raise BpnnValueError(f"X_val has {X_val.shape[0]} rows but y_val has {targets.shape[0]}")
        self._check_namespace(X_val, method)
        return on_device(X_val, input_backend(X_val), backend, dtype, self.preprocessing_), backend.asarray(targets, dtype)

    def _record_epochs(self, costs: list[float], n: int) -> None:
        """MLPClassifier's per-epoch attributes: loss curve, last loss, epochs and samples seen."""
        self.loss_curve_ += costs
        self.n_iter_ += len(costs)
        self.t_ += n * len(costs)
        if costs:
            self.loss_ = costs[-1]

    def _finish_stopping(self, policy: ImprovementStopping, early: bool) -> None:
        """MLPClassifier's fitted stopping attributes; early stopping puts back the best epoch's parameters."""
        if early:
            self.validation_scores_, self.best_validation_score_, self.best_loss_ = policy.scores, policy.best_score, None
            if policy.best_params is not None:
                self.network_.load_flat(policy.best_params)
        else:
            self.best_loss_, self.validation_scores_, self.best_validation_score_ = policy.best_loss, None, None

    def _train_full_batch(self, trainer: Trainer, X: Any, Y: Any, W: Any = None) -> None:
        before = len(trainer.history.records)
        trainer.fit(X, Y, epochs=int(self.max_iter), sample_weight=W)
        costs = [r.cost for r in trainer.history.records[before:]]
        self._record_epochs(costs, X.shape[0])
        if not costs:
            self.loss_ = float(trainer.last_minimize.cost)
        self.best_loss_, self.validation_scores_, self.best_validation_score_ = min(costs, default=self.loss_), None, None
        result = trainer.last_minimize
        if result is not None and not result.success:
            warnings.warn(f"{trainer.method} stopped without converging ({result.message}); raise max_iter", ConvergenceWarning,
                          stacklevel=3)  # fmt: skip

    def _split_validation(self, X: Any, Y: Any, W: Any = None) -> tuple[Any, Any, Any, tuple[Any, Any]]:
        """A seeded (stratified for classifiers) validation split, taken on the device (the weights follow the rows)."""
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
        weights = None if W is None else xp.take(W, take(W, train), axis=0)
        return pick(X, train), pick(Y, train), weights, (pick(X, val), pick(Y, val))

    # ------------------------------------------------------------------ predicting
    def _outputs(self, X: Any, method: str) -> tuple[Any, backends.Backend | None]:
        """Network outputs (class probabilities or regression values) for X on the network's device, and X's backend."""
        check_is_fitted(self)
        X = validate_data(self, X, reset=False, dtype="numeric")
        self._check_namespace(X, method)
        X = self._in_model_units(X)
        source = input_backend(X)
        network = self.network_
        with self._network_backend().use():
            X_dev = on_device(X, source, self._network_backend(), dtype_name(network.weights[0]), self.preprocessing_)
            xp, cost = network.xp, network.cost_function
            chunks = []
            for start, stop in row_batches(X_dev.shape[0]):
                z = network.logits(X_dev[start:stop, ...])
                chunks.append(cost.class_probabilities(z, xp) if self._cost != "mse" else cost.predict(z, xp))
            out = chunks[0] if len(chunks) == 1 else xp.concat(chunks, axis=0)
        return out, source

    def _check_namespace(self, X: Any, method: str) -> None:
        """Under array_api_dispatch, X must come from the namespace and device the estimator was fitted on."""
        if not get_config()["array_api_dispatch"]:
            return
        got = namespace_key(input_backend(X))
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

    # ------------------------------------------------------------------ pickling (clones, joblib): through the model format
    def __getstate__(self) -> dict[str, Any]:
        """The network and trainer as the bytes of a model file (devices and modules do not pickle)."""
        state = self.__dict__.copy()
        network, trainer = state.pop("network_", None), state.pop("_trainer", None)
        if network is not None:
            state["_model_archive"] = checkpoint.model_archive(network, {}, self.preprocessing_, trainer)[0]
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        archive = state.pop("_model_archive", None)
        self.__dict__.update(state)
        if archive is not None:
            saved = checkpoint.model_from_archive(archive, backends.resolve_device(self._device_spec))
            self.network_ = saved.network
            solver = self._check_settings()["solver"]
            self._trainer = self._new_trainer(self.network_, solver, getattr(self, "_seed_used", 0))
            self._trainer.load_state_dict(saved.trainer_state())

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
            "metrics": {"train_samples": getattr(self, "_n_train", None), "epochs": self.n_iter_,
                        "train_cost": getattr(self, "loss_", None), "train_seconds": getattr(self, "fit_seconds_", None),
                        "device": self._network_backend().name},
            ESTIMATOR_META: {"class": type(self).__name__, "params": json_params(self.get_params()), "n_iter": self.n_iter_,
                             "t": self.t_, "loss_curve": list(self.loss_curve_)},
        }  # fmt: skip
        return checkpoint.save_model(path, self.network_, meta, self.preprocessing_, getattr(self, "_trainer", None))

    def _train_config(self) -> TrainConfig:
        """The TrainConfig a CLI run with these settings would store (the data set name comes from a loaded run)."""
        return train_config(self, self._check_settings())

    def _network_backend(self) -> backends.Backend:
        """The backend the network's parameters live on."""
        return backends.backend_of(self.network_.weights[0])

    @staticmethod
    def _returned(array: Any, source: backends.Backend | None) -> Any:
        """A result in the caller's namespace: on the input's device under dispatch, else host NumPy."""
        return array if source is not None else backends.to_numpy(array)


