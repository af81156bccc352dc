"""Bridges between observables and asyncio: async iterators in, ``async for`` and ``await`` out.

Many users think in ``async for``; streamkit's pipelines are observables. These functions convert
both ways without losing the guarantees either side gives: disposing a subscription cancels the
task behind it, and leaving an ``async for`` early disposes the subscription.

Two costs shape the code. A stream delivers many small items, so the sources pull whole batches
(``from_async_batches``: one network read decodes to one list) and hand them on in one go, and
the ``async for`` side takes items from a plain deque without suspending while any are waiting:
one task switch per batch, not per item. And a consumer may be slower than the network, so the
buffer between them is bounded and exerts backpressure: ``aiter_events`` asks the sources feeding
it to wait (``_Demand``) when ``pause_at`` items are waiting, and a waiting source reads nothing
more, so the socket's own flow control pauses the sender.

The request to wait travels in a context variable: an asyncio task copies the context it is
created in, and a source subscribed by ``aiter_events`` (through any chain of synchronous
operators) starts its task inside that call. Sources that never look (a ``Subject``, a timer)
are not slowed down; for them ``max_buffered`` stays a hard limit.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import weakref
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable
from typing import Any, TypeVar

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import Disposable

__all__ = [
    "DEFAULT_MAX_BUFFERED",
    "DEFAULT_PAUSE_AT",
    "EventIterator",
    "aiter_events",
    "collect",
    "from_async_batches",
    "from_async_iterable",
]

T = TypeVar("T")

_log = logging.getLogger("streamkit")

#: How many items ``aiter_events`` holds for a consumer that has fallen behind, at most.
DEFAULT_MAX_BUFFERED = 65_536
#: How many waiting items make ``aiter_events`` ask its sources to stop reading. Small: a waiting
#: event holds its decoded JSON, many times the size of the bytes it came from, which wait more
#: cheaply in the socket buffers.
DEFAULT_PAUSE_AT = 16


class _Demand:
    """A consumer's request to its sources to wait: ``paused`` is read before each item.

    Owned by one consumer (``EventIterator``); any number of sources may wait on it.
    """

    __slots__ = ("_resumed", "paused")

    def __init__(self) -> None:
        self.paused = False
        self._resumed: asyncio.Future[None] | None = None

    async def wait(self) -> None:
        """Return once the consumer has caught up (at once if it has)."""
        while self.paused:
            if self._resumed is None or self._resumed.done():
                self._resumed = asyncio.get_running_loop().create_future()
            await self._resumed

    def resume(self) -> None:
        """Let the waiting sources go on."""
        self.paused = False
        resumed, self._resumed = self._resumed, None
        if resumed is not None and not resumed.done():
            resumed.set_result(None)


#: The demand of the consumer whose subscription is being made, if it applies backpressure.
_demand: contextvars.ContextVar[_Demand | None] = contextvars.ContextVar(
    "streamkit_demand", default=None
)


def from_async_iterable(factory: Callable[[], AsyncGenerator[T, None]]) -> Observable[T]:
    """Make a cold observable that runs a fresh async generator for every subscription.

    Each subscription starts one task on the running event loop that pulls from ``factory()`` and
    pushes each item to the observer. Disposing the subscription cancels the task, which closes the
    iterator (its ``finally`` blocks and ``async with`` exits run); no ``on_next`` or ``on_error``
    follows a disposal. ``CancelledError`` is never turned into ``on_error``. When subscribed by
    ``aiter_events`` the task stops pulling while the consumer is behind.

    Errors: a ``RuntimeError`` (as ``on_error``) when subscribed with no asyncio event loop
    running in the thread.
    """

    return _pumped(factory, batched=False)


def from_async_batches(factory: Callable[[], AsyncGenerator[Iterable[T], None]]) -> Observable[T]:
    """Like ``from_async_iterable``, for a generator that yields items in batches.

    Each batch's items are emitted one by one, in order, with no task switch between them: a
    source that decodes one network read into many events yields them as one batch, and pays
    for one generator step per read instead of one per event. An empty batch emits nothing.
    Backpressure applies between any two items, so a consumer that is behind is never handed
    more than it asked for, however large the batch.
    """
    return _pumped(factory, batched=True)


def _pumped(factory: Callable[[], AsyncGenerator[Any, None]], *, batched: bool) -> Observable[Any]:
    """The observable of both: one task per subscription pulls from ``factory()``."""

    def subscribe(
        observer: abc.ObserverBase[Any], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        try:
            loop = asyncio.get_running_loop()
        except RuntimeError:
            raise RuntimeError(
                "streamkit sources run on asyncio: subscribe inside a running event loop "
                "(in a coroutine or a notebook cell)"
            ) from None
        disposed = False
        demand = _demand.get()

        async def pump() -> None:
            on_next = observer.on_next
            try:
                async with contextlib.aclosing(factory()) as source:
                    async for got in source:
                        for item in got if batched else (got,):
                            if demand is not None and demand.paused:
                                await demand.wait()
                            if disposed:
                                return
                            on_next(item)
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

    def __init__(
        self, source: Observable[T], *, max_buffered: int, pause_at: int = DEFAULT_PAUSE_AT
    ) -> None:
        if max_buffered < 1:
            raise ValueError(f"max_buffered must be at least 1, got {max_buffered}")
        if pause_at < 1:
            raise ValueError(f"pause_at must be at least 1, got {pause_at}")
        self._items: deque[T] = deque()
        self._max_buffered = max_buffered
        self._pause_at = min(pause_at, max_buffered)
        # Resume at half: the source refills while the consumer takes the other half.
        self._resume_at = self._pause_at // 2
        self._demand = _Demand()
        self._end: BaseException | None = None  # the error to raise once the items are taken
        self._ended = False  # the source completed, failed or overflowed
        self._overflowed = False
        self._done = False  # closed: iteration is over
        self._waiter: asyncio.Future[None] | None = None
        self._subscription: abc.DisposableBase | None = None
        # The observer holds the iterator only weakly: a running source must not keep alive an
        # iterator its consumer dropped (``break``), so that ``__del__`` can dispose the source.
        ref = weakref.ref(self)
        token = _demand.set(self._demand)
        try:
            subscription = source.subscribe(
                on_next=_weakly(ref, EventIterator._put),
                on_error=_weakly(ref, EventIterator._fail),
                on_completed=_weakly(ref, EventIterator._complete),
            )
        finally:
            _demand.reset(token)
        self._subscription = subscription
        if self._overflowed:
            subscription.dispose()  # the source overflowed the buffer while subscribing

    def _put(self, item: T) -> None:
        if self._ended:
            return
        items = self._items
        if len(items) >= self._max_buffered:
            self._overflowed = True
            self._fail(
                BufferError(
                    f"the consumer fell {self._max_buffered} items behind the observable; "
                    "consume faster or batch upstream (e.g. with buffer_events)"
                )
            )
            if self._subscription is not None:
                self._subscription.dispose()
            return
        items.append(item)
        if len(items) >= self._pause_at:
            self._demand.paused = True
        self._wake()

    def _fail(self, error: BaseException) -> None:
        if not self._ended:
            self._ended = True
            self._end = error
            self._wake()

    def _complete(self) -> None:
        if not self._ended:
            self._ended = True
            self._wake()

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    async def __anext__(self) -> T:
        while True:
            if self._done:
                raise StopAsyncIteration
            items = self._items
            if items:
                item = items.popleft()
                if self._demand.paused and len(items) <= self._resume_at:
                    self._demand.resume()
                return item
            if self._ended:
                error = self._end
                self.close()
                if error is not None:
                    raise error
                raise StopAsyncIteration
            self._waiter = asyncio.get_running_loop().create_future()
            try:
                await self._waiter
            except BaseException:
                self.close()
                raise
            finally:
                self._waiter = None

    def close(self) -> None:
        """Dispose the subscription; idempotent."""
        self._done = True
        self._items.clear()
        self._demand.resume()  # a source waiting on us must not wait forever; it is disposed
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


def _weakly(
    ref: weakref.ReferenceType[EventIterator[Any]], method: Callable[..., None]
) -> Callable[..., None]:
    """A callback that calls ``method`` on the iterator behind ``ref`` while it is alive."""

    def call(*args: Any) -> None:
        iterator = ref()
        if iterator is not None:
            method(iterator, *args)

    return call


def aiter_events(
    source: Observable[T],
    *,
    max_buffered: int = DEFAULT_MAX_BUFFERED,
    pause_at: int = DEFAULT_PAUSE_AT,
) -> EventIterator[T]:
    """Iterate over an observable with ``async for``.

    Subscribes at once. Items wait in a bounded buffer until the loop body takes them. When
    ``pause_at`` items are waiting, streamkit's sources (``stream_chat`` and anything built on
    ``from_async_iterable``) stop reading until half of them were taken: reading from the socket
    pauses, and the server is slowed by TCP flow control instead of memory growing. Leaving the
    loop early (``break``, an exception, cancellation) disposes the subscription, which for a
    streamkit source closes its HTTP connection; ``async with aiter_events(...) as events:`` makes
    that point explicit. An error from the observable is raised from the ``async for``, after the
    items that came before it.

    Args:
        source: the observable to iterate over.
        max_buffered: the most items held for a source that cannot be paused (a ``Subject``, a
            timer, an operator that multiplies items).
        pause_at: how many waiting items pause the sources that can be paused.

    Raises:
        ValueError: ``max_buffered`` or ``pause_at`` is below 1.
        BufferError: (from iteration) the consumer fell more than ``max_buffered`` items behind a
            source that cannot be paused; the alternative is unbounded memory.

    Example:
        >>> async for event in sk.aiter_events(sk.stream_chat(url, body)):  # doctest: +SKIP
        ...     print(event)
    """
    return EventIterator(source, max_buffered=max_buffered, pause_at=pause_at)


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
