"""The layers and the import graph: engine <- app, engine <- valgrad; no cycles; the engine used through its surface.

Imports are read from the source (module level, outside ``if TYPE_CHECKING:``), so the test sees what a
reader sees: an import inside a function is deferred on purpose and does not count.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("engine", "app", "valgrad")
# what app and valgrad may import from the engine: its namespace, the optional compiled tier, the op functions
ENGINE_SURFACE = {"engine", "engine.compiled", "engine.ops"}


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            parts = path.relative_to(ROOT).with_suffix("").parts
            found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


MODULES = _modules()


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or \
        (isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(tree: ast.Module) -> list[str]:
    """Modules imported at module level; ``from a import b`` is ``a.b`` when that is a module, else ``a``."""
    names: list[str] = []
    stack: list[ast.stmt] = list(tree.body)
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and not _is_type_checking(node):
            stack.extend(node.body + node.orelse)
        elif isinstance(node, ast.Try):
            stack.extend(node.body + node.orelse + node.finalbody)
        elif isinstance(node, ast.Import):
            names.extend(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                full = f"{node.module}.{alias.name}"
                names.append(full if full in MODULES else node.module)
    return [n for n in names if n.split(".")[0] in PACKAGES]


IMPORTS = {name: _top_level_imports(ast.parse(path.read_text(encoding="utf-8"))) for name, path in MODULES.items()}


def test_the_import_graph_has_no_cycles() -> None:
    done: set[str] = set()

    def visit(name: str, path: list[str]) -> None:
        if name in path:
            raise AssertionError("import cycle: " + " -> ".join([*path[path.index(name):], name]))
        if name in done or name not in IMPORTS:
            return
        for imported in IMPORTS[name]:
            if imported != name.rsplit(".", 1)[0] or name.count(".") == 0:  # a package's own __init__ runs first
                visit(imported, [*path, name])
        done.add(name)

    for module in sorted(IMPORTS):
        visit(module, [])


@pytest.mark.parametrize(("layer", "forbidden"), [("engine", ("app", "valgrad")), ("app", ("valgrad",))])
def test_lower_layers_never_import_higher_ones(layer: str, forbidden: tuple[str, ...]) -> None:
    offenders = [(m, i) for m, imports in IMPORTS.items() if m.split(".")[0] == layer
                 for i in imports if i.split(".")[0] in forbidden]
    assert offenders == []


@pytest.mark.parametrize("layer", ["app", "valgrad"])
def test_the_service_and_the_sdk_use_the_engine_through_its_surface(layer: str) -> None:
    reaching_in = [(m, i) for m, imports in IMPORTS.items() if m.split(".")[0] == layer
                   for i in imports if i.split(".")[0] == "engine" and i not in ENGINE_SURFACE]
    assert reaching_in == []


def test_engine_modules_never_import_the_engine_namespace() -> None:
    # engine/__init__.py imports the submodules; a submodule importing it back would see it half-initialised
    inward = [m for m, imports in IMPORTS.items() if m.startswith("engine.") and "engine" in imports]
    assert inward == []
