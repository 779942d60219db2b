"""``bpnn export --format onnx``: onnxruntime on the exported graph gives what ``bpnn predict`` gives on raw pixels.

Every hidden activation with every cost and output layer (softmax, sigmoid with many outputs and with one, squared
error with each output activation), with and without standardisation, at pixel scales 255, 16 and 1: the same
class on 1,000 inputs and probabilities within 1e-5 (float32). Squared error with an unbounded output (identity,
relu, leaky_relu) gives scores, not probabilities: those and a BpnnRegressor's predictions agree within 1e-5 of
their largest magnitude.
"""

from __future__ import annotations

import itertools
import sys
from pathlib import Path

import numpy as np
import pytest

from bpnn_xp import checkpoint, models
from bpnn_xp.data.prep import Preprocessing
from bpnn_xp.engine import Network, get_cost
from bpnn_xp.engine.activations import Activation
from bpnn_xp.errors import BpnnValueError

onnx = pytest.importorskip("onnx", reason='ONNX export needs the onnx package: pip install -e ".[onnx]"')
ort = pytest.importorskip("onnxruntime", reason='the ONNX checks need onnxruntime: pip install -e ".[onnx]"')

from bpnn_xp.onnx_export import IR_VERSION, OPSET, build_model, export_onnx  # noqa: E402

ROWS, TOLERANCE = 1000, 1e-5
HIDDEN = ("sigmoid", "tanh", "relu", "leaky_relu", "identity")
OUTPUTS = [("softmax_cross_entropy", None, 10), ("sigmoid_cross_entropy", None, 10), ("sigmoid_cross_entropy", None, 1),
           ("mse", "identity", 10), ("mse", "sigmoid", 10), ("mse", "tanh", 3), ("mse", "relu", 10),
           ("mse", "leaky_relu", 10), ("mse", "sigmoid", 1)]  # fmt: skip
CONVENTIONS = [(255.0, True, (8, 8)), (16.0, False, (8, 8)), (1.0, True, None)]  # pixel scale, standardise, image shape
MAX_DIFFERENCES: dict[str, float] = {}


def saved_model(tmp_path, activation, cost, output, outputs, convention, seed=0, dtype="float32") -> checkpoint.SavedModel:
    """A random 64-24-16-K float32 network saved as a run with the given input convention, read back from disk.

    The output layer is centred and spread on the test inputs (logits of mean 0, standard deviation up to 2 per output),
    so that every class is predicted, confidently or not, as in a trained model."""
    scale, standardize, shape = convention
    rng = np.random.default_rng(seed)
    network = Network.create([64, 24, 16, outputs], activation, get_cost(cost, output), init="glorot", seed=seed, dtype=dtype)
    network.biases = [b + rng.normal(0, 0.3, b.shape).astype(dtype) for b in network.biases]
    prep = Preprocessing(True, np.array([0.3]), np.array([0.4])) if standardize else Preprocessing(False)
    logits = network.logits(prep.apply(raw_inputs(scale) / scale).astype(dtype))
    stretch = np.minimum(2.0 / (logits.std(axis=0) + 1e-6), 8.0)  # at most 8x: weights as large as trained ones, not more
    network.weights = [*network.weights[:-1], network.weights[-1] * stretch]
    network.biases = [*network.biases[:-1], (network.biases[-1] - logits.mean(axis=0)) * stretch]
    info = {"name": "synthetic", "n_classes": max(outputs, 2), "image_shape": list(shape) if shape else None,
            "pixel_scale": scale, "class_names": None, "polarity": "light_on_dark" if shape else None}  # fmt: skip
    return checkpoint.load_model(checkpoint.save_model(tmp_path / "run", network, {"dataset": info}, prep))


def raw_inputs(scale: float, seed: int = 1) -> np.ndarray:
    """1,000 rows of raw pixels in the model's units: integers 0..scale, or floats for scale 1."""
    rng = np.random.default_rng(seed)
    if scale == 1:
        return rng.uniform(0, 1, (ROWS, 64))
    return rng.integers(0, int(scale) + 1, (ROWS, 64)).astype(np.uint8)


def run_onnx(model, X: np.ndarray) -> dict[str, np.ndarray]:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    names = [o.name for o in session.get_outputs()]
    dtype = np.float64 if session.get_inputs()[0].type == "tensor(double)" else np.float32
    return dict(zip(names, session.run(None, {"pixels": X.astype(dtype)})))


