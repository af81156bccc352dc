"""Stream handles: one subscription, its outcome awaited; ``ChatStream`` also iterated.

A chat observable is cold: every subscription sends a request. The habit the SDKs teach, stream
the text and then ask for the final message, would therefore cost two requests if each step
subscribed on its own. A handle owns exactly one subscription and remembers what came of it:

- ``StreamHandle``: the outcome of a running subscription (``on_events`` returns one):
  ``await handle`` (or ``handle.wait()``) for the final ``Message``, ``dispose()`` to stop it.
- ``ChatStream``: a ``StreamHandle`` that is also iterated, like the SDKs' stream managers::

      async with sk.open_stream(url, body) as stream:
          async for text in stream.text_stream:
              print(text, end="")
      message = await stream          # no second request
      print(stream.stats.ttft, message.usage)

  Events are folded into the message and the statistics as the consumer takes them, so the
  final message is exactly what the loop saw. Reading a finished stream a second time raises
  instead of silently sending another request.

This module sits with the bridges (it iterates through ``aiter_events``); the client builds
``ChatStream`` values, sinks build ``StreamHandle`` values.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import threading
from collections.abc import AsyncIterator, Callable, Generator
from typing import Any

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SingleAssignmentDisposable

from streamkit.bridge import DEFAULT_MAX_BUFFERED, EventIterator, aiter_events
from streamkit.events import StreamEvent, TextDelta, Usage
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.message import Message
from streamkit.operators.progress import measure_progress
from streamkit.operators.tool_calls import assemble_tool_calls
from streamkit.stats import StreamStats, Tokenizer

__all__ = ["ChatStream", "StreamHandle"]

_log = logging.getLogger("streamkit")


class StreamHandle:
    """A running subscription: stop it, or await its outcome.

    ``await handle`` is ``await handle.wait()``. The producer (``on_events``, ``ChatStream``)
    reports the outcome with ``settle_message`` / ``settle_error``; users only read it.

    Attributes:
        message: the final message once the stream completed.
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

    def attach(self, subscription: abc.DisposableBase) -> None:
        """Give the handle the subscription it stops; for the producer, once."""
        self._subscription.disposable = subscription

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

    def __await__(self) -> Generator[Any, None, Message]:
        return self.wait().__await__()

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

    def settle_message(self, message: Message) -> None:
        """For the producer: the stream completed with ``message``."""
        if self._settle(message=message):
            for waiter in self._take_waiters():
                _call_in_loop(waiter, functools.partial(_resolve, waiter, message))

    def settle_error(self, error: Exception, *, handled: bool) -> bool:
        """For the producer: the stream failed; ``handled`` if someone already received it.

        Returns:
            False if the stream had already ended (the error is then dropped).
        """
        if not self._settle(error=error, handled=handled):
            return False
        waiters = self._take_waiters()
        if waiters:
            self._retrieved = True
        for waiter in waiters:
            _call_in_loop(waiter, functools.partial(_reject, waiter, error))
        return True

    def __del__(self) -> None:
        if getattr(self, "error", None) is not None and not self._retrieved:
            _log.error(
                "a stream failed and nobody handled the error (pass on_error, or await the handle)",
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


class ChatStream(StreamHandle, AsyncIterator[StreamEvent]):
    """One streamed answer, one request: iterate its events or text, then await the message.

    Build one with ``sk.open_stream(url, body)`` or ``ChatEndpoint.open(body)``, or wrap any
    observable of events with ``ChatStream(events)``. The request is sent when the stream is
    first used (``async with``, iteration or ``await``), and only then.

    - ``async for event in stream``: every event, in order (also ``Retrying`` and ``Rewind``
      when the stream retries), and a ``ToolCall`` as each tool call completes (as
      ``assemble_tool_calls`` gives them).
    - ``async for text in stream.text_stream``: the text of choice 0 only.
    - ``await stream`` (or ``await stream.final_message()``): the final ``Message``. After a
      loop it is built from the events the loop saw; without one (or after ``break``) it reads
      the rest of the stream first.
    - ``stream.stats``: the ``StreamStats`` so far (TTFT, tokens, tok/s, gaps); ``stream.usage``
      the server's token usage once reported.
    - ``async with``: leaving the block closes the connection if the stream is still running;
      ``aclose()`` does the same anywhere. Leaving a loop by ``break`` does not close it, so the
      final message can still be awaited.

    A stream is read once. Iterating again after it ended raises ``RuntimeError`` rather than
    sending another request; open a new stream to ask again. An error from the stream is raised
    from the loop, and again by ``await stream``. Cancelling a pending ``await`` or ``async for``
    closes the stream.

    Args:
        source: the events; subscribed once.
        invalid: tool-call arguments that are not valid JSON: ``raise`` ends the stream with a
            ``ToolCallError`` at the end, ``emit`` keeps them with ``valid=False``.
        tokenizer: counts tokens for ``stats`` (else an estimate until the server's usage).
        max_buffered: events held for a loop that has fallen behind (see ``aiter_events``).
    """

    def __init__(
        self,
        source: Observable[StreamEvent],
        *,
        invalid: InvalidArguments = "raise",
        tokenizer: Tokenizer | None = None,
        max_buffered: int = DEFAULT_MAX_BUFFERED,
    ) -> None:
        super().__init__()
        if not isinstance(source, Observable):
            raise TypeError(
                f"ChatStream wraps an Observable of events, got {type(source).__name__}"
            )
        self._source = source
        self._measure = measure_progress(tokenizer=tokenizer)
        self._invalid: InvalidArguments = invalid
        self._builder = MessageBuilder(invalid=invalid)
        self._max_buffered = max_buffered
        self._iterator: EventIterator[StreamEvent] | None = None

    @property
    def started(self) -> bool:
        """True once the request was sent."""
        return self._iterator is not None

    @property
    def stats(self) -> StreamStats:
        """The statistics so far; final once the stream ended."""
        meter = self._measure.meter
        return meter.summary or meter.snapshot()

    @property
    def usage(self) -> Usage | None:
        """The server's token usage, once reported (OpenAI: with ``include_usage``)."""
        return self._builder.message.usage

    @property
    def current_message(self) -> Message:
        """The message as far as the events taken so far (tool calls still open left out)."""
        return self._builder.message

    @property
    def text_stream(self) -> AsyncIterator[str]:
        """The text of choice 0 as it arrives (the same single request as the events)."""
        return self._texts()

    async def _texts(self) -> AsyncIterator[str]:
        async for event in self:
            if isinstance(event, TextDelta) and event.choice == 0 and event.text:
                yield event.text

    def _start(self) -> EventIterator[StreamEvent]:
        if self._iterator is None:
            if self.done:
                raise RuntimeError("the stream was closed before it started")
            self._iterator = aiter_events(
                self._source.pipe(self._measure, assemble_tool_calls(invalid=self._invalid)),
                max_buffered=self._max_buffered,
            )
            self.attach(Disposable(self._iterator.close))
        return self._iterator

    def __aiter__(self) -> ChatStream:
        if self.done and not self._disposed:
            raise RuntimeError(
                "this stream has been read to its end, and its events are not kept: "
                "reading it again would send a second request. Await it for the final "
                "message, or open a new stream to ask again"
            )
        return self

    async def __anext__(self) -> StreamEvent:
        if self.done:
            raise StopAsyncIteration
        iterator = self._start()
        try:
            event = await iterator.__anext__()
        except StopAsyncIteration:
            self._finish()
            raise
        except asyncio.CancelledError:
            self.dispose()
            raise
        except Exception as exc:
            # Raised to the loop, so it was seen; ``await stream`` raises it again.
            self.settle_error(exc, handled=True)
            raise
        self._builder = accumulate(self._builder, event)
        return event

    def _finish(self) -> None:
        try:
            message = self._builder.build()
        except Exception as exc:
            self.settle_error(exc, handled=False)
            raise
        self.settle_message(message)

    async def final_message(self) -> Message:
        """Read whatever is left of the stream, then return the final message.

        Raises:
            Exception: the error the stream ended with.
            RuntimeError: the stream was closed before it ended.
        """
        if not self.done:
            self._start()
            async for _ in self:
                pass
        return self._outcome()

    async def wait(self) -> Message:
        """The same as ``final_message()``; ``await stream`` calls it."""
        return await self.final_message()

    def _outcome(self) -> Message:
        if self._disposed:
            raise RuntimeError(
                "the stream was closed before it ended, so there is no final message"
            )
        return super()._outcome()

    async def aclose(self) -> None:
        """Close the connection if the stream is still running; idempotent."""
        self.dispose()

    async def __aenter__(self) -> ChatStream:
        self._start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self.dispose()
