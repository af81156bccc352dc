"""The package's layers point down only, and no module reaches into another's private parts.

The layers, bottom to top (``docs/architecture.md`` draws them): a module may import from its own
layer and the layers below it, never from one above. Every module of the package must be placed
in a layer here, so a new module is placed on purpose, not by accident.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "streamkit"

#: Layer names, bottom first, with the modules (or packages, with all they hold) in each.
LAYERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        "values",
        (
            "streamkit.events",
            "streamkit.errors",
            "streamkit.message",
            "streamkit.stats",
            "streamkit.tool_arguments",
            "streamkit.exact_json",
            "streamkit._credentials",
            "streamkit.redaction",
            "streamkit.extras",
        ),
    ),
    (
        "codecs",
        (
            "streamkit.sse",
            "streamkit.http_headers",
            "streamkit.formats",
            "streamkit.chat_decoder",
            "streamkit.json_codec",
        ),
    ),
    ("folds", ("streamkit.fold",)),
    ("operators", ("streamkit.operators", "streamkit.bridge", "streamkit.otel")),
    ("transport", ("streamkit.transport",)),
    (
        "composition",
        (
            "streamkit.stream_handle",
            "streamkit.client",
            "streamkit.event_source",
            "streamkit.sync",
        ),
    ),
    (
        "edges",
        (
            "streamkit",  # the package's public face re-exports every layer
            "streamkit.__main__",
            "streamkit.cli",
            "streamkit.exit_codes",
            "streamkit.sinks",
            "streamkit.record",
            "streamkit.jsonl_file",
            "streamkit.server",
            "streamkit.relay",
            "streamkit.web",
            "streamkit.batch",
        ),
    ),
)

#: Deferred imports that run upward on purpose: conveniences on a value that hand the work to the
#: layer that owns it. Each is inside a function, so importing the value loads nothing above it.
FACADES: frozenset[tuple[str, str]] = frozenset(
    {
        ("streamkit.message", "streamkit.formats.openai"),  # Message.to_openai()
        ("streamkit.message", "streamkit.formats.anthropic"),  # Message.to_anthropic()
        ("streamkit.stats", "streamkit.sinks.plot"),  # StreamStats.plot()
    }
)

#: Optional dependencies: ``import streamkit`` must load none of them.
OPTIONAL = (
    "matplotlib",
    "IPython",
    "ipywidgets",
    "tqdm",
    "pandas",
    "polars",
    "pyarrow",
    "ray",
    "dask",
    "opentelemetry",
    "rich",
    "starlette",
    "jsonschema",
    "pydantic",
    "brotli",
)


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    _module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "__pycache__" not in path.parts
}


def _layer(module: str) -> int:
    """The index of the layer holding ``module``: the longest matching entry wins."""
    best: tuple[int, int] | None = None  # (length of the match, layer)
    for index, (_, members) in enumerate(LAYERS):
        for member in members:
            if module == member or (module.startswith(member + ".") and member != "streamkit"):
                if best is None or len(member) > best[0]:
                    best = (len(member), index)
    if best is None:
        raise LookupError(module)
    return best[1]


def _imports(path: Path, module: str) -> list[tuple[str, list[str], bool]]:
    """``(imported module, names imported from it, inside a function)`` for each import."""
    tree = ast.parse(path.read_text(), str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found: list[tuple[str, list[str], bool]] = []

    def visit(node: ast.AST, in_function: bool) -> None:
        for child in ast.iter_child_nodes(node):
            nested = in_function or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend((alias.name, [], in_function) for alias in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = child.module or ""
                if child.level:
                    anchor = package.split(".")[: len(package.split(".")) - child.level + 1]
                    base = ".".join([*anchor, base] if base else anchor)
                found.append((base, [alias.name for alias in child.names], in_function))
            visit(child, nested)

    visit(tree, False)
    return found


def test_every_module_has_a_layer() -> None:
    unplaced = [name for name in MODULES if not _placed(name)]
    assert not unplaced, f"place these modules in a layer of tests/test_layers.py: {unplaced}"


def _placed(name: str) -> bool:
    try:
        _layer(name)
    except LookupError:
        return False
    return True


def _upward(module: str, path: Path) -> list[str]:
    """The imports of ``module`` (its source at ``path``) that reach a higher layer."""
    own = _layer(module)
    upward = []
    for target, names, in_function in _imports(path, module):
        for imported in [target, *(f"{target}.{name}" for name in names)]:
            if imported not in MODULES or imported == module:
                continue
            if _layer(imported) > own and not (in_function and (module, imported) in FACADES):
                upward.append(f"{imported} ({LAYERS[_layer(imported)][0]})")
    return upward


def _private(module: str, path: Path) -> list[str]:
    """The imports of ``module`` that reach into another package's or module's private parts."""
    offences = []
    for target, names, _ in _imports(path, module):
        if not target.startswith("streamkit"):
            continue
        parts = target.split(".")
        for depth, part in enumerate(parts):
            owner = ".".join(parts[:depth])  # the package that holds the private module
            if part.startswith("_") and not part.startswith("__"):
                if not (module == owner or module.startswith(owner + ".")):
                    offences.append(target)
        offences.extend(
            f"{target}.{name}"
            for name in names
            if name.startswith("_")
            and not name.startswith("__")
            and f"{target}.{name}" not in MODULES
        )
    return offences


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_point_down(module: str) -> None:
    if not _placed(module):
        pytest.skip("not in a layer: see test_every_module_has_a_layer")
    upward = _upward(module, MODULES[module])
    layer = LAYERS[_layer(module)][0]
    assert not upward, f"{module} ({layer}) imports from a higher layer: {upward}"


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_private_part_of_another_package_is_imported(module: str) -> None:
    offences = _private(module, MODULES[module])
    assert not offences, f"{module} imports private parts of other modules: {offences}"


def test_the_checks_catch_what_they_forbid(tmp_path: Path) -> None:
    source = tmp_path / "module.py"
    source.write_text(
        "from streamkit.operators.retry import retry_with_backoff\n"  # transport -> operators: fine
        "from streamkit.client import ChatEndpoint\n"  # transport -> composition: upward
        "from streamkit.formats._json import load_event_json\n"  # another package's private module
        "from streamkit.chat_decoder import _raise_pending\n"  # a private name of another module
        "def later():\n"
        "    from streamkit.sinks import collect_message\n"  # deferred, but not a facade
    )
    assert _upward("streamkit.transport", source) == [
        "streamkit.client (composition)",
        "streamkit.sinks (edges)",
    ]
    assert _private("streamkit.transport", source) == [
        "streamkit.formats._json",
        "streamkit.chat_decoder._raise_pending",
    ]
    assert _private("streamkit.formats.openai", source) == ["streamkit.chat_decoder._raise_pending"]


def test_the_facades_are_deferred_imports_that_exist() -> None:
    for module, target in FACADES:
        deferred = [
            t for t, _, inside in _imports(MODULES[module], module) if t == target and inside
        ]
        assert deferred, f"{module} no longer imports {target} inside a function: drop the facade"


def test_importing_streamkit_loads_no_optional_dependency() -> None:
    script = (
        "import sys, streamkit, streamkit.operators, streamkit.sinks, streamkit.server;"
        f"print(','.join(sorted(m for m in {OPTIONAL!r} if m in sys.modules)))"
    )
    loaded = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, timeout=120
    ).stdout.strip()
    assert loaded == "", f"import streamkit loaded optional dependencies: {loaded}"
