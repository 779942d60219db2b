"""The course's own weights: import ``ex4weights.mat`` (Theta1, Theta2) as a run, export a run back.

The course (Andrew Ng's Machine Learning, exercise 4) stores each 20x20 image column-major with
labels 1..10 (10 = digit 0), and a network as Theta_l of shape (fan_out, fan_in + 1), bias in
column 0. ``--dataset mat`` (``data.matfile.load_course_mat``) hands us the same images row-major
with labels 0..9. The import therefore permutes the input rows of W1 and the output columns of the
last layer, so that the run predicts on our loader's X exactly what the course's ``predict.m``
predicts on the raw file, sample for sample; the export undoes both permutations, bit for bit.
The weights file is untrusted: its catalogue is checked before anything is loaded.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io

from . import backends, checkpoint
from .checkpoint import SavedModel
from .config import TrainConfig
from .data.matfile import dims, read_matrices
from .data.prep import Preprocessing
from .engine import Network
from .errors import BpnnValueError, DataFileError, SettingError
from .files import atomic_write

SIDE = 20
PIXELS = SIDE * SIDE
CLASSES = 10
# Our feature r*20+c (row-major) is the course's feature c*20+r (column-major); the map is its own inverse.
COURSE_PIXEL_OF_FEATURE = np.arange(PIXELS).reshape(SIDE, SIDE).T.reshape(-1)
# Our class d is the digit d; the course's output unit k (row k-1 of Theta2) means label k, and label 10 is digit 0.
COURSE_UNIT_OF_CLASS = np.array([(d - 1) % CLASSES for d in range(CLASSES)])
NAMES = ("Theta1", "Theta2")


# ---------------------------------------------------------------------- reading the course file
def read_course_weights(path: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(Theta1, Theta2) as float64 from a course weights file: h x 401 and 10 x (h + 1), finite."""
    path = Path(path)
    if not path.is_file():
        raise DataFileError(f"course weights file {path} does not exist (the course's ex4weights.mat)")
    theta1, theta2 = read_matrices(path, NAMES, "the course's ex4weights.mat")
    _check_theta_shapes(path, theta1, theta2)
    return theta1, theta2


def _check_theta_shapes(path: Path, theta1: np.ndarray, theta2: np.ndarray) -> None:
    """Theta1 is h x 401 (h >= 1) and Theta2 is 10 x (h + 1): the course's 400-h-10 network."""
    if theta1.ndim != 2 or theta1.shape[0] < 1 or theta1.shape[1] != PIXELS + 1:
        raise DataFileError(
            f"{path}: Theta1 must be an h x {PIXELS + 1} matrix (hidden units x 20x20 pixels plus bias); got {dims(theta1)}"
        )
    hidden = theta1.shape[0]
    if theta2.ndim != 2 or theta2.shape != (CLASSES, hidden + 1):
        raise DataFileError(
            f"{path}: Theta2 must be a {CLASSES} x {hidden + 1} matrix (10 classes x {hidden} hidden units plus bias, "
            f"to match Theta1); got {dims(theta2)}"
        )


# ---------------------------------------------------------------------- layout mapping
def network_from_thetas(theta1: np.ndarray, theta2: np.ndarray, dtype: str = "float64") -> Network:
    """Our 400-h-10 sigmoid network predicting on ``load_course_mat``'s X what ``predict.m`` predicts on the raw X."""
    theta1, theta2 = np.asarray(theta1, dtype=np.float64), np.asarray(theta2, dtype=np.float64)
    if theta1.ndim != 2 or theta1.shape[1] != PIXELS + 1 or theta2.shape != (CLASSES, theta1.shape[0] + 1):
        raise BpnnValueError(
            f"course Thetas must be h x {PIXELS + 1} and {CLASSES} x (h + 1); got {theta1.shape} and {theta2.shape}"
        )
    w1 = theta1[:, 1:][:, COURSE_PIXEL_OF_FEATURE].T  # W1[our feature, unit] = Theta1[unit, 1 + course pixel]
    b1 = theta1[:, 0]
    rows = theta2[COURSE_UNIT_OF_CLASS]  # row d is the course's unit for digit d
    w2, b2 = rows[:, 1:].T, rows[:, 0]
    backend = backends.as_backend("cpu")
    with backend.use():
        params = [backend.asarray(np.ascontiguousarray(p), dtype) for p in (w1, b1, w2, b2)]
    return Network(params[0::2], params[1::2], "sigmoid", "sigmoid_cross_entropy")


