"""The sync door: a streamed answer for code without asyncio (scripts, Flask, Django views).

``open_stream_sync(url, body)`` gives a ``SyncChatStream``: ``for text in stream.text_stream``
prints the answer as it arrives, ``stream.final_message()`` returns the ``Message``, with one
request. The stream runs as a ``ChatStream`` on a background event loop (one daemon thread for
the process, started on first use); the calling thread blocks only while it waits for the next
event. Leaving the ``for`` loop (``break``, an exception, ``return``) closes the stream and its
connection at once, as does ``close()`` or the end of a ``with`` block.

The logic lives once, in the async ``ChatStream``; this module only carries calls across the
thread boundary.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Iterator, Mapping
from concurrent.futures import Future
from typing import Any, TypeVar

from reactivex import Observable

from streamkit.client import ChatEndpoint
from streamkit.events import StreamEvent, TextDelta, Usage
from streamkit.formats import FormatName, WireFormat
from streamkit.message import Message
from streamkit.operators.retry import DEFAULT_RESUME, ResumeMode, RetryPolicy
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES
from streamkit.stats import StreamStats
from streamkit.stream_handle import ChatStream
from streamkit.transport import ByteTap, Timeouts

__all__ = ["SyncChatStream", "open_stream_sync"]

T = TypeVar("T")


class _BackgroundLoop:
    """One event loop on a daemon thread, started on first use, shared by all sync streams."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None

    def get(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None or self._thread is None or not self._thread.is_alive():
                loop = asyncio.new_event_loop()
                ready = threading.Event()

                def run() -> None:
                    asyncio.set_event_loop(loop)
                    loop.call_soon(ready.set)
                    loop.run_forever()

                thread = threading.Thread(target=run, name="streamkit-sync", daemon=True)
                thread.start()
                ready.wait()
                self._loop, self._thread = loop, thread
            return self._loop


_BACKGROUND = _BackgroundLoop()


class SyncChatStream:
    """A ``ChatStream`` driven from synchronous code; see ``open_stream_sync``.

    - ``for event in stream``: every event; ``for text in stream.text_stream``: choice 0's text.
    - ``stream.final_message()``: the final ``Message`` (reads the rest of the stream first).
    - ``stream.stats``, ``stream.usage``: as on ``ChatStream``.
    - ``close()`` / ``with``: close the connection if still running; idempotent.

    Leaving a loop before the end closes the stream; ``final_message()`` then raises
    ``RuntimeError``. Iterating a finished stream again raises ``RuntimeError`` rather than
    sending a second request.

    Raises:
        RuntimeError: (from any method) called from a thread that runs an event loop, which
            the wait would block; use the async ``ChatStream`` there.
    """

    def __init__(self, make_source: Callable[[], Observable[StreamEvent]]) -> None:
        self._loop = _BACKGROUND.get()
        self._stream: ChatStream = self._call(_make_stream(make_source))

    def _call(self, coroutine: Coroutine[Any, Any, T]) -> T:
        try:
            asyncio.get_running_loop()
        except RuntimeError:
            pass
        else:
            coroutine.close()
            raise RuntimeError(
                "the sync stream would block this thread's running event loop: "
                "use sk.open_stream(...) with async for / await instead"
            )
        future: Future[T] = asyncio.run_coroutine_threadsafe(coroutine, self._loop)
        try:
            # The transport's own deadlines (Timeouts) bound this wait.
            return future.result()
        except BaseException:
            # KeyboardInterrupt and friends: stop the work on the loop, not only the wait.
            future.cancel()
            raise

    @property
    def stats(self) -> StreamStats:
        """The statistics so far; final once the stream ended."""
        return self._stream.stats

    @property
    def usage(self) -> Usage | None:
        """The server's token usage, once reported."""
        return self._stream.usage

    @property
    def done(self) -> bool:
        """True once the stream ended or was closed."""
        return self._stream.done

    def __iter__(self) -> Iterator[StreamEvent]:
        self._stream.__aiter__()  # raises at once if the stream was read to its end
        return self._events()

    def _events(self) -> Iterator[StreamEvent]:
        completed = False
        try:
            while True:
                try:
                    event = self._call(_next(self._stream))
                except StopAsyncIteration:
                    completed = True
                    return
                yield event
        finally:
            if not completed:
                self.close()

    @property
    def text_stream(self) -> Iterator[str]:
        """The text of choice 0 as it arrives."""
        for event in self:
            if isinstance(event, TextDelta) and event.choice == 0 and event.text:
                yield event.text

    def final_message(self) -> Message:
        """Read whatever is left of the stream, then return the final message.

        Raises:
            Exception: the error the stream ended with.
            RuntimeError: the stream was closed before it ended.
        """
        return self._call(self._stream.final_message())

    def close(self) -> None:
        """Close the connection if the stream is still running; idempotent."""
        if not self._stream.done:
            self._call(self._stream.aclose())

    def __enter__(self) -> SyncChatStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


async def _make_stream(make_source: Callable[[], Observable[StreamEvent]]) -> ChatStream:
    # Made on the loop's thread: a source may look for the running loop when built.
    return ChatStream(make_source())


async def _next(stream: ChatStream) -> StreamEvent:
    return await stream.__anext__()


def open_stream_sync(
    base_url: str,
    body: Mapping[str, Any],
    *,
    format: FormatName | WireFormat = "openai",
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    timeouts: Timeouts | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    retry: RetryPolicy | None = None,
    resume: ResumeMode = DEFAULT_RESUME,
    tap: ByteTap | None = None,
) -> SyncChatStream:
    """Open one streamed chat answer for synchronous code: iterate it, then get the message.

    The arguments are those of ``sk.open_stream`` except ``session`` (an aiohttp session
    belongs to one event loop; the stream runs on a background one). ``tap`` is called on the
    background thread. The request is sent when iteration (or ``final_message()``) starts.

    Example:
        >>> stream = sk.open_stream_sync(url, body)  # doctest: +SKIP
        >>> for text in stream.text_stream:  # doctest: +SKIP
        ...     print(text, end="", flush=True)
        >>> message = stream.final_message()  # doctest: +SKIP

    Raises:
        TypeError: as for ``ChatEndpoint``.
        ValueError: as for ``ChatEndpoint``.
    """
    endpoint = ChatEndpoint(
        base_url,
        format=format,
        api_key=api_key,
        headers=headers or {},
        timeouts=timeouts or Timeouts(),
        max_event_bytes=max_event_bytes,
    )
    # Checked here, in the caller's thread, so that mistakes raise where they were made.
    endpoint.stream(body, retry=retry, resume=resume)
    return SyncChatStream(lambda: endpoint.stream(body, retry=retry, resume=resume, tap=tap))
