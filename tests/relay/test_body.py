"""The framework-neutral relay body: ends properly, closes upstream when closed, stays bounded."""

from __future__ import annotations

import asyncio
import tracemalloc
from collections.abc import AsyncGenerator

import pytest
import reactivex

from streamkit.bridge import from_async_iterable
from streamkit.events import StreamStart, TextDelta
from streamkit.relay import relay_body
from streamkit.relay.body import RelayBody
from tests.relay._wire import fold_ui_parts, ui_parts


async def read_all(body: RelayBody) -> bytes:
    return b"".join([chunk async for chunk in body])


class Producer:
    """An upstream that emits ``count`` text pieces as fast as it can and notes its closing."""

    def __init__(self, count: int, piece: str) -> None:
        self.count, self.piece = count, piece
        self.sent = 0
        self.closed = asyncio.Event()

    async def run(self) -> AsyncGenerator[object, None]:
        try:
            yield StreamStart("msg", "m")
            for n in range(self.count):
                yield TextDelta(self.piece)
                self.sent += 1
                if n % 200 == 0:
                    await asyncio.sleep(0)  # let the consumer run, as a socket read would
        finally:
            self.closed.set()


async def test_nothing_is_requested_until_the_body_is_iterated() -> None:
    subscribed = []
    source = reactivex.defer(lambda _: subscribed.append(1) or reactivex.empty())
    body = relay_body(source, protocol="text")
    assert subscribed == []
    assert await read_all(body) == b""
    assert subscribed == [1]


async def test_a_failed_pipeline_still_ends_the_ui_stream_properly() -> None:
    events = reactivex.concat(
        reactivex.of(TextDelta("partial")), reactivex.throw(ConnectionError("gone"))
    )
    parts = ui_parts(await read_all(relay_body(events)))
    assert parts[-2:] == [{"type": "error", "errorText": "ConnectionError"}, "[DONE]"]


async def test_closing_the_body_closes_the_upstream() -> None:
    producer = Producer(10**9, "x")
    body = relay_body(from_async_iterable(producer.run), protocol="text")
    assert await body.__anext__()
    await body.aclose()
    async with asyncio.timeout(5):
        await producer.closed.wait()
    with pytest.raises(StopAsyncIteration):
        await body.__anext__()


async def test_cancelling_the_reading_task_closes_the_upstream() -> None:
    producer = Producer(10**9, "x")
    body = relay_body(from_async_iterable(producer.run), protocol="text")

    async def reader() -> None:
        async for _ in body:  # the task waits in the body for the next piece, as a server does
            pass

    task = asyncio.create_task(reader())
    while producer.sent < 100:
        await asyncio.sleep(0.001)
    task.cancel()
    async with asyncio.timeout(5):
        await producer.closed.wait()
    assert task.cancelled()


async def test_a_client_that_falls_behind_gets_merged_text_not_one_item_per_piece() -> None:
    producer = Producer(20_000, "ab")
    body = relay_body(from_async_iterable(producer.run), protocol="ui-message")
    first = await body.__anext__()  # subscribed; now the client stops reading
    async with asyncio.timeout(10):
        await producer.closed.wait()

    rest = await read_all(body)

    parts = ui_parts(first + rest)
    deltas = [p for p in parts if p != "[DONE]" and p["type"] == "text-delta"]
    assert fold_ui_parts(parts)["text"] == "ab" * 20_000
    assert len(deltas) < 10  # merged while waiting, instead of 20,000 parts
    assert body.peak_buffered_bytes <= 2 * 20_000


async def test_a_client_too_far_behind_is_cut_off_and_memory_stays_bounded() -> None:
    limit = 256 * 1024
    producer = Producer(200_000, "x" * 50)  # 10 MB of text, far beyond the limit
    body = relay_body(
        from_async_iterable(producer.run), protocol="ui-message", max_buffered_bytes=limit
    )
    tracemalloc.start()
    try:
        first = await body.__anext__()
        async with asyncio.timeout(10):
            await producer.closed.wait()  # the relay closed the upstream by itself
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    rest = await read_all(body)

    assert producer.sent < producer.count
    assert body.peak_buffered_bytes <= limit + 50
    assert peak < 4 * limit  # held text, merged, plus bookkeeping: no per-piece growth
    parts = ui_parts(first + rest)
    assert parts[-2:] == [{"type": "error", "errorText": "BufferError"}, "[DONE]"]


async def test_a_silent_upstream_gets_keep_alives() -> None:
    async def silent() -> AsyncGenerator[object, None]:
        yield StreamStart("msg", "m")
        await asyncio.sleep(0.2)
        yield TextDelta("late")

    body = relay_body(from_async_iterable(silent), keep_alive=0.05)
    chunks = [chunk async for chunk in body]
    assert b": keep-alive\n\n" in chunks
    assert fold_ui_parts(ui_parts(b"".join(chunks)))["text"] == "late"


def test_bad_arguments_are_refused_early() -> None:
    with pytest.raises(ValueError, match="unknown relay protocol"):
        relay_body(reactivex.empty(), protocol="websocket")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="max_buffered_bytes"):
        relay_body(reactivex.empty(), max_buffered_bytes=0)
