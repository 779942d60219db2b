#!/usr/bin/env bash
# The whole GPU story in one command, on a bare offline machine (CuPy 14, torch, numba, mpi4py; no package index):
#
#   bash scripts/gpu_check.sh                  # --device cuda: every stage, under 7 minutes
#   bash scripts/gpu_check.sh --device cpu --short   # CI: proves the script; GPU stages say "skipped: no GPU"
#
# Stages, each with its own time limit (and all within BUDGET_S): environment (nvidia-smi, bpnn devices),
# install (missing wheels from a wheelhouse, else PYTHONPATH=.), gpu-marked tests, scikit-learn's CuPy/CUDA
# estimator checks, NumPy vs CuPy in float64 and float32, bpnn train/evaluate/predict with --device cuda and
# auto, mpiexec -n 2 with the host reduce on one GPU, a 1-rank NCCL allreduce, and the GPU benchmark.
# Results: gpu_check.json + gpu_check.md (stage, status, seconds), logs/, and the benchmark's JSON + Markdown,
# in $OUT if set, else benchmarks/results/ (--device cuda) or a temp folder (--device cpu).
# Wheelhouse (pure-Python wheels the image lacks, e.g. array-api-compat): $BPNN_WHEELHOUSE, shared/wheelhouse
# or wheelhouse/, made on a connected machine by scripts/make_wheelhouse.sh. Only wheels whose distribution is
# not installed are installed (pip --no-index --no-deps --no-build-isolation --target), so the image's own
# packages are never shadowed.
set -uo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE=cuda
SHORT=0
BUDGET_S=${BUDGET_S:-400}
while [ $# -gt 0 ]; do
    case "$1" in
        --device) DEVICE=$2; shift 2 ;;
        --short) SHORT=1; shift ;;
        --budget) BUDGET_S=$2; shift 2 ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "gpu_check.sh: unknown option $1 (use --device cuda|cpu, --short, --budget SECONDS)" >&2; exit 2 ;;
    esac
done
case "$DEVICE" in cuda|cuda:*|cpu) ;; *) echo "gpu_check.sh: --device must be cuda, cuda:N or cpu" >&2; exit 2 ;; esac
PY=${PYTHON:-python3}
if [ -z "${OUT:-}" ]; then
    if [ "$DEVICE" = cpu ]; then OUT=$(mktemp -d -t bpnn-gpu-check-XXXXXX); else OUT=$ROOT/benchmarks/results; fi
fi
mkdir -p "$OUT/logs"
WORK=$(mktemp -d -t bpnn-gpu-check-work-XXXXXX)
STAGES=$WORK/stages.tsv
: > "$STAGES"
START=$(date +%s)
export PYTHONPATH="$ROOT:$WORK/site${PYTHONPATH:+:$PYTHONPATH}" OMP_NUM_THREADS=${OMP_NUM_THREADS:-2} PYTHONUNBUFFERED=1
export PY WORK ROOT
GPU=0
[ "$DEVICE" != cpu ] && GPU=1

# stage NAME LIMIT_S NEEDS(gpu|any) COMMAND...: run with a time limit (capped by what is left of the budget), log, record.
stage() {
    local name=$1 limit=$2 needs=$3; shift 3
    local log="$OUT/logs/${name//[^A-Za-z0-9._-]/_}.log" left status begun seconds
    left=$(( BUDGET_S - ($(date +%s) - START) ))
    if [ "$needs" = gpu ] && [ $GPU = 0 ]; then
        printf '%s\t%s\t0\t%s\t%s\n' "$name" "skipped: no GPU" "$limit" "-" >> "$STAGES"
        echo "== $name: skipped: no GPU"; return 0
    fi
    if [ "$left" -lt 10 ]; then
        printf '%s\t%s\t0\t%s\t%s\n' "$name" "SKIPPED: time budget spent" "$limit" "-" >> "$STAGES"
        echo "== $name: SKIPPED: the ${BUDGET_S}s budget is spent"; return 0
    fi
    [ "$limit" -gt "$left" ] && limit=$left
    echo "== $name (limit ${limit}s)"
    begun=$(date +%s.%N)
    timeout --kill-after=5 "$limit" bash -c '"$@"' "$name" "$@" > "$log" 2>&1
    status=$?
    seconds=$(awk -v a="$begun" -v b="$(date +%s.%N)" 'BEGIN{printf "%.1f", b - a}')
    tail -n 15 "$log" | sed 's/^/   /'
    case $status in
        0) status=pass ;;
        77) status="skipped: $(tail -n 1 "$log")" ;;  # a stage that cannot run here says why on its last line
        124|137) status="TIMEOUT after ${limit}s" ;;
        *) status="FAIL (exit $status)" ;;
    esac
    printf '%s\t%s\t%s\t%s\t%s\n' "$name" "$status" "$seconds" "$limit" "$log" >> "$STAGES"
}

