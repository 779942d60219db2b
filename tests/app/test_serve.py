"""``bpnn serve`` without a browser: ``POST /predict`` and the page's routes through Starlette's TestClient.

Answers equal ``bpnn predict``'s on the same file or array; every unusable request is a 4xx with one line of JSON
(never a 500 or a traceback); a features model is refused; the run folder is never written.
"""

from __future__ import annotations

import importlib.util
import io
import socket
import struct
import sys
import zlib

import numpy as np
import pytest
from PIL import Image
from typer.testing import CliRunner

pytest.importorskip("starlette", reason='bpnn serve needs the [serve] extra: pip install -e ".[serve]"')
if importlib.util.find_spec("httpx2") is None and importlib.util.find_spec("httpx") is None:
    pytest.skip("Starlette's TestClient needs httpx2 (the [test] extra)", allow_module_level=True)

from starlette.testclient import TestClient  # noqa: E402

from bpnn_xp import checkpoint, models  # noqa: E402
from bpnn_xp.cli import app as cli  # noqa: E402
from bpnn_xp.engine import Network  # noqa: E402
from bpnn_xp.errors import BpnnValueError  # noqa: E402
from bpnn_xp.serve import LOOPBACK_NAMES, run_server  # noqa: E402
from bpnn_xp.serve.app import create_app  # noqa: E402
from bpnn_xp.serve.reader import DigitReader  # noqa: E402

runner = CliRunner()


