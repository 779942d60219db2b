"""What ``bpnn serve`` computes, free of any web framework: a drawing or upload in, what the network saw and read out.

Images go through the same steps as ``bpnn predict`` (``data.images.read_gray`` and ``data.normalize.normalize_digit``:
polarity, crop to the ink, fit and centre by centre of mass), then the stored input convention (standardisation)
and one forward pass. The model is read with ``checkpoint.load_model``, which never writes into the run folder.
"""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import numpy as np

from .. import backends
from ..checkpoint import SavedModel, load_model
from ..data.images import read_gray
from ..data.normalize import has_ink, normalize_digit
from ..data.scaling import scale_like_training
from ..errors import BpnnValueError, DataFileError
from ..models import predict_scores
from ..ranking import top_k

MAX_PIXELS = 20_000_000  # an upload's decoded size limit (a 20-megapixel photo), far below Pillow's bomb limit
SHOWN_CLASSES, SHOWN_UNITS = 3, 6


class InputError(BpnnValueError):
    """A request the reader cannot use, with the HTTP status that says why (400, 413, 415, 422)."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


class DigitReader:
    """A saved image model ready to read drawings: one at a time (a lock), on the CPU."""

    def __init__(self, saved: SavedModel) -> None:
        if saved.image_shape is None:
            raise BpnnValueError(f"{saved.path} was trained on {saved.network.sizes[0]} features, not images; bpnn serve "
                                 "reads drawings with image models only (train one on mnist5k, digits or image folders)")
        self.saved = saved
        self.shape: tuple[int, int] = saved.image_shape
        self.lock = threading.Lock()
        self.first_layer = (backends.to_numpy(saved.network.weights[0]).astype(np.float64),
                            backends.to_numpy(saved.network.biases[0]).astype(np.float64))  # fmt: skip

    @classmethod
    def open(cls, model: str | Path) -> DigitReader:
        """The reader of the run folder (or model.npz) at ``model``."""
        return cls(load_model(model, "cpu"))

    def info(self) -> dict[str, Any]:
        """What the page shows about the model: its name, layers, input shape, classes and test accuracy."""
        saved, network = self.saved, self.saved.network
        accuracy = saved.metrics.get("test_accuracy")
        return {
            "model": str(saved.run_dir.name or saved.path), "sizes": network.sizes, "cost": network.cost_function.name,
            "activations": [a.name for a in network.activations], "image_shape": list(self.shape),
            "classes": [str(saved.class_name(i)) for i in range(saved.n_classes)],
            "dataset": (saved.meta.get("dataset") or {}).get("name"),
            "test_accuracy": float(accuracy) if isinstance(accuracy, (int, float)) else None,
        }  # fmt: skip

    def read_image(self, data: bytes, name: str = "the upload") -> dict[str, Any]:
        """Prediction for an image file's bytes, redrawn the way the training digits were made."""
        if not data:
            raise InputError("the request body is empty; send the image file's bytes")
        gray = read_gray(name, data=data, max_pixels=MAX_PIXELS)
        return self.read_drawing(gray)

    def read_pixels(self, payload: Any) -> dict[str, Any]:
        """Prediction for JSON ``{"pixels": [[...], ...], "normalize": true}``: one grayscale image as rows of numbers.

        With normalize (the default) it is a drawing of any size (0..255 or 0..1, either polarity), redrawn like an
        upload; with ``"normalize": false`` it is the model's own input (the image shape, in the training pixel units)
        used as ``bpnn predict`` uses a .npy array."""
        if not isinstance(payload, dict) or "pixels" not in payload:
            raise InputError('send a JSON object {"pixels": [[...], ...]}: one grayscale image as rows of numbers', 422)
        normalize = payload.get("normalize", True)
        if not isinstance(normalize, bool):
            raise InputError(f'"normalize" must be true or false, got {normalize!r}', 422)
        pixels = _pixel_array(payload["pixels"])
        if not normalize:
            if pixels.shape != self.shape:
                raise InputError(f'with "normalize": false the pixels must be {self.shape[0]}x{self.shape[1]}, got '
                                 f"{pixels.shape[0]}x{pixels.shape[1]}", 422)  # fmt: skip
            return self.predict(scale_like_training(pixels, self.saved.pixel_scale, "the pixels"))
        if pixels.max() > 1:
            if pixels.min() < 0 or pixels.max() > 255:
                raise InputError(f"pixels must lie in 0..255 or 0..1, got {pixels.min():g}..{pixels.max():g}", 422)
            pixels = pixels / 255.0
        if pixels.min() < 0:
            raise InputError(f"pixels must lie in 0..255 or 0..1, got {pixels.min():g}..{pixels.max():g}", 422)
        return self.read_drawing(pixels)

    def read_drawing(self, gray: np.ndarray) -> dict[str, Any]:
        """Prediction for a gray image in [0, 1] of any size, normalised like the training digits."""
        if not has_ink(gray):
            return {"ink": False, "seen": np.zeros(self.shape).tolist()}
        return self.predict(normalize_digit(gray, self.shape))

    def predict(self, seen: np.ndarray) -> dict[str, Any]:
        """Top classes, every class's probability, the input as seen and the strongest hidden units, for one image."""
        saved = self.saved
        row = saved.preprocessing.apply(np.asarray(seen, dtype=np.float64).reshape(1, -1))
        with self.lock:
            classes, scores = predict_scores(saved.network, row)
        order, probabilities = top_k(scores, SHOWN_CLASSES)
        best = [{"class": str(saved.class_name(c)), "probability": float(p)} for c, p in zip(order[0], probabilities[0])]
        return {
            "ink": True, "class": str(saved.class_name(classes[0])), "probability": float(scores[0, classes[0]]), "top": best,
            "probabilities": {str(saved.class_name(c)): float(v) for c, v in enumerate(scores[0])},
            "seen": np.round(np.asarray(seen, dtype=np.float64).reshape(self.shape), 4).tolist(),
            "hidden": self.strongest_units(row),
        }  # fmt: skip

    def strongest_units(self, row: np.ndarray) -> dict[str, Any] | None:
        """The first hidden layer's most active units for one input row: activation and incoming weights as an image."""
        network = self.saved.network
        if len(network.sizes) < 3:
            return None
        weights, bias = self.first_layer
        activation = network.activations[0]
        values = np.asarray(activation.fn(row @ weights + bias))[0]
        units = np.argsort(-values, kind="stable")[:SHOWN_UNITS]
        shown = []
        for unit in units:
            picture = weights[:, unit] / (np.abs(weights[:, unit]).max() or 1.0)
            shown.append({"unit": int(unit), "activation": float(values[unit]),
                          "weights": np.round(picture.reshape(self.shape), 3).tolist()})  # fmt: skip
        return {"layer": f"hidden layer 1: {weights.shape[1]} {activation.name} units", "units": shown}


def _pixel_array(value: Any) -> np.ndarray:
    """A JSON value as a 2-D float array of finite numbers, or an InputError saying what is wrong with it."""
    if not isinstance(value, list) or not value or not all(isinstance(r, list) for r in value):
        raise InputError('"pixels" must be a list of rows, each a list of numbers (one grayscale image)', 422)
    widths = {len(r) for r in value}
    if len(widths) != 1 or 0 in widths:
        raise InputError(f'"pixels" rows must all have the same, non-zero length; got lengths {sorted(widths)[:5]}', 422)
    if len(value) * len(value[0]) > MAX_PIXELS:
        raise InputError(f'"pixels" holds more than {MAX_PIXELS:,} values; send a smaller image', 413)
    if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for r in value for v in r):
        raise InputError('"pixels" must hold only numbers', 422)
    try:
        array = np.array(value, dtype=np.float64)
    except OverflowError:
        raise InputError('"pixels" holds a number too large for a float', 422) from None
    if not np.all(np.isfinite(array)):
        raise InputError('"pixels" holds NaN or infinite values', 422)
    return array


__all__ = ["MAX_PIXELS", "DataFileError", "DigitReader", "InputError"]
