#!/usr/bin/env bash
# Make wheelhouse/ for scripts/gpu_check.sh on a machine with a package index, to carry to an offline GPU machine.
#
#   bash scripts/make_wheelhouse.sh [FOLDER]                    # default: wheelhouse/ (ignored by git; ~6 MB)
#   BINARY_FOR=3.12 bash scripts/make_wheelhouse.sh [FOLDER]    # also SciPy, scikit-learn, matplotlib, Pillow
#                                                               # for that Python on x86-64 Linux (~80 MB more)
#
# It holds the project's wheel and the pure-Python wheels a CUDA image (CuPy, torch, numba, mpi4py, NumPy,
# SciPy, scikit-learn) usually lacks: array-api-compat, array-api-strict, typer and its dependencies, pytest
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
"$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: --dest "$HOUSE" "${PURE[@]}"
if [ -n "${BINARY_FOR:-}" ]; then  # for an image without them: they must match its Python, hence the version
    BINARY=(scipy scikit-learn matplotlib pillow contourpy kiwisolver fonttools cycler pyparsing python-dateutil six)
    "$PY" -m pip download --disable-pip-version-check -q --no-deps --only-binary=:all: --python-version "$BINARY_FOR" \
        --platform manylinux2014_x86_64 --platform manylinux_2_17_x86_64 --platform manylinux_2_28_x86_64 \
        --dest "$HOUSE" "${BINARY[@]}"
fi
"$PY" -m pip wheel --disable-pip-version-check -q --no-deps --no-build-isolation --wheel-dir "$HOUSE" .
ls -la "$HOUSE"
du -sh "$HOUSE"
