"""The notebooks run top to bottom against the embedded server, and show what they claim.

Each notebook runs in a fresh kernel (the test's interpreter, so the installed streamkit) with a
temporary working directory, which must still be empty afterwards: a notebook run in the
repository leaves no untracked files. The assertions read the outputs a user would see.
"""

from __future__ import annotations

import base64
import os
import re
from pathlib import Path
from typing import Any

import nbformat
import pytest
from nbclient import NotebookClient

from streamkit.server import answer_for

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execute(name: str, workdir: Path) -> list[dict[str, Any]]:
    """Run the notebook in ``workdir``; return every output of every code cell, in order."""
    notebook = execute_notebook(name, workdir)
    return [
        output for cell in notebook.cells if cell.cell_type == "code" for output in cell.outputs
    ]


def execute_notebook(name: str, workdir: Path) -> Any:
    """Run the notebook in ``workdir``; return it with its outputs."""
    os.environ.setdefault("JUPYTER_PLATFORM_DIRS", "1")
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = NotebookClient(
        notebook,
        timeout=120,
        kernel_name="python3",
        resources={"metadata": {"path": str(workdir)}},
    )
    client.execute()
    assert list(workdir.iterdir()) == [], "the notebook left files behind"
    return notebook


def stdout(outputs: list[dict[str, Any]]) -> str:
    return "".join(o["text"] for o in outputs if o.get("name") == "stdout")


def lines_with(outputs: list[dict[str, Any]], prefix: str) -> list[str]:
    return [line for line in stdout(outputs).splitlines() if line.startswith(prefix)]


def ttft(summary: str) -> float:
    """The time to first token in a ``format_stats`` line, in seconds."""
    match = re.search(r"TTFT ([0-9.]+) s", summary)
    assert match, summary
    return float(match.group(1))


def test_every_notebook_is_tested() -> None:
    assert sorted(p.name for p in NOTEBOOKS.glob("*.ipynb")) == [
        "01_quickstart.ipynb",
        "02_custom_pipeline.ipynb",
        "03_replay.ipynb",
        "04_batch.ipynb",
    ]


@pytest.mark.parametrize("path", sorted(NOTEBOOKS.glob("*.ipynb")), ids=lambda p: p.name)
def test_notebooks_are_committed_without_outputs(path: Path) -> None:
    notebook = nbformat.read(path, as_version=4)
    nbformat.validate(notebook)
    assert all(not cell.get("outputs") for cell in notebook.cells if cell.cell_type == "code")


def test_quickstart_shows_the_answer_live_with_stats_and_a_plot(tmp_path: Path) -> None:
    notebook = execute_notebook("01_quickstart.ipynb", tmp_path)
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]

    answer = answer_for({"messages": [{"role": "user", "content": "Tell me a story"}]})
    markdown = [o["data"]["text/markdown"] for o in outputs if "text/markdown" in o.get("data", {})]
    assert len(markdown) == 1  # one display, updated in place
    assert markdown[0].startswith(answer)
    assert "tok/s" in markdown[0]
    assert "streaming…" not in markdown[0]  # the marker goes when the answer is done

    assert lines_with(outputs, "finish reason: ") == ["finish reason: stop"]
    assert lines_with(outputs, "usage: ")
    for name in ("openai", "anthropic", "responses", "gemini"):
        assert lines_with(outputs, f"{name}: ") == [f"{name}: same answer: True, ends with stop"]
    (summary,) = [line for line in stdout(outputs).splitlines() if "TTFT" in line]
    assert "tokens" in summary and "tok/s" in summary
    assert 0 <= ttft(summary) < 1

    # ``stats.plot()`` alone in its cell shows the picture, not ``<Figure size ...>``.
    (plot_cell,) = [
        cell
        for cell in notebook.cells
        if cell.cell_type == "code" and cell.source.startswith("stats.plot()")
    ]
    assert plot_cell.source.split("#")[0].strip() == "stats.plot()"
    assert not any("<Figure size" in str(o) for o in plot_cell.outputs)
    (png,) = [o["data"]["image/png"] for o in plot_cell.outputs if "image/png" in o.get("data", {})]
    image = base64.b64decode(png)
    assert image.startswith(b"\x89PNG\r\n\x1a\n") and len(image) > 5_000


def test_custom_pipeline_buffers_assembles_retries_and_fans_out(tmp_path: Path) -> None:
    outputs = execute("02_custom_pipeline.ipynb", tmp_path)

    (counts,) = [line for line in stdout(outputs).splitlines() if " chunks -> " in line]
    chunks, updates = (int(n) for n in counts.replace(" updates", "").split(" chunks -> "))
    assert 0 < updates < chunks
    assert lines_with(outputs, "lossless: ") == ["lossless: True"]

    calls = lines_with(outputs, "call: ")
    assert [line.split()[1] for line in calls] == ["get_weather", "get_time"]
    (previews,) = [line for line in stdout(outputs).splitlines() if line.endswith(" previews")]
    assert int(previews.split()[0]) > 0

    assert lines_with(outputs, "retrying (attempt 2) after ConnectionLostError")
    assert lines_with(outputs, "exact: ") == ["exact: True"]

    assert lines_with(outputs, "answers: ") == ["answers: 12, lines in answers.jsonl: 12"]
    assert lines_with(outputs, "all exact: ") == ["all exact: True"]
    # The progress bar is text that moves in any front end, not a widget some cannot show.
    stderr = "".join(o["text"] for o in outputs if o.get("name") == "stderr")
    assert "12/12" in stderr
    assert not any("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in outputs)


def test_replay_gives_the_live_message_fast_and_timed(tmp_path: Path) -> None:
    outputs = execute("03_replay.ipynb", tmp_path)

    assert lines_with(outputs, "same message: ") == ["same message: True"]
    assert lines_with(outputs, "same text: ") == ["same text: True"]
    (recorded,) = [line for line in stdout(outputs).splitlines() if " chunks over " in line]
    assert int(recorded.split()[0]) > 10
    answer = answer_for({"messages": [{"role": "user", "content": "Describe a lighthouse"}]})
    assert answer.startswith(stdout(outputs).split("same message: True\n")[1][:80])
    (summary,) = [line for line in stdout(outputs).splitlines() if "TTFT" in line]
    assert 0 <= ttft(summary) < 1  # replayed times are on the meter's clock


def test_batch_shows_progress_and_resumes_when_the_cell_runs_again(tmp_path: Path) -> None:
    outputs = execute("04_batch.ipynb", tmp_path)

    bars = "".join(o["text"] for o in outputs if o.get("name") == "stderr")
    assert "rows:" in bars and "\r" in bars  # tqdm's text bar, redrawn in place
    (first,) = lines_with(outputs, "first run: ")
    done_first = int(first.split("first run: ")[1].split(" done")[0])
    assert 0 < done_first < 24 and "stopped: budget" in first
    (second,) = lines_with(outputs, "second run: ")
    rest = 24 - done_first
    assert second.startswith(f"second run: {rest} done · {done_first} skipped · 0 failed")
    assert lines_with(outputs, "requests: ") == [f"requests: {done_first} then {rest}"]
    assert lines_with(outputs, "each row asked once: ") == ["each row asked once: True"]
    assert lines_with(outputs, "all exact: ") == ["all exact: True"]
    assert any("text/html" in o.get("data", {}) for o in outputs)  # the DataFrame