def bpnn_predict(saved, X: np.ndarray, tmp_path) -> tuple[np.ndarray, np.ndarray]:
    """(classes, probabilities) from ``bpnn predict``'s own path on a .npy file of raw inputs."""
    np.save(tmp_path / "inputs.npy", X)
    rows = models.predict_files(saved, [tmp_path / "inputs.npy"])
    return np.array([r["class"] for r in rows]), np.array([list(r["probabilities"].values()) for r in rows])


CASES = list(itertools.product(HIDDEN, OUTPUTS))


@pytest.mark.parametrize("activation,output_layer", CASES, ids=[f"{a}-{c}-{o}-{k}" for a, (c, o, k) in CASES])
def test_onnxruntime_gives_bpnn_predicts_classes_and_probabilities(tmp_path, activation, output_layer):
    cost, output, outputs = output_layer
    convention = CONVENTIONS[CASES.index((activation, output_layer)) % len(CONVENTIONS)]
    saved = saved_model(tmp_path, activation, cost, output, outputs, convention)
    X = raw_inputs(convention[0])
    classes, probabilities = bpnn_predict(saved, X, tmp_path)
    got = run_onnx(build_model(saved), X)
    assert np.unique(classes).size > 1, "a useful check predicts more than one class"
    np.testing.assert_array_equal(got["class"], classes)
    difference = float(np.abs(got["probabilities"] - probabilities).max())
    MAX_DIFFERENCES[f"{activation}/{cost}/{output}/{outputs}"] = difference
    bounded = cost != "mse" or output in ("sigmoid", "tanh")  # probabilities; else unbounded scores, compared relatively
    assert difference <= TOLERANCE * (1.0 if bounded else max(1.0, float(np.abs(probabilities).max())))


FLOAT64_CASES = [("relu", OUTPUTS[0]), ("sigmoid", OUTPUTS[2]), ("tanh", OUTPUTS[3]), ("leaky_relu", OUTPUTS[1])]


@pytest.mark.parametrize("activation,output_layer", FLOAT64_CASES, ids=[f"{a}-{c}-{k}" for a, (c, _, k) in FLOAT64_CASES])
def test_a_float64_model_is_exported_in_float64(tmp_path, activation, output_layer):
    cost, output, outputs = output_layer
    saved = saved_model(tmp_path, activation, cost, output, outputs, CONVENTIONS[0], dtype="float64")
    X = raw_inputs(255.0)
    classes, probabilities = bpnn_predict(saved, X, tmp_path)
    model = build_model(saved)
    assert model.graph.input[0].type.tensor_type.elem_type == onnx.TensorProto.DOUBLE
    got = run_onnx(model, X)
    np.testing.assert_array_equal(got["class"], classes)
    # onnxruntime's double Sigmoid is not correctly rounded (2e-9 off seen), so float64 is held to 1e-8, not 1e-15
    assert np.abs(got["probabilities"] - probabilities).max() <= 1e-8 * max(1.0, float(np.abs(probabilities).max()))


@pytest.mark.filterwarnings("ignore::sklearn.exceptions.ConvergenceWarning")
def test_a_regressor_predicts_the_same_values(tmp_path):
    from bpnn_xp.sklearn import BpnnRegressor

    rng = np.random.default_rng(3)
    X = rng.normal(size=(400, 6))
    y = np.column_stack([X @ rng.normal(size=6), np.tanh(X[:, 0]) * 3.0])
    estimator = BpnnRegressor(hidden_layer_sizes=(16,), max_iter=20, random_state=0).fit(X, y)
    saved = checkpoint.load_model(estimator.save(tmp_path / "regressor"))
    test = rng.normal(size=(ROWS, 6))
    got = run_onnx(build_model(saved), test)
    assert set(got) == {"predictions"}
    expected = np.asarray(estimator.predict(test))
    assert np.abs(got["predictions"] - expected).max() <= TOLERANCE * max(1.0, np.abs(expected).max())


def test_the_model_is_checked_at_the_stated_opset_and_records_the_convention(tmp_path):
    saved = saved_model(tmp_path, "relu", "softmax_cross_entropy", None, 10, CONVENTIONS[0])
    model = build_model(saved)
    onnx.checker.check_model(model, full_check=True)
    assert [(o.domain, o.version) for o in model.opset_import] == [("", OPSET)] and model.ir_version == IR_VERSION
    recorded = {p.key: p.value for p in model.metadata_props}["bpnn_xp.input_convention"]
    assert '"pixel_scale": 255.0' in recorded and '"image_shape": [8, 8]' in recorded and '"mean": 0.3' in recorded
    ops = [n.op_type for n in model.graph.node]
    assert ops[:3] == ["Div", "Sub", "Div"] and ops.count("Gemm") == 3


