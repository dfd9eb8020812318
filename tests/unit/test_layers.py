"""The package's import graph keeps its layers (docs/operator.md, "Where things live"):

    api  ->  cores (analysis, builders, forecasting, placement, planner, rollout, routers, slo, and the I/O
             adapters k8s, metrics_source, observability)  ->  reconcile  ->  handlers  ->  cli

A module may import its own layer or a lower one, never a higher one; no import cycle between
modules; and no import of the package's own modules inside a function (a cycle means a definition
lives in the wrong module; a lazy import is allowed only where listed below, with its reason).
Parsed with `ast`, so nothing is imported to check it.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "modelserve"

LAYERS = {
    "api": 0,
    "runtimes": 0,
    "analysis": 1,
    "builders": 1,
    "forecasting": 1,
    "placement": 1,
    "planner": 1,
    "rollout": 1,
    "routers": 1,
    "slo": 1,
    "k8s": 1,
    "storage": 1,
    "metrics_source": 1,
    "observability": 1,
    "reconcile": 2,
    "handlers": 3,
    "cli": 4,
}
# Outside the layering: the local control plane for tests and `make run`, and the package root.
UNLAYERED = {"localcluster", "__main__", "__init__"}

# Imports inside functions are allowed only in the command-line entry points, for their start-up time:
# each subcommand loads only what it runs (`modelserve render` and `--help` need neither kopf nor the
# kubernetes client; `kubectl modelserve forecast` alone needs statsmodels and matplotlib). Those lazy
# edges still count for the cycle check below, so they cannot hide a cycle.
LAZY_ALLOWED_IN = ("modelserve.cli.", "modelserve.localcluster.")


def module_name(path: Path) -> str:
    rel = path.relative_to(PACKAGE.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in PACKAGE.rglob("*.py")}


def resolve(current: str, is_package: bool, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    base = current.split(".")
    if not is_package:
        base = base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join([*base, node.module] if node.module else base)


def imports(path: Path, name: str, known: set[str]) -> tuple[set[str], set[str]]:
    """(module-level imports, imports inside functions) of package modules."""
    tree = ast.parse(path.read_text())
    top: set[str] = set()
    lazy: set[str] = set()

    def targets(node: ast.AST) -> set[str]:
        found: set[str] = set()
        if isinstance(node, ast.Import):
            found = {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = resolve(name, path.name == "__init__.py", node)
            submodules = {f"{base}.{a.name}" for a in node.names if f"{base}.{a.name}" in known}
            # `from pkg import submodule` (every name a submodule) depends on the submodules only.
            found = submodules if len(submodules) == len(node.names) else {base, *submodules}
        return {f for f in found if f.startswith("modelserve") and f in known}

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import | ast.ImportFrom):
                if _type_checking_only(child, tree):
                    continue
                (lazy if in_function else top).update(targets(child))
            visit(child, nested)

    visit(tree, False)
    return top, lazy


def _type_checking_only(node: ast.AST, tree: ast.Module) -> bool:
    for block in ast.walk(tree):
        if (
            isinstance(block, ast.If)
            and ast.unparse(block.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING")
            and any(node is n for stmt in block.body for n in ast.walk(stmt))
        ):
            return True
    return False


def layer(module: str) -> int | None:
    parts = module.split(".")
    if len(parts) < 2 or parts[1] in UNLAYERED:
        return None
    return LAYERS.get(parts[1])


def graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    found = modules()
    known = set(found)
    top: dict[str, set[str]] = {}
    lazy: dict[str, set[str]] = {}
    for name, path in found.items():
        top[name], lazy[name] = imports(path, name, known)
        top[name].discard(name)
    return top, lazy


def test_every_subpackage_has_a_layer() -> None:
    subpackages = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert subpackages - set(LAYERS) - UNLAYERED == set()


def test_no_module_imports_a_higher_layer() -> None:
    top, lazy = graph()
    upward = []
    for module, targets in sorted(top.items()):
        for target in sorted(targets | lazy[module]):
            a, b = layer(module), layer(target)
            if a is not None and b is not None and b > a:
                upward.append(f"{module} -> {target}")
    assert upward == []


def test_no_import_cycles() -> None:
    top, lazy = graph()
    edges = {module: top[module] | lazy[module] for module in top}
    assert _cycles(edges) == []


def test_no_package_imports_inside_functions() -> None:
    _, lazy = graph()
    found = sorted(
        f"{module} -> {target}"
        for module, targets in lazy.items()
        for target in targets
        if not module.startswith(LAZY_ALLOWED_IN)
    )
    assert found == []


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def strong(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                out.append(sorted(component))

    for v in sorted(edges):
        if v not in index:
            strong(v)
    return sorted(out)


def test_no_run_time_module_lookups() -> None:
    """What runs is read from plain imports: no importlib lookups and no lazy module `__getattr__`
    (which hid a cycle between rollout/ and routers/)."""
    found = []
    for name, path in sorted(modules().items()):
        if name.startswith("modelserve.localcluster"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and ast.unparse(node) == "importlib.import_module":
                found.append(f"{name}: importlib.import_module")
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name == "__getattr__":
                found.append(f"{name}: module __getattr__")
    assert found == []
