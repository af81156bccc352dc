"""Serve a relay from Starlette or FastAPI (the ``asgi`` extra: ``pip install streamkit[asgi]``).

``return relay_streaming_response(events)`` from a route gives a ``StreamingResponse`` over
``relay_body``. When the client disconnects, Starlette cancels the iteration, which closes the
relay and so the upstream request.
"""

from __future__ import annotations

from collections.abc import Callable

from reactivex import Observable
from starlette.background import BackgroundTask
from starlette.responses import StreamingResponse

from streamkit.relay.body import DEFAULT_MAX_BUFFERED_BYTES, relay_body
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
    # The background task runs after the body was sent, or was abandoned: close it either way.
    return StreamingResponse(body, headers=body.headers, background=BackgroundTask(body.aclose))
