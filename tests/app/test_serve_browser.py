"""``bpnn serve`` as a person uses it: headless Chromium (the system's own browser, driven by Playwright).

A small MNIST model is trained once (mnist5k, a few seconds); ``bpnn serve RUN --port 0`` runs as a separate
process, as a user starts it. The tests draw digits with mouse strokes (and one with touch), upload and drop image
files, check that a bad upload shows its message, and save screenshots and what each drawn digit was read as
(drawn_digits.json) in build/test-artifacts/serve (or $BPNN_XP_TEST_ARTIFACTS).
BPNN_XP_UPDATE_SCREENSHOT=1 also writes README's docs/serve.png.
"""

from __future__ import annotations

import io
import json
import math
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw

pytest.importorskip("starlette", reason='bpnn serve needs the [serve] extra: pip install -e ".[serve]"')
pytest.importorskip("uvicorn", reason='bpnn serve needs the [serve] extra: pip install -e ".[serve]"')
sync_api = pytest.importorskip("playwright.sync_api", reason="the browser tests need Playwright: pip install playwright")

ROOT = Path(__file__).resolve().parents[2]
CHROMIUM = os.environ.get("BPNN_XP_CHROMIUM") or shutil.which("chromium") or shutil.which("chromium-browser")
ARTIFACTS = Path(os.environ.get("BPNN_XP_TEST_ARTIFACTS") or ROOT / "build" / "test-artifacts") / "serve"
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="no chromium on PATH (Debian/Ubuntu: apt-get install chromium); "
                                                         "set BPNN_XP_CHROMIUM to another Chromium")  # fmt: skip
IDLE = "() => document.body.dataset.state === 'idle' && (document.querySelector('#answer').textContent !== '' " \
       "|| document.querySelector('#message').textContent !== '')"  # fmt: skip


def arc(cx: float, cy: float, rx: float, ry: float, start: float, end: float, n: int) -> list[tuple[float, float]]:
    """Points along an ellipse, angles clockwise from 12 o'clock, in fractions of the pad."""
    angles = [start + (end - start) * i / n for i in range(n + 1)]
    return [(cx + rx * math.sin(a), cy - ry * math.cos(a)) for a in angles]


STROKES = {  # each digit as pen strokes, the way a person draws it
    "0": [arc(0.5, 0.5, 0.2, 0.32, 0.0, 2 * math.pi, 24)],
    "1": [[(0.52, 0.15), (0.48, 0.85)]],
    "2": [arc(0.5, 0.35, 0.2, 0.18, -1.4, 2.2, 14) + [(0.28, 0.82), (0.74, 0.82)]],
    "3": [arc(0.48, 0.33, 0.18, 0.16, -1.3, 3.2, 14) + arc(0.48, 0.66, 0.2, 0.18, 0.0, 4.4, 16)[1:]],
    "4": [[(0.6, 0.15), (0.25, 0.62), (0.78, 0.62)], [(0.6, 0.15), (0.6, 0.88)]],
    "6": [[(0.64, 0.14), (0.5, 0.28), (0.4, 0.45), (0.35, 0.62)] + arc(0.52, 0.68, 0.17, 0.16, 4.5, 4.5 + 2 * math.pi, 20)],
    "7": [[(0.28, 0.2), (0.72, 0.2), (0.45, 0.85)]],
}


READ: dict[str, dict] = {}  # what each drawn digit was read as, saved beside the screenshots


def folder_state(folder: Path) -> dict[str, tuple[int, bytes]]:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """(page URL, run folder, the folder's files before serving) of ``bpnn serve`` on a fresh mnist5k model."""
    run = tmp_path_factory.mktemp("serve") / "mnist"
    train = [sys.executable, "-m", "bpnn_xp", "train", "--dataset", "mnist5k", "--epochs", "5", "--hidden", "128",
             "--seed", "0", "--out", str(run), "--quiet"]  # fmt: skip
    subprocess.run(train, check=True, capture_output=True, timeout=300)
    before = folder_state(run)
    server = subprocess.Popen([sys.executable, "-m", "bpnn_xp", "serve", str(run), "--port", "0"], stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, env=dict(os.environ, PYTHONUNBUFFERED="1"))  # fmt: skip
    try:
        line = server.stdout.readline()
        found = re.search(r"http://127\.0\.0\.1:\d+/", line)
        assert found, f"bpnn serve did not print its URL: {line!r}"
        yield found.group(0), run, before
    finally:
        server.terminate()
        server.wait(timeout=20)


