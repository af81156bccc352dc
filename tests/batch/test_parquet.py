"""The Parquet result store: parts written atomically, read back, resumed like the JSONL one."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

import streamkit as sk
from streamkit.batch import open_store
from streamkit.server import EmbeddedServer, answer_for

pytest.importorskip("pyarrow")

from streamkit.batch.parquet import ParquetStore


def record(key: str, status: str = "done", h: str = "h1") -> dict[str, Any]:
    return {
        "key": key,
        "request_hash": h,
        "status": status,
        "text": f"answer {key}",
        "usage": {"input_tokens": 1, "output_tokens": 2},
        "attempts": 1,
        "message": {"id": "x", "nested": [1, 2]},
    }


def test_records_survive_a_reopen_with_their_nested_fields(tmp_path: Path) -> None:
    path = tmp_path / "out.parquet"
    store = ParquetStore(path, flush_every=2)
    for key in "abc":
        store.append(record(key))
    store.append(record("d", "failed"))
    store.close()
    assert len(list(path.glob("part-*.parquet"))) == 2
    reopened = ParquetStore(path)
    assert reopened.is_done("a", "h1") and not reopened.is_done("a", "h2")
    assert not reopened.is_done("d", "h1")
    assert reopened.get("c") == record("c")
    assert sorted(r["key"] for r in reopened.records()) == ["a", "b", "c", "d"]
    reopened.close()


def test_partials_live_beside_the_parts_until_the_row_finishes(tmp_path: Path) -> None:
    store = ParquetStore(tmp_path / "out.parquet")
    store.append(
        {
            "key": "a",
            "request_hash": "h1",
            "status": "partial",
            "partial": {"id": "m", "model": "x", "text": "Once"},
        }
    )
    store.close()
    reopened = ParquetStore(tmp_path / "out.parquet")
    partial = reopened.partial("a", "h1")
    assert partial is not None and partial.text == "Once"
    reopened.append(record("a"))
    assert reopened.partial("a", "h1") is None
    reopened.close()


async def test_a_batch_into_a_parquet_path_resumes(tmp_path: Path) -> None:
    def body(row: dict[str, Any]) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": row["prompt"]}]}

    rows = [{"id": i, "prompt": f"q{i}"} for i in range(10)]
    path = tmp_path / "answers.parquet"
    assert isinstance(open_store(path), ParquetStore)
    async with EmbeddedServer() as server:
        endpoint = sk.ChatEndpoint(server.url)
        await sk.batch(rows[:6], request=body, endpoint=endpoint, store=path).run()
        results = await sk.batch(rows, request=body, endpoint=endpoint, store=path).collect()
        assert len(server.requests) == 10
    assert [r.status for r in results] == ["skipped"] * 6 + ["done"] * 4
    assert [r.text for r in results] == [answer_for(body(row)) for row in rows]
