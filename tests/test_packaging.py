"""The package installs by its own name: streamkit-llm, everywhere a user is told to install."""

from __future__ import annotations

import importlib.metadata
import re
import tomllib
from pathlib import Path

import streamkit
from streamkit.extras import DISTRIBUTION, install_hint

ROOT = Path(__file__).resolve().parent.parent


def test_the_distribution_is_streamkit_llm_with_license_urls_and_classifiers() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    assert project["name"] == DISTRIBUTION == "streamkit-llm"
    assert project["license"] == "MIT"
    assert "MIT License" in (ROOT / "LICENSE").read_text()
    assert {"Homepage", "Source", "Issues"} <= set(project["urls"])
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert "Typing :: Typed" in project["classifiers"]
    assert {"cli", "otel", "jupyter", "plot", "progress"} <= set(project["optional-dependencies"])


def test_the_version_is_the_installed_distributions() -> None:
    assert streamkit.__version__ == importlib.metadata.version(DISTRIBUTION)


def test_every_install_hint_in_the_package_names_the_distribution() -> None:
    hints = [
        (path.name, line.strip())
        for path in (ROOT / "streamkit").rglob("*.py")
        for line in path.read_text(encoding="utf-8").splitlines()
        if re.search(r"pip install [^`]", line)
    ]
    assert hints
    for name, line in hints:
        assert "streamkit-llm" in line or "{DISTRIBUTION}" in line, (name, line)
    assert install_hint("plot") == "pip install 'streamkit-llm[plot]'"
