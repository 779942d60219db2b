"""scikit-learn estimators on any array library: ``BpnnClassifier`` and ``BpnnRegressor``, adapters over the engine.

Parameters come from the settings table (``settings.py``): each train setting with an MLPClassifier name
(``hidden_layer_sizes``, ``activation``, ``solver``, ``alpha``, ``batch_size``, ``learning_rate_init``, ``max_iter``,
``validation_fraction``, ``random_state``, plus ``init``, ``device`` and ``dtype``) and the estimator's own rows
(``tol``, ``n_iter_no_change``, ``early_stopping``, ``momentum``, ``beta_1``, ``beta_2``, ``epsilon``, ``warm_start``),
each checked by its row. ``solver`` takes the engine's names: adam, sgd (plain), momentum, nesterov (MLPClassifier's
"sgd" with its defaults), rmsprop, and the full-batch scipy methods lbfgs, cg, tnc. ``alpha`` is the L2 penalty as
MLPClassifier applies it, ``alpha / (2 * batch) * sum W^2`` per step. Training is one ``Trainer.fit`` with
MLPClassifier's ``tol``/``n_iter_no_change`` rule as its stopping policy (engine.stopping.ImprovementStopping).

Where the data lives: with scikit-learn's ``array_api_dispatch=True`` and torch, CuPy or array-api-strict inputs,
training runs on their namespace and device, and predictions come back in it (``device`` is not used then);
otherwise the data is NumPy, training runs on ``device`` ("cpu", "cuda", "torch", ...) and results come back as
NumPy. ``save`` writes the CLI's run format, pickling goes through the same format, and ``load`` reads any run
back as a fitted estimator that applies the run's stored preprocessing.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from sklearn.base import ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import assert_all_finite, column_or_1d

from . import backends, checkpoint
from .data.prep import one_hot
from .engine import evaluate
from .errors import BpnnError, BpnnValueError, DataFileError
from .estimator_base import ESTIMATOR_META, _BpnnBase
from .estimator_runs import base_dataset_info, host, host_targets, restore_fitted, stored_params


class BpnnClassifier(ClassifierMixin, _BpnnBase):
    """A multilayer perceptron classifier (softmax output, cross-entropy) trained by bpnn_xp's engine.

    Fitted attributes as MLPClassifier: ``classes_``, ``n_features_in_``, ``loss_``, ``loss_curve_``,
    ``best_loss_``, ``validation_scores_``, ``best_validation_score_``, ``n_iter_``, ``t_``,
    ``coefs_``, ``intercepts_``; plus ``network_`` (the engine's Network) and ``preprocessing_``.
    """

    _cost = "softmax_cross_entropy"

    def fit(self, X: Any, y: Any, sample_weight: Any = None, X_val: Any = None, y_val: Any = None) -> BpnnClassifier:
        """Train on X (n_samples, n_features) and labels y (integers, strings, ...); returns self.

        ``sample_weight``: each row's weight in the cost (times ``class_weight``'s); ``X_val``, ``y_val``: your own
        validation set, used by ``early_stopping`` instead of a ``validation_fraction`` split."""
        return self._fit(X, y, partial=False, sample_weight=sample_weight, X_val=X_val, y_val=y_val)

    def partial_fit(self, X: Any, y: Any, classes: Any = None, sample_weight: Any = None, X_val: Any = None,
                    y_val: Any = None) -> BpnnClassifier:  # fmt: skip
        """One epoch over (X, y); the first call needs ``classes``, every label that will ever appear. With
        ``early_stopping`` and ``X_val``/``y_val``, the stopping state carries from call to call (``stopped_early_``)."""
        return self._fit(X, y, partial=True, classes=classes, sample_weight=sample_weight, X_val=X_val, y_val=y_val)

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
            accuracy_score(host_targets(y, self), backends.to_numpy(self.predict(X)), sample_weight=host(sample_weight))
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
            known = np.unique(host(classes) if classes is not None else y)
            if len(known) < 2:
                raise BpnnValueError(f"{type(self).__name__} needs at least 2 classes in y, got 1 class ({known[0]!r})")
            self.classes_ = known
        elif classes is not None and not np.array_equal(np.unique(host(classes)), self.classes_):
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
        return base_dataset_info(self) | {"n_classes": int(max(self.network_.sizes[-1], 2))} | labels


class BpnnRegressor(RegressorMixin, _BpnnBase):
    """A multilayer perceptron regressor (identity output, squared error) trained by bpnn_xp's engine.

    One or several outputs; fitted attributes as BpnnClassifier without ``classes_``.
    """

    _cost = "mse"

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True  # y of shape (n_samples, n_outputs) is learnt jointly
        return tags

    def fit(self, X: Any, y: Any, sample_weight: Any = None, X_val: Any = None, y_val: Any = None) -> BpnnRegressor:
        """Train on X (n_samples, n_features) and targets y (n_samples,) or (n_samples, n_outputs); returns self.
        ``sample_weight`` and ``X_val``/``y_val`` as for BpnnClassifier.fit."""
        return self._fit(X, y, partial=False, sample_weight=sample_weight, X_val=X_val, y_val=y_val)

    def partial_fit(self, X: Any, y: Any, sample_weight: Any = None, X_val: Any = None, y_val: Any = None) -> BpnnRegressor:
        """One epoch over (X, y), starting the model on the first call (early stopping as BpnnClassifier.partial_fit)."""
        return self._fit(X, y, partial=True, sample_weight=sample_weight, X_val=X_val, y_val=y_val)

    def predict(self, X: Any) -> Any:
        """Predicted targets: shape (n_samples,) for one output, (n_samples, n_outputs) otherwise."""
        values, source = self._outputs(X, "predict")
        if values.shape[1] == 1:
            values = self.network_.xp.reshape(values, (-1,))
        return self._returned(values, source)

    def score(self, X: Any, y: Any, sample_weight: Any = None) -> float:
        """R^2 on (X, y), computed on the host."""
        from sklearn.metrics import r2_score

        return float(r2_score(host_targets(y, self), backends.to_numpy(self.predict(X)), sample_weight=host(sample_weight)))

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
        return base_dataset_info(self) | {"n_classes": None, "class_names": None}


# ---------------------------------------------------------------------- load
def load(path: str | Path, device: str = "cpu") -> BpnnClassifier | BpnnRegressor:
    """A fitted estimator from a run saved by ``save`` or trained with ``bpnn train``, its network on ``device``."""
    saved = checkpoint.load_model(path, backends.resolve_device(device))
    stored = saved.meta.get(ESTIMATOR_META) or {}
    cls = BpnnRegressor if saved.network.cost_function.name == "mse" else BpnnClassifier
    try:
        estimator = cls(**stored_params(cls, stored, saved))
        estimator.device = device
        restore_fitted(estimator, saved, stored, isinstance(estimator, BpnnClassifier))
        solver = estimator._check_settings()["solver"]  # stored parameters are untrusted: checked before use
        estimator._trainer = estimator._new_trainer(saved.network, solver, estimator._seed_used)
        state = saved.trainer_state()
        if state.get("optimizer") and state["optimizer"].get("name") != solver:
            state = {**state, "optimizer": None}
        estimator._trainer.load_state_dict(state)
    except BpnnError as exc:
        raise DataFileError(f"{saved.path}: {exc}") from None
    return estimator


__all__ = ["BpnnClassifier", "BpnnRegressor", "load"]
