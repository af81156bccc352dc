"""Bridges between observables and asyncio: async iterators in, ``async for`` and ``await`` out.

Many users think in ``async for``; streamkit's pipelines are observables. These functions convert
both ways without losing the guarantees either side gives: disposing a subscription cancels the
task behind it, and leaving an ``async for`` early disposes the subscription.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import weakref
from collections.abc import AsyncGenerator, AsyncIterator, Callable
from typing import Any, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = ["EventIterator", "aiter_events", "collect", "from_async_iterable"]

T = TypeVar("T")

_log = logging.getLogger("streamkit")

#: How many items ``aiter_events`` holds for a consumer that has fallen behind.
DEFAULT_MAX_BUFFERED = 65_536


def from_async_iterable(factory: Callable[[], AsyncGenerator[T, None]]) -> Observable[T]:
    """Make a cold observable that runs a fresh async generator for every subscription.

    Each subscription starts one task on the running event loop that pulls from ``factory()`` and
    pushes each item to the observer. Disposing the subscription cancels the task, which closes the
    iterator (its ``finally`` blocks and ``async with`` exits run); no ``on_next`` or ``on_error``
    follows a disposal. ``CancelledError`` is never turned into ``on_error``.

    Errors: a ``RuntimeError`` (as ``on_error``) when subscribed with no asyncio event loop
    running in the thread.
    """

    def subscribe(
        observer: abc.ObserverBase[T], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "streamkit sources run on asyncio: subscribe inside a running event loop "
                "(in a coroutine or a notebook cell)"
            ) from None
        disposed = False

        async def pump() -> None:
            try:
                async with contextlib.aclosing(factory()) as items:
                    async for item in items:
                        if disposed:
                            return
                        observer.on_next(item)
            except Exception as exc:
                if not disposed:
                    _send_error(observer, exc)
                return
            if not disposed:
                observer.on_completed()

        task = loop.create_task(pump())

        def dispose() -> None:
            nonlocal disposed
            disposed = True
            if task.done():
                return
            try:
                running = asyncio.get_running_loop()
            except RuntimeError:
                running = None
            if running is loop:
                task.cancel()
            else:
                loop.call_soon_threadsafe(task.cancel)

        return Disposable(dispose)

    return reactivex.create(subscribe)


def _send_error(observer: abc.ObserverBase[Any], error: Exception) -> None:
    """Pass ``error`` on; a subscriber without ``on_error`` gets it logged, once, instead of an
    asyncio "Task exception was never retrieved" long after the fact."""
    try:
        observer.on_error(error)
    except Exception as unhandled:
        _log.error(
            "a stream failed and its subscriber has no on_error: %s", unhandled, exc_info=unhandled
        )


class EventIterator(AsyncIterator[T]):
    """An ``async for`` view of an observable; see ``aiter_events``."""

    def __init__(self, source: Observable[T], *, max_buffered: int) -> None:
        if max_buffered < 1:
            raise ValueError(f"max_buffered must be at least 1, got {max_buffered}")
        self._queue: asyncio.Queue[tuple[str, Any]] = asyncio.Queue()
        self._max_buffered = max_buffered
        self._overflowed = False
        self._done = False
        self._subscription: abc.DisposableBase | None = None
        # The observer holds the iterator only weakly: a running source must not keep alive an
        # iterator its consumer dropped (``break``), so that ``__del__`` can dispose the source.
        put = _weak_put(weakref.ref(self))
        subscription = source.subscribe(
            on_next=lambda item: put("next", item),
            on_error=lambda exc: put("error", exc),
            on_completed=lambda: put("completed", None),
        )
        self._subscription = subscription
        if self._overflowed:  # the source overflowed the buffer while subscribing
            subscription.dispose()

    def _put(self, kind: str, value: Any) -> None:
        if self._overflowed:
            return
        if kind == "next" and self._queue.qsize() >= self._max_buffered:
            self._overflowed = True
            if self._subscription is not None:
                self._subscription.dispose()
            kind, value = (
                "error",
                BufferError(
                    f"the consumer fell {self._max_buffered} items behind the observable; "
                    "consume faster or batch upstream (e.g. with buffer_events)"
                ),
            )
        self._queue.put_nowait((kind, value))

    async def __anext__(self) -> T:
        if self._done:
            raise StopAsyncIteration
        try:
            kind, value = await self._queue.get()
        except BaseException:
            self.close()
            raise
        if kind == "next":
            return value  # type: ignore[no-any-return]
        self.close()
        if kind == "error":
            raise value
        raise StopAsyncIteration

    def close(self) -> None:
        """Dispose the subscription; idempotent."""
        self._done = True
        if self._subscription is not None:
            self._subscription.dispose()

    async def aclose(self) -> None:
        """Dispose the subscription; idempotent."""
        self.close()

    async def __aenter__(self) -> EventIterator[T]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        # Leaving ``async for`` by ``break`` drops the last reference: release the stream now.
        # (``__init__`` may have failed before setting the attributes.)
        subscription = getattr(self, "_subscription", None)
        if subscription is not None and not getattr(self, "_done", True):
            subscription.dispose()


def _weak_put(ref: weakref.ReferenceType[EventIterator[Any]]) -> Callable[[str, Any], None]:
    """A callback that feeds the iterator behind ``ref`` while it is alive, and then nothing."""

    def put(kind: str, value: Any) -> None:
        iterator = ref()
        if iterator is not None:
            iterator._put(kind, value)

    return put


def aiter_events(
    source: Observable[T], *, max_buffered: int = DEFAULT_MAX_BUFFERED
) -> EventIterator[T]:
    """Iterate over an observable with ``async for``.

    Subscribes at once. Items wait in a bounded buffer until the loop body takes them. Leaving the
    loop early (``break``, an exception, cancellation) disposes the subscription, which for a
    streamkit source closes its HTTP connection; ``async with aiter_events(...) as events:`` makes
    that point explicit. An error from the observable is raised from the ``async for``.

    Raises:
        BufferError: (from iteration) the consumer fell more than ``max_buffered`` items behind;
            an observable cannot be slowed down, and the alternative is unbounded memory.

    Example:
        >>> async for event in sk.aiter_events(sk.stream_chat(url, body)):  # doctest: +SKIP
        ...     print(event)
    """
    return EventIterator(source, max_buffered=max_buffered)


async def collect(source: Observable[T]) -> list[T]:
    """Await every item of an observable, in order.

    Unlike ``aiter_events`` there is no buffer limit: the list keeps every item anyway, and a
    source that emits all at once on subscribe (a fast ``replay``) is fine. Cancelling the await
    disposes the subscription.

    Raises:
        Exception: whatever error the observable ended with.
    """
    items: list[T] = []
    done: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def on_error(error: Exception) -> None:
        if not done.done():
            done.set_exception(error)

    def on_completed() -> None:
        if not done.done():
            done.set_result(None)

    subscription = source.subscribe(
        on_next=items.append, on_error=on_error, on_completed=on_completed
    )
    try:
        await done
    finally:
        subscription.dispose()
    return items
