"""Bridges between observables and asyncio: from_async_iterable, aiter_events, collect."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator

import pytest
import reactivex
from reactivex import Observable
from reactivex.abc import DisposableBase
from reactivex.subject import Subject

from streamkit.bridge import aiter_events, collect, from_async_iterable


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
