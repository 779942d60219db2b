"""Models on disk: round trips on every backend, atomic writes, refusing files that are not ours."""

from __future__ import annotations

import json

import numpy as np
import pytest

from bpnn_xp import Trainer, checkpoint, files
from bpnn_xp.backends import to_numpy
from bpnn_xp.data import Preprocessing
from bpnn_xp.engine.optimizers import get_optimizer
from bpnn_xp.errors import BpnnValueError, DataFileError, WriteError
from tests.helpers import random_network, random_problem


def test_round_trip_gives_same_predictions_on_every_backend(tmp_path, backend):
    from bpnn_xp.backends import resolve_device

    cpu = resolve_device("cpu")
    net = random_network(cpu, [6, 5, 3], "tanh", dtype="float32")
    prep = Preprocessing(True).fit(np.random.default_rng(0).uniform(size=(10, 6)))
    path = checkpoint.save_model(tmp_path / "run", net, {"note": "x"}, prep)
    assert path == tmp_path / "run" / "model.npz" and (tmp_path / "run" / "model.json").is_file()
    loaded = checkpoint.load_model(tmp_path / "run", backend)
    X, _ = random_problem(cpu, [6, 5, 3], dtype="float32")
    expected = to_numpy(net.feedforward(X))
    got = to_numpy(loaded.network.feedforward(backend.asarray(to_numpy(X), "float32")))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    assert loaded.meta["note"] == "x" and loaded.preprocessing.standardize
    assert np.array_equal(loaded.preprocessing.mean, prep.mean)
    assert loaded.network.sizes == [6, 5, 3] and [a.name for a in loaded.network.activations] == ["tanh"]


def test_optimizer_state_round_trip(tmp_path, backend):
    net = random_network(backend, [3, 4, 2], "relu")
    X, Y = random_problem(backend, [3, 4, 2])
    trainer = Trainer(net, "adam", lr=0.01, batch_size=4, seed=3)
    trainer.fit(X, Y, epochs=2)
    opt = trainer.optimizer
    checkpoint.save_model(tmp_path / "m.npz", net, trainer=trainer)
    saved = checkpoint.load_model(tmp_path / "m.npz", backend)
    fresh = Trainer(saved.network, "adam", lr=0.01, batch_size=4)
    fresh.load_state_dict(saved.trainer_state())
    assert fresh.optimizer.t == opt.t == 6 and fresh.epoch == 2 and len(fresh.history.records) == 2
    assert fresh.rng.bit_generator.state == trainer.rng.bit_generator.state
    for key in ("m", "v"):
        for a, b in zip(fresh.optimizer.state[key], opt.state[key]):
            assert np.array_equal(to_numpy(a), to_numpy(b))
    with pytest.raises(BpnnValueError, match="saved optimizer state is for 'adam', not sgd"):
        Trainer(saved.network, "sgd").load_state_dict(saved.trainer_state())


def test_optimizer_state_that_does_not_fit_is_refused(backend):
    net = random_network(backend, [3, 4, 2], "relu")
    opt = get_optimizer("momentum", 0.1)
    good = [np.zeros(tuple(p.shape)) for p in net.params]
    with pytest.raises(BpnnValueError, match="must hold 4 arrays"):
        opt.load_state_dict({"name": "momentum", "t": 1, "state": {"velocity": good[:2]}}, net.params)
    bad_shape = [*good[:3], np.zeros((7,))]
    with pytest.raises(BpnnValueError, match=r"velocity.3 must be a float array of shape \(2,\)"):
        opt.load_state_dict({"name": "momentum", "t": 1, "state": {"velocity": bad_shape}}, net.params)
    with pytest.raises(BpnnValueError, match="NaN or infinite"):
        opt.load_state_dict({"name": "momentum", "t": 1, "state": {"velocity": [*good[:3], np.full(2, np.nan)]}}, net.params)
    with pytest.raises(BpnnValueError, match="step count"):
        opt.load_state_dict({"name": "momentum", "t": -1, "state": {"velocity": good}}, net.params)
    opt.load_state_dict({"name": "momentum", "t": 5, "state": {"velocity": good}}, net.params)
    assert opt.t == 5


def test_failed_write_leaves_previous_checkpoint_intact(tmp_path, monkeypatch):
    from bpnn_xp.backends import resolve_device

    net = random_network(resolve_device("cpu"), [3, 4, 2], "relu")
    path = checkpoint.save_model(tmp_path, net, {"version": 1})
    before = path.read_bytes()

    def crash(*args, **kwargs):
        raise OSError("disk full")

    monkeypatch.setattr(files.os, "replace", crash)
    net.weights[0] += 1.0
    with pytest.raises(WriteError, match=r"cannot write .*model.npz: disk full"):
        checkpoint.save_model(tmp_path, net, {"version": 2})
    assert path.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir() if p.name.endswith(".tmp")] == []
    assert checkpoint.load_model(tmp_path).meta["version"] == 1


@pytest.mark.parametrize(
    "content,message",
    [
        (b"hello", "not a bpnn_xp model"),
        (b"PK\x03\x04garbage", "not a bpnn_xp model"),
    ],
)
def test_files_that_are_not_models(tmp_path, content, message):
    (tmp_path / "model.npz").write_bytes(content)
    with pytest.raises(DataFileError, match=message):
        checkpoint.load_model(tmp_path)


def test_npz_without_metadata_or_with_other_format(tmp_path):
    np.savez(tmp_path / "a.npz", x=np.zeros(3))
    with pytest.raises(DataFileError, match="no metadata"):
        checkpoint.load_model(tmp_path / "a.npz")
    meta = np.frombuffer(json.dumps({"format": "other"}).encode(), dtype=np.uint8)
    np.savez(tmp_path / "b.npz", __meta__=meta)
    with pytest.raises(DataFileError, match="not a bpnn_xp model"):
        checkpoint.load_model(tmp_path / "b.npz")


def test_pickled_object_arrays_are_refused(tmp_path):
    np.savez(tmp_path / "p.npz", __meta__=np.array([{"evil": 1}], dtype=object))
    with pytest.raises(DataFileError, match="holds pickled objects, which bpnn_xp never loads") as info:
        checkpoint.load_model(tmp_path / "p.npz")
    assert "allow_pickle" not in str(info.value)


def test_a_bare_pickle_is_not_an_archive(tmp_path):
    import pickle

    (tmp_path / "model.npz").write_bytes(pickle.dumps({"weights": [1, 2]}))
    with pytest.raises(DataFileError, match=r"not a bpnn_xp model \(not an .npz archive\)") as info:
        checkpoint.load_model(tmp_path)
    assert "allow_pickle" not in str(info.value)


def test_architecture_mismatch_is_reported(tmp_path):
    from bpnn_xp.backends import resolve_device

    net = random_network(resolve_device("cpu"), [3, 4, 2], "relu")
    path = checkpoint.save_model(tmp_path, net)
    with np.load(path, allow_pickle=False) as archive:
        arrays = {k: archive[k] for k in archive.files}
    arrays["param.0"] = np.zeros((5, 4))
    np.savez(path, **arrays)
    with pytest.raises(DataFileError, match=r"param.0 has shape \(5, 4\), the architecture says \(3, 4\)"):
        checkpoint.load_model(path)


def test_missing_model_file(tmp_path):
    with pytest.raises(DataFileError, match="does not exist"):
        checkpoint.load_model(tmp_path / "nowhere")
