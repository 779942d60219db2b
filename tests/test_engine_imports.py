"""Engine modules must not import an array library by name: they take xp from their inputs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bpnn_xp"
ENGINE_MODULES = ["activations", "costs", "network", "optimizers", "gradcheck", "training", "scipy_optimize", "initializers"]
FORBIDDEN = {"numpy", "cupy", "torch", "array_api_strict", "cupyx"}


def imported_roots(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            roots.add(node.module.split(".")[0])
    return roots


@pytest.mark.parametrize("module", ENGINE_MODULES)
def test_engine_module_imports_no_array_library(module):
    bad = imported_roots(PACKAGE / f"{module}.py") & FORBIDDEN
    assert not bad, f"bpnn_xp/{module}.py imports {sorted(bad)}; take xp from the inputs (array_namespace) instead"


def test_the_check_catches_an_import(tmp_path):
    """The checker itself can fail: a module that imports numpy is flagged."""
    bad = tmp_path / "bad.py"
    bad.write_text("import numpy as np\nfrom cupy import asarray\n")
    assert imported_roots(bad) & FORBIDDEN == {"numpy", "cupy"}