@pytest.fixture(scope="module")
def page(served):
    with sync_api.sync_playwright() as playwright:
        # no sandbox: CI runs as root; no /dev/shm: containers give it 64 MB
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox", "--disable-dev-shm-usage"])
        context = browser.new_context(viewport={"width": 900, "height": 640}, has_touch=True)
        tab = context.new_page()
        errors: list[str] = []
        tab.on("pageerror", lambda exc: errors.append(str(exc)))
        tab.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
        tab.goto(served[0])
        tab.wait_for_function("() => document.querySelector('#model-info').textContent.includes('784-128-10')")
        yield tab
        browser.close()
        assert not [e for e in errors if "status of 4" not in e], f"the page logged errors: {errors}"


def draw(page, strokes) -> None:
    """Clear the pad, draw the strokes with the mouse and wait for the answer to the finished drawing."""
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    at = lambda x, y: (box["x"] + x * box["width"], box["y"] + y * box["height"])  # noqa: E731
    for stroke in strokes:
        page.mouse.move(*at(*stroke[0]))
        page.mouse.down()
        for x, y in stroke[1:]:
            page.mouse.move(*at(x, y), steps=2)
        page.mouse.up()
    page.wait_for_function(IDLE)


def shown(page) -> tuple[str, list[str], list[float]]:
    """(the answer, the top classes, their bar widths in %)."""
    rows = page.locator("#top li")
    classes = [rows.nth(i).get_attribute("data-class") for i in range(rows.count())]
    widths = page.eval_on_selector_all("#top .fill", "bars => bars.map(b => b.getBoundingClientRect().width "
                                                     "/ b.parentElement.getBoundingClientRect().width)")  # fmt: skip
    return page.locator("#answer").inner_text(), classes, [100 * w for w in widths]


def seen_ink(page) -> float:
    """How much ink the "what the network saw" canvas shows (sum of gray levels / 255)."""
    return page.eval_on_selector("#seen", "c => c.getContext('2d').getImageData(0, 0, c.width, c.height).data"
                                          ".reduce((s, v, i) => s + (i % 4 === 0 ? v : 0), 0) / 255")  # fmt: skip


@pytest.mark.parametrize("digit", sorted(STROKES))
def test_a_drawn_digit_is_read_with_three_classes_and_what_the_network_saw(page, digit):
    draw(page, STROKES[digit])
    answer, classes, widths = shown(page)
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    values = page.locator("#top .value").all_inner_texts()
    READ[digit] = {"read": answer, "top": [f"{c} {v}" for c, v in zip(classes, values)]}
    (ARTIFACTS / "drawn_digits.json").write_text(json.dumps(READ, indent=1))
    assert answer == digit and classes[0] == digit and len(classes) == 3, (answer, classes)
    assert widths[0] > 40 and widths == sorted(widths, reverse=True)
    assert page.eval_on_selector("#seen", "c => [c.width, c.height]") == [28, 28] and seen_ink(page) > 20
    assert page.locator("#message").inner_text() == ""


def test_the_answer_follows_the_drawing_as_it_goes_and_clear_empties_it(page):
    draw(page, STROKES["1"])
    assert shown(page)[0] == "1"
    box = page.locator("#pad").bounding_box()
    page.mouse.move(box["x"] + 0.28 * box["width"], box["y"] + 0.2 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.72 * box["width"], box["y"] + 0.2 * box["height"], steps=6)
    page.wait_for_function("() => document.querySelector('#answer').textContent === '7'")  # answered mid-stroke
    page.mouse.up()
    page.click("#clear")
    assert shown(page)[:2] == ("", []) and seen_ink(page) == 0


