"""The domain core does no I/O: it may import only the standard library's pure parts.

``datetime`` is allowed for its value types; reading the clock is not.
"""

from __future__ import annotations

import ast
from pathlib import Path

import trustspace.core

FORBIDDEN = {
    "os",
    "io",
    "socket",
    "sqlite3",
    "subprocess",
    "pathlib",
    "time",
    "random",
    "secrets",
    "uuid",
    "httpx",
    "psycopg",
    "starlette",
    "uvicorn",
    "threading",
    "asyncio",
    "logging",
}

CLOCK = {"now", "utcnow", "today", "fromtimestamp", "utcfromtimestamp"}


def test_core_imports_nothing_that_does_io() -> None:
    root = Path(trustspace.core.__file__).parent
    offenders = []
    for path in sorted(root.rglob("*.py")):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for name in names:
                top = name.split(".")[0]
                if top in FORBIDDEN or (
                    top == "trustspace" and not name.startswith("trustspace.core")
                ):
                    offenders.append(f"{path.name}: {name}")
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in CLOCK
            ):
                offenders.append(f"{path.name}:{node.lineno}: .{node.func.attr}()")
    assert offenders == []


def test_the_purity_check_sees_subpackages() -> None:
    root = Path(trustspace.core.__file__).parent
    assert (root / "odrl" / "evaluate.py") in set(root.rglob("*.py"))
