"""What the operators build on: the ``Operator`` type, the scheduler a timed one runs on,
``stateful_operator``, the scaffold of every operator that folds a stream into state, and the
input check of the operators over chat events (``check_event``, ``events_only``)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar, get_args

from reactivex import Observable, abc
from reactivex import operators as rx_ops
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

from streamkit.events import StreamEvent
from streamkit.fold.tool_calls import ToolCallPreview
from streamkit.sse import SSEEvent

__all__ = [
    "Emit",
    "Operator",
    "check_event",
    "events_only",
    "now_seconds",
    "resolve_scheduler",
    "stateful_operator",
]

A = TypeVar("A")
B = TypeVar("B")

#: What every streamkit operator returns: a function from one observable to another.
Operator: TypeAlias = Callable[[Observable[A]], Observable[B]]

#: What the chat operators understand: the decoded events, and the previews of tool calls.
_CHAT_EVENTS: Final[tuple[type, ...]] = (*get_args(StreamEvent), ToolCallPreview)


def check_event(
    item: object, operator: str, *, also: tuple[type, ...] = (), sse_hint: str | None = None
) -> None:
    """Raise a clear ``TypeError`` unless ``item`` is a chat event (or one of ``also``).

    Operators over the answer (text, tool calls, progress, the message, retry and resume) would
    otherwise drop what they do not know silently, or fail deep inside with an
    ``AttributeError``; they call this on each item and fail at the first foreign one instead.

    Args:
        item: what arrived.
        operator: the operator's name, for the message (``"text()"``).
        also: further accepted types (``str`` for operators that take text pieces too).
        sse_hint: what to do instead with raw ``SSEEvent`` values, when the default advice
            (decode a chat stream) does not fit.

    Raises:
        TypeError: ``item`` is something else, such as a raw ``SSEEvent`` from ``sse_source``.
    """
    if isinstance(item, _CHAT_EVENTS) or isinstance(item, also):
        return
    hint = ""
    if isinstance(item, SSEEvent):
        hint = ": " + (
            sse_hint
            or "raw SSE events from sse_source carry no decoded answer; stream a chat API with "
            "stream_chat (or decode bytes with ChatDecoder), or read each event's .data yourself"
        )
    raise TypeError(
        f"{operator} works on streamkit chat events (TextDelta, ToolCallDelta, Finish, ...), "
        f"got {type(item).__name__}{hint}"
    )


def events_only(
    operator: str, *, also: tuple[type, ...] = (), sse_hint: str | None = None
) -> Operator[A, A]:
    """An operator that passes chat events on and fails the stream at the first other item.

    For operators that subscribe by hand: put it in front of the source, so the ``TypeError`` of
    ``check_event`` reaches the observer as ``on_error`` and the source is disposed. The
    arguments are those of ``check_event``.
    """

    def check(item: A) -> A:
        check_event(item, operator, also=also, sse_hint=sse_hint)
        return item

    return rx_ops.map(check)


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
