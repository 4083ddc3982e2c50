"""The layers stay apart: the core imports no framework, no client library, no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import gateway

PACKAGE = Path(gateway.__file__).parent
FORBIDDEN_IN_CORE = {
    "starlette",
    "uvicorn",
    "aiohttp",
    "httpx",
    "redis",
    "sqlite3",
    "structlog",
    "socket",
    "asyncio",
    "subprocess",
    "os",
    "gateway.edges",
    "gateway.ports",
}


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def _offending(names: set[str], forbidden: set[str]) -> set[str]:
    return {n for n in names if any(n == f or n.startswith(f + ".") for f in forbidden)}


def test_core_imports_nothing_of_the_outside_world() -> None:
    """No module under gateway/core imports a framework, a client library or an edge."""
    found = {
        str(path.relative_to(PACKAGE)): bad
        for path in (PACKAGE / "core").rglob("*.py")
        if (bad := _offending(_imports(path), FORBIDDEN_IN_CORE))
    }
    assert found == {}


def test_ports_do_not_reach_into_edges() -> None:
    """Adapters depend on the core, never on the HTTP app or the CLI."""
    found = {
        str(path.relative_to(PACKAGE)): bad
        for path in (PACKAGE / "ports").rglob("*.py")
        if (bad := _offending(_imports(path), {"gateway.edges"}))
    }
    assert found == {}
