"""The house's arrows (docs/architecture.md): which part may import which, and no import circle
between modules. Read from the source with ``ast``, imports inside functions included."""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PARTS = ("common", "flows", "storage", "workers", "gateway")
MAY_IMPORT = {
    "common": set(),
    "flows": {"common"},
    "storage": {"common"},
    "workers": {"storage", "common"},
    "gateway": {"flows", "storage", "workers", "common"},
}


def _modules() -> dict[str, Path]:
    found = {}
    for part in PARTS:
        for path in (ROOT / part).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic's scripts, run by Alembic
            name = ".".join(path.relative_to(ROOT).with_suffix("").parts)
            found[name.removesuffix(".__init__")] = path
    return found


def _imports(name: str, path: Path, known: set[str]) -> Iterator[str]:
    """The modules of ours that ``name`` imports (``from a import b`` counts as ``a.b`` when
    ``a.b`` is a module, else as ``a``)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                base = ".".join(package.split(".")[: len(package.split(".")) - node.level + 1])
                base = f"{base}.{node.module}" if node.module else base
            targets = [f"{base}.{alias.name}" for alias in node.names]
            targets = [t if t in known else base for t in targets]
        else:
            continue
        yield from (t for t in targets if t in known)


def _graph() -> dict[str, set[str]]:
    modules = _modules()
    known = set(modules)
    return {name: set(_imports(name, path, known)) - {name} for name, path in modules.items()}


def test_parts_import_only_what_they_may() -> None:
    wrong = sorted(
        f"{module} imports {target}"
        for module, targets in _graph().items()
        for target in targets
        if (part := module.split(".")[0]) != (other := target.split(".")[0])
        and other not in MAY_IMPORT[part]
    )
    assert wrong == []


def test_no_import_circle_between_modules() -> None:
    graph = _graph()
    # A package's __init__ that re-exports its own modules is not a circle of the house.
    edges = {
        module: {t for t in targets if not module.startswith(t + ".")}
        for module, targets in graph.items()
    }
    circles = []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in sorted(edges.get(module, ())):
            if state.get(target) == 1:
                circles.append(" -> ".join([*path[path.index(target) :], target]))
            elif target not in state:
                visit(target, [*path, target])
        state[module] = 2

    for module in sorted(edges):
        if module not in state:
            visit(module, [module])
    assert circles == []


def test_the_checker_sees_imports() -> None:
    """A check that found no imports would pass for any house."""
    graph = _graph()
    assert "storage.db" in graph["gateway.runtime"]
    assert "flows.engine" in graph["flows.actions"]
