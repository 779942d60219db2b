"""bpnn_xp before and after a change: the same worker runs of two source trees, paired per round.

    python -m benchmarks.compare_trees --before /tmp/old-checkout --after . --write-results

Every run is its own ``python -m benchmarks.worker bpnn_xp`` process started inside its tree (so each tree
measures itself with its own code), the two trees alternate first place from round to round with a pause
between runs, and the after ÷ before ratio is paired within a round: a refactor is "no slower" when the
median paired ratio is near 1 and the range straddles it. Results (JSON + Markdown) go to a temp folder, or
to benchmarks/results/compare_trees.* with --write-results.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmarks.common import RESULTS_DIR, full_configs, machine_info, prepare_data, quick_configs
from benchmarks.runner import parse_worker, worker_command

SECTIONS = ("mlp256", "mlp1024", "course")


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--before", type=Path, required=True, help="source tree of the old code (a git worktree)")
    parser.add_argument("--after", type=Path, default=Path("."), help="source tree of the new code (default: here)")
    parser.add_argument("--sections", default=",".join(SECTIONS), help="comma-separated: mlp256, mlp1024, course")
    parser.add_argument("--rounds", type=int, default=5, help="paired rounds (default 5)")
    parser.add_argument("--pause", type=float, default=1.0, help="seconds of idle between runs")
    parser.add_argument("--quick", action="store_true", help="tiny sizes: checks the harness, not the speed")
    parser.add_argument("--write-results", action="store_true", help="write benchmarks/results/compare_trees.{json,md}")
    parser.add_argument("--out", type=Path, help="folder for the JSON and Markdown (default: a new temp folder)")
    return parser.parse_args(argv)


def git_head(tree: Path) -> str:
    """The tree's commit (and '+dirty' where it has uncommitted changes)."""
    head = subprocess.run(["git", "-C", str(tree), "rev-parse", "--short=12", "HEAD"], capture_output=True, text=True).stdout
    status = ["git", "-C", str(tree), "status", "--porcelain", "--untracked-files=no"]
    dirty = subprocess.run(status, capture_output=True, text=True)
    return head.strip() + ("+dirty" if dirty.stdout.strip() else "")


def run_in_tree(tree: Path, section: str, config: Any, data: Path, quick: bool) -> float | None:
    """One worker run of bpnn_xp from ``tree``'s own code; its speed, or None if it failed."""
    env = {**os.environ, "PYTHONPATH": str(tree.resolve())}
    cmd = worker_command("bpnn_xp", section, config, data, "cpu", quick)
    done = subprocess.run(cmd, cwd=tree, env=env, capture_output=True, text=True, timeout=900)
    result = parse_worker(done.stdout)
    if not result or not result.get("ok"):
        print(f"  {section} in {tree}: failed: {(done.stderr or done.stdout).strip()[-300:]}", file=sys.stderr)
        return None
    return float(result["rate"])


def measure(args: argparse.Namespace) -> dict[str, Any]:
    """Every section, ``rounds`` rounds of (before, after) in alternating order; speeds and paired ratios."""
    configs = quick_configs() if args.quick else full_configs()
    trees = {"before": args.before, "after": args.after}
    sections = [s.strip() for s in args.sections.split(",") if s.strip()]
    speeds: dict[str, dict[str, list[float | None]]] = {s: {"before": [], "after": []} for s in sections}
    with tempfile.TemporaryDirectory() as tmp:
        prepare_data(Path(tmp))
        for r in range(args.rounds):
            for section in sections:
                order = ("before", "after") if r % 2 == 0 else ("after", "before")
                for name in order:
                    speeds[section][name].append(run_in_tree(trees[name], section, configs.get(section), Path(tmp), args.quick))
                    time.sleep(args.pause)
                b, a = speeds[section]["before"][-1], speeds[section]["after"][-1]
                print(f"round {r + 1} {section}: before {b}, after {a}", file=sys.stderr)
    return {"sections": {s: summarise(v) for s, v in speeds.items()}, "trees": {k: git_head(v) for k, v in trees.items()}}


def summarise(values: dict[str, list[float | None]]) -> dict[str, Any]:
    """Medians and ranges of each tree's speed and of the paired after ÷ before ratio."""
    pairs = [(b, a) for b, a in zip(values["before"], values["after"]) if b and a]
    ratios = [a / b for b, a in pairs]
    stats = {"pairs": len(pairs), "ratios": ratios}
    for name in ("before", "after"):
        got = [v for v in values[name] if v]
        stats[name] = {"median": statistics.median(got), "min": min(got), "max": max(got)} if got else None
    if ratios:
        stats["ratio"] = {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}
    return stats


def markdown(results: dict[str, Any]) -> str:
    """The results as a Markdown page."""
    lines = [
        "# bpnn_xp before and after (paired, each run its own process)",
        "",
        f"Command: `{results['command']}`  ",
        f"Date: {results['date']}; before {results['trees']['before']}, after {results['trees']['after']}  ",
        f"Machine: {results['machine']}",
        "",
        "| section | before median (min–max) | after median (min–max) | after ÷ before, paired median (min–max) | pairs |",
        "|---|---:|---:|---:|---:|",
    ]
    for section, s in results["sections"].items():
        fmt = lambda d: f"{d['median']:,.0f} ({d['min']:,.0f}–{d['max']:,.0f})" if d else "failed"
        ratio = s.get("ratio")
        paired = f"{ratio['median']:.3f}x ({ratio['min']:.3f}–{ratio['max']:.3f})" if ratio else "n/a"
        lines.append(f"| {section} | {fmt(s['before'])} | {fmt(s['after'])} | {paired} | {s['pairs']} |")
    lines += ["", "Units: samples/s (mlp256, mlp1024), full-batch evaluations/s (course); higher is faster.", ""]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    results = measure(args)
    machine = machine_info()
    results.update(
        command="python -m benchmarks.compare_trees " + " ".join(sys.argv[1:] if argv is None else argv),
        date=dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        machine=machine if isinstance(machine, str) else json.dumps(machine),
    )
    out = RESULTS_DIR if args.write_results else args.out or Path(tempfile.mkdtemp(prefix="compare_trees_"))
    (out / "compare_trees.json").write_text(json.dumps(results, indent=2) + "\n")
    (out / "compare_trees.md").write_text(markdown(results))
    print(markdown(results))
    print(f"written to {out}", file=sys.stderr)
    return results


if __name__ == "__main__":
    main()