def folder_state(folder) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    """A small 8x8 digits model, and its folder's files before anything is served from it."""
    out = tmp_path_factory.mktemp("serve") / "digits"
    result = runner.invoke(cli, ["train", "--epochs", "5", "--hidden", "32", "--out", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    return out, folder_state(out)


@pytest.fixture(scope="module")
def client(digits_run):
    with TestClient(create_app(DigitReader.open(digits_run[0]), max_bytes=200_000), raise_server_exceptions=False) as test:
        yield test


def png(pixels: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(pixels.astype(np.uint8)).save(buffer, "PNG")
    return buffer.getvalue()


def drawn_digit(index: int = 0) -> tuple[bytes, int]:
    """A scikit-learn digit as a paint program saves it (dark on white, 8x larger), with its label."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    image = np.kron(255 - digits.images[index] * 255 / 16, np.ones((8, 8)))
    return png(image), int(digits.target[index])


def test_an_image_gets_what_bpnn_predict_gives_for_the_same_file(client, digits_run, tmp_path):
    data, label = drawn_digit(3)
    (tmp_path / "digit.png").write_bytes(data)
    expected = models.predict_files(checkpoint.load_model(digits_run[0]), [tmp_path / "digit.png"], top_k=3)[0]
    answer = client.post("/predict", content=data, headers={"Content-Type": "image/png"})
    assert answer.status_code == 200
    body = answer.json()
    assert body["class"] == str(expected["class"]) == str(label)
    assert [r["class"] for r in body["top"]] == [str(r["class"]) for r in expected["top_k"]]
    assert np.allclose(list(body["probabilities"].values()), list(expected["probabilities"].values()), atol=1e-12)
    assert np.array(body["seen"]).shape == (8, 8) and body["ink"] is True
    hidden = body["hidden"]
    assert len(hidden["units"]) == 6 and np.array(hidden["units"][0]["weights"]).shape == (8, 8)
    activations = [u["activation"] for u in hidden["units"]]
    assert activations == sorted(activations, reverse=True) and "32 relu units" in hidden["layer"]


def test_the_same_image_as_a_form_upload_and_as_json_pixels(client):
    data, _ = drawn_digit(5)
    form = client.post("/predict", files={"image": ("five.png", data, "image/png")})
    pixels = np.asarray(Image.open(io.BytesIO(data))).tolist()
    as_json = client.post("/predict", json={"pixels": pixels})
    unit = client.post("/predict", json={"pixels": (np.array(pixels) / 255).tolist()})
    assert form.status_code == as_json.status_code == unit.status_code == 200
    assert form.json()["probabilities"] == as_json.json()["probabilities"] == unit.json()["probabilities"]
    assert form.json()["class"] == as_json.json()["class"]


def test_json_pixels_without_normalizing_are_used_as_predict_uses_a_npy_array(client, digits_run, tmp_path):
    from sklearn.datasets import load_digits

    image = load_digits().images[7].astype(np.int64)  # raw 0..16 pixels, the model's own input
    np.save(tmp_path / "row.npy", image)
    expected = models.predict_files(checkpoint.load_model(digits_run[0]), [tmp_path / "row.npy"])[0]
    body = client.post("/predict", json={"pixels": image.tolist(), "normalize": False}).json()
    assert np.allclose(list(body["probabilities"].values()), list(expected["probabilities"].values()), atol=1e-12)


def test_a_blank_page_has_no_ink_and_no_prediction(client):
    body = client.post("/predict", content=png(np.full((50, 50), 255)), headers={"Content-Type": "image/png"}).json()
    assert body["ink"] is False and "class" not in body


def png_claiming(width: int, height: int) -> bytes:
    """A PNG whose header claims width x height 1-bit pixels (a decompression bomb needs no more to be caught)."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 1, 0, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0" * 64)) + chunk(b"IEND", b"")


def chunks(data: bytes):
    yield from (data[i : i + 10_000] for i in range(0, len(data), 10_000))


BAD_REQUESTS = [  # (what is sent, status, words the one-line message holds)
    ({"content": b"hello", "headers": {"Content-Type": "text/plain"}}, 415, "Content-Type text/plain is not taken here"),
    ({"content": b"hello"}, 415, "Content-Type (none) is not taken here"),
    ({"content": b"\x89PNG\r\n\x1a\nnot really", "headers": {"Content-Type": "image/png"}}, 400, "not a readable image"),
    ({"content": b"", "headers": {"Content-Type": "image/png"}}, 400, "the request body is empty"),
    ({"content": b"\0" * 300_000, "headers": {"Content-Type": "image/png"}}, 413, "over the 0 MiB limit"),
    ({"content": chunks(b"\0" * 300_000), "headers": {"Content-Type": "image/png"}}, 413, "over the 0 MiB limit"),
    ({"content": png_claiming(20_000, 20_000), "headers": {"Content-Type": "image/png"}}, 400, "a decompression bomb"),
    ({"content": png_claiming(6_000, 4_000), "headers": {"Content-Type": "image/png"}}, 400, "over the limit of 20,000,000"),
    ({"content": b"{pixels", "headers": {"Content-Type": "application/json"}}, 400, "not valid JSON"),
    ({"json": [1, 2, 3]}, 422, 'send a JSON object {"pixels"'),
    ({"json": {"pixels": [[1, 2], [3]]}}, 422, "rows must all have the same"),
    ({"json": {"pixels": [["a", "b"]]}}, 422, "must hold only numbers"),
    ({"json": {"pixels": [[1, 2]], "normalize": "yes"}}, 422, '"normalize" must be true or false'),
    ({"json": {"pixels": [[0, 300]]}}, 422, "pixels must lie in 0..255 or 0..1"),
    ({"json": {"pixels": [[0, 1]], "normalize": False}}, 422, "the pixels must be 8x8"),
    ({"content": b'{"pixels": [[NaN, 1]]}', "headers": {"Content-Type": "application/json"}}, 422, "NaN or infinite"),
    ({"content": b'{"pixels": [[1e999, 1]]}', "headers": {"Content-Type": "application/json"}}, 422, "NaN or infinite"),
    ({"content": b'{"pixels": [[1' + b"0" * 400 + b', 1]]}', "headers": {"Content-Type": "application/json"}}, 422, "too large"),
    ({"content": b"[" * 100_000, "headers": {"Content-Type": "application/json"}}, 422, "nested too deeply"),
    ({"files": {"image": ("notes.txt", b"hello", "text/plain")}}, 415, "notes.txt is text/plain, not an image"),
    ({"data": {"name": "x"}, "files": {"other": ("", b"", "")}}, 422, "holds no image file"),
]


@pytest.mark.parametrize("request_args,status,message", BAD_REQUESTS, ids=[m for _, _, m in BAD_REQUESTS])
def test_an_unusable_request_gets_a_4xx_with_one_clear_line(client, request_args, status, message):
    answer = client.post("/predict", **request_args)
    assert answer.status_code == status, answer.text
    error = answer.json()["error"]
    assert message in error and "\n" not in error and "Traceback" not in error


def test_other_routes_answer_in_json_and_the_page_ships_its_assets(client):
    assert client.get("/predict").status_code == 405 and "error" in client.get("/predict").json()
    assert client.get("/nothing").status_code == 404 and client.get("/nothing").json() == {"error": "Not Found"}
    page = client.get("/")
    assert page.status_code == 200 and "/static/app.js" in page.text
    assert "default-src 'self'" in page.headers["content-security-policy"]
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert "http" not in client.get("/").text.replace("http-equiv", "")  # nothing from elsewhere: the page works offline
    info = client.get("/model").json()
    assert info["image_shape"] == [8, 8] and info["classes"] == [str(d) for d in range(10)] and info["sizes"] == [64, 32, 10]


def test_a_fault_of_the_server_is_a_500_in_one_line_without_a_traceback(digits_run, monkeypatch):
    reader = DigitReader.open(digits_run[0])
    monkeypatch.setattr(reader, "read_image", lambda data, name: 1 / 0)
    with TestClient(create_app(reader), raise_server_exceptions=False) as test:
        answer = test.post("/predict", content=b"x", headers={"Content-Type": "image/png"})
    assert answer.status_code == 500 and answer.json() == {"error": "internal error; see the server's terminal"}


def test_the_run_folder_was_never_written(client, digits_run):
    client.post("/predict", content=drawn_digit(0)[0], headers={"Content-Type": "image/png"})
    assert folder_state(digits_run[0]) == digits_run[1]


def test_a_loopback_server_refuses_other_host_names(digits_run):
    app = create_app(DigitReader.open(digits_run[0]), allowed_hosts=LOOPBACK_NAMES)
    with TestClient(app, base_url="http://127.0.0.1:8000") as local:
        assert local.get("/model").status_code == 200
        assert local.get("/model", headers={"Host": "rebound.example"}).status_code == 400


def test_a_features_model_is_refused_in_one_line(tmp_path):
    network = Network.create([5, 4, 3], "relu", "softmax_cross_entropy")
    checkpoint.save_model(tmp_path / "features", network, {"dataset": {"name": "table", "n_classes": 3, "image_shape": None}})
    with pytest.raises(BpnnValueError, match="trained on 5 features, not images"):
        DigitReader.open(tmp_path / "features")
    result = runner.invoke(cli, ["serve", str(tmp_path / "features")])
    assert result.exit_code == 2 and "bpnn serve reads drawings with image models only" in result.output


def test_a_busy_port_and_a_missing_extra_are_one_line_each(digits_run, monkeypatch):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen(1)
        port = taken.getsockname()[1]
        result = runner.invoke(cli, ["serve", str(digits_run[0]), "--port", str(port)])
    assert result.exit_code == 2 and f"cannot listen on 127.0.0.1:{port}" in result.output
    monkeypatch.setitem(sys.modules, "uvicorn", None)
    with pytest.raises(BpnnValueError, match=r'needs the \[serve\] extra \(uvicorn is missing\): pip install "bpnn_xp\[serve\]"'):
        run_server(digits_run[0])


def test_the_announced_url_says_who_can_open_it():
    from bpnn_xp.serve import page_url

    assert page_url("127.0.0.1", 8000) == "http://127.0.0.1:8000/" and page_url("::1", 80) == "http://[::1]:80/"
    assert "anyone who reaches it can use it" in page_url("0.0.0.0", 8000) and page_url("0.0.0.0", 8000).startswith("http://127.0.0.1:8000/")
    assert page_url("192.168.1.5", 8000) == "http://192.168.1.5:8000/ (anyone who reaches 192.168.1.5 can use it)"


def test_serve_help_says_what_host_and_port_expose():
    text = " ".join(runner.invoke(cli, ["serve", "--help"], env={"COLUMNS": "200"}).output.split())
    assert "127.0.0.1 (default): this computer only" in text and "0.0.0.0" in text and "POST /predict" in text
