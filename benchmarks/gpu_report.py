"""The GPU benchmark's verdicts (the targets of issue 20, item 5) and its Markdown page."""

from __future__ import annotations

import subprocess
from typing import Any

EAGER = ("torch eager", "torch fused")  # a target "against torch eager" is judged against the faster of the two


def nvidia_smi_driver() -> str:
    """The driver version nvidia-smi reports ('unknown' without nvidia-smi)."""
    try:
        proc = subprocess.run(["nvidia-smi", "--query-gpu=driver_version", "--format=csv,noheader"],
                              capture_output=True, text=True, timeout=20)  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return proc.stdout.strip().splitlines()[0] if proc.returncode == 0 and proc.stdout.strip() else "unknown"


def _ratio_against(case: dict[str, Any], peers: tuple[str, ...]) -> tuple[str | None, dict[str, float] | None]:
    """bpnn_xp's paired ratio against the fastest of ``peers`` that ran (name, summary)."""
    ran = {p: case["ratio_bpnn_xp_to"][p] for p in peers if p in case["ratio_bpnn_xp_to"]}
    if not ran:
        return None, None
    name = min(ran, key=lambda p: ran[p]["median"])
    return name, ran[name]


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """PASS / FAIL / NOT MEASURED for each target; on the CPU every target is NOT MEASURED (they are GPU targets)."""
    on_gpu = results["device"].startswith("cuda") and not results["trial"]
    verdicts = []
    for case in results["cases"]:
        wanted = [(EAGER, 1.5 if case["batch"] == 128 else 1.0, "torch eager (faster of default and fused Adam)")]
        if case["batch"] == 128:
            wanted.append((("torch compile",), 1.0, 'torch.compile(mode="reduce-overhead")'))
        for peers, threshold, label in wanted:
            peer, ratio = _ratio_against(case, peers)
            what = f"{case['network']} batch {case['batch']}: >= {threshold:g}x {label}"
            if not on_gpu or ratio is None:
                why = "not a GPU run" if not on_gpu else "the peer did not run"
                verdicts.append({"target": what, "status": "NOT MEASURED", "detail": why})
                continue
            status = "PASS" if ratio["median"] >= threshold else "FAIL"
            detail = f"{ratio['median']:.2f}x vs {peer} (range {ratio['min']:.2f}-{ratio['max']:.2f})"
            verdicts.append({"target": what, "status": status, "detail": detail})
    verdicts.append(_epoch_target(results, on_gpu))
    return verdicts


def _epoch_target(results: dict[str, Any], on_gpu: bool) -> dict[str, Any]:
    what = "784-256-10 batch 8192: a 60,000-sample epoch under 10 ms"
    case = next((c for c in results["cases"] if c["network"] == "784-256-10" and c["batch"] == 8192), None)
    entry = (case or {}).get("systems", {}).get("bpnn_xp", {})
    if not on_gpu or not entry.get("available"):
        return {"target": what, "status": "NOT MEASURED", "detail": "not a GPU run" if not on_gpu else "bpnn_xp did not run"}
    ms = entry["epoch_60k_ms"]
    return {"target": what, "status": "PASS" if ms < 10 else "FAIL", "detail": f"{ms:.2f} ms"}


def _us(summary: dict[str, float] | None) -> str:
    return "-" if not summary else f"{summary['median']:.0f} ({summary['min']:.0f}-{summary['max']:.0f})"


def _case_table(case: dict[str, Any]) -> list[str]:
    lines = [f"### {case['network']}, batch {case['batch']} ({case['steps_per_epoch']} steps per {case['rows']:,}-row epoch)", "",
             "| system | step µs (max of host, device) | host µs/step | GPU µs/step | 60k-sample epoch | share of matmul peak "
             "| bpnn_xp speed-up (peer time ÷ ours) | first epoch (extra over a steady one: compiling) |",
             "|---|---|---|---|---|---|---|---|"]  # fmt: skip
    for name, entry in case["systems"].items():
        if not entry.get("available"):
            lines.append(f"| {name} | {entry['reason']} | | | | | | |")
            continue
        ratio = case["ratio_bpnn_xp_to"].get(name)
        speed = "-" if ratio is None else f"{ratio['median']:.2f}x ({ratio['min']:.2f}-{ratio['max']:.2f})"
        share = "-" if entry["share_of_peak"] is None else f"{entry['share_of_peak']:.1%}"
        lines.append(f"| {name} | {_us(entry['step_us'])} | {_us(entry['cpu_step_us'])} | {_us(entry['gpu_step_us'])} | "
                     f"{entry['epoch_60k_ms']:.1f} ms | {share} | {speed} | {entry['first_epoch_s']:.2f} s "
                     f"(+{entry['first_epoch_extra_s']:.2f} s) |")  # fmt: skip
    return [*lines, ""]


def markdown(results: dict[str, Any]) -> str:
    """The results as a page: machine, versions, targets, then one table per (network, batch)."""
    gpu, v = results["gpu"], results["versions"]
    lines = ["# GPU training throughput: bpnn_xp beside torch and JAX", ""]
    if not results.get("complete", True):
        lines += [f"**INCOMPLETE: stopped after {len(results['cases'])} case(s) (a time limit?); the targets of the "
                  "missing cases are NOT MEASURED.**", ""]
    if results["trial"]:
        lines += ["**TRIAL RUN (--quick): tiny sizes, one round. It proves the harness runs; it measures nothing.**", ""]
    lines += [f"- command: `{results['command']}`", f"- date: {results['date']}, commit {results['git']['commit'][:10]}"
              f"{' (uncommitted changes)' if results['git'].get('dirty') else ''}",
              f"- device: {results['device']}; GPU: {gpu['gpu']}; driver {gpu.get('driver', '-')}; "
              f"CUDA runtime {gpu.get('cuda_runtime', '-')}",
              f"- CPU: {results['machine']['cpu']} ({results['machine']['usable_cores']} usable cores), "
              f"Python {results['machine']['python']}",
              "- versions: " + ", ".join(f"{k} {val}" for k, val in sorted(v.items()) if val != "not installed"),
              f"- float32 matmul peak measured here: {results['matmul_peak_gflops']:,.0f} GFLOP/s; "
              f"{results['rounds']} interleaved round(s), one epoch each, medians with (min-max)",
              "- torch compile = torch.compile(model, mode=\"reduce-overhead\") (forward and backward as CUDA graphs) "
              "+ fused Adam; torch eager = Adam defaults (foreach); torch fused = Adam(fused=True)",
              "- first epoch: set-up plus the first epoch, with kernels compiled into an empty cache (NVRTC for CuPy, "
              "Inductor and CUDA-graph capture for torch.compile, XLA for JAX)", "",
              "## Targets (issue 20, item 5: on an H100)", "", "| target | status | detail |", "|---|---|---|"]  # fmt: skip
    lines += [f"| {t['target']} | {t['status']} | {t['detail']} |" for t in results["targets"]]
    lines += ["", "## Per network and batch", ""]
    for case in results["cases"]:
        lines += _case_table(case)
    return "\n".join(lines) + "\n"
