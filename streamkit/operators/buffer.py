"""Batch a stream into fewer, larger emissions: by count or by time, whichever comes first.

A model streams one token at a time, often hundreds per second; redrawing a terminal or a
notebook widget for each is wasteful. ``buffer_text`` joins the text pieces of one choice into
strings and ``buffer_events`` groups any events into lists, each emitted when ``count`` items are
waiting or ``seconds`` have passed since the first of them arrived.

The timer starts with the first item of a batch (it is not a periodic tick), so an idle stream
emits nothing and a batch never waits longer than ``seconds``. What is waiting is emitted when the
source completes and before its error is passed on, so nothing is lost or reordered, and no batch
is ever empty.

The batching policy is plain code (``_Batch``), tested on its own; the operators wrap it with a
per-subscription lock and one timer on the scheduler, re-armed for each batch that needs it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import (
    CompositeDisposable,
    Disposable,
    SerialDisposable,
    SingleAssignmentDisposable,
)

from streamkit.events import Rewind, StreamEvent, TextDelta
from streamkit.operators.base import Operator, check_event, now_seconds, resolve_scheduler

__all__ = ["buffer_events", "buffer_text"]

T = TypeVar("T")
B = TypeVar("B")

#: How early a timer may fire and still flush its batch, in seconds.
_EARLY = 0.001


def _check(count: int, seconds: float | None) -> None:
    """Raise ValueError for a batch size below 1 or a time span that is not positive."""
    if isinstance(count, bool) or not isinstance(count, int) or count < 1:
        raise ValueError(f"count must be an integer of at least 1, got {count!r}")
    if seconds is not None and not seconds > 0:
        raise ValueError(f"seconds must be positive or None, got {seconds!r}")


@dataclass(slots=True)
class _Batch(Generic[T]):
    """Items waiting to be emitted, and which timer (by generation) may still flush them.

    ``generation`` grows with every flush, so a timer started for an earlier batch that fires
    late (it raced with a count flush) finds a newer generation and leaves the batch alone.
    """

    count: int
    items: list[T] = field(default_factory=list)
    generation: int = 0

    def add(self, item: T) -> tuple[bool, bool]:
        """Take one item; return (start a timer: it is the batch's first, flush now: it is full)."""
        self.items.append(item)
        return len(self.items) == 1, len(self.items) >= self.count

    def take(self) -> list[T]:
        """Empty the batch and return what it held (possibly nothing)."""
        items, self.items = self.items, []
        self.generation += 1
        return items

    def clear(self) -> None:
        """Drop what is waiting without emitting it."""
        self.take()


def _batching(
    count: int,
    seconds: float | None,
    scheduler: abc.SchedulerBase | None,
    select: Callable[[StreamEvent], T | None],
    pack: Callable[[list[T]], B],
    clears: Callable[[StreamEvent], bool],
) -> Operator[StreamEvent, B]:
    """The shared operator: ``select`` picks items (None: skip), ``pack`` turns a batch into one
    emission, ``clears`` tells which events drop the waiting batch."""

    def operator(source: Observable[StreamEvent]) -> Observable[B]:
        def subscribe(
            observer: abc.ObserverBase[B], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            timer = resolve_scheduler(scheduler, subscribe_scheduler)
            batch: _Batch[T] = _Batch(count)
            # Re-entrant: an observer may dispose (taking no lock) or a synchronous source may call
            # back while we emit; a timer on another thread must wait for the emission to end.
            lock = threading.RLock()
            pending_timer = SerialDisposable()
            upstream = SingleAssignmentDisposable()
            stopped = False
            # One timer at a time, re-armed rather than replaced: a batch that fills up by count
            # leaves the timer running, and when it fires it flushes the batch waiting then only
            # if that batch's time is up, else it re-arms for the rest. Creating and cancelling a
            # timer per batch cost more than the batching saved.
            armed = False
            deadline = 0.0  # when the waiting batch is due, on the scheduler's clock

            def arm(delay: float) -> None:
                nonlocal armed
                armed = True
                pending_timer.disposable = timer.schedule_relative(delay, on_timer)

            def flush() -> None:
                items = batch.take()
                if items:
                    observer.on_next(pack(items))

            def on_timer(*_: object) -> None:
                nonlocal armed
                with lock:
                    armed = False
                    if stopped or not batch.items or seconds is None:
                        return
                    left = deadline - now_seconds(timer)
                    # Event loops fire timers up to their clock's resolution early, and the
                    # scheduler's clock may not be the loop's: within a millisecond is due.
                    if left > _EARLY:
                        # Never longer than a window, should the clock have jumped back.
                        arm(min(left, seconds))
                    else:
                        flush()

            def on_next(event: StreamEvent) -> None:
                nonlocal deadline
                with lock:
                    if stopped:
                        return
                    if clears(event):
                        batch.clear()
                    item = select(event)
                    if item is None:
                        return
                    first, full = batch.add(item)
                    if full:
                        flush()
                    elif first and seconds is not None:
                        deadline = now_seconds(timer) + seconds
                        if not armed:
                            arm(seconds)

            def finish(end: Callable[[], None]) -> None:
                nonlocal stopped
                with lock:
                    if stopped:
                        return
                    flush()
                    stopped = True
                    end()

            def on_error(error: Exception) -> None:
                finish(lambda: observer.on_error(error))

            def on_completed() -> None:
                finish(observer.on_completed)

            def dispose() -> None:
                nonlocal stopped
                stopped = True  # a timer already running sees it and emits nothing

            upstream.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=subscribe_scheduler
            )
            return CompositeDisposable(Disposable(dispose), upstream, pending_timer)

        return Observable(subscribe)

    return operator


def buffer_text(
    count: int = 10,
    seconds: float | None = 0.1,
    *,
    choice: int = 0,
    scheduler: abc.SchedulerBase | None = None,
) -> Operator[StreamEvent, str]:
    """Join the text of one choice into strings of ``count`` pieces or ``seconds`` of waiting.

    Only ``TextDelta`` events of ``choice`` are taken (empty pieces are skipped); every other
    event is dropped. A string is emitted when ``count`` pieces are waiting, or ``seconds`` after
    the first piece of the batch arrived, whichever is first; the rest is emitted when the source
    completes, and before its error is passed on. The strings joined equal the text joined: no
    piece is lost, reordered or repeated, and no string is empty.

    A ``Rewind`` (the retry layer restarted a diverging answer) drops the text still waiting,
    since it belongs to the voided answer; text already emitted cannot be recalled through a
    stream of plain strings. A display that must honour rewinds should use ``buffer_events``,
    which passes the ``Rewind`` on in order.

    Timing runs on ``scheduler``, else the subscriber's, else the running asyncio loop's.
    Disposing the subscription cancels the pending timer.

    Args:
        count: pieces per string at most (at least 1).
        seconds: how long the first piece of a batch may wait; None waits only for ``count``.
        choice: which choice's text to take.
        scheduler: where the waiting is timed.

    Returns:
        An operator from events to strings.

    Raises:
        ValueError: ``count`` is below 1 or ``seconds`` is not positive.

    Example:
        >>> events.pipe(ops.buffer_text(count=20, seconds=0.05)).subscribe(print)  # doctest: +SKIP

    Marble (``seconds`` = 4 ticks, ``count`` = 3; x = "ab", y = "cde", z = "f")::

        source:  -a-b---c-d-e-f-|
        result:  -----x-----y---(z,|)
    """
    _check(count, seconds)

    def select(event: StreamEvent | str) -> str | None:
        if isinstance(event, TextDelta) and event.choice == choice and event.text:
            return event.text
        if isinstance(event, str):  # text pieces, as from text() or smooth()
            return event or None
        check_event(event, "buffer_text()")
        return None

    return _batching(count, seconds, scheduler, select, "".join, _is_rewind)


def buffer_events(
    count: int = 10,
    seconds: float | None = 0.1,
    *,
    scheduler: abc.SchedulerBase | None = None,
) -> Operator[StreamEvent, list[StreamEvent]]:
    """Group events into lists of ``count`` events or ``seconds`` of waiting.

    The same policy as ``buffer_text``, over every event: a list is emitted when ``count`` events
    are waiting or ``seconds`` after the first of them arrived, the rest on completion and before
    an error. Lists are never empty and keep the source's order; a ``Rewind`` travels in its list
    like any event, so a consumer can discard what it showed before the events that follow it.

    Args:
        count: events per list at most (at least 1).
        seconds: how long the first event of a batch may wait; None waits only for ``count``.
        scheduler: where the waiting is timed (else the subscriber's, else the asyncio loop's).

    Returns:
        An operator from events to lists of events.

    Raises:
        ValueError: ``count`` is below 1 or ``seconds`` is not positive.

    Example:
        >>> events.pipe(ops.buffer_events(50, 0.1)).subscribe(render_batch)  # doctest: +SKIP

    Marble (``seconds`` = 4 ticks, ``count`` = 10)::

        source:  -a-b------c-|
        result:  -----x------(y|)      (x = [a, b], y = [c])
    """
    _check(count, seconds)

    def select(event: StreamEvent) -> StreamEvent:
        return event

    def pack(events: list[StreamEvent]) -> list[StreamEvent]:
        return events

    def keep(event: StreamEvent) -> bool:
        return False

    return _batching(count, seconds, scheduler, select, pack, keep)


def _is_rewind(event: StreamEvent) -> bool:
    return isinstance(event, Rewind)