environment() {
    if command -v nvidia-smi > /dev/null; then nvidia-smi; else echo "nvidia-smi: not found (no NVIDIA driver here)"; fi
    "$PY" --version
    "$PY" -m bpnn_xp devices
}

install_wheels() {
    local house=""
    for candidate in "${BPNN_WHEELHOUSE:-}" shared/wheelhouse wheelhouse; do
        if [ -n "$candidate" ] && compgen -G "$candidate/*.whl" > /dev/null; then house=$candidate; break; fi
    done
    if [ -z "$house" ]; then
        echo "no wheelhouse (BPNN_WHEELHOUSE, shared/wheelhouse, wheelhouse/): using PYTHONPATH=. and what is installed"
    else
        mapfile -t missing < <("$PY" scripts/gpu_check_tools.py missing-wheels "$house")
        echo "wheelhouse $house: installing ${#missing[@]} missing wheel(s) into $WORK/site"
        if [ ${#missing[@]} -gt 0 ]; then
            "$PY" -m pip install --no-index --no-deps --no-build-isolation --disable-pip-version-check -q \
                --target "$WORK/site" "${missing[@]}" || return 1
        fi
    fi
    "$PY" -c "import array_api_compat, typer, bpnn_xp; print('bpnn_xp imports from', bpnn_xp.__file__)"
}

gpu_probe() {  # the trial computation --device cuda makes; every GPU stage after it means something only if it passes
    "$PY" -c "import sys; from bpnn_xp.backends import gpu_probe; p = gpu_probe.cuda_problem(int(sys.argv[1])); \
print(p or 'cuda:%s computes correctly' % sys.argv[1]); sys.exit(1 if p else 0)" "$GPU_INDEX"
}

pytest_on_gpu() {  # pytest, failing when the CUDA variants skipped (a skipped GPU test proves nothing)
    local log="$WORK/pytest-$RANDOM.log"
    "$PY" -m pytest -q -rs -p no:cacheprovider "$@" 2>&1 | tee "$log"
    local status=${PIPESTATUS[0]}
    if grep -qE "no usable CUDA GPU|CuPy is not installed|needs torch on a CUDA GPU" "$log"; then
        echo "CUDA variants were skipped: this stage did not test the GPU"; return 1
    fi
    return "$status"
}

cli_end_to_end() {  # cli_end_to_end DEVICE EXPECTED: train, evaluate, predict; training must have run on EXPECTED
    local dev=$1 expected=$2 run="$WORK/run-${1//:/_}"
    "$PY" -m bpnn_xp train --dataset digits --epochs 2 --device "$dev" --out "$run" --quiet --json > "$run.train.json" || return 1
    "$PY" -c "import json,sys; m=json.load(open(sys.argv[1])); print('trained on', m['device'], 'val acc', m['val_accuracy']); \
sys.exit(0 if m['device'] == sys.argv[2] else 'expected ' + sys.argv[2])" "$run.train.json" "$expected" || return 1
    "$PY" -m bpnn_xp evaluate "$run" --device "$dev" --json > "$run.eval.json" || return 1
    "$PY" -c "import numpy as np; from sklearn.datasets import load_digits; np.save('$run.x.npy', load_digits().data[:4].astype('float32'))"
    "$PY" -m bpnn_xp predict "$run" "$run.x.npy" --device "$dev" || return 1
}

find_mpiexec() {
    local beside
    beside="$(dirname "$("$PY" -c 'import sys; print(sys.executable)')")/mpiexec"
    if [ -x "$beside" ]; then echo "$beside"; else command -v mpiexec; fi
}

mpi_two_ranks() {
    local mpiexec dev=$1
    mpiexec=$(find_mpiexec) || { echo "no mpiexec beside Python or on PATH"; return 77; }
    "$mpiexec" -n 2 "$PY" -m bpnn_xp train --dataset digits --epochs 2 --device "$dev" --gpu-reduce host \
        --out "$WORK/mpi-run" --quiet --json
}

nccl_one_rank() {
    local mpiexec
    mpiexec=$(find_mpiexec) || { "$PY" scripts/gpu_check_tools.py nccl; return; }
    "$mpiexec" -n 1 "$PY" scripts/gpu_check_tools.py nccl
}

GPU_INDEX=${DEVICE#cuda}; GPU_INDEX=${GPU_INDEX#:}; GPU_INDEX=${GPU_INDEX:-0}
export DEVICE GPU_INDEX
export -f environment install_wheels gpu_probe pytest_on_gpu cli_end_to_end find_mpiexec mpi_two_ranks nccl_one_rank
stage "install" 60 any install_wheels  # first: the environment stage runs bpnn devices, which needs what it installs
stage "environment" 60 any environment
stage "gpu probe" 30 gpu gpu_probe
stage "gpu tests" 120 gpu pytest_on_gpu --maxfail=10 -m gpu
stage "sklearn cupy-cuda checks" 60 gpu pytest_on_gpu tests/app/test_sklearn_estimator.py -k "cupy or cuda"
stage "numpy vs cupy" 60 gpu "$PY" scripts/gpu_check_tools.py compare --device "$DEVICE"
stage "cli cuda" 60 gpu cli_end_to_end "$DEVICE" "cuda:$GPU_INDEX"
stage "cli auto" 45 gpu cli_end_to_end auto cuda:0
stage "mpiexec 2 ranks, host reduce, one GPU" 60 gpu mpi_two_ranks cuda
stage "nccl 1-rank allreduce" 30 gpu nccl_one_rank
stage "benchmark" 200 gpu "$PY" -m benchmarks.gpu_throughput --device "$DEVICE" --out "$OUT"
if [ $GPU = 0 ]; then  # CPU stand-ins prove the script's own steps; they are named as such, never as the GPU stages
    stand_in=torch
    "$PY" -c "import array_api_strict" 2> /dev/null && stand_in=array-api-strict:device1
    stage "numpy vs $stand_in (cpu stand-in)" 60 any "$PY" scripts/gpu_check_tools.py compare --device "$stand_in"
    stage "cli cpu and auto (cpu stand-in)" 90 any bash -c 'cli_end_to_end cpu cpu && cli_end_to_end auto cpu'
    stage "mpiexec 2 ranks, host reduce (cpu stand-in)" 60 any mpi_two_ranks cpu
    bench=(--device cpu --out "$OUT" --systems "bpnn_xp,torch eager")
    [ $SHORT = 1 ] && bench+=(--quick)
    stage "benchmark (cpu stand-in)" 120 any "$PY" -m benchmarks.gpu_throughput "${bench[@]}"
fi
"$PY" scripts/gpu_check_tools.py report "$STAGES" "$OUT" --device "$DEVICE" --budget "$BUDGET_S"
echo "results: $OUT/gpu_check.json, $OUT/gpu_check.md, logs in $OUT/logs"
failed=0
cut -f2 "$STAGES" | grep -qE '^(FAIL|TIMEOUT)' && failed=1
rm -rf "$WORK"
exit $failed
