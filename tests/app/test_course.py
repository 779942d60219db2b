"""The course round trip: the course's Theta1/Theta2 imported as a run predict what the course's predict.m predicts.

The oracle is a NumPy transcription of predict.m run on the raw course-layout file (images
column-major, labels 1..10 with 10 = digit 0); the run sees the same file through ``--dataset mat``'s
loader (images row-major, labels 0..9). Synthetic course-layout files stand in for the course's own
ex4weights.mat / ex4data1.mat, which are not bundled.
"""

from __future__ import annotations

import numpy as np
import pytest
import scipy.io

from bpnn_xp import backends, checkpoint, course, models
from bpnn_xp.data.matfile import load_course_mat
from bpnn_xp.data.prep import Preprocessing
from bpnn_xp.engine import Network
from bpnn_xp.errors import BpnnValueError, DataFileError

HIDDEN, SAMPLES = 25, 600


def predict_m(theta1: np.ndarray, theta2: np.ndarray, X: np.ndarray) -> np.ndarray:
    """The course's predict.m: p in 1..10, the first maximal output unit."""
    sigmoid = lambda z: 1.0 / (1.0 + np.exp(-z))
    ones = np.ones((X.shape[0], 1))
    h1 = sigmoid(np.hstack([ones, X]) @ theta1.T)
    h2 = sigmoid(np.hstack([ones, h1]) @ theta2.T)
    return np.argmax(h2, axis=1) + 1


@pytest.fixture
def course_files(tmp_path):
    """(weights path, data path, Theta1, Theta2, raw X, raw y) of a synthetic course-layout pair."""
    rng = np.random.default_rng(20240607)
    theta1 = rng.normal(0.0, 0.1, size=(HIDDEN, 401))
    theta2 = rng.normal(0.0, 1.5, size=(10, HIDDEN + 1))
    theta2[:, 0] = -0.5 * theta2[:, 1:].sum(axis=1)  # centred outputs: every class gets predicted
    images = rng.uniform(-1.0, 1.0, size=(SAMPLES, 20, 20)) * (rng.uniform(size=(SAMPLES, 20, 1)) < 0.7)
    X = images.transpose(0, 2, 1).reshape(SAMPLES, 400)  # MATLAB's column-major storage of each image
    y = predict_m(theta1, theta2, X).astype(np.float64)
    flip = rng.uniform(size=SAMPLES) < 0.3  # a third wrong, so the accuracy is neither 0 nor 1
    y[flip] = rng.integers(1, 11, size=int(flip.sum()))
    weights, data = tmp_path / "ex4weights.mat", tmp_path / "ex4data1.mat"
    scipy.io.savemat(weights, {"Theta1": theta1, "Theta2": theta2})
    scipy.io.savemat(data, {"X": X, "y": y.reshape(-1, 1)})
    return weights, data, theta1, theta2, X, y


def test_imported_run_predicts_what_predict_m_predicts(course_files, tmp_path):
    weights, data, theta1, theta2, X_raw, y_raw = course_files
    oracle = predict_m(theta1, theta2, X_raw)
    assert len(np.unique(oracle)) >= 6, "the synthetic weights must give varied predictions"
    course.import_course(weights, tmp_path / "run")
    saved = models.open_model(tmp_path / "run")
    X, labels = load_course_mat(data)
    predicted, _ = models.predict_classes(saved.network, X)
    np.testing.assert_array_equal(predicted, oracle % 10)
    accuracy, course_accuracy = np.mean(predicted == labels), np.mean(oracle == y_raw)
    assert accuracy == course_accuracy
    assert 0.5 < accuracy < 0.95


def test_imported_run_describes_the_course_network(course_files, tmp_path):
    weights, *_ = course_files
    path = course.import_course(weights, tmp_path / "run")
    saved = checkpoint.load_model(path)
    assert saved.network.sizes == [400, HIDDEN, 10]
    assert saved.config.dataset == "mat" and saved.config.activation == "sigmoid"
    assert saved.config.cost == "sigmoid_cross_entropy" and not saved.config.standardize
    assert saved.image_shape == (20, 20) and saved.n_classes == 10 and saved.dtype == "float64"
    assert str(weights) in saved.meta["note"]
    assert (tmp_path / "run" / "model.json").is_file()


def test_the_layout_mapping_is_needed(course_files):
    """Copying the Thetas without the pixel and label maps (the old behaviour) disagrees with predict.m."""
    _, data, theta1, theta2, X_raw, _ = course_files
    X, _ = load_course_mat(data)
    oracle = predict_m(theta1, theta2, X_raw) % 10
    naive, _ = models.predict_classes(Network.from_course_thetas([theta1, theta2]), X)
    mapped, _ = models.predict_classes(course.network_from_thetas(theta1, theta2), X)
    assert np.mean(naive == oracle) < 0.5
    np.testing.assert_array_equal(mapped, oracle)


def test_evaluate_on_the_test_split_scores_as_predict_m(course_files, tmp_path):
    weights, data, theta1, theta2, X_raw, y_raw = course_files
    course.import_course(weights, tmp_path / "run")
    saved = models.open_model(tmp_path / "run")
    summary = models.evaluate_model(saved, "test", data_dir=str(data))
    X, _ = load_course_mat(data)
    row_of = {row.tobytes(): i for i, row in enumerate(X)}
    test_rows = [row_of[row.tobytes()] for row in models.load_split(saved, "test", str(data))[1].X]
    expected = np.mean(predict_m(theta1, theta2, X_raw[test_rows]) == y_raw[test_rows])
    assert summary["samples"] == len(test_rows) > 0
    assert summary["accuracy"] == expected


