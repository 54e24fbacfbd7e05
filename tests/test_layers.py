"""Imports run one way, down the layers documented in ``unlearnlab/__init__.py``: every
``import unlearnlab...`` in the source, at module level or inside a function."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import unlearnlab

ROOT = Path(unlearnlab.__file__).parent
FOUNDATION = ("errors", "io", "registry", "grid", "external")
LAYERS = (
    "worlds",
    "corpus",
    "models",
    "substrate",
    "probes",
    "methods",
    "attacks",
    "report",
    "experiments",
    "cli",
)


def _rank(part: str) -> int:
    """0 for the foundation, else 1 + the layer's index."""
    return 0 if part in FOUNDATION else 1 + LAYERS.index(part)


def _imports(path: Path) -> list[str]:
    """Every ``unlearnlab.*`` module ``path`` imports, anywhere in it."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            found.append(node.module)
        elif isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
    return [name for name in found if name.startswith("unlearnlab.")]


def _layered_modules() -> list[Path]:
    """Every module but the package's own ``__init__`` and ``__main__`` (the entry point)."""
    top = ("__init__.py", "__main__.py")
    return sorted(p for p in ROOT.rglob("*.py") if p.relative_to(ROOT).as_posix() not in top)


def _upward(path: Path) -> list[str]:
    """The imports of ``path`` that reach a layer above its own."""
    relative = path.relative_to(ROOT)
    own = _rank(relative.parts[0] if len(relative.parts) > 1 else path.stem)
    return [
        name
        for name in _imports(path)
        if _rank(name.split(".")[1]) > own
    ]


def test_every_module_belongs_to_a_layer() -> None:
    for path in _layered_modules():
        relative = path.relative_to(ROOT)
        top = relative.parts[0] if len(relative.parts) > 1 else path.stem
        assert top in FOUNDATION or top in LAYERS, f"{relative}: add it to a layer"


@pytest.mark.parametrize("path", _layered_modules(), ids=lambda p: p.relative_to(ROOT).as_posix())
def test_imports_go_down_the_layers(path: Path) -> None:
    assert _upward(path) == []


def test_model_layers_never_import_experiments_or_the_report() -> None:
    lower = ("worlds", "corpus", "models", "substrate", "probes", "methods", "attacks")
    offending = [
        f"{path.relative_to(ROOT)}: {name}"
        for layer in lower
        for path in (ROOT / layer).rglob("*.py")
        for name in _imports(path)
        if name.startswith(("unlearnlab.experiments", "unlearnlab.report"))
    ]
    assert offending == []


def test_an_upward_import_inside_a_function_is_found(tmp_path: Path) -> None:
    module = tmp_path / "methods" / "sneaky.py"
    module.parent.mkdir()
    module.write_text("def f():\n    from unlearnlab.experiments.config import load_config\n")
    assert _imports(module) == ["unlearnlab.experiments.config"]


def test_no_source_file_is_over_400_lines() -> None:
    long = {
        str(p.relative_to(ROOT)): n
        for p in ROOT.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 400
    }
    assert long == {}
