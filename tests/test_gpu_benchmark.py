"""The GPU benchmark's harness runs end to end on the CPU and judges its targets correctly (no timing assertions)."""

from __future__ import annotations

import json

import pytest

from benchmarks import gpu_report


def test_the_cpu_quick_run_writes_every_figure(tmp_path):
    pytest.importorskip("torch", reason="the benchmark compares against torch (pip install '.[torch]')")
    from benchmarks.gpu_throughput import main

    main(["--device", "cpu", "--quick", "--systems", "bpnn_xp,torch eager,torch compile", "--out", str(tmp_path)])
    data = json.loads((tmp_path / "gpu_throughput_cpu_quick.json").read_text())
    assert data["trial"] is True and data["complete"] is True
    assert data["gpu"]["gpu"].startswith("none") and data["matmul_peak_gflops"] > 0
    assert data["versions"]["numpy"] and data["command"].startswith("python -m benchmarks.gpu_throughput")
    for case in data["cases"]:
        ours, torch = case["systems"]["bpnn_xp"], case["systems"]["torch eager"]
        assert ours["available"] and torch["available"] and ours["kernels"]
        assert ours["step_us"]["min"] <= ours["step_us"]["median"] <= ours["step_us"]["max"] and ours["gpu_step_us"] is None
        assert ours["epoch_60k_ms"] > 0 and 0 < ours["share_of_peak"] and ours["first_epoch_extra_s"] < ours["first_epoch_s"]
        assert set(case["ratio_bpnn_xp_to"]) == {"torch eager"}
        assert case["systems"]["torch compile"]["reason"].startswith("skipped: reduce-overhead means CUDA graphs")
    assert {t["status"] for t in data["targets"]} == {"NOT MEASURED"}  # GPU targets are never judged on a CPU run
    page = (tmp_path / "gpu_throughput_cpu_quick.md").read_text()
    assert "TRIAL RUN" in page and "| bpnn_xp |" in page and "NOT MEASURED" in page


def ratio(median: float) -> dict[str, float]:
    return {"median": median, "min": median * 0.9, "max": median * 1.1, "runs": 3}


def fake_results(eager: float, fused: float, compiled: float, epoch_ms: float) -> dict:
    cases = []
    for batch in (128, 1024, 8192):
        ratios = {"torch eager": ratio(eager), "torch fused": ratio(fused)}
        if batch == 128:
            ratios["torch compile"] = ratio(compiled)
        cases.append({"network": "784-256-10", "batch": batch, "ratio_bpnn_xp_to": ratios,
                      "systems": {"bpnn_xp": {"available": True, "epoch_60k_ms": epoch_ms}}})  # fmt: skip
    return {"device": "cuda", "trial": False, "cases": cases}


def test_targets_are_judged_against_the_faster_eager_peer():
    verdicts = {t["target"]: t for t in gpu_report.targets(fake_results(eager=2.0, fused=1.4, compiled=1.1, epoch_ms=9.0))}
    assert verdicts["784-256-10 batch 128: >= 1.5x torch eager (faster of default and fused Adam)"]["status"] == "FAIL"
    assert "vs torch fused" in verdicts["784-256-10 batch 128: >= 1.5x torch eager (faster of default and fused Adam)"]["detail"]
    assert verdicts['784-256-10 batch 128: >= 1x torch.compile(mode="reduce-overhead")']["status"] == "PASS"
    assert verdicts["784-256-10 batch 1024: >= 1x torch eager (faster of default and fused Adam)"]["status"] == "PASS"
    assert verdicts["784-256-10 batch 8192: a 60,000-sample epoch under 10 ms"]["status"] == "PASS"
    slow = gpu_report.targets(fake_results(eager=0.9, fused=0.8, compiled=0.5, epoch_ms=12.0))
    assert {t["status"] for t in slow} == {"FAIL"}
