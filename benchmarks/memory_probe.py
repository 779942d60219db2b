"""Peak memory of one system's benchmark run, in a fresh worker process so systems never share a peak.

    python -m benchmarks.memory_probe "torch eager" --section mlp256 [--quick]

Prints one JSON line: the system, its peak RSS (VmHWM, MB) and its samples/s. train_throughput records
the same peak RSS for every run; this is the one-off probe.
"""

from __future__ import annotations

import argparse
import json
import tempfile
from pathlib import Path

from benchmarks.common import full_configs, prepare_data, quick_configs
from benchmarks.runner import run_process, worker_command
from benchmarks.worker import SYSTEMS


def main(argv: list[str] | None = None) -> dict[str, object]:
    """Run the system once in a worker and print its peak RSS."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("system", choices=SYSTEMS)
    parser.add_argument("--section", default="mlp256", choices=("mlp256", "mlp1024", "course"))
    parser.add_argument("--quick", action="store_true", help="tiny sizes")
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args(argv)
    config = (quick_configs() if args.quick else full_configs())[args.section]
    with tempfile.TemporaryDirectory(prefix="bpnn_probe_") as tmp:
        prepare_data(Path(tmp))
        cmd = worker_command(args.system, args.section, config, Path(tmp), args.device, args.quick)
        run = run_process(args.section, args.system, cmd, 600, 0)
    result = {"system": args.system, "section": args.section, "ok": run.ok, "peak_rss_mb": run.detail.get("peak_rss_mb"),
              "rate": run.value, "reason": run.reason}  # fmt: skip
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