def test_what_onnx_cannot_express_is_refused_by_name(tmp_path):
    class Swish(Activation):
        name = "swish"

        def _fn(self, xp, z):
            return z / (1.0 + xp.exp(-z))

    network = Network.create([4, 3, 2], "relu", "softmax_cross_entropy")
    network.activations = [Swish()]
    saved = checkpoint.SavedModel(network, {"dataset": {}, "architecture": {"dtype": "float32"}}, Preprocessing(False))
    with pytest.raises(BpnnValueError, match="activation 'swish', which has no ONNX operator"):
        build_model(saved)


def test_without_the_onnx_package_the_extra_is_named(tmp_path, monkeypatch):
    saved = saved_model(tmp_path, "relu", "softmax_cross_entropy", None, 10, CONVENTIONS[1])
    monkeypatch.setitem(sys.modules, "onnx", None)
    with pytest.raises(BpnnValueError, match=r'ONNX export needs the onnx package: pip install "bpnn_xp\[onnx\]"'):
        export_onnx(saved, tmp_path / "model.onnx")
    assert not (tmp_path / "model.onnx").exists()


def test_an_existing_file_is_kept_unless_overwrite(tmp_path):
    saved = saved_model(tmp_path, "tanh", "softmax_cross_entropy", None, 10, CONVENTIONS[1])
    target = tmp_path / "model.onnx"
    target.write_bytes(b"mine")
    with pytest.raises(BpnnValueError, match="already exists; choose another --out or pass --overwrite"):
        export_onnx(saved, target)
    assert target.read_bytes() == b"mine"
    export_onnx(saved, target, overwrite=True)
    assert onnx.load(str(target)).graph.input[0].name == "pixels"
    with pytest.raises(BpnnValueError, match="is a folder"):
        export_onnx(saved, tmp_path)


def folder_state(folder) -> dict[str, tuple[float, bytes]]:
    """Every file under a folder with its modification time and contents."""
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


def test_bpnn_export_on_a_trained_run_matches_bpnn_predict_and_leaves_the_run_alone(tmp_path):
    from sklearn.datasets import load_digits
    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    runner = CliRunner()
    trained = runner.invoke(app, ["train", "--epochs", "3", "--hidden", "32", "--out", str(tmp_path / "run"), "--quiet"])
    assert trained.exit_code == 0, trained.output
    before = folder_state(tmp_path / "run")
    result = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "onnx", "--out", str(tmp_path / "digits.onnx")])
    assert result.exit_code == 0 and "digits.onnx" in result.output, result.output
    again = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "digits.onnx")])
    assert again.exit_code == 2 and "already exists; choose another --out or pass --overwrite" in again.output
    course = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "course", "--out", str(tmp_path / "w.mat")])
    assert course.exit_code == 2 and "400" in course.output and "Traceback" not in course.output
    unknown = runner.invoke(app, ["export", str(tmp_path / "run"), "--format", "tflite", "--out", str(tmp_path / "m")])
    assert unknown.exit_code == 2 and "--format must be one of onnx, course" in unknown.output
    itself = runner.invoke(app, ["export", str(tmp_path / "run"), "--out", str(tmp_path / "run" / "model.npz"), "--overwrite"])
    assert itself.exit_code == 2 and "is the model being exported" in itself.output
    assert folder_state(tmp_path / "run") == before
    X = load_digits().data[:ROWS].astype(np.uint8)  # raw 0..16 pixels, as the 8x8 digits come
    session = ort.InferenceSession(str(tmp_path / "digits.onnx"), providers=["CPUExecutionProvider"])
    probabilities, classes = session.run(["probabilities", "class"], {"pixels": X.astype(np.float32)})
    expected_classes, expected = bpnn_predict(checkpoint.load_model(tmp_path / "run"), X, tmp_path)
    np.testing.assert_array_equal(classes, expected_classes)
    assert np.abs(probabilities - expected).max() <= TOLERANCE


def test_readme_onnxruntime_example_runs(tmp_path, monkeypatch, capsys):
    """README's three lines of onnxruntime, on a digits model exported as README says."""
    import re

    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    (code,) = [c for c in re.findall(r"```python\n(.+?)\n```", readme, flags=re.S) if "onnxruntime" in c]
    monkeypatch.chdir(tmp_path)
    runner = CliRunner()
    assert runner.invoke(app, ["train", "--epochs", "5", "--out", "runs/digits", "--quiet"]).exit_code == 0
    assert runner.invoke(app, ["export", "runs/digits", "--format", "onnx", "--out", "digits.onnx"]).exit_code == 0
    exec(compile(code, "README.md", "exec"), {})
    printed = capsys.readouterr().out
    assert printed.startswith("[0 1 2 3 4]"), printed  # the first five digits, read right
