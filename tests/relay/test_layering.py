"""The relay and the chat page are an edge: nothing below imports them, and their optional
dependency (Starlette) is imported only by the ASGI helper."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parent.parent.parent / "streamkit"
EDGE = ("streamkit.relay", "streamkit.web")
# Modules allowed to import the edge: the edge itself, and the command line that routes to it.
ALLOWED = ("relay/", "web/", "cli.py")


def imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_no_lower_layer_imports_the_relay_or_the_page() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if not str(path.relative_to(PACKAGE)).startswith(ALLOWED)
        and any(name.startswith(EDGE) for name in imports(path))
    ]
    assert offenders == []


def test_starlette_is_imported_only_by_the_asgi_helper() -> None:
    users = sorted(
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if any(name.split(".")[0] in ("starlette", "fastapi") for name in imports(path))
    )
    assert users == ["relay/asgi.py"]
