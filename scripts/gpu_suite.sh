#!/usr/bin/env bash
# The GPU suite in one command, for a machine with an NVIDIA GPU, CuPy and torch installed:
# CuPy tests (marker gpu) and the benchmark against torch eager and torch.compile(reduce-overhead).
# Results land in benchmarks/results/train_throughput_cuda.{json,md}.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e ".[test]" --no-deps
python -c "import cupy; print('CuPy', cupy.__version__, 'GPUs:', cupy.cuda.runtime.getDeviceCount())"
python -m pytest -q -m gpu
python -m benchmarks.train_throughput --device cuda --write-results
