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

import asyncio
import functools
import inspect
import logging
import threading
from collections.abc import Callable

from reactivex import Observable
from reactivex.disposable import SingleAssignmentDisposable

from streamkit.events import Rewind, StreamEvent, TextDelta, ToolCall
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.message import Message
from streamkit.operators.tool_calls import InvalidArguments, assemble_tool_calls

__all__ = ["StreamHandle", "on_events"]

_log = logging.getLogger("streamkit")


class StreamHandle:
    """A running ``on_events`` subscription: stop it, or await its outcome.

    Attributes:
        message: the final message once the stream completed (and ``on_done`` returned).
        error: the error the stream ended with, or the exception a callback raised.
    """

    def __init__(self) -> None:
        self.message: Message | None = None
        self.error: Exception | None = None
        self._done = False
        self._disposed = False
        self._retrieved = False
        self._subscription = SingleAssignmentDisposable()
        self._waiters: list[asyncio.Future[Message]] = []
        self._lock = threading.Lock()

    @property
    def done(self) -> bool:
        """True once the stream completed, failed or was disposed."""
        return self._done

    def dispose(self) -> None:
        """Stop the stream (closing its connection); no callback runs afterwards. Idempotent.

        A pending ``wait()`` raises ``asyncio.CancelledError``, as awaiting a cancelled future does.
        """
        if self._settle(disposed=True):
            for waiter in self._take_waiters():
                _call_in_loop(waiter, waiter.cancel)

    async def wait(self) -> Message:
        """Wait for the end of the stream and return its final message.

        Cancelling the wait does not stop the stream; call ``dispose()`` for that.

        Raises:
            Exception: the stream's error or a callback's exception (also when ``on_error``
                received it).
            asyncio.CancelledError: the handle was disposed before the stream ended.
        """
        waiter: asyncio.Future[Message] | None = None
        with self._lock:
            if not self._done:
                waiter = asyncio.get_running_loop().create_future()
                self._waiters.append(waiter)
        if waiter is None:
            return self._outcome()
        return await waiter

    def _outcome(self) -> Message:
        if self._disposed:
            raise asyncio.CancelledError
        if self.error is not None:
            self._retrieved = True
            raise self.error
        assert self.message is not None
        return self.message

    def _settle(
        self,
        *,
        message: Message | None = None,
        error: Exception | None = None,
        handled: bool = False,
        disposed: bool = False,
    ) -> bool:
        """Record the outcome, mark the stream ended, then dispose the subscription.

        The outcome is set together with ``done``, so whoever sees ``done`` sees the outcome too
        (disposing upstream may take a while, or happen on another thread). Returns False if the
        stream had ended already.
        """
        with self._lock:
            if self._done:
                return False
            self.message = message
            self.error = error
            self._retrieved = handled
            self._disposed = disposed
            self._done = True
        self._subscription.dispose()
        return True

    def _take_waiters(self) -> list[asyncio.Future[Message]]:
        with self._lock:
            waiters, self._waiters = self._waiters, []
        return waiters

    def _complete(self, message: Message) -> None:
        if self._settle(message=message):
            for waiter in self._take_waiters():
                _call_in_loop(waiter, functools.partial(_resolve, waiter, message))

    def _fail(self, error: Exception, *, handled: bool) -> bool:
        if not self._settle(error=error, handled=handled):
            return False
        waiters = self._take_waiters()
        if waiters:
            self._retrieved = True
        for waiter in waiters:
            _call_in_loop(waiter, functools.partial(_reject, waiter, error))
        return True

    def __del__(self) -> None:
        if self.error is not None and not self._retrieved:
            _log.error(
                "on_events: the stream failed and nobody handled the error "
                "(pass on_error, or await the handle's wait())",
                exc_info=self.error,
            )


def _resolve(waiter: asyncio.Future[Message], message: Message) -> None:
    if not waiter.done():
        waiter.set_result(message)


def _reject(waiter: asyncio.Future[Message], error: Exception) -> None:
    if not waiter.done():
        waiter.set_exception(error)


def _call_in_loop(waiter: asyncio.Future[Message], action: Callable[[], object]) -> None:
    """Run ``action`` on the waiter's loop: now when already on it, else thread-safely."""
    loop = waiter.get_loop()
    try:
        running = asyncio.get_running_loop()
    except RuntimeError:
        running = None
    if running is loop:
        action()
    else:
        loop.call_soon_threadsafe(action)


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
        if handle._fail(error, handled=on_error is not None) and on_error is not None:
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
        handle._complete(message)

    def error(exc: Exception) -> None:
        if not handle.done:
            fail(exc)

    subscription = source.pipe(assemble_tool_calls(invalid=invalid)).subscribe(
        next_event, error, completed
    )
    handle._subscription.disposable = subscription
    return handle
