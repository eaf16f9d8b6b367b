"""No import cycles between odspec's packages and top-level modules.

The graph has one node per top-level package (``datasets``, ``records``, ...) or
module (``cli``, ``fast``, ...) of ``odspec``; an edge per import, at the top of a
module or inside a function (both run sooner or later), except those under
``if TYPE_CHECKING:``, which never run.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "odspec"
ROOT = "odspec"  # the node of odspec/__init__.py


def _node(dotted: str) -> str | None:
    """The package-level node a dotted ``odspec...`` name belongs to, None outside odspec."""
    parts = dotted.split(".")
    if parts[0] != "odspec":
        return None
    if len(parts) == 1:
        return ROOT
    return parts[1] if (PACKAGE / parts[1]).is_dir() or (PACKAGE / f"{parts[1]}.py").is_file() else ROOT


def _type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, module: str) -> Iterator[str]:
    """Dotted names ``tree`` imports, skipping ``if TYPE_CHECKING:`` bodies; ``module``: for relative imports."""
    for child in ast.iter_child_nodes(tree):
        if isinstance(child, ast.If) and _type_checking(child.test):
            for other in child.orelse:
                yield from _imports(other, module)
            continue
        if isinstance(child, ast.Import):
            yield from (alias.name for alias in child.names)
        elif isinstance(child, ast.ImportFrom):
            base = child.module or ""
            if child.level:
                anchor = module.split(".")[: -child.level]
                base = ".".join([*anchor, base] if base else anchor)
            yield base
            yield from (f"{base}.{alias.name}" for alias in child.names)
        yield from _imports(child, module)


def _graph() -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        source = _node(module) or ROOT
        targets = graph.setdefault(source, set())
        for name in _imports(ast.parse(path.read_text(encoding="utf-8")), module if parts[-1] != "__init__"
                             else f"{module}.__init__"):
            target = _node(name)
            if target is not None and target != source:
                targets.add(target)
    return graph


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == 1:
                return [*path[path.index(target):], target]
            if target not in state and (found := visit(target)) is not None:
                return found
        path.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)) is not None:
            return found
    return None


def test_the_graph_sees_function_level_imports_and_skips_type_checking() -> None:
    tree = ast.parse("from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    import odspec.spec\n"
                     "def f():\n    from odspec.compile import render\n")
    names = set(_imports(tree, "odspec.x"))
    assert "odspec.compile.render" in names and "odspec.spec" not in names


def test_the_cycle_finder_names_the_cycle() -> None:
    assert _cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None


def test_no_import_cycles_between_packages_and_top_level_modules() -> None:
    graph = _graph()
    assert {"cli", "datasets", "records", "spec", "compile"} <= set(graph)
    cycle = _cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


LAZY = {"optuna": {"odspec/tune/study.py", "odspec/tune/loop.py"}}  # imported only inside functions, and only by these modules


def _module_level_imports(tree: ast.Module) -> Iterator[str]:
    """Names imported when the module is imported: its top level and the ``else`` of ``if TYPE_CHECKING``."""
    for child in tree.body:
        body = child.orelse if isinstance(child, ast.If) and _type_checking(child.test) else [child]
        for node in body:
            if isinstance(node, ast.Import):
                yield from (alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and not node.level:
                yield node.module or ""


def test_optuna_is_imported_lazily_and_only_by_the_study_module() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        relative = path.relative_to(PACKAGE.parent).as_posix()
        every = {name.split(".")[0] for name in _imports(tree, "odspec.x")}
        at_top = {name.split(".")[0] for name in _module_level_imports(tree)}
        for package, allowed in LAZY.items():
            assert package not in at_top, f"{relative} imports {package} at module level"
            assert package not in every or relative in allowed, f"{relative} imports {package}"
    study = ast.parse((PACKAGE / "tune" / "study.py").read_text(encoding="utf-8"))
    assert "optuna" in {name.split(".")[0] for name in _imports(study, "odspec.tune.study")}  # the test sees it
