"""``streamkit.relay`` and ``streamkit.web`` expose exactly their ``__all__``."""

from __future__ import annotations

import importlib
import types

import pytest


@pytest.mark.parametrize("name", ["streamkit.relay", "streamkit.web"])
def test_package_exposes_exactly_its_all(name: str) -> None:
    package = importlib.import_module(name)
    public = {
        attr
        for attr, value in vars(package).items()
        if not attr.startswith("_") and not isinstance(value, types.ModuleType)
    }
    assert public - {"annotations"} == set(package.__all__)
