#!/usr/bin/env bash
# Make wheelhouse/ for scripts/gpu_check.sh on a machine with a package index, to carry to an offline GPU machine.
#
#   bash scripts/make_wheelhouse.sh [FOLDER]                    # default: wheelhouse/ (ignored by git; ~6 MB)
#   BINARY_FOR=3.12 bash scripts/make_wheelhouse.sh [FOLDER]    # also SciPy, scikit-learn, matplotlib, Pillow
#                                                               # for that Python on x86-64 Linux (~80 MB more)
#
# It holds the project's wheel and the pure-Python wheels a CUDA image (CuPy, torch, numba, mpi4py, NumPy,
# SciPy, scikit-learn) usually lacks: array-api-compat, array-api-strict, typer and its dependencies (pydantic's
# binary core for CPython 3.10-3.13), pytest
# and hypothesis. gpu_check.sh installs only those whose distribution is missing there, so a newer copy on
# the image is never shadowed. Binary wheels (SciPy, scikit-learn...) are left out on purpose: they must
# match the image's Python, and the image has them.
set -euo pipefail
cd "$(dirname "$0")/.."
HOUSE=${1:-wheelhouse}
PY=${PYTHON:-python3}
mkdir -p "$HOUSE"
PURE=(array-api-compat array-api-strict typer click rich shellingham markdown-it-py mdurl pygments typing-extensions
      pytest pluggy iniconfig packaging hypothesis attrs sortedcontainers mlxtend joblib threadpoolctl)
# Each for every CPython an image may have (some wheels are per version: hypothesis, pydantic's core); typer
# with its dependencies, since pydantic pins its binary core. gpu_check_tools.py installs the newest that fits.
PLATFORMS=(--platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64)
for version in 3.10 3.11 3.12 3.13; do
    FOR=(--only-binary=:all: --python-version "$version" --implementation cp "${PLATFORMS[@]}" --dest "$HOUSE")
    "$PY" -m pip download --disable-pip-version-check -q --no-deps "${FOR[@]}" "${PURE[@]}"
    "$PY" -m pip download --disable-pip-version-check -q "${FOR[@]}" typer
done
if [ -n "${BINARY_FOR:-}" ]; then  # for an image without them: they must match its Python, hence the version
    BINARY=(scipy scikit-learn matplotlib pillow contourpy kiwisolver fonttools cycler pyparsing python-dateutil six)
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: --python-version "$BINARY_FOR" \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        --dest "$HOUSE" "${BINARY[@]}"
fi
"$PY" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation --wheel-dir "$HOUSE" .
ls -la "$HOUSE"
du -sh "$HOUSE"
