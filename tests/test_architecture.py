"""The package's shape, checked on its source (every import counts, inside functions too; the
lazy top-level ``routerrec/__init__.py`` is left out): no import circle, no module over 500
lines, no private name imported across modules, and dependencies that point one way between
the subpackages (docs/architecture.md)."""
from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "routerrec"
MAX_LINES = 500
# subpackage -> the subpackages it may import (besides itself); nothing imports cli
LAYERS = {
    "util": set(),
    "kernels": {"util"},
    "data": {"util", "kernels"},
    "methods": {"util", "kernels", "data"},
    "coldstart": {"util", "kernels", "data", "methods"},
    "routing": {"util", "kernels", "data", "methods"},
    "online": {"util", "kernels", "data", "methods", "coldstart", "routing"},
    "evaluation": {"util", "kernels", "data", "methods", "coldstart", "routing", "online"},
    "serve": {"util", "data", "routing", "online"},
    "cli": {"util", "kernels", "data", "methods", "coldstart", "routing", "online",
            "evaluation", "serve"},
}


def _modules() -> dict[str, Path]:
    mods = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        mods[".".join(parts)] = path
    return mods


MODULES = _modules()


def _imports(name: str, path: Path):
    """(imported module, imported name or None) for every import statement in the module."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            yield from ((a.name, None) for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            for a in node.names:
                full = f"{target}.{a.name}"
                yield (full, None) if full in MODULES else (target, a.name)


def _edges() -> dict[str, set[str]]:
    edges = {m: set() for m in MODULES}
    for m, path in MODULES.items():
        for target, _ in _imports(m, path):
            while target and target not in MODULES:
                target = target.rpartition(".")[0]
            if target and target not in (m, "routerrec"):
                edges[m].add(target)
    return edges


def _subpackage(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[1] in LAYERS else None


def test_no_import_circle():
    edges, seen, done, path = _edges(), set(), set(), []

    def visit(m):
        seen.add(m)
        path.append(m)
        for n in sorted(edges[m]):
            assert n not in path, "import circle: " + " -> ".join(path[path.index(n):] + [n])
            if n not in seen:
                visit(n)
        path.pop()
        done.add(m)

    for m in sorted(MODULES):
        if m != "routerrec" and m not in seen:
            visit(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_is_short(module):
    assert len(MODULES[module].read_text().splitlines()) <= MAX_LINES


def test_no_private_name_crosses_modules():
    crossing = [f"{m} imports {t}.{n}" for m, p in MODULES.items() for t, n in _imports(m, p)
                if n and n.startswith("_") and not n.startswith("__") and t != m]
    assert not crossing


def test_dependencies_point_one_way():
    wrong = []
    for m, targets in _edges().items():
        own = _subpackage(m)
        for t in targets:
            other = _subpackage(t)
            if own and other and other != own and other not in LAYERS[own]:
                wrong.append(f"{m} -> {t}")
            if own is None and other == "cli" and m != "routerrec":
                wrong.append(f"{m} -> {t}")
    assert not wrong, "imports against the layering of docs/architecture.md: " + ", ".join(wrong)


def test_every_subpackage_is_in_the_layering():
    folders = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert folders == set(LAYERS)
