"""The public face stays in step with ``__all__``: nothing leaks, nothing goes missing."""

from __future__ import annotations

import importlib
import pkgutil
import types

import pytest

import streamkit

PUBLIC_PACKAGES = ["streamkit", "streamkit.operators", "streamkit.sinks", "streamkit.server"]


def _all_modules() -> list[str]:
    names = ["streamkit"]
    for info in pkgutil.walk_packages(streamkit.__path__, prefix="streamkit."):
        if not any(part.startswith("_") for part in info.name.split(".")[1:]):
            names.append(info.name)
    return sorted(names)


@pytest.mark.parametrize("name", _all_modules())
def test_every_public_module_declares_all_and_its_names_exist(name: str) -> None:
    module = importlib.import_module(name)
    exported = getattr(module, "__all__", None)
    assert exported is not None, f"{name} has no __all__"
    assert len(exported) == len(set(exported)), f"{name}.__all__ repeats a name"
    missing = [item for item in exported if not hasattr(module, item)]
    assert not missing, f"{name}.__all__ names what it lacks: {missing}"


@pytest.mark.parametrize("name", PUBLIC_PACKAGES)
def test_package_exposes_exactly_its_all(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} == set(package.__all__)


@pytest.mark.parametrize("name", PUBLIC_PACKAGES[1:])
def test_subpackage_all_names_come_from_its_modules(name: str) -> None:
    """Each re-export is defined in a module of the subpackage, not re-invented in __init__."""
    package = importlib.import_module(name)
    for item in package.__all__:
        value = getattr(package, item)
        origin = getattr(value, "__module__", None)
        if origin is not None:
            assert origin.startswith(("streamkit", "typing")), (item, origin)


def test_top_level_reexports_the_main_entry_points() -> None:
    for item in (
        "stream_chat",
        "ChatEndpoint",
        "Timeouts",
        "aiter_events",
        "collect",
        "build_message",
        "Message",
        "TextDelta",
        "ToolCall",
        "StreamkitError",
        "RetryPolicy",
        "EmbeddedServer",
    ):
        assert item in streamkit.__all__, item


def test_version_is_a_string() -> None:
    assert isinstance(streamkit.__version__, str)
