"""Serve a relay from Starlette or FastAPI (``pip install 'streamkit-llm[asgi]'``).

``return relay_streaming_response(events)`` from a route gives a ``StreamingResponse`` over
``relay_body``. However the response ends (sent, or the client disconnected), the relay is closed,
and with it the upstream request.
"""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from streamkit.relay.body import DEFAULT_MAX_BUFFERED_BYTES, RelayBody, relay_body
from streamkit.relay.protocol import RelayProtocol, short_cause

__all__ = ["relay_streaming_response"]


def relay_streaming_response(
    events: Observable[object],
    *,
    protocol: RelayProtocol = "ui-message",
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
    keep_alive: float | None = 15.0,
    error_text: Callable[[BaseException], str] = short_cause,
) -> StreamingResponse:
    """A Starlette ``StreamingResponse`` relaying ``events`` in ``protocol``; see ``relay_body``.

    Raises:
        ValueError: an unknown protocol, or a limit that is not positive.

    Example:
        >>> @app.post("/api/chat")  # doctest: +SKIP
        ... async def chat(request: Request) -> StreamingResponse:
        ...     return relay_streaming_response(sk.stream_chat(url, await request.json()))
    """
    body = relay_body(
        events,
        protocol=protocol,
        max_buffered_bytes=max_buffered_bytes,
        keep_alive=keep_alive,
        error_text=error_text,
    )
    return _RelayResponse(body)


class _RelayResponse(StreamingResponse):
    """A ``StreamingResponse`` that closes its relay however the response ends: sent, client
    gone (Starlette raises ``ClientDisconnect`` or cancels the send), or server shutdown."""

    def __init__(self, body: RelayBody) -> None:
        super().__init__(body, headers=body.headers)
        self._relay = body

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        finally:
            await self._relay.aclose()
