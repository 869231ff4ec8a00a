"""Imports go one way: the graph of galfm's modules (every import that runs, at module level or inside a function;
not ``if TYPE_CHECKING:`` annotations) has no cycle, and the model files never import the training, data or
command-line layers."""

from __future__ import annotations

import ast
import importlib.util
import pkgutil
from pathlib import Path

PACKAGES = ("galfm", "galfm.datasets_scripts", "galfm.datasets_scripts.simulator", "galfm.training",
            "galfm.model_cards")  # pyproject's packages (an editable install maps each to its own folder)


def _modules() -> dict[str, Path]:
    found = {}
    for package in PACKAGES:
        spec = importlib.util.find_spec(package)
        found[package] = Path(spec.origin)
        for info in pkgutil.iter_modules(spec.submodule_search_locations):
            if not info.ispkg:
                found[f"{package}.{info.name}"] = Path(spec.submodule_search_locations[0]) / f"{info.name}.py"
    return found


def _imports(name: str, path: Path, known: set[str]) -> set[str]:
    """galfm modules ``name`` imports (``from galfm.x import y`` counts galfm.x.y when that is a module)."""
    package = name if path.name == "__init__.py" else name.rsplit(".", 1)[0]
    out = set()
    tree = ast.parse(path.read_text())
    type_only = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
                 for n in ast.walk(block)}  # `if TYPE_CHECKING:` imports never run
    for node in ast.walk(tree):
        if id(node) in type_only:
            continue
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1]
                base = ".".join(parts + ([base] if base else []))
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in known else base for alias in node.names]
        else:
            continue
        out.update(t for t in targets if t in known and t != name)
    return out


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    return {name: _imports(name, path, set(modules)) for name, path in modules.items()}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for neighbour in sorted(graph[node]):
            if state.get(neighbour) == 1:
                return stack[stack.index(neighbour):] + [neighbour]
            if neighbour not in state and (found := visit(neighbour)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in sorted(graph):
        if node not in state and (found := visit(node)):
            return found
    return None


def test_the_installed_package_has_no_import_cycle():
    graph = _graph()
    assert len(graph) > 40  # the walk found the package
    cycle = _cycle(graph)
    assert cycle is None, " -> ".join(cycle)


def test_the_model_files_never_import_training_data_or_cli():
    """The modality, model and head modules travel with trust_remote_code folders: flat, and below the rest."""
    graph = _graph()
    model_files = [n for n in graph if n.count(".") == 1 and n not in ("galfm.cli",) and
                   not n.startswith(("galfm.training", "galfm.datasets_scripts", "galfm.model_cards"))]
    assert "galfm.modality_spectrum" in model_files and "galfm.heads_galfm" in model_files
    for name in model_files:
        upward = {t for t in graph[name] if t.startswith(("galfm.training", "galfm.datasets_scripts", "galfm.cli"))}
        assert not upward, f"{name} imports {sorted(upward)}"


def test_a_cycle_would_be_found():
    """The checker itself: a two-module loop is reported."""
    assert _cycle({"a": {"b"}, "b": {"a"}}) == ["a", "b", "a"]
    assert _cycle({"a": {"b"}, "b": set()}) is None
