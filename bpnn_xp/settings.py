"""The settings table: every setting of a training run once, with its type, check, default, help and MLPClassifier name.

Everything else is built from it (the spirit of scikit-learn's ``_parameter_constraints``): ``TrainConfig`` and its
per-setting checks (config.py), the options of ``bpnn train`` and their conversion from text (cli.py, one loop),
the values of ``bpnn sweep --grid/--set`` (sweep.py) and the parameters of the scikit-learn estimators
(sklearn.py). Adding a setting is one ``Setting(...)`` entry here. Checks name the setting; the CLI writes the
name as its flag and the estimator as its parameter.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from . import checks
from .backends import DEVICE_HELP, DTYPES
from .data import DATASETS
from .engine import (
    ACTIVATIONS,
    AUTO_INIT,
    COSTS,
    DEFAULT_BATCH_SIZE,
    FULL_BATCH,
    INITIALIZERS,
    LR_SCHEDULES,
    OPTIMIZER_NAMES,
    canonical_optimizer_name,
    check_lr_schedule,
    get_activation,
    get_cost,
    get_initializer,
)
from .engine import check_batch_size as engine_batch_size
from .errors import SettingError

AUTO = "auto"
SAME = object()  # the estimator's default is the launcher's


# ---------------------------------------------------------------------- text -> value (the CLI and sweeps)
def parse_text(name: str, text: str) -> str:
    """A name or path: any text but an empty one."""
    if not text.strip():
        raise SettingError(f"{name}: an empty value; give a value, like {name}=...", name)
    return text.strip()


def parse_int(name: str, text: str) -> int:
    if not re.fullmatch(r"\s*[+-]?\d+\s*", text):
        raise SettingError(f"{name}: {text!r} is not a whole number", name)
    return int(text)


def parse_float(name: str, text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise SettingError(f"{name}: {text!r} is not a number", name) from None
    if not math.isfinite(number):
        raise SettingError(f"{name}: {text!r} is not a finite number", name)
    return number


def parse_bool(name: str, text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in ("true", "yes", "on", "1"):
        return True
    if lowered in ("false", "no", "off", "0"):
        return False
    raise SettingError(f"{name}: {text!r} is not true or false", name)


def parse_batch(name: str, text: str) -> int | str:
    """'full' (every step sees all the data) or a whole number of samples, checked by the setting's check."""
    text = text.strip()
    return FULL_BATCH if text.lower() == FULL_BATCH else int(text) if text.isascii() and text.isdigit() else text


def optional(parse: Callable[[str, str], Any]) -> Callable[[str, str], Any]:
    """``parse``, with none/default meaning None (the setting's own default); never for paths or column names,
    where 'none' may be a real file or column."""

    def parse_optional(name: str, text: str) -> Any:
        return None if text.strip().lower() in ("none", "default") else parse(name, text)

    return parse_optional


PARSERS: dict[Any, Callable[[str, str], Any]] = {int: parse_int, float: parse_float, bool: parse_bool, str: parse_text}


# ---------------------------------------------------------------------- value checks (canonical value or SettingError)
def keep(name: str, value: Any) -> Any:
    return value


def whole_at_least(least: int) -> Callable[[str, Any], int]:
    return lambda name, value: checks.whole(name, value, least)


def number_in(low: float, high: float = math.inf, *, low_open: bool = False, high_open: bool = False,
              none_ok: bool = False) -> Callable[[str, Any], float | None]:  # fmt: skip
    def check(name: str, value: Any) -> float | None:
        return None if none_ok and value is None else checks.real(name, value, low, high, low_open=low_open, high_open=high_open)

    return check


def one_of(allowed: tuple[str, ...]) -> Callable[[str, Any], str]:
    def check(name: str, value: Any) -> str:
        if value not in allowed:
            raise SettingError(f"{name} must be {', '.join(allowed[:-1])} or {allowed[-1]}, got {value!r}", name)
        return value

    return check


def check_batch_size(name: str, value: Any) -> int | str:
    return engine_batch_size(value, name)


