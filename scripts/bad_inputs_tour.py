"""A new user's tour of bad inputs: every case through the CLI (Typer's runner, in process) or the Python API, its
exit code and the first lines it printed, as JSON. Run it against two source trees to compare them:

    PYTHONPATH=OLD python scripts/bad_inputs_tour.py WORK before.json
    PYTHONPATH=NEW python scripts/bad_inputs_tour.py WORK after.json
    python scripts/bad_inputs_tour.py --table before.json after.json > docs/bad_inputs_tour.md
"""

from __future__ import annotations

import json
import os
import signal
import sys
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

CASE_SECONDS = 60
ISSUE_CASES = {  # the issue's own examples, or close variants of them; every other case is the tour's own
    "train --data pandas_index.csv", "train --data target_last.csv", "train --data dup_names.csv",
    "evaluate --data X --split val", "evaluate --data unseen class", "plot --data unseen class",
    "predict --show on a model without images", "predict --show under a file", "sweep of 11x11x11 trials",
    "sweep whose every trial fails", "train --dtype float16", "train --device array-api-strict:no_float64 --dtype float64",
    "train --epoch 3 (typo)", "gradcheck --sizes 784,512,10", "one_hot(ragged list)", "Network.create(seed=-1)",
    "Network(numpy and torch weights)", "network.feedforward(X of 5 features)", "Network(float16 arrays)",
    "warm start, set_params(hidden_layer_sizes=(9,)).fit", "warm start, set_params(solver='sgd').fit: solver used",
    "load(digits run).predict(raw 0..16 pixels) equals bpnn predict",
}


class TimedOut(BaseException):
    pass


def alarm(signum: int, frame: Any) -> None:
    raise TimedOut


