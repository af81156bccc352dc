"""The framework-neutral relay: a pipeline out as an async iterator of response body bytes.

``relay_body(events, protocol=...)`` gives a ``RelayBody``: its ``headers`` go on the response and
iterating it gives the body, ready to write. Any web framework can serve it; ``relay_response``
(aiohttp) and ``streamkit.relay.asgi`` (Starlette, FastAPI) are thin helpers over it.

Lifetime: iterating subscribes to ``events`` (one subscription is one upstream request); the body
ends after the pipeline completes or fails, always with the protocol's proper ending. Closing the
body (``aclose()``, leaving ``async for`` early, cancelling the iterating task: what frameworks do
when the browser goes away) disposes the subscription, which closes the upstream connection.

Backpressure: an observable cannot be slowed down, so the body keeps the items the client has not
taken yet in a bounded buffer. While the client is behind, adjacent text (and reasoning, and tool
argument) pieces are merged into one, so a slow reader costs the text it has not read, not an
object per token; past ``max_buffered_bytes`` of unread text the relay gives up on that client:
the upstream is closed and the body ends with the protocol's error (a ``BufferError``).
"""

from __future__ import annotations

import asyncio
import collections
import dataclasses
from collections.abc import Callable
from typing import Final, Self

from reactivex import Observable, abc

from streamkit.events import ReasoningDelta, TextDelta, ToolCallDelta
from streamkit.formats import FormatName
from streamkit.relay.plain_text import PlainTextEncoder
from streamkit.relay.protocol import RelayEncoder, RelayProtocol, check_protocol, short_cause
from streamkit.relay.provider import ProviderEncoder
from streamkit.relay.ui_message import UIMessageEncoder

__all__ = ["DEFAULT_MAX_BUFFERED_BYTES", "RelayBody", "make_encoder", "relay_body"]

#: How much unread text a relay holds for a slow client before it gives up on it.
DEFAULT_MAX_BUFFERED_BYTES: Final = 1024 * 1024
#: How many unread items a relay holds (after merging) before it gives up on the client.
_MAX_BUFFERED_ITEMS: Final = 10_000
_DONE: Final = object()


def make_encoder(
    protocol: RelayProtocol, *, error_text: Callable[[BaseException], str] = short_cause
) -> RelayEncoder:
    """A fresh encoder for ``protocol``.

    Args:
        protocol: one of ``RelayProtocol``.
        error_text: for ``ui-message``, what the ``error`` part says about a failure.

    Raises:
        ValueError: ``protocol`` is unknown.
    """
    name = check_protocol(protocol)
    if name == "ui-message":
        return UIMessageEncoder(error_text=error_text)
    if name == "text":
        return PlainTextEncoder()
    provider: FormatName = name
    return ProviderEncoder(provider)


