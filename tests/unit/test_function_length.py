"""No function in the operator is longer than about 80 lines (docs/operator.md, STYLE.md): a longer one is
split into named stages. Counted with ``ast`` after ``ruff format``, from ``def`` (decorators excluded) to
its last line, docstring included."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "operator" / "modelserve"
MAX_LINES = 80


def function_lengths(path: Path) -> list[tuple[str, int, int]]:
    """(qualified name, first line, length in lines) of every function and method in ``path``."""
    found: list[tuple[str, int, int]] = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                found.append((name, child.lineno, (child.end_lineno or child.lineno) - child.lineno + 1))
                walk(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                walk(child, f"{prefix}{child.name}.")
            else:
                walk(child, prefix)

    walk(ast.parse(path.read_text()), "")
    return found


def test_the_counter_counts_from_def_to_the_last_line(tmp_path: Path) -> None:
    source = (
        '@x\ndef f():\n    """Doc."""\n    x = 1\n    return x\n\n\n'
        "class C:\n    def m(self):\n        pass\n"
    )
    probe = tmp_path / "probe.py"
    probe.write_text(source)
    assert function_lengths(probe) == [("f", 2, 4), ("C.m", 9, 2)]


def test_no_function_is_longer_than_80_lines() -> None:
    too_long = [
        f"{path.relative_to(PACKAGE.parent)}:{line} {name} ({length} lines)"
        for path in sorted(PACKAGE.rglob("*.py"))
        for name, line, length in function_lengths(path)
        if length > MAX_LINES
    ]
    assert not too_long, "split these into named stages:\n" + "\n".join(too_long)