def test_a_digit_drawn_with_a_finger(page):
    page.click("#clear")
    box = page.locator("#pad").bounding_box()
    cdp = page.context.new_cdp_session(page)
    points = [(box["x"] + x * box["width"], box["y"] + y * box["height"]) for x, y in STROKES["7"][0]]

    def touch(kind: str, x: float | None, y: float | None) -> None:
        cdp.send("Input.dispatchTouchEvent", {"type": kind, "touchPoints": [] if x is None else [{"x": x, "y": y}]})

    touch("touchStart", *points[0])
    for (x0, y0), (x1, y1) in zip(points, points[1:]):
        for step in range(1, 9):
            touch("touchMove", x0 + (x1 - x0) * step / 8, y0 + (y1 - y0) * step / 8)
    touch("touchEnd", None, None)
    page.wait_for_function(IDLE)
    assert shown(page)[0] == "7"


def digit_png(kind: str = "seven") -> bytes:
    """A paint-program style image: a dark 7 (or 0) on a white page, larger and off-centre."""
    image = Image.new("RGB", (300, 220), "white")
    pen = ImageDraw.Draw(image)
    if kind == "seven":
        pen.line([(150, 40), (230, 40), (170, 200)], fill="black", width=14, joint="curve")
    else:
        pen.ellipse([(120, 30), (220, 200)], outline="black", width=14)
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def test_an_uploaded_and_a_dropped_image_are_read(page, tmp_path):
    (tmp_path / "seven.png").write_bytes(digit_png("seven"))
    page.set_input_files("#file", str(tmp_path / "seven.png"))
    page.wait_for_function(IDLE)
    assert shown(page)[0] == "7"
    transfer = page.evaluate_handle("bytes => { const t = new DataTransfer(); t.items.add(new File([new Uint8Array(bytes)], "
                                    "'zero.png', {type: 'image/png'})); return t; }", list(digit_png("zero")))  # fmt: skip
    page.dispatch_event("#pad", "drop", {"dataTransfer": transfer})
    page.wait_for_function("() => document.body.dataset.state === 'idle' && document.querySelector('#answer').textContent === '0'"
                           " && document.querySelector('#message').textContent === ''")  # fmt: skip


@pytest.mark.parametrize("name,payload,message", [
    ("notes.txt", b"not a picture", "notes.txt is text/plain, not an image"),
    ("broken.png", b"\x89PNG\r\n\x1a\n garbage", "broken.png is not a readable image"),
])  # fmt: skip
def test_a_bad_upload_shows_its_message(page, tmp_path, name, payload, message):
    draw(page, STROKES["1"])
    (tmp_path / name).write_bytes(payload)
    page.set_input_files("#file", str(tmp_path / name))
    page.wait_for_function(IDLE)
    assert message in page.locator("#message").inner_text() and shown(page)[:2] == ("", [])
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"bad-upload-{Path(name).suffix[1:]}.png"))


def test_screenshot_of_a_drawn_three_with_its_hidden_units(page):
    draw(page, STROKES["3"])
    page.click("#hidden summary")
    page.wait_for_function("() => document.querySelectorAll('#units canvas').length === 6")
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    target = ARTIFACTS / "serve.png"
    page.screenshot(path=str(target), full_page=True)
    picture = np.asarray(Image.open(target).convert("L"))
    assert picture.shape[1] == 900 and picture.std() > 20  # a page, not a blank
    if os.environ.get("BPNN_XP_UPDATE_SCREENSHOT") == "1":
        (ROOT / "docs").mkdir(exist_ok=True)
        shutil.copyfile(target, ROOT / "docs" / "serve.png")
    page.click("#hidden summary")


def test_the_run_folder_was_never_written(served, page):
    _, run, before = served
    assert folder_state(run) == before