def check_init(name: str, value: Any) -> str:
    if value != AUTO_INIT:
        get_initializer(value)  # an unknown name gets the list of known ones
    return value


def check_optional_activation(name: str, value: Any) -> str | None:
    return None if value is None else get_activation(value).name


def check_data(name: str, value: Any) -> str | None:
    if value is not None and not (isinstance(value, str) and value.strip()):
        raise SettingError(f"{name} must name a file or folder, got {value!r}", name)
    return value


def check_augment(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise SettingError(f"{name} takes auto, none, a preset (light, standard) or key=value pairs, not {value!r}", name)
    if value.strip().lower() != AUTO:
        from .data.augment import parse_augment

        parse_augment(value)
    return value


def dropout_rates(name: str, value: Any) -> list[float]:
    """Dropout rates in [0, 1): one for every hidden layer or one per layer (a number or a list; none/empty: off)."""
    if value is None:
        return []
    rates = [value] if checks.is_real(value) else value
    if not isinstance(rates, (list, tuple)) or not all(checks.is_real(r) and 0.0 <= float(r) < 1.0 for r in rates):
        raise SettingError(f"{name} takes rates in [0, 1), one for all hidden layers or one per layer, like 0.5 or 0.2,0.5; "
                           f"got {value!r}", name)  # fmt: skip
    return [float(r) for r in rates]


def parse_rates(name: str, text: str) -> list[float]:
    """'0.5' -> [0.5]; '0.2,0.5' -> [0.2, 0.5]; 'none' -> [] (no dropout)."""
    if text.strip().lower() in ("none", "off", ""):
        return []
    return [parse_float(name, part) for part in text.split(",")]


def check_class_weight(name: str, value: Any) -> Any:
    """None, 'balanced' (n / (classes x count) per class, as scikit-learn) or, in Python, a dict of label -> weight >= 0."""
    if value is None or (isinstance(value, str) and value.strip().lower() == "balanced"):
        return None if value is None else "balanced"
    if isinstance(value, dict) and all(checks.is_real(w) and float(w) >= 0 for w in value.values()):
        return {k: float(w) for k, w in value.items()}
    raise SettingError(f"{name} takes balanced (or, in Python, a dict of class -> weight >= 0), got {value!r}", name)


def names(choices: Any) -> str:
    return ", ".join(choices)


# ---------------------------------------------------------------------- the table
@dataclass(frozen=True)
class Setting:
    """One setting: TrainConfig field, ``bpnn train`` option, sweep key and (with ``sklearn``) estimator parameter."""

    name: str
    type: Any  # TrainConfig's annotation
    default: Any
    help: str
    check: Callable[[str, Any], Any] = keep  # the value in canonical form, or a SettingError naming the setting
    parse: Callable[[str, str], Any] | None = None  # text -> value (CLI, sweeps); None: by type
    sklearn: str | None = None  # the estimator's parameter for it (MLPClassifier's name where it has one)
    sklearn_default: Any = SAME
    flag: str | None = None  # the CLI spelling when it is not --name-with-dashes
    resumable: bool = False  # may change when a saved run is continued
    sweepable: bool = True
    separator: str = ","  # between values of --grid (values that hold commas use ';')
    metavar: str | None = None

    @property
    def option(self) -> str:
        """The launcher's flag: --batch-size for batch_size."""
        return self.flag or "--" + self.name.replace("_", "-")

    def from_text(self, text: str) -> Any:
        """The value of this setting written as text (a CLI option, a sweep value), parsed but not yet checked."""
        parse = self.parse or PARSERS[self.type if self.type in PARSERS else str]
        return parse(self.name, text)

    def default_value(self) -> Any:
        return list(self.default) if isinstance(self.default, list) else self.default

    def field(self) -> Any:
        """The dataclass field of TrainConfig."""
        if isinstance(self.default, list):
            return field(default_factory=self.default_value)
        return field(default=self.default)


TRAIN_SETTINGS: list[Setting] = [
    Setting("dataset", str, "digits", f"Data set: {names(DATASETS)}."),  # checked with data (config.validate)
    Setting("data", str | None, None, "Your own data instead of --dataset: an .npz with X and y, a .csv (see --label-column), "
            "a folder of class sub-folders of images, an MNIST IDX folder, or the course .mat.", check_data),
    Setting("label_column", str | None, None, "CSV label column: a header name or a position (0 = first, -1 = last). "
            "Default: the one column named label, labels, digit, class, target or y (any case), else the first; an unnamed "
            "first column holding 0, 1, 2... (pandas' index) is skipped. The choice is said in one line and kept by the "
            "model for later --data files."),
    Setting("val_data", str | None, None, "Your own validation set (read like --data) instead of a share of the training data: "
            "it drives --early-stopping and the validation curves; --val-fraction is then not used.", check_data),
    Setting("data_dir", str | None, None, "Directory of the MNIST IDX files, or the course .mat file."),
    Setting("download", bool, False, "Fetch MNIST into --data-dir (SHA-256 checked).", sweepable=False),
    Setting("device", str, "cpu", f"Where to compute: {DEVICE_HELP}.", sklearn="device", resumable=True),
    Setting("batch_size", int | str, DEFAULT_BATCH_SIZE, "Samples per step, or 'full' for full batch.", check_batch_size,
            parse_batch, sklearn="batch_size", sklearn_default="auto", resumable=True, metavar="INTEGER|full"),
    Setting("hidden", list[int], [256], "Hidden layer sizes, comma separated, e.g. 256,128; none for no hidden layer.",
            checks.hidden_sizes, checks.parse_hidden, sklearn="hidden_layer_sizes", sklearn_default=(100,), separator=";",
            metavar="SIZES"),
    Setting("activation", str, "relu", f"Hidden activation: {names(ACTIVATIONS)}.", lambda n, v: get_activation(v).name,
            sklearn="activation"),
    Setting("cost", str, "softmax_cross_entropy", f"Cost (it fixes the output layer): {names(COSTS)}.",
            lambda n, v: get_cost(v).name),
    Setting("output_activation", str | None, None, "Output activation, for --cost mse only (identity by default).",
            check_optional_activation, optional(parse_text)),
    Setting("optimizer", str, "adam", f"Optimizer: {names(OPTIMIZER_NAMES)}.", lambda n, v: canonical_optimizer_name(v),
            sklearn="solver"),
    Setting("lr", float | None, None, "Learning rate (default per optimizer: adam, rmsprop 0.001; sgd 0.5; momentum 0.1).",
            number_in(0, low_open=True, none_ok=True), optional(parse_float), sklearn="learning_rate_init",
            sklearn_default=1e-3, resumable=True),
    Setting("lr_schedule", str, "constant", f"Learning rate of each epoch: {names(LR_SCHEDULES)} (cosine: epoch t of T "
            "trains at lr (1 + cos(pi t/T))/2, from --lr down towards 0 at the last epoch).",
            check_lr_schedule, sklearn="learning_rate"),
    Setting("epochs", int, 40, "Epochs (iterations for lbfgs/cg, cost evaluations for tnc); with --resume, epochs more.",
            whole_at_least(1), sklearn="max_iter", sklearn_default=200, resumable=True),
    Setting("l2", float, 0.5, "L2 penalty lambda (weights only), as lambda/(2n) sum W^2.", number_in(0), sklearn="alpha",
            sklearn_default=1e-4),
    Setting("l1", float, 0.0, "L1 penalty lambda (weights only).", number_in(0)),
    Setting("init", str, AUTO_INIT, f"Initializer: {names([AUTO_INIT, *INITIALIZERS])} (auto: He for relu, else Glorot).",
            check_init, sklearn="init"),
    Setting("dtype", str, AUTO, "auto (float64 for lbfgs/cg/tnc, which stall in float32; else float32), float32, float64.",
            one_of((AUTO, *DTYPES)), sklearn="dtype", sklearn_default=None),
    Setting("seed", int, 0, "Seed for splits, initialization and shuffling.", whole_at_least(0), sklearn="random_state",
            sklearn_default=None),
    Setting("val_fraction", float, 0.1, "Share of the data held out for validation.", number_in(0, 1, high_open=True),
            sklearn="validation_fraction"),
    Setting("test_fraction", float, 0.2, "Share held out for the final test (mnist uses its own test set).",
            number_in(0, 1, high_open=True)),
    Setting("early_stopping", int, 0, "Stop after this many epochs without validation improvement (0 = off).", whole_at_least(0)),
    Setting("standardize", bool, True, "Standardize with the training split's mean and std (one value each)."),
    Setting("augment", str, AUTO, "Distort training images each epoch: auto (light for images of 16x16 or more), none, "
            "light, standard, strong, or e.g. 'shift=2,rotate=10,scale=0.1,elastic=34:4'.", check_augment, separator=";"),
    Setting("dropout", list[float], [], "Inverted dropout rate of the hidden layers during training: one for all (0.5) or "
            "one per layer (0.2,0.5); none for off. Evaluation and prediction use no dropout.", dropout_rates, parse_rates,
            sklearn="dropout", sklearn_default=0.0, separator=";", metavar="RATES"),
    Setting("input_dropout", float, 0.0, "Dropout rate of the input features (pixels) during training, e.g. 0.2.",
            number_in(0, 1, high_open=True), sklearn="input_dropout"),
    Setting("max_norm", float | None, None, "After each step, rescale every hidden unit's incoming weight vector to L2 norm "
            "<= this (e.g. 3; none for off).", number_in(0, low_open=True, none_ok=True), optional(parse_float),
            sklearn="max_norm", sklearn_default=None),
    Setting("class_weight", str | None, None, "balanced: weigh each class n / (classes x its count) in the cost, as "
            "scikit-learn does; none: every sample weighs 1.", check_class_weight, optional(parse_text)),
    Setting("out", str | None, None, "Run folder [default: runs/DATASET, or runs/DATASET-2... if taken].",
            resumable=True, sweepable=False),
]

# Estimator parameters with no launcher counterpart (MLPClassifier's names and defaults).
ESTIMATOR_SETTINGS: list[Setting] = [
    Setting("tol", float, 1e-4, "Least improvement of the loss (or validation score) that counts.", number_in(0), sklearn="tol"),
    Setting("n_iter_no_change", int, 10, "Epochs without an improvement of tol before stopping.", whole_at_least(1),
            sklearn="n_iter_no_change"),
    Setting("early_stopping", bool, False, "Stop on a held-out validation score instead of the training loss.",
            sklearn="early_stopping"),
    Setting("momentum", float, 0.9, "Momentum of the momentum and nesterov solvers.", number_in(0, 1, high_open=True),
            sklearn="momentum"),
    Setting("beta_1", float, 0.9, "Adam's first-moment decay.", number_in(0, 1, high_open=True), sklearn="beta_1"),
    Setting("beta_2", float, 0.999, "Adam's second-moment decay.", number_in(0, 1, high_open=True), sklearn="beta_2"),
    Setting("epsilon", float, 1e-8, "Adam's and RMSprop's denominator floor.", number_in(0, low_open=True), sklearn="epsilon"),
    Setting("warm_start", bool, False, "Continue from the fitted network on the next fit.", sklearn="warm_start"),
    Setting("class_weight", Any, None, "Class weights in the cost: 'balanced' or a dict of class -> weight (None: all 1).",
            check_class_weight, sklearn="class_weight"),
]


def train_setting(name: str) -> Setting:
    """The train setting called ``name``."""
    return next(s for s in TRAIN_SETTINGS if s.name == name)


def flag_of(name: str) -> str:
    """The launcher's spelling of a setting or option name (--batch-size for batch_size); other text stays as it is."""
    found = [s for s in TRAIN_SETTINGS if s.name == name]
    if found:
        return found[0].option
    return "--" + name.replace("_", "-") if name.isidentifier() else name
