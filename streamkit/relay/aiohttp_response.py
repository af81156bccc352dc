"""Serve a relay from an aiohttp handler: ``return await relay_response(request, events)``."""

from __future__ import annotations

from collections.abc import Callable

from aiohttp import web
from reactivex import Observable

from streamkit.relay.body import DEFAULT_MAX_BUFFERED_BYTES, relay_body
from streamkit.relay.protocol import RelayProtocol, short_cause

__all__ = ["relay_response"]


async def relay_response(
    request: web.Request,
    events: Observable[object],
    *,
    protocol: RelayProtocol = "ui-message",
    max_buffered_bytes: int = DEFAULT_MAX_BUFFERED_BYTES,
    keep_alive: float | None = 15.0,
    error_text: Callable[[BaseException], str] = short_cause,
) -> web.StreamResponse:
    """Stream ``events`` to the client of ``request`` in ``protocol``; see ``relay_body``.

    Each write waits for the client to take the bytes (aiohttp's drain), so a slow client is
    held back by ``relay_body``'s bounded buffer. A client that goes away (a closed tab, a stop
    button) ends the handler quietly, as a normal end: its write fails with a connection reset,
    or aiohttp cancels the handler; either way the upstream request is closed at once.

    Raises:
        ValueError: an unknown protocol, or a limit that is not positive.

    Example:
        >>> async def chat(request: web.Request) -> web.StreamResponse:  # doctest: +SKIP
        ...     events = sk.stream_chat(url, await request.json())
        ...     return await relay_response(request, events, protocol="ui-message")
    """
    body = relay_body(
        events,
        protocol=protocol,
        max_buffered_bytes=max_buffered_bytes,
        keep_alive=keep_alive,
        error_text=error_text,
    )
    response = web.StreamResponse(headers=body.headers)
    async with body:
        try:
            await response.prepare(request)
            async for chunk in body:
                await response.write(chunk)
            await response.write_eof()
        except ConnectionError:
            pass  # the client went away: a normal end; leaving `async with` closes upstream
    return response
