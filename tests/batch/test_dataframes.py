"""DataFrames in and out: pandas, polars and Arrow, each only when installed."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import streamkit as sk
from streamkit.batch.dataframes import answer_frame, frame_rows, store_frame
from streamkit.server import EmbeddedServer, answer_for

PROMPTS = ["alpha", "beta", "gamma", "delta"]


def body(row: dict[str, Any]) -> dict[str, Any]:
    return {
        "model": "m",
        "messages": [{"role": "user", "content": row["prompt"]}],
        "stream_options": {"include_usage": True},
    }


def make(library: str) -> Any:
    data = {"id": [10, 11, 12, 13], "prompt": PROMPTS}
    if library == "pandas":
        return pytest.importorskip("pandas").DataFrame(data)
    if library == "polars":
        return pytest.importorskip("polars").DataFrame(data)
    return pytest.importorskip("pyarrow").table(data)


def column(frame: Any, name: str) -> list[Any]:
    if hasattr(frame, "to_pydict"):
        return list(frame.to_pydict()[name])
    return list(frame[name])


@pytest.mark.parametrize("library", ["pandas", "polars", "arrow"])
async def test_a_frame_comes_back_with_answer_and_usage_columns(
    library: str, tmp_path: Path
) -> None:
    frame = make(library)
    assert [row["prompt"] for row in frame_rows(frame)] == PROMPTS
    store = tmp_path / "out.jsonl"
    async with EmbeddedServer() as server:
        endpoint = sk.ChatEndpoint(server.url)
        answered = await answer_frame(frame, request=body, endpoint=endpoint, store=store)
        again = await answer_frame(frame, request=body, endpoint=endpoint, store=store)
        assert len(server.requests) == 4
    assert type(answered) is type(frame)
    expected = [answer_for(body({"prompt": p})) for p in PROMPTS]
    assert column(answered, "answer") == expected
    assert column(answered, "answer_status") == ["done"] * 4
    assert all(n > 0 for n in column(answered, "output_tokens"))
    assert column(again, "answer") == expected
    assert column(again, "answer_status") == ["skipped"] * 4
    assert column(again, "output_tokens") == [0] * 4

    stored = store_frame(store, library=library)
    assert sorted(column(stored, "key")) == ["10", "11", "12", "13"]


def test_anything_else_is_refused() -> None:
    with pytest.raises(TypeError, match="DataFrame"):
        list(frame_rows([{"id": 1}]))


def test_the_core_never_imports_a_dataframe_library() -> None:
    import subprocess
    import sys

    code = (
        "import sys, streamkit, streamkit.batch, streamkit.batch.dataframes, "
        "streamkit.batch.parquet, streamkit.batch.cli; "
        "print(sorted(m for m in ('pandas', 'polars', 'pyarrow') if m in sys.modules))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert out.stdout.strip() == "[]"
