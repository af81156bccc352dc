"""What the operators build on: the ``Operator`` type, the input check, the scheduler to time on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Final, TypeAlias, TypeVar, get_args

from reactivex import Observable, abc
from reactivex import operators as rx_ops
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

from streamkit.events import StreamEvent
from streamkit.fold.tool_calls import ToolCallPreview
from streamkit.sse import SSEEvent

__all__ = ["Operator", "check_event", "events_only", "now_seconds", "resolve_scheduler"]

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
