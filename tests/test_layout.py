"""The test suite's layout: helper code in tests/_helpers/, fixtures in conftest files, CLI tests in tests/cli/."""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _modules() -> list[Path]:
    return sorted(p for p in TESTS.rglob("*.py") if "fixtures" not in p.parts)


def test_helper_modules_live_in_tests_helpers() -> None:
    stray = [
        str(p.relative_to(TESTS))
        for p in _modules()
        if not (p.name.startswith("test_") or p.name in ("conftest.py", "__init__.py")) and p.parent.name != "_helpers"
    ]
    assert stray == [], "helper code that tests import belongs in tests/_helpers/"


def test_nothing_imports_from_conftest_or_test_modules() -> None:
    bad = []
    for p in _modules():
        for node in ast.walk(ast.parse(p.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("tests."):
                last = node.module.rsplit(".", 1)[-1]
                if last == "conftest" or last.startswith("test_"):
                    bad.append(f"{p.relative_to(TESTS)}: from {node.module} import ...")
    assert bad == [], "move the shared code to tests/_helpers/ (fixtures: a conftest.py)"


def test_cli_tests_live_in_tests_cli() -> None:
    stray = [str(p.relative_to(TESTS)) for p in _modules() if p.name.startswith("test_cli") and p.parent.name != "cli"]
    assert stray == [] and (TESTS / "cli" / "__init__.py").exists()