def thetas_from_network(network: Network) -> tuple[np.ndarray, np.ndarray]:
    """(Theta1, Theta2) in the course layout, float64: the inverse of ``network_from_thetas``."""
    _check_course_shape(network)
    w1, b1, w2, b2 = (backends.to_numpy(p).astype(np.float64) for p in network.params)
    theta1 = np.empty((w1.shape[1], PIXELS + 1))
    theta1[:, 0] = b1
    theta1[:, 1:][:, COURSE_PIXEL_OF_FEATURE] = w1.T
    theta2 = np.empty((CLASSES, w2.shape[0] + 1))
    theta2[COURSE_UNIT_OF_CLASS, 0] = b2
    theta2[COURSE_UNIT_OF_CLASS, 1:] = w2.T
    return theta1, theta2


def _check_course_shape(network: Network) -> None:
    """Only the course's architecture has a course layout: 400-h-10, sigmoid hidden units, sigmoid outputs."""
    sizes = network.sizes
    hidden = [a.name for a in network.activations]
    cost = network.cost_function.name
    if len(sizes) != 3 or sizes[0] != PIXELS or sizes[2] != CLASSES or hidden != ["sigmoid"] or cost != "sigmoid_cross_entropy":
        raise BpnnValueError(
            f"only a {PIXELS}-h-{CLASSES} network with a sigmoid hidden layer and sigmoid_cross_entropy has a course layout; "
            f"this one is {'-'.join(map(str, sizes))} with {', '.join(hidden) or 'no'} hidden activation(s) and {cost}"
        )


# ---------------------------------------------------------------------- import and export
def course_meta(weights_path: Path, hidden: int) -> dict[str, Any]:
    """The metadata of an imported run, as a trained run would carry it (the course's own settings)."""
    config = TrainConfig(
        dataset="mat", hidden=[hidden], activation="sigmoid", cost="sigmoid_cross_entropy", optimizer="cg",
        l2=1.0, epochs=50, init="uniform", standardize=False, dtype="float64",
    ).validate()  # fmt: skip
    return {
        "config": config.to_dict(),
        "dataset": {"name": "mat", "n_classes": CLASSES, "image_shape": [SIDE, SIDE], "pixel_scale": 1.0, "class_names": None},
        "metrics": {},
        "note": f"imported from the course weights {weights_path}",
    }


def import_course(weights_path: str | Path, out_dir: str | Path, overwrite: bool = False) -> Path:
    """Make a run folder from the course's Theta1/Theta2; returns its model.npz. An existing run is kept unless ``overwrite``."""
    weights_path, out_dir = Path(weights_path), Path(out_dir)
    theta1, theta2 = read_course_weights(weights_path)
    target = checkpoint.model_path(out_dir)
    if out_dir.exists() and not out_dir.is_dir():
        raise SettingError(f"out {str(out_dir)!r} is a file; give a folder for the run", "out")
    if not overwrite and (target.exists() or target.with_suffix(".json").exists()):
        raise SettingError(f"{str(out_dir)!r} already holds a run ({target.name}); choose another out or pass overwrite", "out",
                           "overwrite")  # fmt: skip
    network = network_from_thetas(theta1, theta2)
    from .runs import locked_run_dir

    with locked_run_dir(out_dir):  # a failed write leaves no folder holding only the lock
        return checkpoint.save_model(out_dir, network, course_meta(weights_path, theta1.shape[0]), Preprocessing(False))


def export_course(model: SavedModel | Network, path: str | Path, overwrite: bool = False) -> Path:
    """Write Theta1/Theta2 in the course layout (a MATLAB .mat that ``predict.m`` reads), atomically."""
    path = Path(path)
    network = model.network if isinstance(model, SavedModel) else model
    _check_course_shape(network)  # the architecture first: it is what no retraining option changes
    if isinstance(model, SavedModel):
        _check_course_inputs(model)
    theta1, theta2 = thetas_from_network(network)
    if path.is_dir():
        raise SettingError(f"out {str(path)!r} is a folder; give a file name such as {str(path / 'weights.mat')!r}", "out")
    if path.exists() and not overwrite:
        raise SettingError(f"{str(path)!r} already exists; choose another out or pass overwrite", "out", "overwrite")
    buffer = io.BytesIO()
    scipy.io.savemat(buffer, {"Theta1": theta1, "Theta2": theta2}, format="5", oned_as="column")
    return atomic_write(path, buffer.getvalue())


def _check_course_inputs(saved: SavedModel) -> None:
    """A saved model's inputs must be raw 20x20 row-major pixels: no standardization, no other image shape."""
    if saved.preprocessing.standardize:
        raise SettingError(
            f"{str(saved.path)!r} standardizes its inputs, which the course's predict.m does not; "
            "export a model trained without standardize", "standardize"
        )
    shape = saved.image_shape
    if shape is not None and shape != (SIDE, SIDE):
        raise BpnnValueError(f"{saved.path} takes {shape[0]}x{shape[1]} images; the course layout is for 20x20 images")
