"""A saved model as one ONNX graph that takes raw pixels the way ``bpnn predict`` takes a .npy array.

The graph holds the stored input convention (division by the pixel scale, the training split's standardisation)
and the whole network (Gemm per layer, the hidden activations, the cost's output activation), at ONNX opset
``OPSET``, in the model's own precision (float32; a float64 model takes and gives doubles). Its inputs are rows
of ``features`` values in the training data's raw units (0..255 for MNIST, 0..16 for the 8x8 digits), light ink
on a dark page as the data was; redrawing a paint program's image (polarity, crop, centre of mass) is image
processing outside the network and stays in ``bpnn predict``/``bpnn serve``. Outputs: ``probabilities`` (per
class, as ``bpnn predict --json`` reports them) and ``class`` (int64 index) for a classifier; ``predictions`` for
a regressor. The convention is also written into the model's metadata.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from . import backends
from .checkpoint import SavedModel
from .errors import BpnnValueError
from .files import atomic_write

OPSET = 17  # ai.onnx opset: onnxruntime >= 1.13 and every current converter/runtime read it
IR_VERSION = 8  # the ONNX IR version that goes with opset 17, so older runtimes load the file too
HIDDEN_OPS = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "leaky_relu": "LeakyRelu", "identity": None}
INPUT = "pixels"


def _onnx() -> Any:
    """The onnx package, or a one-line error naming the extra that installs it."""
    try:
        import onnx
    except ImportError:
        raise BpnnValueError('ONNX export needs the onnx package: pip install "bpnn_xp[onnx]"') from None
    return onnx


def is_regressor(saved: SavedModel) -> bool:
    """A squared-error model without classes (BpnnRegressor) predicts values, not classes."""
    return saved.network.cost_function.name == "mse" and (saved.meta.get("dataset") or {}).get("n_classes") is None


def check_exportable(saved: SavedModel) -> None:
    """Refuse, by name, any part of the model that has no ONNX operator here."""
    network = saved.network
    for i, activation in enumerate(network.activations, start=1):
        if activation.name not in HIDDEN_OPS:
            raise BpnnValueError(f"hidden layer {i} uses activation {activation.name!r}, which has no ONNX operator in this "
                                 f"exporter (supported: {', '.join(sorted(HIDDEN_OPS))}); retrain with one of those")  # fmt: skip
    cost = network.cost_function
    if cost.name not in ("softmax_cross_entropy", "sigmoid_cross_entropy", "mse"):
        raise BpnnValueError(f"cost {cost.name!r} has no ONNX output layer in this exporter; retrain with softmax_cross_entropy")
    if cost.name == "mse" and cost.output.name not in HIDDEN_OPS:
        raise BpnnValueError(f"output activation {cost.output.name!r} has no ONNX operator in this exporter")


def convention(saved: SavedModel) -> dict[str, Any]:
    """The input convention the graph applies, as recorded in the ONNX metadata."""
    prep = saved.preprocessing
    info = saved.meta.get("dataset") or {}
    return {
        "features": saved.network.sizes[0], "image_shape": list(saved.image_shape) if saved.image_shape else None,
        "pixel_scale": saved.pixel_scale, "polarity": info.get("polarity"),
        "standardize": {"mean": float(prep.mean[0]), "std": float(prep.std[0])} if prep.standardize else None,
        "class_names": saved.class_names, "kind": "regressor" if is_regressor(saved) else "classifier",
        "trained_dtype": saved.dtype,
    }  # fmt: skip


class _Graph:
    """Nodes and initializers of the graph being built, with helpers that name what they add."""

    def __init__(self, dtype: str) -> None:
        from onnx import helper, numpy_helper

        self.helper, self.numpy_helper = helper, numpy_helper
        self.dtype = np.dtype(dtype)
        self.nodes: list[Any] = []
        self.initializers: list[Any] = []

    def constant(self, name: str, value: Any, dtype: Any = None) -> str:
        """A named constant tensor (in the model's precision unless said otherwise)."""
        self.initializers.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype or self.dtype), name))
        return name

    def node(self, op: str, inputs: list[str], output: str, **attributes: Any) -> str:
        """One operator node named after its output; returns that output's name."""
        self.nodes.append(self.helper.make_node(op, inputs, [output], name=output, **attributes))
        return output


