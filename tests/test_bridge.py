"""Bridges between observables and asyncio: from_async_iterable, aiter_events, collect."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncGenerator

import pytest
import reactivex
from aiohttp import web
from reactivex import Observable
from reactivex import operators as ops
from reactivex.abc import DisposableBase
from reactivex.subject import Subject

from streamkit.bridge import aiter_events, collect, from_async_batches, from_async_iterable
from streamkit.client import stream_chat
from streamkit.events import Finish, StreamStart, TextDelta
from streamkit.formats.openai import OpenAIEncoder


class Probe:
    """An async generator factory that records its lifecycle."""

    def __init__(self, items: list[int], *, fail: Exception | None = None, hang: bool = False):
        self.items = items
        self.fail = fail
        self.hang = hang
        self.started = 0
        self.finalized = asyncio.Event()
        self.cancelled = False
        self.yielded: list[int] = []

    async def gen(self) -> AsyncGenerator[int, None]:
        self.started += 1
        try:
            for item in self.items:
                self.yielded.append(item)
                yield item
                await asyncio.sleep(0)
            if self.fail is not None:
                raise self.fail
            if self.hang:
                await asyncio.sleep(30)
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        finally:
            self.finalized.set()


# -- from_async_iterable ----------------------------------------------------------------------


async def test_from_async_iterable_emits_in_order_and_completes() -> None:
    probe = Probe([1, 2, 3])
    assert await collect(from_async_iterable(probe.gen)) == [1, 2, 3]
    assert probe.finalized.is_set()


async def test_from_async_iterable_is_cold() -> None:
    probe = Probe([1, 2])
    source = from_async_iterable(probe.gen)
    assert probe.started == 0
    assert await collect(source) == [1, 2]
    assert await collect(source) == [1, 2]
    assert probe.started == 2


async def test_from_async_iterable_error_becomes_on_error() -> None:
    probe = Probe([1], fail=KeyError("boom"))
    items: list[int] = []
    errors: list[Exception] = []
    done = asyncio.Event()

    def on_error(error: Exception) -> None:
        errors.append(error)
        done.set()

    from_async_iterable(probe.gen).subscribe(
        on_next=items.append, on_error=on_error, on_completed=done.set
    )
    async with asyncio.timeout(2):
        await done.wait()
    assert items == [1]
    assert len(errors) == 1 and isinstance(errors[0], KeyError)


async def test_disposal_cancels_the_generator_and_stops_delivery() -> None:
    probe = Probe([1], hang=True)
    items: list[int] = []
    ended: list[str] = []
    subscription = from_async_iterable(probe.gen).subscribe(
        on_next=items.append,
        on_error=lambda e: ended.append(f"error {e!r}"),
        on_completed=lambda: ended.append("completed"),
    )
    while not items:
        await asyncio.sleep(0.01)
    subscription.dispose()
    async with asyncio.timeout(2):
        await probe.finalized.wait()
    assert probe.cancelled
    await asyncio.sleep(0.05)
    assert ended == []  # CancelledError is not an error, and there is no completion either
    assert items == [1]
    subscription.dispose()  # idempotent


async def test_dispose_before_first_item() -> None:
    probe = Probe([1, 2])
    items: list[int] = []
    subscription = from_async_iterable(probe.gen).subscribe(on_next=items.append)
    subscription.dispose()
    await asyncio.sleep(0.05)
    assert items == []


def test_subscribe_without_running_loop_raises() -> None:
    probe = Probe([1])
    with pytest.raises(RuntimeError, match="running event loop"):
        from_async_iterable(probe.gen).subscribe()


# -- aiter_events -----------------------------------------------------------------------------


async def test_aiter_events_in_order() -> None:
    got = [item async for item in aiter_events(reactivex.of(1, 2, 3))]
    assert got == [1, 2, 3]


async def test_aiter_events_raises_the_error() -> None:
    source: Observable[int] = reactivex.concat(
        reactivex.of(1, 2), reactivex.throw(ValueError("bad"))
    )
    got: list[int] = []
    with pytest.raises(ValueError, match="bad"):
        async for item in aiter_events(source):
            got.append(item)
    assert got == [1, 2]


async def test_break_disposes_the_subscription() -> None:
    probe = Probe(list(range(100)), hang=True)
    async with aiter_events(from_async_iterable(probe.gen)) as events:
        async for item in events:
            if item == 2:
                break
    async with asyncio.timeout(2):
        await probe.finalized.wait()
    assert probe.cancelled
    assert len(probe.yielded) < 100


async def test_break_without_context_manager_disposes() -> None:
    probe = Probe(list(range(100)), hang=True)

    async def first_two() -> list[int]:
        got: list[int] = []
        async for item in aiter_events(from_async_iterable(probe.gen)):
            got.append(item)
            if len(got) == 2:
                break
        return got

    assert await first_two() == [0, 1]
    async with asyncio.timeout(2):
        await probe.finalized.wait()
    assert probe.cancelled


async def test_exception_in_loop_body_disposes() -> None:
    subject: Subject[int] = Subject()
    disposed: list[bool] = []
    source = reactivex.using(lambda: _Flag(disposed), lambda _: subject)
    with pytest.raises(RuntimeError, match="body"):
        async with aiter_events(source) as events:
            subject.on_next(1)
            async for _ in events:
                raise RuntimeError("body")
    assert disposed == [True]


class _Flag(DisposableBase):
    def __init__(self, out: list[bool]) -> None:
        self.out = out

    def dispose(self) -> None:
        self.out.append(True)


async def test_overflow_raises_buffer_error_and_disposes() -> None:
    subject: Subject[int] = Subject()
    disposed: list[bool] = []
    source = reactivex.using(lambda: _Flag(disposed), lambda _: subject)
    events = aiter_events(source, max_buffered=3)
    for i in range(10):
        subject.on_next(i)  # the consumer does not run: the buffer fills
    assert disposed == [True]
    got: list[int] = []
    with pytest.raises(BufferError, match="3 items behind"):
        async for item in events:
            got.append(item)
    assert got == [0, 1, 2]


def test_max_buffered_must_be_positive() -> None:
    with pytest.raises(ValueError):
        aiter_events(reactivex.empty(), max_buffered=0)


async def test_iteration_after_end_stops() -> None:
    events = aiter_events(reactivex.of(1))
    assert [x async for x in events] == [1]
    with pytest.raises(StopAsyncIteration):
        await events.__anext__()


async def test_cancelled_consumer_disposes() -> None:
    probe = Probe([], hang=True)

    async def consume() -> None:
        async for _ in aiter_events(from_async_iterable(probe.gen)):
            pass

    task = asyncio.create_task(consume())
    while not probe.started:
        await asyncio.sleep(0.01)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    async with asyncio.timeout(2):
        await probe.finalized.wait()
    assert probe.cancelled


# -- collect ----------------------------------------------------------------------------------


async def test_collect() -> None:
    assert await collect(reactivex.of("a", "b")) == ["a", "b"]
    assert await collect(reactivex.empty()) == []
    with pytest.raises(ZeroDivisionError):
        await collect(reactivex.throw(ZeroDivisionError()))


async def test_collect_takes_a_large_source_that_emits_on_subscribe() -> None:
    assert await collect(reactivex.from_iterable(range(100_000))) == list(range(100_000))


async def test_cancelling_collect_disposes_the_subscription() -> None:
    subject: Subject[int] = Subject()
    task = asyncio.create_task(collect(subject))
    await asyncio.sleep(0)
    assert subject.observers

    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not subject.observers


async def test_overflow_while_subscribing() -> None:
    events = aiter_events(reactivex.from_iterable(range(10)), max_buffered=3)
    got: list[int] = []
    with pytest.raises(BufferError):
        async for item in events:
            got.append(item)
    assert got == [0, 1, 2]


# -- backpressure -------------------------------------------------------------------------------


async def _let_the_loop_run(turns: int = 50) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)


async def test_a_consumer_that_is_behind_pauses_the_source() -> None:
    probe = Probe(list(range(1000)))
    async with aiter_events(from_async_iterable(probe.gen), pause_at=8) as events:
        assert await events.__anext__() == 0
        await _let_the_loop_run()
        assert len(probe.yielded) <= 1 + 8 + 1  # one taken, 8 waiting, one pulled: not 1000
        rest = [item async for item in events]
    assert rest == list(range(1, 1000))


async def test_backpressure_reaches_the_source_through_operators() -> None:
    probe = Probe(list(range(500)))
    source = from_async_iterable(probe.gen).pipe(
        ops.filter(lambda item: item % 2 == 0), ops.map(lambda item: item * 10)
    )
    async with aiter_events(source, pause_at=4) as events:
        assert await events.__anext__() == 0
        await _let_the_loop_run()
        assert len(probe.yielded) <= 2 * 4 + 2  # half the items pass the filter
        rest = [item async for item in events]
    assert rest == [item * 10 for item in range(2, 500, 2)]


async def test_a_batch_is_handed_over_no_faster_than_the_consumer_takes_it() -> None:
    pulled: list[int] = []

    async def batches() -> AsyncGenerator[list[int], None]:
        for start in range(0, 300, 100):
            pulled.append(start)
            yield list(range(start, start + 100))

    delivered: list[int] = []
    source = from_async_batches(batches).pipe(ops.do_action(delivered.append))
    async with aiter_events(source, pause_at=10) as events:
        assert await events.__anext__() == 0
        await _let_the_loop_run()
        assert pulled == [0]  # the next read waits
        assert len(delivered) <= 10 + 1  # the first batch itself is handed over as taken
        got = [0] + [item async for item in events]
    assert got == list(range(300))


async def test_empty_batches_emit_nothing() -> None:
    async def batches() -> AsyncGenerator[list[int], None]:
        yield []
        yield [1, 2]
        yield []

    assert await collect(from_async_batches(batches)) == [1, 2]


def test_pause_at_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pause_at"):
        aiter_events(reactivex.empty(), pause_at=0)


async def test_a_slow_consumer_stops_the_transport_reading_the_socket() -> None:
    """The whole answer is megabytes; a consumer that stalls after one event leaves it unread."""
    events = [StreamStart(id="c", model="m"), *(TextDelta(f" w{i}") for i in range(20_000))]
    encoder = OpenAIEncoder(created=0)
    body = b"".join(encoder.encode(event) for event in events)
    body += encoder.encode(Finish("stop", raw_reason="stop")) + encoder.finish()

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(headers={"content-type": "text/event-stream"})
        await response.prepare(request)
        with contextlib.suppress(ConnectionResetError):
            for start in range(0, len(body), 4096):
                await response.write(body[start : start + 4096])
            await response.write_eof()
        return response

    app = web.Application()
    app.router.add_post("/v1/chat/completions", handler)
    runner = web.AppRunner(app)
    await runner.setup()
    read: list[int] = []
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        url = f"http://127.0.0.1:{runner.addresses[0][1]}"
        body_json = {"model": "m", "messages": []}
        stream = stream_chat(url, body_json, tap=lambda data, _: read.append(len(data)))
        async with asyncio.timeout(30):
            async with aiter_events(stream, pause_at=16) as iterator:
                await iterator.__anext__()
                for _ in range(20):  # the server meanwhile writes all it can
                    await asyncio.sleep(0.01)
                assert sum(read) < 64 * 1024 < len(body) // 10
                texts = [event async for event in iterator if isinstance(event, TextDelta)]
        assert len(texts) == 20_000  # the event taken first was the StreamStart
        assert sum(read) == len(body)
    finally:
        await runner.cleanup()
