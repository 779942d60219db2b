"""Paired ratios, GFLOP/s, targets and the Markdown report of a train_throughput results dict."""

from __future__ import annotations

import statistics
from typing import Any

from benchmarks.common import Config, paired_ratios

OURS = {"startup": "bpnn train"}
DISPLAY = {"per-sample loop": "per-sample loop (reference only)", "numpy": "hand-written NumPy"}
TITLES = {
    "peak": "float32 matmul peak (own process per library)",
    "startup": "whole-process start-up: `bpnn train` (digits, defaults) vs the scikit-learn script (wall seconds)",
}
TARGETS = [
    ("mlp256", "torch eager", 1.25, "784-256-10 batch 128: bpnn_xp >= 1.25x torch eager (default Adam)"),
    ("mlp256", "torch fused", 1.0, "784-256-10 batch 128: bpnn_xp >= 1.0x torch fused Adam"),
    ("mlp256", "scikit-learn", 2.5, "784-256-10 batch 128: bpnn_xp >= 2.5x scikit-learn"),
    ("mlp1024", "torch eager", 1.0, "784-1024-1024-10 batch 1024: bpnn_xp >= 1.0x torch eager"),
    ("course", "torch eager", 1.0, "course full batch cost + gradient: bpnn_xp >= 1.0x torch"),
    ("startup", "scikit-learn script", 1.0, "`bpnn train` whole process no slower than the scikit-learn script"),
]


def best_peak(results: dict[str, Any], system: str) -> float | None:
    """The highest matmul GFLOP/s any round measured for ``system`` (None if not measured)."""
    entry = results["sections"].get("peak", {}).get("systems", {}).get(system, {})
    return entry.get("max") if entry.get("available") else None


def ratio_table(section: str, entry: dict[str, Any]) -> dict[str, Any]:
    """bpnn_xp speed ÷ peer speed, paired per round: rate / rate, or for wall times peer time / our time."""
    ours = OURS.get(section, "bpnn_xp")
    per_round = entry["per_round"]
    table = {}
    for system, values in per_round.items():
        if system == ours or ours not in per_round:
            continue
        pairs = paired_ratios(values, per_round[ours]) if section == "startup" else paired_ratios(per_round[ours], values)
        if pairs:
            table[system] = {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs), "per_round": pairs}
    return table


def add_ratios_and_flops(results: dict[str, Any]) -> None:
    """Add paired ratios to every section and GFLOP/s with shares of the matmul peaks to the training sections."""
    peaks = {"numpy": best_peak(results, "numpy matmul peak"), "torch": best_peak(results, "torch matmul peak")}
    results["matmul_peak_gflops"] = peaks
    for section, entry in results["sections"].items():
        if section == "peak":
            continue
        entry["ratio_bpnn_xp_to"] = ratio_table(section, entry)
        if entry.get("config"):
            add_flops(entry, Config(**entry["config"]), section, peaks)


def add_flops(entry: dict[str, Any], config: Config, section: str, peaks: dict[str, float | None]) -> None:
    """GFLOP/s of each system's median rate and its share of NumPy's and torch's float32 matmul peak."""
    rows = int(config.extra.get("rows", 5000)) if section == "course" else 1
    flops = config.flops_per_sample() * rows
    entry["flops_per_unit"] = flops
    for system in entry["systems"].values():
        if not system.get("available"):
            continue
        system["gflops"] = system["median"] * flops / 1e9
        for lib, peak in peaks.items():
            if peak:
                system[f"share_of_{lib}_peak"] = system["gflops"] / peak


OPENBLAS = "bpnn_xp (OpenBLAS)"  # bpnn_xp with BPNN_XP_BLAS=openblas: what the default install runs where [mkl] is absent


def targets(results: dict[str, Any]) -> list[dict[str, Any]]:
    """The performance targets judged on the median paired ratio (min–max shown beside it); where the
    bpnn_xp row ran on MKL, each target again for the OpenBLAS row (the default install)."""
    out = []
    for section, peer, threshold, label in TARGETS:
        entry = results["sections"].get(section, {})
        out.append(_judged(entry.get("ratio_bpnn_xp_to", {}).get(peer), label, section, peer, threshold))
        per_round = entry.get("per_round", {})
        if OPENBLAS in per_round and peer in per_round:
            pairs = paired_ratios(per_round[OPENBLAS], per_round[peer])
            ratio = {"median": statistics.median(pairs), "min": min(pairs), "max": max(pairs)} if pairs else None
            out.append(_judged(ratio, f"{label} [{OPENBLAS}]", section, peer, threshold))
    return out


def _judged(ratio: dict[str, Any] | None, label: str, section: str, peer: str, threshold: float) -> dict[str, Any]:
    """One target row: PASS/FAIL on the median ratio, or NOT MEASURED."""
    row: dict[str, Any] = {"target": label, "section": section, "peer": peer, "threshold": threshold}
    if ratio is None:
        row.update(status="NOT MEASURED")
    else:
        row.update(median=ratio["median"], min=ratio["min"], max=ratio["max"])
        row["status"] = "PASS" if ratio["median"] >= threshold else "FAIL"
    return row


