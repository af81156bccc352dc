"""The README's quick start is real code: it runs and prints the embedded server's answer."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

from streamkit.server import answer_for

README = Path(__file__).resolve().parent.parent / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)


def test_the_quick_start_prints_the_answer() -> None:
    quick_start = python_blocks()[0]
    assert "asyncio.run(main())" in quick_start

    result = subprocess.run(
        [sys.executable, "-c", quick_start], capture_output=True, text=True, timeout=60
    )

    assert result.returncode == 0, result.stderr
    body = {"messages": [{"role": "user", "content": "Tell me a story"}]}
    assert result.stdout == answer_for(body)


def test_the_quick_start_is_at_most_a_dozen_lines_of_code() -> None:
    lines = [line for line in python_blocks()[0].splitlines() if line.strip()]
    assert len(lines) <= 12
