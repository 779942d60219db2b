"""Parser errors of every command are one line naming the option and the nearest valid one, exit 2 (done once for
the whole app); float16 is refused up front; gradcheck says its work first, shows progress, and asks for --yes
above its limit; a device that cannot hold the dtype is one line naming both."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from bpnn_xp.cli import app

runner = CliRunner()


def invoke(*args):
    return runner.invoke(app, [str(a) for a in args], prog_name="bpnn")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["train", "--epoch", "3"], "error: bpnn train: no such option --epoch; did you mean --epochs?"),
        (["train", "--hiden", "8"], "error: bpnn train: no such option --hiden; did you mean --hidden?"),
        (["evaluate", "run", "--splt", "val"], "error: bpnn evaluate: no such option --splt; did you mean --split?"),
        (["predict", "run", "x.png", "--topk", "3"], "error: bpnn predict: no such option --topk; did you mean --top-k?"),
        (["sweep", "--grid", "lr=1", "--out", "x", "--worker", "2"], "did you mean --workers?"),
        (["gradcheck", "--size", "3,2"], "did you mean --sizes?"),
        (["trian"], "error: bpnn: no such command 'trian'; did you mean train?"),
        (["evaluat", "run"], "did you mean evaluate?"),
        (["evaluate"], "error: bpnn evaluate: Missing argument 'model'"),
        (["predict", "run"], "Missing argument 'images"),
        (["sweep", "--grid", "lr=1"], "error: bpnn sweep: Missing option '--out'"),
        (["predict", "run", "x.npy", "--top-k", "many"], "Invalid value for '--top-k': Input should be a valid integer"),
        (["train", "--quiet=3"], "Option '--quiet' does not take a value"),
        (["--nope"], "error: bpnn: no such option --nope"),
    ],
)
def test_parser_errors_are_one_line_naming_the_nearest_option(args, expected):
    result = invoke(*args)
    assert result.exit_code == 2, result.output
    assert result.output.count("\n") == 1 and result.output.startswith("error: bpnn") and expected in result.output, result.output
    assert "╭" not in result.output and "Usage:" not in result.output


def test_float16_is_refused_up_front_with_the_reason():
    result = invoke("train", "--dtype", "float16", "--epochs", "1")
    assert result.exit_code == 2 and "--dtype must be auto, float32 or float64, got 'float16'" in result.output


def test_gradcheck_says_its_work_and_asks_for_yes_above_the_limit():
    small = invoke("gradcheck", "--sizes", "3,4,2")
    assert small.exit_code == 0 and "gradcheck: 26 parameters, 52 forward passes over 10 samples" in small.stderr
    big = invoke("gradcheck", "--sizes", "784,256,10", "--samples", "10")
    assert big.exit_code == 2 and big.output.count("\n") == 1  # refused before any work, in one line
    assert "203,530 parameters makes 407,060 forward passes" in big.output and "--yes to run it anyway" in big.output


def test_gradcheck_shows_progress_on_stderr(monkeypatch):
    from bpnn_xp import workflow

    seen = []
    real = workflow.gradient_check

    def spying(*args, progress=None, **kwargs):
        return real(*args, progress=lambda done, total: (seen.append((done, total)), progress(done, total)), **kwargs)

    monkeypatch.setattr(workflow, "gradient_check", spying)
    result = invoke("gradcheck", "--sizes", "40,50,3", "--samples", "2")
    assert result.exit_code == 0, result.output
    assert seen[0] == (0, 2203) and len(seen) >= 90 and all(total == 2203 for _, total in seen)


def test_a_device_that_cannot_hold_the_dtype_is_one_line():
    pytest.importorskip("array_api_strict")
    result = invoke("train", "--dataset", "xor", "--device", "array-api-strict:no_float64", "--dtype", "float64", "--epochs", "1",
                    "--quiet")  # fmt: skip
    assert result.exit_code == 2 and result.output.count("\n") == 1
    assert "--device array-api-strict:no_float64 cannot hold float64 arrays; use --dtype float32" in result.output