def target_lines(results: dict[str, Any]) -> str:
    """One PASS/FAIL line per target."""
    lines = ["Targets (median paired ratio; informative only, the process does not fail on them):"]
    for t in results["targets"]:
        if t["status"] == "NOT MEASURED":
            lines.append(f"NOT MEASURED  {t['target']}")
        else:
            lines.append(f"{t['status']:4s}  {t['target']}: {t['median']:.2f}x (range {t['min']:.2f}–{t['max']:.2f}x)")
    if results.get("trial"):
        lines.append("(--quick: tiny sizes, trial figures only; they say nothing about the targets)")
    return "\n".join(lines)


def fmt(value: float | None, unit: str) -> str:
    """A number formatted for its unit."""
    if value is None:
        return ""
    if unit == "s wall":
        return f"{value:.2f}"
    return f"{value:,.0f}" if value >= 100 else f"{value:,.2f}"


def header(results: dict[str, Any]) -> list[str]:
    """Title, command, date, commit, machine, versions, data, settings."""
    m, git, s = results["machine"], results["git"], results["settings"]
    trial = " — TRIAL RUN (--quick), not a measurement" if results.get("trial") else ""
    return [
        f"# Training throughput ({results['device']}){trial}",
        "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}; commit {git['commit'][:12]}{' (uncommitted changes)' if git.get('dirty') else ''}  ",
        f"Machine: {m['cpu']}, {m['logical_cores']} logical cores ({m['usable_cores']} usable), load average at start "
        f"{m.get('load_average_at_start')}; {m['platform']}; Python {m['python']}  ",
        "Versions: " + ", ".join(f"{k} {v}" for k, v in results["versions"].items()) + "  ",
        f"Data: {results['data']['source']}; course: {results['data']['course']}  ",
        f"Protocol: every run is its own process; {s['rounds']} rounds, {s['order']}; {s['pause_s']:g} s pause between runs; "
        "warm-up excluded; ratios are bpnn_xp speed ÷ peer speed paired within a round.",
    ]


def pools_text(threads: dict[str, Any] | None) -> tuple[str, str, str]:
    """(torch threads, BLAS vendor/version/threads, OpenMP threads) of a worker's thread info."""
    if not threads:
        return "", "", ""
    pools = threads.get("pools") if isinstance(threads.get("pools"), list) else []
    blas = "; ".join(f"{p['prefix']} {p.get('version') or ''} ({p['num_threads']} thr)" for p in pools if p["user_api"] == "blas")
    omp = "; ".join(f"{p['prefix']} ({p['num_threads']} thr)" for p in pools if p["user_api"] == "openmp")
    torch = f"{threads['torch_num_threads']} (+{threads['torch_num_interop_threads']} interop), BLAS {threads['torch_blas']}" if (
        "torch_num_threads" in threads) else "not imported"  # fmt: skip
    return torch, blas, omp


def thread_table(results: dict[str, Any]) -> list[str]:
    """One row per system: its process's thread pools."""
    lines = ["", "## Thread pools per worker process", "", "| system | torch threads | NumPy BLAS (threadpoolctl) | OpenMP |",
             "|---|---|---|---|"]  # fmt: skip
    seen = set()
    for entry in results["sections"].values():
        for name, system in entry["systems"].items():
            if name in seen or not system.get("threads"):
                continue
            seen.add(name)
            lines.append(f"| {DISPLAY.get(name, name)} | " + " | ".join(pools_text(system["threads"])) + " |")
    return lines


def section_table(name: str, entry: dict[str, Any]) -> list[str]:
    """The Markdown table of one section."""
    unit = entry["unit"]
    title = entry["config"]["name"] if entry.get("config") else TITLES[name]
    lines = ["", f"## {title}", "", f"| system | {unit} median | min–max | runs | bpnn_xp ÷ system (paired) | paired min–max "
             "| GFLOP/s | % NumPy peak | % torch peak | peak RSS MB |", "|---|" + "---:|" * 9]  # fmt: skip
    ratios = entry.get("ratio_bpnn_xp_to", {})
    for system, s in entry["systems"].items():
        label = DISPLAY.get(system, system)
        if not s.get("available"):
            lines.append(f"| {label} | {s['reason']} | | | | | | | | |")
            continue
        r = ratios.get(system)
        cells = [fmt(s["median"], unit), f"{fmt(s['min'], unit)}–{fmt(s['max'], unit)}", str(s["runs"]),
                 f"{r['median']:.2f}x" if r else "", f"{r['min']:.2f}–{r['max']:.2f}x" if r else "",
                 f"{s['gflops']:.1f}" if "gflops" in s else "",
                 f"{100 * s['share_of_numpy_peak']:.0f}%" if "share_of_numpy_peak" in s else "",
                 f"{100 * s['share_of_torch_peak']:.0f}%" if "share_of_torch_peak" in s else "",
                 f"{s['peak_rss_mb']:.0f}" if s.get("peak_rss_mb") else ""]  # fmt: skip
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    lines += ["", "Timed: " + "; ".join(f"{k}: {v['timed']}" for k, v in entry["systems"].items() if v.get("available"))]
    return lines


def markdown(results: dict[str, Any]) -> str:
    """The whole report as Markdown."""
    lines = header(results)
    for name, entry in results["sections"].items():
        lines += section_table(name, entry)
    lines += thread_table(results)
    lines += ["", "## Targets", "", "```text", target_lines(results), "```"]
    return "\n".join(lines) + "\n"