def fixtures(work: Path) -> dict[str, Path]:
    """Bad (and a few good) files for the cases."""
    work.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    f: dict[str, Path] = {}

    def text(name: str, content: str, encoding: str = "utf-8") -> None:
        f[name] = work / name
        f[name].write_text(content, encoding=encoding)

    good = "\n".join(f"{i % 3},{(i % 3) * 2 + 0.1 * (i % 7)},{(i % 3) - 0.05 * (i % 5)}" for i in range(60))
    text("good.csv", "label,a,b\n" + good + "\n")
    text("empty.csv", "")
    text("header_only.csv", "label,a,b\n")
    f["junk.csv"] = work / "junk.csv"
    f["junk.csv"].write_bytes(bytes(rng.integers(0, 256, 4000, dtype=np.uint8)))
    text("latin1.csv", "label,caf\xe9\n0,1\n1,2\n", encoding="latin-1")
    text("ragged.csv", "label,a,b\n0,1,2\n1,2\n")
    text("nan.csv", "label,a,b\n0,1,nan\n1,2,3\n")
    text("inf.csv", "label,a,b\n0,1,inf\n1,2,3\n")
    text("huge.csv", "label,a,b\n" + "\n".join(f"{i % 2},1e300,{i}" for i in range(40)) + "\n")
    text("one_col.csv", "label\n0\n1\n")
    text("fraction_label.csv", "a,b,c\n0.5,1,2\n0.25,3,4\n")
    text("one_class.csv", "label,a\n" + "\n".join(f"0,{i}" for i in range(20)) + "\n")
    text("two_labels.csv", "label,digit,a\n" + "\n".join(f"{i % 2},{i % 3},{i}" for i in range(30)) + "\n")
    text("dup_names.csv", "label,a,a\n" + "\n".join(f"{i % 2},{i},{i}" for i in range(30)) + "\n")
    text("pandas_index.csv", ",a,target,b\n" + "\n".join(f"{i},{i * 3 % 17},{i % 3},{i % 5}" for i in range(60)) + "\n")
    text("target_last.csv", "a,b,Target\n" + "\n".join(f"{i * 7 % 23},{i % 5},{i % 2}" for i in range(60)) + "\n")
    text("decimal_comma.csv", "label;a;b\n0;1,5;2,5\n1;3,5;4,5\n")
    text("tabs.tsv.csv", "label\ta\tb\n" + "\n".join(f"{i % 2}\t{i}\t{i % 3}" for i in range(40)) + "\n")
    text("quoted.csv", 'label,a,b\n"x, y",1,2\n"z",3,4\n')
    text("many_labels.csv", "label,a\n" + "\n".join(f"{i},{i}" for i in range(1200)) + "\n")
    text("one_row.csv", "label,a\n0,1\n")
    text("two_rows.csv", "label,a\n0,1\n1,2\n")
    text("blank_lines.csv", "\n\n   \n")
    text("unnamed_bad_index.csv", ",label,a\n5,0,1\n9,1,2\n3,0,3\n")
    text("unseen.csv", "label,a,b\n0,1,2\n7,3,4\n")
    text("three_features.csv", "label,a,b,c\n0,1,2,3\n1,3,4,5\n")
    np.savez(work / "no_y.npz", X=np.zeros((4, 2)))
    np.savez(work / "x4d.npz", X=np.zeros((4, 2, 2, 2)), y=np.arange(4) % 2)
    np.savez(work / "mismatch.npz", X=np.zeros((4, 2)), y=np.arange(3))
    np.save(work / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with open(work / "pickled.npz", "wb") as handle:
        np.savez(handle, X=np.array([{"a": 1}], dtype=object), y=np.zeros(1))
    (work / "truncated.npz").write_bytes((work / "no_y.npz").read_bytes()[:60])
    np.savez(work / "complex.npz", X=np.zeros((4, 2), complex), y=np.arange(4) % 2)
    np.savez(work / "neg_labels.npz", X=rng.normal(size=(20, 2)), y=np.arange(20) % 2 - 1)
    np.savez(work / "frac_labels.npz", X=rng.normal(size=(20, 2)), y=np.arange(20) / 3)
    for name in ("images_empty_class", "images_junk", "no_subfolders", "empty_folder"):
        (work / name).mkdir(exist_ok=True)
    (work / "images_empty_class" / "a").mkdir(exist_ok=True)
    (work / "images_junk" / "3").mkdir(exist_ok=True)
    (work / "images_junk" / "3" / "x.png").write_text("not a png")
    (work / "images_junk" / "4").mkdir(exist_ok=True)
    (work / "images_junk" / "4" / "y.png").write_text("not a png")
    (work / "no_subfolders" / "readme.txt").write_text("hello")
    (work / "dir.csv").mkdir(exist_ok=True)
    np.save(work / "wrong_shape.npy", np.zeros((2, 7)))
    np.save(work / "strings.npy", np.array(["a", "b"]))
    np.save(work / "one_digit.npy", np.zeros((1, 8, 8)))
    np.save(work / "two_features.npy", np.zeros((3, 2)))
    (work / "text.png").write_text("hello")
    (work / "afile").write_text("in the way")
    (work / "junk_model.npz").write_bytes(b"PK\x03\x04 not really")
    return f


def cli_cases(w: Path, runs: dict[str, Path]) -> list[tuple[str, list[str]]]:
    d, b, c = str(runs["digits"]), str(runs["blobs"]), str(runs["csv"])
    p = lambda name: str(w / name)  # noqa: E731
    train = ["train", "--epochs", "1", "--hidden", "4", "--quiet", "--out"]
    cases = [(f"train --data {n}", [*train, p(f"out_{n}"), "--data", p(n)]) for n in (
        "empty.csv", "header_only.csv", "junk.csv", "latin1.csv", "ragged.csv", "nan.csv", "inf.csv", "huge.csv",
        "one_col.csv", "fraction_label.csv", "one_class.csv", "two_labels.csv", "dup_names.csv", "pandas_index.csv",
        "target_last.csv", "decimal_comma.csv", "tabs.tsv.csv", "quoted.csv", "many_labels.csv", "one_row.csv",
        "two_rows.csv", "blank_lines.csv", "unnamed_bad_index.csv", "no_y.npz", "x4d.npz", "mismatch.npz",
        "pickled.npz", "truncated.npz", "complex.npz", "neg_labels.npz", "frac_labels.npz", "images_empty_class",
        "images_junk", "no_subfolders", "empty_folder", "dir.csv", "missing.csv")]  # fmt: skip
    cases += [
        ("train --label-column 99", [*train, p("o1"), "--data", p("good.csv"), "--label-column", "99"]),
        ("train --label-column nope", [*train, p("o2"), "--data", p("good.csv"), "--label-column", "nope"]),
        ("train --label-column on an .npz", [*train, p("o3"), "--data", p("neg_labels.npz"), "--label-column", "y"]),
        ("train --epochs 1e3", ["train", "--epochs", "1e3"]),
        ("train --batch-size 0", ["train", "--batch-size", "0"]),
        ("train --hidden 0", ["train", "--hidden", "0"]),
        ("train --val-fraction 1", ["train", "--val-fraction", "1"]),
        ("train --lr nan", ["train", "--lr", "nan"]),
        ("train --seed -1", ["train", "--seed", "-1"]),
        ("train --augment foo", ["train", "--augment", "foo"]),
        ("train --dtype float16", ["train", "--dtype", "float16"]),
        ("train --device cuda (no GPU here)", [*train, p("o4"), "--device", "cuda"]),
        ("train --device array-api-strict:no_float64 --dtype float64",
         [*train, p("o5"), "--dataset", "xor", "--device", "array-api-strict:no_float64", "--dtype", "float64"]),
        ("train --resume missing", ["train", "--resume", p("missing_run")]),
        ("train --out under a file", [*train, p("afile") + "/run"]),
        ("train --epoch 3 (typo)", ["train", "--epoch", "3"]),
        ("bpnn trian (typo)", ["trian"]),
        ("evaluate missing run", ["evaluate", p("missing_run")]),
        ("evaluate a folder without a model", ["evaluate", p("empty_folder")]),
        ("evaluate a junk model.npz", ["evaluate", p("junk_model.npz")]),
        ("evaluate --split bogus", ["evaluate", d, "--split", "bogus"]),
        ("evaluate --split val on a run without val", ["evaluate", c, "--split", "val"]),
        ("evaluate --data wrong feature count", ["evaluate", c, "--data", p("three_features.csv")]),
        ("evaluate --data unseen class", ["evaluate", c, "--data", p("unseen.csv")]),
        ("evaluate --data --data-dir", ["evaluate", d, "--data", p("good.csv"), "--data-dir", p("x")]),
        ("evaluate --data X --split val", ["evaluate", c, "--data", p("good.csv"), "--split", "val"]),
        ("plot --data unseen class", ["plot", c, "--data", p("unseen.csv"), "--out", p("plots")]),
        ("plot --out under a file", ["plot", d, "--out", p("afile") + "/plots"]),
        ("predict: no inputs", ["predict", d]),
        ("predict: glob matching nothing", ["predict", d, p("nothing*.png")]),
        ("predict: .npy of the wrong shape", ["predict", d, p("wrong_shape.npy")]),
        ("predict: .npy of strings", ["predict", d, p("strings.npy")]),
        ("predict: pickled .npy", ["predict", d, p("objects.npy")]),
        ("predict: a text file named .png", ["predict", d, p("text.png")]),
        ("predict: an empty folder", ["predict", d, p("empty_folder")]),
        ("predict --top-k 0", ["predict", d, p("one_digit.npy"), "--top-k", "0"]),
        ("predict --top-k 100", ["predict", d, p("one_digit.npy"), "--top-k", "100"]),
        ("predict --show on a model without images", ["predict", b, p("two_features.npy"), "--show", p("sheet.png")]),
        ("predict --show under a file", ["predict", d, p("one_digit.npy"), "--show", p("afile") + "/s.png"]),
        ("predict --show an existing file", ["predict", d, p("one_digit.npy"), "--show", p("afile")]),
        ("info on a CSV file", ["info", p("good.csv")]),
        ("info on a junk model", ["info", p("junk_model.npz")]),
        ("sweep --grid lr= (empty)", ["sweep", "--grid", "lr=", "--out", p("s1")]),
        ("sweep --grid lr=1,1", ["sweep", "--grid", "lr=1,1", "--out", p("s2")]),
        ("sweep --workers 0", ["sweep", "--grid", "lr=1", "--out", p("s3"), "--workers", "0"]),
        ("sweep --out an existing file", ["sweep", "--grid", "lr=0.1", "--set", "dataset=blobs", "--out", p("afile")]),
        ("sweep --set out=x", ["sweep", "--grid", "lr=0.1", "--set", "out=x", "--out", p("s4")]),
        ("sweep into a training run's folder", ["sweep", "--grid", "lr=0.1", "--set", "dataset=blobs", "--set", "epochs=1",
                                                "--workers", "1", "--out", b]),
        ("sweep whose every trial fails", ["sweep", "--grid", "lr=0.1,0.2", "--set", f"data={p('missing.csv')}",
                                           "--workers", "1", "--quiet", "--out", p("s5")]),
        ("sweep of 11x11x11 trials", ["sweep", "--grid", "epochs=" + ",".join(map(str, range(1, 12))), "--grid",
                                      "seed=" + ",".join(map(str, range(11))), "--grid", "l2=" + ",".join(map(str, range(11))),
                                      "--out", p("s6")]),
        ("export --format bogus", ["export", d, "--out", p("m.onnx"), "--format", "bogus"]),
        ("export --out an existing file", ["export", d, "--out", p("afile")]),
        ("export --out into a missing folder", ["export", d, "--out", p("missing_dir") + "/m.onnx"]),
        ("export --format course of a non-course network", ["export", d, "--out", p("w.mat"), "--format", "course"]),
        ("serve a model without images", ["serve", b, "--port", "0"]),
        ("serve a missing run", ["serve", p("missing_run")]),
        ("serve --port 99999", ["serve", d, "--port", "99999"]),
        ("gradcheck --sizes 784,512,10", ["gradcheck", "--sizes", "784,512,10"]),
        ("gradcheck --samples 0", ["gradcheck", "--samples", "0"]),
    ]
    return cases


def api_cases(w: Path, runs: dict[str, Path]) -> list[tuple[str, Callable[[], Any]]]:
    import bpnn_xp
    from bpnn_xp.data import one_hot
    from bpnn_xp.engine import Network, Trainer
    from bpnn_xp.sklearn import BpnnClassifier

    X = np.random.default_rng(0).normal(size=(30, 3))
    y = np.arange(30) % 3
    net = lambda: Network.create([3, 4, 2], seed=0, dtype="float64")  # noqa: E731

    def fitted() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return BpnnClassifier(hidden_layer_sizes=(4,), max_iter=2, warm_start=True).fit(X, y)

    def two_libraries() -> Any:
        import torch

        n = net()
        return Network([torch.asarray(n.weights[0]), n.weights[1]], list(n.biases))

    return [
        ("one_hot(ragged list)", lambda: one_hot([[0, 1], [1]], 2)),
        ("one_hot(labels out of range)", lambda: one_hot([0, 5], 3)),
        ("Network.create(seed=-1)", lambda: Network.create([3, 2], seed=-1)),
        ("Network.create([784]) (one size)", lambda: Network.create([784])),
        ("Network.create([3, 2.5])", lambda: Network.create([3, 2.5])),
        ("Network.create(dtype='float16')", lambda: Network.create([3, 2], dtype="float16")),
        ("Network(float16 arrays)", lambda: Network([np.zeros((3, 2), np.float16)], [np.zeros(2, np.float16)])),
        ("Network(numpy and torch weights)", two_libraries),
        ("network.feedforward(X of 5 features)", lambda: net().feedforward(np.zeros((2, 5)))),
        ("network.predict(1-D X)", lambda: net().predict(np.zeros(3))),
        ("Trainer(optimizer='foo')", lambda: Trainer(net(), optimizer="foo")),
        ("Trainer(seed=-5)", lambda: Trainer(net(), seed=-5)),
        ("BpnnClassifier.fit(y ragged)", lambda: BpnnClassifier().fit(X[:2], [[0, 1], [1]])),
        ("BpnnClassifier.fit(X with NaN)", lambda: BpnnClassifier().fit(np.full((4, 2), np.nan), [0, 1, 0, 1])),
        ("BpnnClassifier.predict before fit", lambda: BpnnClassifier().predict(X)),
        ("BpnnClassifier(hidden_layer_sizes=(0,)).fit", lambda: BpnnClassifier(hidden_layer_sizes=(0,)).fit(X, y)),
        ("BpnnClassifier(random_state=-1).fit", lambda: BpnnClassifier(random_state=-1).fit(X, y)),
        ("fitted.predict(X of 5 features)", lambda: fitted().predict(np.zeros((2, 5)))),
        ("warm start, set_params(hidden_layer_sizes=(9,)).fit", lambda: fitted().set_params(hidden_layer_sizes=(9,)).fit(X, y)),
        ("warm start, set_params(solver='sgd').fit: solver used",
         lambda: (lambda e: e.set_params(solver="sgd", max_iter=1).fit(X, y)._trainer.method)(fitted())),
        ("partial_fit first call without classes", lambda: BpnnClassifier().partial_fit(X, y)),
        ("bpnn_xp.load(missing)", lambda: bpnn_xp.load(w / "missing_run")),
        ("bpnn_xp.load(junk model)", lambda: bpnn_xp.load(w / "junk_model.npz")),
        ("load(digits run).predict(raw 0..16 pixels) equals bpnn predict",
         lambda: _load_equals_cli(runs["digits"], w)),
    ]


def _load_equals_cli(run: Path, w: Path) -> str:
    from sklearn.datasets import load_digits
    from typer.testing import CliRunner

    import bpnn_xp
    from bpnn_xp.cli import app

    raw = load_digits().data[:50]
    np.save(w / "raw.npy", raw)
    result = CliRunner().invoke(app, ["predict", str(run), str(w / "raw.npy"), "--json"])
    cli = [row["class"] for row in json.loads(result.stdout)]
    same = bpnn_xp.load(run).predict(raw).tolist() == cli
    return "equal" if same else "DIFFERENT"


def run_cli(args: list[str]) -> dict[str, Any]:
    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    result = CliRunner().invoke(app, args, prog_name="bpnn")
    text = result.output
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        text += "".join(traceback.format_exception_only(type(result.exception), result.exception))
        return {"code": "traceback", "lines": text.strip().splitlines()[-3:]}
    return {"code": result.exit_code, "lines": [line for line in text.strip().splitlines() if line.strip()][:3]}


def run_api(call: Callable[[], Any]) -> dict[str, Any]:
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            value = call()
    except Exception as exc:  # noqa: BLE001 - what a user would see is the point
        from bpnn_xp.errors import BpnnError

        kind = "ours" if isinstance(exc, BpnnError) else type(exc).__module__.split(".")[0]
        return {"code": f"{type(exc).__name__} ({kind})", "lines": str(exc).splitlines()[:2]}
    return {"code": "returned", "lines": [repr(value)[:150]]}


def tour(work: Path) -> dict[str, dict[str, Any]]:
    from typer.testing import CliRunner

    from bpnn_xp.cli import app

    fixtures(work)
    runs = {"digits": work / "run_digits", "blobs": work / "run_blobs", "csv": work / "run_csv"}
    runner = CliRunner()
    for args in (["train", "--epochs", "2", "--hidden", "8", "--quiet", "--overwrite", "--out", str(runs["digits"])],
                 ["train", "--dataset", "blobs", "--epochs", "1", "--hidden", "4", "--quiet", "--overwrite", "--out",
                  str(runs["blobs"])],
                 ["train", "--data", str(work / "good.csv"), "--epochs", "2", "--hidden", "4", "--val-fraction", "0",
                  "--quiet", "--overwrite", "--out", str(runs["csv"])]):  # fmt: skip
        assert runner.invoke(app, args).exit_code == 0, args
    signal.signal(signal.SIGALRM, alarm)
    found: dict[str, dict[str, Any]] = {}
    cases = [*((n, ("cli", a)) for n, a in cli_cases(work, runs)), *((n, ("api", c)) for n, c in api_cases(work, runs))]
    for name, case in cases:
        signal.alarm(CASE_SECONDS)
        try:
            found[name] = run_cli(case[1]) if case[0] == "cli" else run_api(case[1])
        except TimedOut:
            found[name] = {"code": "hangs", "lines": [f"still running after {CASE_SECONDS} s"]}
        finally:
            signal.alarm(0)
        found[name]["lines"] = [line.replace(str(work), "WORK") for line in found[name]["lines"]]
        print(name, found[name], file=sys.stderr)
    return found


def table(before: dict[str, Any], after: dict[str, Any]) -> str:
    def cell(outcome: dict[str, Any] | None) -> str:
        if outcome is None:
            return "(not run)"
        lines = " / ".join(outcome["lines"]).replace("|", "\\|")
        return f"**{outcome['code']}**: {lines[:260]}"

    rows = ["| # | input | before | now |", "|---:|---|---|---|"]
    for number, name in enumerate(after, 1):
        tag = " *(issue)*" if name in ISSUE_CASES else ""
        rows.append(f"| {number} | `{name}`{tag} | {cell(before.get(name))} | {cell(after[name])} |")
    changed = sum(after[n] != before.get(n) for n in after)
    own = sum(n not in ISSUE_CASES for n in after)
    return "\n".join(rows) + f"\n\n{len(after)} cases, {own} of them the tour's own (not the issue's examples); " \
        f"{changed} behave differently now.\n"


if __name__ == "__main__":
    if sys.argv[1] == "--table":
        before, after = (json.loads(Path(a).read_text()) for a in sys.argv[2:4])
        print(table(before, after), end="")
    else:
        os.environ.setdefault("OMP_NUM_THREADS", "1")
        results = tour(Path(sys.argv[1]))
        Path(sys.argv[2]).write_text(json.dumps(results, indent=1))
