"""What the operators build on: the ``Operator`` type, the scheduler a timed one runs on, and
``stateful_operator``, the scaffold of every operator that folds a stream into state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias, TypeVar

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

__all__ = ["Emit", "Operator", "now_seconds", "resolve_scheduler", "stateful_operator"]

A = TypeVar("A")
B = TypeVar("B")

#: What every streamkit operator returns: a function from one observable to another.
Operator: TypeAlias = Callable[[Observable[A]], Observable[B]]


def resolve_scheduler(
    explicit: abc.SchedulerBase | None, subscribed: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """The operator's own scheduler, else the subscriber's, else the running asyncio loop's.

    Falling back to the running loop keeps timers on the thread that runs streamkit's sources, so
    an operator never calls an observer from a timer thread in the middle of asyncio code.
    """
    if explicit is not None:
        return explicit
    if subscribed is not None:
        return subscribed
    try:
        return AsyncIOScheduler(asyncio.get_running_loop())
    except RuntimeError:
        return TimeoutScheduler.singleton()


def now_seconds(scheduler: abc.SchedulerBase) -> float:
    """The scheduler's clock as seconds (virtual time under a test scheduler)."""
    return scheduler.now.timestamp()


S = TypeVar("S")
Emit: TypeAlias = Callable[[B], None]


def stateful_operator(
    start: Callable[[], S],
    step: Callable[[S, A, Emit[B]], S],
    *,
    flush: Callable[[S, Emit[B]], None] | None = None,
    close: Callable[[S], None] | None = None,
) -> Operator[A, B]:
    """An operator that folds each item into state made per subscription, emitting as it goes.

    The one scaffold behind streamkit's stateful operators, so that each states only its fold:

    - ``start()`` makes the state when an observer subscribes (never shared between
      subscriptions).
    - ``step(state, item, emit)`` returns the next state; whatever it passes to ``emit`` goes
      downstream at once, in order.
    - ``flush(state, emit)`` runs when the source completes, before the completion is passed on.
    - ``close(state)`` runs exactly once when the subscription ends: after the source completes or
      fails (before that is passed on), after a step fails, or on disposal.

    An exception from ``step`` or ``flush`` ends the stream with ``on_error`` (after what was
    emitted before it) and disposes the source; a source error is passed on as it is. After the
    end, nothing more reaches the observer.

    Example:
        >>> def count(n: int, item: str, emit: Emit[int]) -> int:
        ...     emit(n + 1)
        ...     return n + 1
        >>> numbered = stateful_operator(lambda: 0, count)
    """

    def operator(source: Observable[A]) -> Observable[B]:
        def subscribe(
            observer: abc.ObserverBase[B], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            state = start()
            ended = False
            upstream = SingleAssignmentDisposable()

            def emit(value: B) -> None:
                if not ended:
                    observer.on_next(value)

            def end() -> bool:
                """Mark the stream ended; True for the first caller only."""
                nonlocal ended
                if ended:
                    return False
                ended = True
                if close is not None:
                    close(state)
                return True

            def fail(error: Exception) -> None:
                if end():
                    observer.on_error(error)
                    upstream.dispose()

            def on_next(item: A) -> None:
                nonlocal state
                if ended:
                    return
                try:
                    state = step(state, item, emit)
                except Exception as exc:
                    fail(exc)

            def on_completed() -> None:
                if ended:
                    return
                if flush is not None:
                    try:
                        flush(state, emit)
                    except Exception as exc:
                        fail(exc)
                        return
                if end():
                    observer.on_completed()

            def dispose() -> None:
                end()

            upstream.disposable = source.subscribe(on_next, fail, on_completed, scheduler=scheduler)
            return CompositeDisposable(upstream, Disposable(dispose))

        return Observable(subscribe)

    return operator
