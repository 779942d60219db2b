"""The benchmark harness runs, in separate processes, and writes well-formed results (tiny sizes; no timing assertions)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest

pytest.importorskip("torch", reason="the benchmark compares against torch (pip install '.[torch]')")

RESULTS = Path(__file__).resolve().parents[1] / "benchmarks" / "results"
QUICK = ["--quick", "--rounds", "1", "--pause", "0", "--no-compile", "--sections", "mlp256,course,peak",
         "--systems", "torch eager,torch compile,numpy,numpy matmul peak"]  # fmt: skip


def fingerprint() -> dict[str, str]:
    """SHA-256 of every committed results file."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(RESULTS.glob("*"))}


@pytest.fixture(scope="module")
def quick_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[dict, Path, dict[str, str]]:
    """One quick harness run into a temp folder, with the results folder's fingerprint before it."""
    from benchmarks.train_throughput import main

    before, out = fingerprint(), tmp_path_factory.mktemp("bench")
    results = main([*QUICK, "--out", str(out)])
    return results, out, before


def test_quick_run_records_systems_ratios_versions_and_threads(quick_run):
    results, out, _ = quick_run
    data = json.loads((out / "train_throughput_cpu_quick.json").read_text())
    assert data["trial"] is True and data["versions"]["numpy"] and data["git"]["commit"] and data["machine"]["logical_cores"] >= 1
    for section in ("mlp256", "course"):
        systems = data["sections"][section]["systems"]
        assert {"bpnn_xp", "torch eager", "numpy"} <= set(systems)
        assert all(s["available"] and s["min"] <= s["median"] <= s["max"] for n, s in systems.items() if n != "torch compile")
        assert set(data["sections"][section]["ratio_bpnn_xp_to"]) == {"torch eager", "numpy"}
        assert systems["bpnn_xp"]["threads"]["torch_imported"] is False
        assert systems["torch eager"]["threads"]["torch_num_threads"] >= 1
        assert any(p["user_api"] == "blas" for p in systems["numpy"]["threads"]["pools"])
    assert data["sections"]["mlp256"]["systems"]["torch compile"]["reason"].startswith("not available")
    assert data["matmul_peak_gflops"]["numpy"] > 0 and "share_of_numpy_peak" in data["sections"]["mlp256"]["systems"]["bpnn_xp"]
    assert {t["status"] for t in data["targets"]} <= {"PASS", "FAIL", "NOT MEASURED"}
    markdown = (out / "train_throughput_cpu_quick.md").read_text()
    assert "TRIAL RUN" in markdown and "| bpnn_xp |" in markdown and "openblas" in markdown


def test_quick_run_leaves_committed_results_alone(quick_run):
    _, _, before = quick_run
    assert fingerprint() == before


def test_quick_run_refuses_to_write_results():
    from benchmarks.train_throughput import main

    with pytest.raises(SystemExit):
        main(["--quick", "--write-results"])
    with pytest.raises(SystemExit):
        main(["--out", str(RESULTS)])


@pytest.mark.parametrize("module", ["train_throughput", "worker", "profile_step", "memory_probe", "sklearn_digits"])
def test_every_script_answers_help(module, capsys):
    import importlib

    with pytest.raises(SystemExit) as exit_info:
        importlib.import_module(f"benchmarks.{module}").main(["--help"])
    assert exit_info.value.code == 0 and "usage:" in capsys.readouterr().out


def test_profile_step_accounts_for_a_course_evaluation_kernel_by_kernel(tmp_path):
    from benchmarks.profile_step import main

    text = main(["--network", "course", "--repeats", "1", "--out", str(tmp_path / "profile.md")])
    assert "matmul 5000x400 @ 400x25" in text and "cost_and_delta" in text and "everything else" in text
    assert (tmp_path / "profile.md").read_text() == text
    with pytest.raises(SystemExit):
        main(["--network", "course", "--out", str(RESULTS / "profile.md")])  # results/ only with --write-results


def test_compare_trees_pairs_two_trees_run_in_their_own_processes(tmp_path):
    """The before/after harness runs each tree's worker and pairs the two speeds of a round."""
    from benchmarks.compare_trees import main

    root = RESULTS.parents[1]
    main(["--before", str(root), "--after", str(root), "--quick", "--rounds", "1", "--pause", "0", "--sections", "mlp256",
          "--out", str(tmp_path)])  # fmt: skip
    data = json.loads((tmp_path / "compare_trees.json").read_text())
    section = data["sections"]["mlp256"]
    assert section["pairs"] == 1 and section["before"]["median"] > 0 and section["after"]["median"] > 0
    assert section["ratio"]["median"] == pytest.approx(section["after"]["median"] / section["before"]["median"])
    assert "| mlp256 |" in (tmp_path / "compare_trees.md").read_text()