class RelayBody:
    """One response body relayed from one pipeline; see ``relay_body``.

    Attributes:
        headers: the response headers the protocol needs.
        peak_buffered_bytes: the most unread text held at any moment (for monitoring).
    """

    def __init__(
        self,
        events: Observable[object],
        encoder: RelayEncoder,
        *,
        max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
        keep_alive: float | None = 15.0,
    ) -> None:
        if max_buffered_bytes < 1:
            raise ValueError(f"max_buffered_bytes must be positive, got {max_buffered_bytes}")
        if keep_alive is not None and not keep_alive > 0:
            raise ValueError(f"keep_alive must be positive seconds or None, got {keep_alive}")
        self._events = events
        self._encoder = encoder
        self._max_bytes = max_buffered_bytes
        self._keep_alive = keep_alive
        self.headers: dict[str, str] = dict(encoder.headers)
        self._pending: collections.deque[object] = collections.deque()
        self._buffered = 0
        self.peak_buffered_bytes = 0
        self._outcome: object = None  # _DONE, or the pipeline's error
        self._wakeup = asyncio.Event()
        self._subscription: abc.DisposableBase | None = None
        self._state = "new"  # new -> open -> ended (body written) | closed

    def __repr__(self) -> str:
        return f"RelayBody(state={self._state!r}, buffered={self._buffered})"

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> bytes:
        if self._state == "new":
            self._subscribe()
        try:
            while self._state == "open":
                if self._pending:
                    chunk = self._encoder.encode(self._pop())
                elif self._outcome is not None:
                    chunk = self._end()
                else:
                    chunk = await self._wait()
                if chunk:
                    return chunk
        except BaseException:
            # Cancelled (the client went away) or the encoder failed: release the upstream.
            self._close()
            raise
        raise StopAsyncIteration

    async def aclose(self) -> None:
        """Stop relaying and close the upstream request; calling it again does nothing."""
        self._close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        self._close()

    def __del__(self) -> None:
        # A framework that drops the body without closing it (cancelled between two pieces)
        # must not keep the upstream request open.
        subscription = getattr(self, "_subscription", None)
        if subscription is not None:
            subscription.dispose()

    # -- the subscription side -------------------------------------------------------------------

    def _subscribe(self) -> None:
        self._state = "open"
        self._subscription = self._events.subscribe(
            on_next=self._on_next, on_error=self._on_error, on_completed=self._on_completed
        )

    def _on_next(self, item: object) -> None:
        if self._outcome is not None or self._state != "open":
            return
        size = _text_size(item)
        if not (self._pending and self._merge(item)):
            if len(self._pending) >= _MAX_BUFFERED_ITEMS:
                self._overflow()
                return
            self._pending.append(item)
        self._buffered += size
        self.peak_buffered_bytes = max(self.peak_buffered_bytes, self._buffered)
        if self._buffered > self._max_bytes:
            self._overflow()
            return
        self._wakeup.set()

    def _merge(self, item: object) -> bool:
        """Fold ``item`` into the last unread one when both are pieces of the same content."""
        last = self._pending[-1]
        merged: object = None
        if isinstance(item, str) and isinstance(last, str):
            merged = last + item
        elif isinstance(item, TextDelta) and isinstance(last, TextDelta):
            if item.choice == last.choice:
                merged = dataclasses.replace(last, text=last.text + item.text)
        elif isinstance(item, ReasoningDelta) and isinstance(last, ReasoningDelta):
            if (item.kind, item.index, item.choice) == (last.kind, last.index, last.choice):
                merged = dataclasses.replace(last, text=last.text + item.text)
        elif isinstance(item, ToolCallDelta) and isinstance(last, ToolCallDelta):
            same_call = (item.index, item.choice) == (last.index, last.choice)
            if same_call and item.id is None and item.name is None:
                merged = dataclasses.replace(last, arguments=last.arguments + item.arguments)
        if merged is None:
            return False
        self._pending[-1] = merged
        return True

    def _overflow(self) -> None:
        held = self._buffered
        self._dispose()
        self._pending.clear()
        self._buffered = 0
        self._outcome = BufferError(
            f"the client fell behind by more than {self._max_bytes} bytes of text "
            f"({held} unread); the relay closed the upstream request"
        )
        self._wakeup.set()

    def _on_error(self, error: Exception) -> None:
        if self._outcome is None:
            self._outcome = error
            self._wakeup.set()

    def _on_completed(self) -> None:
        if self._outcome is None:
            self._outcome = _DONE
            self._wakeup.set()

    # -- the consuming side ----------------------------------------------------------------------

    def _pop(self) -> object:
        item = self._pending.popleft()
        self._buffered -= _text_size(item)
        return item

    async def _wait(self) -> bytes:
        self._wakeup.clear()
        if self._keep_alive is None:
            await self._wakeup.wait()
            return b""
        try:
            async with asyncio.timeout(self._keep_alive):
                await self._wakeup.wait()
        except TimeoutError:
            return self._encoder.keep_alive()
        return b""

    def _end(self) -> bytes:
        self._state = "ended"
        self._dispose()
        outcome = self._outcome
        if isinstance(outcome, BaseException):
            return self._encoder.error(outcome)
        return self._encoder.finish()

    def _close(self) -> None:
        if self._state != "ended":
            self._state = "closed"
        self._pending.clear()
        self._buffered = 0
        self._dispose()

    def _dispose(self) -> None:
        subscription, self._subscription = self._subscription, None
        if subscription is not None:
            subscription.dispose()


def _text_size(item: object) -> int:
    """The bytes of content ``item`` holds (roughly: characters), what a slow client costs."""
    if isinstance(item, str):
        return len(item)
    if isinstance(item, TextDelta | ReasoningDelta):
        return len(item.text)
    if isinstance(item, ToolCallDelta):
        return len(item.arguments)
    return 0


def relay_body(
    events: Observable[object],
    *,
    protocol: RelayProtocol = "ui-message",
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
    keep_alive: float | None = 15.0,
    error_text: Callable[[BaseException], str] = short_cause,
) -> RelayBody:
    """Relay a pipeline as an HTTP response body in ``protocol``; framework-neutral.

    Nothing happens until the body is iterated: then it subscribes (one upstream request) and
    yields the body's bytes as the pipeline emits, ending with the protocol's end (or its error
    part when the pipeline fails). Serve ``body.headers`` with it. Closing the body, or cancelling
    the task iterating it, disposes the subscription and so closes the upstream connection.

    Args:
        events: the pipeline, e.g. ``sk.stream_chat(...).pipe(...)``; ``StreamEvent`` values and
            ``str`` text are relayed, other items ignored.
        protocol: ``ui-message`` (AI SDK ``useChat``), ``text``, ``openai`` or ``anthropic``.
        max_buffered_bytes: the unread text held for a slow client before giving up on it.
        keep_alive: seconds of silence after which an SSE comment (Anthropic: a ping) is sent,
            so proxies keep the response open during retry waits; None sends none.
        error_text: for ``ui-message``: the ``errorText`` for a failure; the default says only
            the error's type and HTTP status, never a server's message.

    Raises:
        ValueError: an unknown protocol, or a limit that is not positive.

    Example:
        >>> body = relay_body(sk.stream_chat(url, request), protocol="text")  # doctest: +SKIP
        >>> async for chunk in body:  # doctest: +SKIP
        ...     await send(chunk)
    """
    encoder = make_encoder(protocol, error_text=error_text)
    return RelayBody(events, encoder, max_buffered_bytes=max_buffered_bytes, keep_alive=keep_alive)
