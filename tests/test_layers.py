"""The layers show in the imports: backends <- engine <- data <- app layer, arrows pointing down only.

Checked by parsing every module (nothing is imported to check it): the engine names no array library
and nothing from the app layer; no module imports the package root; the CLI imports only the app layer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "bpnn_xp"
ARRAY_LIBRARIES = {"numpy", "cupy", "cupyx", "torch", "array_api_strict", "jax"}
APP_LAYER = {"settings", "config", "workflow", "checkpoint", "reports", "plots", "cli", "files", "course", "sklearn", "ranking",
             "sweep", "estimator_base", "estimator_runs", "models", "runs", "cli_common", "cli_saved", "cli_sweep", "model_meta",
             "export", "onnx_export", "serve", "sweep_folder", "sweep_report", "estimator_params", "cli_tools"}
CLI_MAY_IMPORT = {"workflow", "cli_common", "cli_saved", "cli_sweep", "models", "runs", "settings", "config", "errors", "checks",
                  "reports", "plots", "backends", "sweep", "sweep_report", "export", "serve", "cli_tools"}


def module_name(path: Path) -> str:
    """'engine.network' for bpnn_xp/engine/network.py."""
    return ".".join(path.relative_to(PACKAGE).with_suffix("").parts).removesuffix(".__init__")


def imports(path: Path) -> tuple[set[str], set[str]]:
    """(external top-level packages, bpnn_xp modules) a file imports; '' stands for the package root."""
    tree = ast.parse(path.read_text(), filename=str(path))
    package = module_name(path).split(".")[:-1] if path.name != "__init__.py" else module_name(path).split(".")
    package = [p for p in package if p]
    external, internal = set(), set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                root, _, rest = alias.name.partition(".")
                (internal.add(rest) if root == "bpnn_xp" else external.add(root))
        elif isinstance(node, ast.ImportFrom):
            if node.level == 0:
                root, _, rest = (node.module or "").partition(".")
                if root != "bpnn_xp":
                    external.add(root)
                    continue
                base = rest.split(".") if rest else []
            else:
                base = package[: len(package) - (node.level - 1)] + (node.module.split(".") if node.module else [])
            target = ".".join(base)
            if node.module is None or (node.level == 0 and not rest):  # from . import x / from bpnn_xp import x
                internal.update(f"{target}.{a.name}".strip(".") if _is_module(target, a.name) else target for a in node.names)
            else:
                internal.add(target)
    return external, internal


def _is_module(package: str, name: str) -> bool:
    folder = PACKAGE.joinpath(*package.split(".")) if package else PACKAGE
    return (folder / f"{name}.py").is_file() or (folder / name / "__init__.py").is_file()


MODULES = sorted(p for p in PACKAGE.rglob("*.py"))
ENGINE = [p for p in MODULES if module_name(p).startswith("engine")]


@pytest.mark.parametrize("path", ENGINE, ids=module_name)
def test_engine_imports_no_array_library_and_nothing_above_it(path):
    external, internal = imports(path)
    assert not external & ARRAY_LIBRARIES, f"{module_name(path)} imports {external & ARRAY_LIBRARIES}; take xp from the inputs"
    above = {m for m in internal if m.split(".")[0] in APP_LAYER | {"data", "cli"}}
    assert not above, f"{module_name(path)} imports {above} from a layer above the engine"


@pytest.mark.parametrize("path", [p for p in MODULES if p != PACKAGE / "__init__.py"], ids=module_name)
def test_no_module_imports_the_package_root(path):
    _, internal = imports(path)
    assert "" not in internal, f"{module_name(path)} imports the bpnn_xp package root; import the module it needs"


@pytest.mark.parametrize("path", [p for p in MODULES if module_name(p).startswith(("backends", "data"))], ids=module_name)
def test_lower_layers_do_not_reach_up(path):
    _, internal = imports(path)
    layer = module_name(path).split(".")[0]
    allowed = {"errors", "checks", "backends"} | ({"data"} if layer == "data" else set())
    bad = {m for m in internal if m.split(".")[0] not in allowed}
    assert not bad, f"{module_name(path)} ({layer}) imports {bad}"


def test_cli_imports_only_the_app_layer():
    _, internal = imports(PACKAGE / "cli.py")
    bad = {m for m in internal if m.split(".")[0] not in CLI_MAY_IMPORT}
    assert not bad, f"cli imports {bad}; go through workflow/config instead"


def test_the_checker_can_fail(tmp_path):
    """A module that imports numpy, the package root and the CLI is caught on all three counts."""
    fake = tmp_path / "bpnn_xp"
    (fake / "engine").mkdir(parents=True)
    (fake / "cli.py").write_text("")
    bad = fake / "engine" / "bad.py"
    bad.write_text("import numpy as np\nfrom .. import __version__\nfrom ..cli import app\nfrom .network import Network\n")
    globals()["PACKAGE"], saved = fake, PACKAGE
    try:
        external, internal = imports(bad)
    finally:
        globals()["PACKAGE"] = saved
    assert "numpy" in external and "" in internal and "cli" in internal and "engine.network" in internal
