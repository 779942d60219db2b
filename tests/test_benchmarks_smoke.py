"""The benchmark suite runs and writes well-formed results (tiny sizes; no timing assertions)."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("torch", reason="the benchmark compares against torch (pip install '.[torch]')")


def test_quick_suite_writes_json_and_markdown(tmp_path):
    from benchmarks.train_throughput import main

    results = main(["--quick", "--repeats", "1", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "train_throughput_cpu_quick.json").read_text())
    assert data["matmul_peak_gflops"] > 0 and data["machine"]["cores"] >= 1 and "numpy" in data["versions"]
    for entry in data["throughput"]:
        assert set(entry["samples_per_s"]) == {"bpnn_xp", "torch eager", "scikit-learn", "per-sample loop"}
        assert all(s["median"] > 0 and s["min"] <= s["median"] <= s["max"] for s in entry["samples_per_s"].values())
        assert set(entry["ratio_bpnn_xp_to"]) == {"torch eager", "scikit-learn", "per-sample loop"}
    assert set(data["course"]["evaluations_per_s"]) == {"bpnn_xp", "torch eager", "per-sample loop"}
    assert {row["vary"] for row in data["scaling"]["rows"]} == {"batch", "width"}
    assert all(v["peak_rss_mb"] >= v["rss_before_training_mb"] > 0 for v in data["memory"].values())
    markdown = (tmp_path / "train_throughput_cpu_quick.md").read_text()
    assert "| bpnn_xp |" in markdown and "matmul peak" in markdown and results["device"] == "cpu"
