"""The estimators' parameters: one keyword per settings row, each checked by its row, in the estimator's own terms
where they differ from the launcher's (batch_size="auto", dtype=None...)."""

from __future__ import annotations

import inspect
from typing import Any

from . import checks
from .engine import check_schedule_fits, is_full_batch_method, resolve_initializer
from .errors import BpnnValueError, SettingError
from .estimator_runs import PARAMETERS

OPTIMIZER_PARAMETERS = {  # the engine's optimizer settings each solver takes, from the estimator's parameters
    "adam": {"beta1": "beta_1", "beta2": "beta_2", "eps": "epsilon"},
    "momentum": {"momentum": "momentum"},
    "nesterov": {"momentum": "momentum"},
    "rmsprop": {"eps": "epsilon"},
}
UNCHECKED = {"batch_size": "auto", "dtype": None}  # estimator-only forms the rows' checks do not know


def estimator_init() -> Any:
    """``__init__`` with one keyword parameter per table row (its MLPClassifier default), as scikit-learn wants."""
    signature = inspect.Signature(
        [inspect.Parameter("self", inspect.Parameter.POSITIONAL_OR_KEYWORD)]
        + [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, default=default) for name, (_, default) in PARAMETERS.items()]
    )

    def __init__(self: Any, **params: Any) -> None:
        bound = signature.bind(self, **params)  # an unknown parameter is a TypeError, as for any function
        bound.apply_defaults()
        for name, value in list(bound.arguments.items())[1:]:
            setattr(self, name, value)

    __init__.__signature__ = signature  # type: ignore[attr-defined]
    return __init__


def _estimator_only_form(name: str, value: Any) -> bool:
    """True for batch_size="auto" and dtype=None (any value, lists and arrays included, may be asked about)."""
    return name in UNCHECKED and isinstance(value, (str, type(None))) and value == UNCHECKED[name]


ESTIMATOR_FORMS = {  # where the estimator takes other forms than the launcher, its own wording of the rule
    "batch_size": "a positive integer, 'auto' (min(200, n_samples)) or 'full'",
    "dtype": "None (float32, or float64 for the full-batch solvers), 'float32' or 'float64'",
    "validation_fraction": "a number in (0, 1)",
}


def _check(setting: Any, name: str, value: Any) -> Any:
    """The row's check; its message in the estimator's own terms where they differ from the launcher's."""
    try:
        return setting.check(name, value)
    except SettingError:
        if name not in ESTIMATOR_FORMS:
            raise
        raise SettingError(f"{name} must be {ESTIMATOR_FORMS[name]}, got {value!r}", name) from None


def checked_parameters(estimator: Any) -> dict[str, Any]:
    """Every parameter checked by its settings row (messages name the parameter), canonical names, init resolved."""
    values = {}
    for name, (setting, _) in PARAMETERS.items():
        value = getattr(estimator, name)
        if name == "hidden_layer_sizes" and checks.is_whole(value):  # MLPClassifier takes one int for one layer
            value = [value]
        values[name] = value if name == "random_state" or _estimator_only_form(name, value) else _check(setting, name, value)
    if values["validation_fraction"] == 0:
        name = "validation_fraction"
        raise SettingError(f"{name} must be {ESTIMATOR_FORMS[name]}, got 0", name)
    check_schedule_fits("learning_rate", values["learning_rate"], values["solver"])
    if values["early_stopping"] and is_full_batch_method(values["solver"]):
        raise SettingError(f"early_stopping works with the minibatch solvers (adam, sgd, ...), not {values['solver']}")
    values["init"] = resolve_initializer(values["init"], values["activation"])
    return values


def follow_settings(estimator: Any, settings: dict[str, Any]) -> None:
    """Continuing a fitted network (warm_start, partial_fit), as scikit-learn does: the layers must be the fitted
    ones (a change is an error: refit with warm_start=False); a new solver takes effect with the weights kept
    (a fresh optimizer), and the same solver's changed hyperparameters (learning_rate_init...) apply to it."""
    fitted = estimator.network_.sizes[1:-1]
    if list(settings["hidden_layer_sizes"]) != fitted:
        raise BpnnValueError(
            f"hidden_layer_sizes is {tuple(settings['hidden_layer_sizes'])} but the fitted network's hidden layers are "
            f"{tuple(fitted)}; warm_start and partial_fit continue that network, so set warm_start=False to fit the new "
            "layers from scratch (or set hidden_layer_sizes back)"
        )
    used = {a.name for a in estimator.network_.activations}
    if used and used != {settings["activation"]}:
        raise BpnnValueError(f"activation is {settings['activation']!r} but the fitted network uses {sorted(used)[0]!r}; "
                             "set warm_start=False to refit with it (or set activation back)")  # fmt: skip
    trainer, fresh = estimator._trainer, estimator._new_trainer(estimator.network_, settings["solver"], estimator._seed_used)
    if trainer.method != fresh.method:
        fresh.epoch, fresh.history, fresh.rng = trainer.epoch, trainer.history, trainer.rng
        estimator._trainer = fresh
    elif trainer.optimizer is not None and fresh.optimizer is not None:
        for key, value in fresh.optimizer.hyperparameters().items():
            setattr(trainer.optimizer, key, value)
        trainer.schedule.name, trainer.schedule.base_lr = fresh.schedule.name, fresh.schedule.base_lr
