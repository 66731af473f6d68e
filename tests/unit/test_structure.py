"""The import graph's rules that reading code alone does not keep: the app never imports the demo built on it."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def imported_modules(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.add(node.module)
    return found


def test_the_app_does_not_import_the_demo():
    assert "bot.demo" not in imported_modules(ROOT / "app.py")
    assert "app" in imported_modules(ROOT / "bot" / "demo.py")  # the demo builds on the app, one way


def test_the_approval_flow_does_not_import_handlers_or_the_app():
    for module in (ROOT / "bot" / "approvals").glob("*.py"):
        imports = imported_modules(module)
        assert not {m for m in imports if m == "app" or m.startswith(("bot.handlers", "botbuilder"))}, module
