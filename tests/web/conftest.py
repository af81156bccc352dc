"""Web fixtures: the real AI SDK installed with npm into a temporary folder (once a session)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from tests.relay.conftest import serve as serve  # the relay app fixture, shared

#: The AI SDK release the tests read the relay with: AI SDK 5, the UI message stream v1 (later
#: majors need Node 22; Debian's is 18 or 20).
AI_PACKAGE = "ai@5.0.277"
HERE = Path(__file__).resolve().parent


@pytest.fixture(scope="session")
def ai_sdk(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding ``node_modules/ai`` and ``read_ui_stream.mjs``; skips without Node."""
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        pytest.skip("Node.js and npm are not installed: the AI SDK client test needs them")
    folder = tmp_path_factory.mktemp("ai-sdk")
    (folder / "package.json").write_text('{"name": "streamkit-ai-sdk-test", "private": true}\n')
    result = subprocess.run(
        [
            npm,
            "install",
            "--no-audit",
            "--no-fund",
            "--ignore-scripts",
            "--loglevel=error",
            AI_PACKAGE,
        ],
        cwd=folder,
        capture_output=True,
        text=True,
        timeout=600,
        stdin=subprocess.DEVNULL,
    )
    assert result.returncode == 0, f"npm install {AI_PACKAGE} failed:\n{result.stderr}"
    shutil.copy(HERE / "read_ui_stream.mjs", folder)
    return folder
