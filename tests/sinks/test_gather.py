"""gather_streams and its bar: bounded concurrency, results in order, a bar that counts, a
crash-safe log."""

from __future__ import annotations

import asyncio
import functools
import io
import sys
from collections.abc import AsyncGenerator
from pathlib import Path

import pytest
import reactivex
from reactivex import Observable

from streamkit.bridge import collect, from_async_iterable
from streamkit.errors import ServerError
from streamkit.events import StreamEvent, StreamStart, TextDelta
from streamkit.sinks.gather import StreamFactory, gather_streams
from streamkit.sinks.jsonl import message_from_dict, read_jsonl
from streamkit.sinks.progress_bar import progress_bar, track


class FakeStreams:
    """Stream factories that count how many run at once; stream ``fail`` fails."""

    def __init__(self, fail: int | None = None) -> None:
        self.running = 0
        self.peak = 0
        self.started: list[int] = []
        self.fail = fail

    def factory(self, index: int) -> Observable[StreamEvent]:
        async def events() -> AsyncGenerator[StreamEvent, None]:
            self.started.append(index)
            self.running += 1
            self.peak = max(self.peak, self.running)
            try:
                yield StreamStart(f"msg_{index}", "m")
                # later indexes finish first, so completion order differs from input order
                await asyncio.sleep(0.001 * (10 - index))
                if index == self.fail:
                    raise ServerError("overloaded", status=529)
                yield TextDelta(f"answer {index}")
            finally:
                self.running -= 1

        return from_async_iterable(events)

    def factories(self, n: int) -> list[StreamFactory]:
        return [functools.partial(self.factory, i) for i in range(n)]


async def test_results_come_in_order_with_bounded_concurrency(tmp_path: Path) -> None:
    streams = FakeStreams()
    out = io.StringIO()
    path = tmp_path / "answers.jsonl"
    messages = await gather_streams(
        streams.factories(10),
        concurrency=3,
        file=out,
        desc="prompts",
        jsonl=path,
    )
    assert [m.text for m in messages] == [f"answer {i}" for i in range(10)]
    assert streams.peak == 3
    assert "prompts" in out.getvalue() and "10/10" in out.getvalue()
    records = list(read_jsonl(path))
    assert sorted(r["index"] for r in records) == list(range(10))
    for record in records:
        assert message_from_dict(record["message"]) == messages[record["index"]]


async def test_first_failure_is_raised_and_cancels_the_rest() -> None:
    streams = FakeStreams(fail=1)
    with pytest.raises(ServerError):
        await gather_streams(streams.factories(6), concurrency=2, progress=False)
    await asyncio.sleep(0)
    assert streams.running == 0
    assert len(streams.started) < 6  # streams not yet started were never requested


async def test_failures_can_be_returned_in_place(tmp_path: Path) -> None:
    streams = FakeStreams(fail=2)
    path = tmp_path / "log.jsonl"
    results = await gather_streams(
        streams.factories(4),
        progress=False,
        jsonl=path,
        errors="return",
    )
    assert isinstance(results[2], ServerError)
    assert [getattr(r, "text", None) for r in results] == ["answer 0", "answer 1", None, "answer 3"]
    (failed,) = [r for r in read_jsonl(path) if "error" in r]
    assert failed == {"index": 2, "error": {"type": "ServerError", "message": str(results[2])}}


async def test_track_advances_a_given_bar_per_completed_stream() -> None:
    out = io.StringIO()
    with progress_bar(3, file=out) as bar:
        await collect(reactivex.from_iterable([TextDelta("a")]).pipe(track(bar)))
        with pytest.raises(ServerError):
            await collect(reactivex.throw(ServerError("x", status=500)).pipe(track(bar)))
        assert bar.n == 1
        await gather_streams([lambda: reactivex.empty()], progress=bar)
        assert bar.n == 2


async def test_bad_concurrency_and_missing_tqdm(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError):
        await gather_streams([], concurrency=0)
    monkeypatch.setitem(sys.modules, "tqdm.std", None)
    with pytest.raises(ImportError, match=r"'streamkit-llm\[progress\]'"):
        progress_bar(1)


def test_the_default_bar_is_text_that_moves_without_widgets() -> None:
    import io

    from tqdm.std import tqdm

    out = io.StringIO()
    with progress_bar(2, file=out) as bar:
        bar.update(1)
        bar.update(1)
    assert type(bar) is tqdm  # not the notebook widget, which needs a widget front end
    assert "\r" in out.getvalue() and "2/2" in out.getvalue()


async def test_a_mapping_of_factories_records_each_rows_key(tmp_path: Path) -> None:
    # Rerunning only some rows must not mix up answers: records carry keys, not just positions.
    streams = FakeStreams()
    path = tmp_path / "answers.jsonl"
    factories = {f"row-{i}": functools.partial(streams.factory, i) for i in (7, 3, 5)}
    messages = await gather_streams(factories, concurrency=2, progress=False, jsonl=path)
    assert [m.text for m in messages] == ["answer 7", "answer 3", "answer 5"]
    by_key = {r["key"]: message_from_dict(r["message"]).text for r in read_jsonl(path)}
    assert by_key == {"row-7": "answer 7", "row-3": "answer 3", "row-5": "answer 5"}
