"""The modules of clm_gui import each other one way: a module never needs, even late, one that needs it."""

from __future__ import annotations

import ast
import graphlib
import re
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "clm_gui"
ARCHITECTURE = PACKAGE.parent / "docs" / "architecture.md"
# In the mermaid graph: a node with its label, `core["config.py, ..."]`, and an arrow, `jobs[...] --> hosting`.
NODE = re.compile(r'(\w+)\["([^"]*)"\]')
ARROW = re.compile(r'^\s*(\w+)(?:\["[^"]*"\])?\s*-->\s*(\w+)', re.MULTILINE)


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(tree: ast.Module, known: set[str]) -> set[str]:
    """The clm_gui modules a module imports anywhere: at the top, inside functions, under `if`."""
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            # `from clm_gui.ui import tabs` imports the module clm_gui.ui.tabs; `from clm_gui.x import f`, clm_gui.x.
            submodules = {f"{node.module}.{alias.name}" for alias in node.names} & known
            found.update(submodules or {node.module})
    return {name for name in found if name in known}


def import_graph() -> dict[str, set[str]]:
    paths = sorted(PACKAGE.rglob("*.py"))
    known = {module_name(path) for path in paths}
    return {module_name(path): imported_modules(ast.parse(path.read_text(encoding="utf-8")), known) - {module_name(path)}
            for path in paths}


def test_the_import_graph_reads_imports_inside_functions_too():
    graph = import_graph()
    assert "clm_gui.ui.app" in graph["clm_gui.cli"]  # imported inside _run_app
    assert "clm_gui.ui.tabs" in graph["clm_gui.ui.app"]  # `from clm_gui.ui import tabs`, inside a function
    assert "clm_gui.errors" in graph["clm_gui.config"]


def test_no_module_of_clm_gui_imports_itself_through_others():
    try:
        order = list(graphlib.TopologicalSorter(import_graph()).static_order())
    except graphlib.CycleError as cycle:
        raise AssertionError(f"import cycle: {' -> '.join(cycle.args[1])}") from None
    assert "clm_gui.train.trainer" in order


def test_the_sub_packages_import_each_other_one_way():
    # Each sub-package (data, tokenizer, model, train, ...) and each top-level module is one node: the
    # folders are layers (docs/architecture.md), so none may need, even through others, one that needs it.
    def layer(module: str) -> str:
        return module.split(".")[1] if "." in module else module

    layers: dict[str, set[str]] = {}
    for module, imported in import_graph().items():
        layers.setdefault(layer(module), set()).update(layer(name) for name in imported if layer(name) != layer(module))
    try:
        order = list(graphlib.TopologicalSorter(layers).static_order())
    except graphlib.CycleError as cycle:
        raise AssertionError(f"sub-package cycle: {' -> '.join(cycle.args[1])}") from None
    layers_in_order = [order.index(name) for name in ("data", "tokenizer", "train", "jobs", "ui")]
    assert layers_in_order == sorted(layers_in_order)


def documented_layers() -> tuple[dict[str, set[str]], dict[str, str]]:
    """The layer graph drawn in docs/architecture.md: (node -> the nodes it points at, top-level module ->
    its node). A package's node is named for its folder (`ui["ui/ : ..."]`); the other nodes list files
    (`core["config.py, errors.py, ..."]`)."""
    graph = ARCHITECTURE.read_text(encoding="utf-8").split("```mermaid", 1)[1].split("```", 1)[0]
    arrows: dict[str, set[str]] = {}
    modules: dict[str, str] = {}
    for source, target in ARROW.findall(graph):
        arrows.setdefault(source, set()).add(target)
        arrows.setdefault(target, set())
    for node, label in NODE.findall(graph):
        if not label.startswith(f"{node}/"):
            modules.update({name: node for name in re.findall(r"(\w+)\.py", label)})
    return arrows, modules


def test_every_import_goes_down_the_layers_the_architecture_draws():
    # Not only no cycles: each import must follow the drawn arrows (directly or through lower layers), so
    # a new dependency against them, or a package or top-level module the drawing does not show, fails.
    arrows, modules = documented_layers()
    below = {node: set() for node in arrows}
    for node in graphlib.TopologicalSorter(arrows).static_order():  # lower layers first
        for target in arrows[node]:
            below[node] |= {target} | below[target]

    def node_of(module: str) -> str:
        parts = module.split(".")
        if len(parts) > 2 or (PACKAGE / parts[1]).is_dir():
            assert parts[1] in arrows, f"package clm_gui.{parts[1]} is not drawn in docs/architecture.md"
            return parts[1]
        assert parts[1] in modules, f"module {module} is not named in docs/architecture.md's graph"
        return modules[parts[1]]

    against = sorted(f"{module} imports {name} ({node_of(module)} -> {node_of(name)})"
                     for module, imported in import_graph().items() if module != "clm_gui"
                     for name in imported
                     if node_of(name) != node_of(module) and node_of(name) not in below[node_of(module)])
    assert against == []


def test_the_drawn_layers_are_read_from_the_architecture_page():
    arrows, modules = documented_layers()
    assert {"train", "tokenizer"} <= arrows["jobs"] | arrows["train"] and "data" in arrows["runs"]
    assert modules["config"] == modules["units"] == modules["hub"] == "core" and modules["cli"] == "cli"
