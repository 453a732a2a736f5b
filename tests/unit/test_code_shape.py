"""The shape of the tree: no module over about 400 lines, no function over about 50.

Runs in the test process over the source files, not the running service. A function that must
be longer says why in its docstring, in a sentence that starts "Long because"; a module that must
be longer says it the same way in its own docstring. The limits keep each file readable in one
sitting and each step of the data flow nameable; they are checked here so they stay that way.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("common", "worker", "supervisor", "tools", "bench", "tests")
MAX_MODULE_LINES = 400
MAX_FUNCTION_LINES = 50
EXCUSE = "Long because"


def _sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def _long_functions(tree: ast.Module) -> list[tuple[str, int]]:
    found = []
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
            length = (node.end_lineno or node.lineno) - node.lineno + 1
            if length > MAX_FUNCTION_LINES and EXCUSE not in (ast.get_docstring(node) or ""):
                found.append((node.name, length))
    return found


def test_the_tree_has_sources_to_check():
    names = {p.name for p in _sources()}
    assert {"service.py", "process.py", "config.py"} <= names


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_module_and_function_lengths(path: Path):
    text = path.read_text()
    tree = ast.parse(text)
    lines = text.count("\n")
    if lines > MAX_MODULE_LINES:
        assert EXCUSE in (ast.get_docstring(tree) or ""), f"{lines} lines and no '{EXCUSE}' in the module docstring"
    assert not _long_functions(tree), f"functions over {MAX_FUNCTION_LINES} lines without '{EXCUSE}' in their docstring"
