"""Plain callbacks for code that does not speak Rx: ``on_events(source, on_text=print, ...)``.

``on_events`` subscribes at once and calls the given functions as the stream goes: each event,
each piece of text, each complete tool call, then the final ``Message`` or the error. It returns a
``StreamHandle``: ``dispose()`` stops the stream, ``await handle.wait()`` gives the final message.

Errors never vanish. An exception raised by a callback ends the stream just as a stream error
does: the subscription is disposed, no further callback runs, and the exception goes to
``on_error``. Without ``on_error`` it is kept for ``wait()`` to raise; and if nobody ever
retrieves it, it is logged on the ``streamkit`` logger when the handle is garbage-collected, as
asyncio does for a future whose exception was never retrieved.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from reactivex import Observable

from streamkit.events import Rewind, StreamEvent, TextDelta, ToolCall
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.message import Message
from streamkit.operators.tool_calls import InvalidArguments, assemble_tool_calls
from streamkit.stream_handle import StreamHandle

__all__ = ["StreamHandle", "on_events"]


def _repeated_call(seen: set[tuple[int, int]], event: StreamEvent) -> bool:
    """Whether ``event`` is a tool call already reported (upstream assembled it too)."""
    if isinstance(event, Rewind):
        seen.clear()
    if not isinstance(event, ToolCall):
        return False
    key = (event.choice, event.index)
    if key in seen:
        return True
    seen.add(key)
    return False


def on_events(
    source: Observable[StreamEvent],
    *,
    on_text: Callable[[str], object] | None = None,
    on_tool_call: Callable[[ToolCall], object] | None = None,
    on_done: Callable[[Message], object] | None = None,
    on_error: Callable[[Exception], object] | None = None,
    on_event: Callable[[StreamEvent], object] | None = None,
    choice: int = 0,
    invalid: InvalidArguments = "raise",
) -> StreamHandle:
    """Subscribe to ``source`` and call plain functions as the stream goes.

    For each event, in this order: ``on_event(event)`` (every event, ``ToolCall`` values
    included), ``on_text(text)`` for the text of ``choice``, ``on_tool_call(call)`` when a tool
    call of ``choice`` is complete (assembled from its fragments by ``assemble_tool_calls``). At
    the end, ``on_done(message)`` with the final ``Message`` (built by ``streamkit.message``), or
    ``on_error(error)``. Exactly one of ``on_done`` and ``on_error`` runs, once; after it, or after
    ``dispose()``, nothing does. A tool call is reported once, also when the source already
    carries assembled ``ToolCall`` values.

    An exception raised by ``on_event``, ``on_text``, ``on_tool_call`` or ``on_done`` ends the
    stream (it is disposed) and goes to ``on_error`` like a stream error; without ``on_error``
    it is raised by ``handle.wait()`` (and logged if never retrieved). An exception raised by
    ``on_error`` itself propagates to the source.

    Args:
        source: the stream's events.
        on_text: called with each piece of text of ``choice``.
        on_tool_call: called with each complete ``ToolCall`` of ``choice``.
        on_done: called with the final message when the stream completes.
        on_error: called with the stream's error or a callback's exception.
        on_event: called with every event.
        choice: the choice whose text and tool calls are reported (OpenAI ``n > 1``).
        invalid: a tool call whose arguments are not valid JSON: ``raise`` makes it a
            ``ToolCallError`` (ending the stream), ``emit`` passes it with ``valid=False``.

    Returns:
        A handle to dispose the subscription or await the final message.

    Raises:
        TypeError: a callback is a coroutine function; callbacks are called, never awaited
            (iterate with ``sk.aiter_events`` to await work per event).

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> handle = sinks.on_events(events, on_text=lambda t: print(t, end=""))  # doctest: +SKIP
        >>> message = await handle.wait()  # doctest: +SKIP
    """
    callbacks = {
        "on_text": on_text,
        "on_tool_call": on_tool_call,
        "on_done": on_done,
        "on_error": on_error,
        "on_event": on_event,
    }
    for name, callback in callbacks.items():
        if inspect.iscoroutinefunction(callback):
            raise TypeError(
                f"{name} is a coroutine function: callbacks are called, not awaited; "
                "use `async for event in sk.aiter_events(events)` to await per event"
            )
    handle = StreamHandle()
    builder = MessageBuilder(invalid=invalid)
    seen_calls: set[tuple[int, int]] = set()

    def fail(error: Exception) -> None:
        if handle.settle_error(error, handled=on_error is not None) and on_error is not None:
            on_error(error)

    def next_event(event: StreamEvent) -> None:
        nonlocal builder
        if handle.done or _repeated_call(seen_calls, event):
            return
        try:
            if on_event is not None:
                on_event(event)
            if on_text is not None and isinstance(event, TextDelta) and event.choice == choice:
                on_text(event.text)
            if on_tool_call is not None and isinstance(event, ToolCall) and event.choice == choice:
                on_tool_call(event)
            builder = accumulate(builder, event)
        except Exception as exc:
            fail(exc)

    def completed() -> None:
        if handle.done:
            return
        try:
            message = builder.build()
            if on_done is not None:
                on_done(message)
        except Exception as exc:
            fail(exc)
            return
        handle.settle_message(message)

    def error(exc: Exception) -> None:
        if not handle.done:
            fail(exc)

    subscription = source.pipe(assemble_tool_calls(invalid=invalid)).subscribe(
        next_event, error, completed
    )
    handle.attach(subscription)
    return handle