def build_model(saved: SavedModel) -> Any:
    """The ONNX ModelProto of a saved model, checked with onnx.checker."""
    onnx = _onnx()
    from onnx import TensorProto, helper

    check_exportable(saved)
    graph = _Graph(saved.dtype)
    real = TensorProto.DOUBLE if saved.dtype == "float64" else TensorProto.FLOAT
    network = saved.network
    current = _input_convention(saved, graph)
    weights = [backends.to_numpy(w) for w in network.weights]
    biases = [backends.to_numpy(b) for b in network.biases]
    for i, (w, b) in enumerate(zip(weights, biases), start=1):
        last = i == len(weights)
        z = graph.node("Gemm", [current, graph.constant(f"W{i}", w), graph.constant(f"b{i}", b)], "logits" if last else f"z{i}")
        current = z if last else _activation(graph, network.activations[i - 1], z, f"a{i}")
    outputs = _output_layer(saved, current, graph, real)
    inputs = [helper.make_tensor_value_info(INPUT, real, ["batch", network.sizes[0]])]
    declared = [helper.make_tensor_value_info(name, dtype, ["batch", *shape]) for name, dtype, shape in outputs]
    model = helper.make_model(helper.make_graph(graph.nodes, "bpnn_xp", inputs, declared, graph.initializers),
                              opset_imports=[helper.make_opsetid("", OPSET)], producer_name="bpnn_xp",
                              doc_string=" ".join(__doc__.split("\n\n")[1].split()))  # fmt: skip
    model.ir_version = IR_VERSION
    helper.set_model_props(model, {"bpnn_xp.input_convention": json.dumps(convention(saved))})
    onnx.checker.check_model(model, full_check=True)
    return model


def _input_convention(saved: SavedModel, graph: _Graph) -> str:
    """Raw pixels -> the features the network was trained on: divide by the pixel scale, then standardise."""
    current = INPUT
    if saved.pixel_scale != 1:
        current = graph.node("Div", [current, graph.constant("pixel_scale", saved.pixel_scale)], "scaled")
    prep = saved.preprocessing
    if prep.standardize:
        current = graph.node("Sub", [current, graph.constant("mean", prep.mean[0])], "centred")
        current = graph.node("Div", [current, graph.constant("std", prep.std[0])], "standardized")
    return current


def _activation(graph: _Graph, activation: Any, source: str, target: str) -> str:
    """One activation node (none for identity); returns the name of its output."""
    op = HIDDEN_OPS[activation.name]
    if op is None:
        return source
    extra = {"alpha": float(activation.slope)} if activation.name == "leaky_relu" else {}
    return graph.node(op, [source], target, **extra)


def _output_layer(saved: SavedModel, logits: str, graph: _Graph, real: int) -> list[tuple[str, int, list[Any]]]:
    """Nodes from the logits to the named outputs (as ``predict_scores`` computes them); returns their (name, type, shape)."""
    from onnx import TensorProto

    cost, outputs = saved.network.cost_function, saved.network.sizes[-1]
    if cost.name == "softmax_cross_entropy":
        activations = graph.node("Softmax", [logits], "activations", axis=1)
    else:  # the sigmoid cross-entropy's sigmoid, or squared error's own output activation
        activations = _activation(graph, cost.output, logits, "activations")
    if is_regressor(saved):
        graph.node("Identity", [activations], "predictions")
        return [("predictions", real, [outputs])]
    if outputs == 1:  # one output: [1 - a, a]; the class is z > 0 for the sigmoid cross-entropy, else a > 0.5 (Cost.classes)
        complement = graph.node("Sub", [graph.constant("one", [1.0]), activations], "complement")
        graph.node("Concat", [complement, activations], "probabilities", axis=1)
        sigmoid = cost.name == "sigmoid_cross_entropy"
        threshold = graph.constant("threshold", [0.0 if sigmoid else 0.5])
        positive = graph.node("Greater", [logits if sigmoid else activations, threshold], "positive")
        row = graph.node("Squeeze", [positive, graph.constant("class_axis", [1], np.int64)], "positive_row")
        graph.node("Cast", [row], "class", to=TensorProto.INT64)
    else:  # the output activations are monotone: the argmax of the logits is the argmax of the outputs
        graph.node("Identity", [activations], "probabilities")
        graph.node("ArgMax", [logits], "class", axis=1, keepdims=0)
    return [("probabilities", real, [max(outputs, 2)]), ("class", TensorProto.INT64, [])]


def export_onnx(saved: SavedModel, path: str | Path, overwrite: bool = False) -> Path:
    """Write the model as an ONNX file, atomically; an existing file is kept unless ``overwrite``."""
    path = Path(path)
    if path.is_dir():
        raise BpnnValueError(f"--out {path} is a folder; give a file name such as {path / 'model.onnx'}")
    if path.exists() and not overwrite:
        raise BpnnValueError(f"{path} already exists; choose another --out or pass --overwrite")
    model = build_model(saved)
    return atomic_write(path, model.SerializeToString())