def test_export_gives_back_the_course_thetas_bit_for_bit(course_files, tmp_path):
    weights, _, theta1, theta2, _, _ = course_files
    course.import_course(weights, tmp_path / "run")
    out = course.export_course(models.open_model(tmp_path / "run"), tmp_path / "back.mat")
    back = scipy.io.loadmat(out)
    for name, original in (("Theta1", theta1), ("Theta2", theta2)):
        assert back[name].dtype == np.float64 and back[name].shape == original.shape
        assert back[name].tobytes() == original.tobytes()
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []


def test_thetas_from_network_inverts_network_from_thetas(host_rng):
    theta1, theta2 = host_rng.normal(size=(7, 401)), host_rng.normal(size=(10, 8))
    back1, back2 = course.thetas_from_network(course.network_from_thetas(theta1, theta2))
    np.testing.assert_array_equal(back1, theta1)
    np.testing.assert_array_equal(back2, theta2)


def test_an_existing_run_is_kept_unless_overwrite(course_files, tmp_path):
    weights, *_ = course_files
    path = course.import_course(weights, tmp_path / "run")
    before, first_id = path.read_bytes(), checkpoint.load_model(path).meta["checkpoint_id"]
    with pytest.raises(BpnnValueError, match="already holds a run.*pass overwrite"):
        course.import_course(weights, tmp_path / "run")
    assert path.read_bytes() == before
    course.import_course(weights, tmp_path / "run", overwrite=True)
    assert checkpoint.load_model(path).meta["checkpoint_id"] != first_id


def test_an_existing_export_is_kept_unless_overwrite(course_files, tmp_path):
    weights, *_ = course_files
    network = course.network_from_thetas(*course.read_course_weights(weights))
    target = tmp_path / "out.mat"
    target.write_bytes(b"keep me")
    with pytest.raises(BpnnValueError, match="already exists.*pass overwrite"):
        course.export_course(network, target)
    assert target.read_bytes() == b"keep me"
    course.export_course(network, target, overwrite=True)
    assert scipy.io.loadmat(target)["Theta2"].shape == (10, HIDDEN + 1)


@pytest.mark.parametrize(
    ("sizes", "activation", "cost"),
    [([400, 25, 10], "relu", "sigmoid_cross_entropy"), ([400, 25, 10], "sigmoid", "softmax_cross_entropy"),
     ([400, 25, 25, 10], "sigmoid", "sigmoid_cross_entropy"), ([64, 25, 10], "sigmoid", "sigmoid_cross_entropy")],
)  # fmt: skip
def test_export_refuses_other_networks_in_one_line(tmp_path, sizes, activation, cost):
    network = Network.create(sizes, activation, cost, "glorot", 0, "cpu", "float64")
    with pytest.raises(BpnnValueError, match="course layout") as caught:
        course.export_course(network, tmp_path / "out.mat")
    assert "\n" not in str(caught.value)
    assert not (tmp_path / "out.mat").exists()


def test_export_refuses_a_standardized_model(course_files, tmp_path):
    weights, *_ = course_files
    network = course.network_from_thetas(*course.read_course_weights(weights))
    preprocessing = Preprocessing(True, np.array([0.5]), np.array([0.25]))
    checkpoint.save_model(tmp_path / "run", network, {"dataset": {"image_shape": [20, 20]}}, preprocessing)
    with pytest.raises(BpnnValueError, match="standardizes"):
        course.export_course(checkpoint.load_model(tmp_path / "run"), tmp_path / "out.mat")


BAD_FILES = {  # name: (variables, words the error must contain)
    "missing Theta2": ({"Theta1": np.zeros((25, 401))}, "Theta2 missing"),
    "Theta1 not x 401": ({"Theta1": np.zeros((25, 400)), "Theta2": np.zeros((10, 26))}, "Theta1 must be an h x 401"),
    "Theta2 hidden mismatch": ({"Theta1": np.zeros((25, 401)), "Theta2": np.zeros((10, 25))}, "Theta2 must be a 10 x 26"),
    "Theta2 not 10 classes": ({"Theta1": np.zeros((25, 401)), "Theta2": np.zeros((8, 26))}, "Theta2 must be a 10 x 26"),
    "text": ({"Theta1": "not numbers", "Theta2": np.zeros((10, 26))}, "Theta1 holds text"),
    "NaN": ({"Theta1": np.zeros((25, 401)), "Theta2": np.full((10, 26), np.nan)}, "Theta2 contains NaN"),
    "cell": ({"Theta1": np.zeros((25, 401)), "Theta2": np.array([np.zeros(2), "a"], dtype=object)}, "Theta2 holds a cell"),
    "complex": ({"Theta1": np.zeros((25, 401)) + 1j, "Theta2": np.zeros((10, 26))}, "Theta1 holds complex"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_weights_files_give_one_line(tmp_path, case):
    variables, words = BAD_FILES[case]
    path = tmp_path / "bad.mat"
    scipy.io.savemat(path, variables)
    with pytest.raises(DataFileError, match=words) as caught:
        course.import_course(path, tmp_path / "run")
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize(("content", "words"), [(None, "does not exist"), (b"not a mat file" * 20, "not a readable MATLAB")])
def test_missing_or_corrupt_weights_files_give_one_line(tmp_path, content, words):
    path = tmp_path / "weights.mat"
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(DataFileError, match=words) as caught:
        course.read_course_weights(path)
    assert "\n" not in str(caught.value)


def test_imported_network_is_float64_on_the_host(course_files):
    weights, *_ = course_files
    network = course.network_from_thetas(*course.read_course_weights(weights))
    assert all(backends.to_numpy(p).dtype == np.float64 for p in network.params)
