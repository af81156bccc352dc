"""The README's code is real code: every Python block runs as pasted, against the embedded server.

Each block runs alone in a fresh interpreter (``python -c``), in an empty temporary directory,
so a block that leans on a name from another block, on top-level ``await`` or on a file it did
not make fails here. Warnings are errors, as in the suite.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from streamkit.server import answer_for

README = Path(__file__).resolve().parent.parent / "README.md"
BLOCK_TIMEOUT = 120


#: Blocks that serve until stopped: ``tests/web/test_readme_web.py`` runs each and talks to it.
SERVING = ("web.run_app(", "uvicorn.run(")


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def finishing_blocks() -> list[str]:
    return [block for block in python_blocks() if not any(s in block for s in SERVING)]


def run_block(block: str, workdir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", block],
        capture_output=True,
        text=True,
        timeout=BLOCK_TIMEOUT,
        cwd=workdir,
    )


def block_id(block: str) -> str:
    lines = [line for line in block.splitlines() if line.strip() and "import" not in line]
    return lines[0][:40] if lines else "empty"


@pytest.mark.parametrize("block", finishing_blocks(), ids=block_id)
def test_every_python_block_runs_as_pasted(block: str, tmp_path: Path) -> None:
    result = run_block(block, tmp_path)

    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []  # nothing left behind


def test_the_readme_has_its_blocks() -> None:
    blocks = python_blocks()
    assert len(blocks) >= 8
    assert "sk.open_stream(" in blocks[0]  # the quick start leads with the stream handle
    assert any("open_stream_sync" in block for block in blocks)
    assert any("trace_chat" in block for block in blocks)
    assert any("logging" in block for block in blocks)


def test_the_quick_start_prints_the_answer_then_the_final_message(tmp_path: Path) -> None:
    quick_start = python_blocks()[0]
    assert "asyncio.run(main())" in quick_start

    result = run_block(quick_start, tmp_path)

    assert result.returncode == 0, result.stderr
    answer = answer_for({"messages": [{"role": "user", "content": "Tell me a story"}]})
    assert result.stdout.startswith(answer + "\n[stop; ")
    assert "TTFT" in result.stdout.splitlines()[-1]


def test_the_quick_start_is_at_most_a_dozen_lines_of_code() -> None:
    lines = [line for line in python_blocks()[0].splitlines() if line.strip()]
    assert len(lines) <= 12


def test_the_readme_installs_the_distribution_by_its_name_and_links_nowhere() -> None:
    text = README.read_text(encoding="utf-8")
    assert "pip install streamkit-llm" in text
    assert re.search(r"pip install '?streamkit[\[ ]", text) is None
    assert re.search(r"\]\(https?://", text) is None
