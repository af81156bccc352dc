"""Connection limits for the embedded server: what a production server does to idle, slow and
excess clients.

aiohttp alone keeps a connection that never finishes its request headers for as long as the
client likes (a "slowloris"), and accepts connections without bound. This module puts a thin
guard in front of aiohttp's request handler:

- **header timeout**: a request's headers must be complete within ``header_timeout`` seconds of
  the connection opening, or of the first byte of a later request on a kept-alive connection;
  otherwise the connection is closed. The embedded server applies the same bound to reading the
  request body (then it answers 408).
- **keep-alive timeout**: an idle connection (no request in progress) is closed after
  ``keepalive_timeout`` seconds; aiohttp's own keep-alive timer does this, armed from the
  moment the connection opens.
- **connection limit**: at most ``max_connections`` connections are served at once; one more is
  answered ``503`` and closed at once, so the process never runs out of file descriptors.

The defaults follow common production servers: 20 s for headers (Apache's ``mod_reqtimeout``),
75 s keep-alive (nginx), 1024 connections (a typical nginx ``worker_connections``).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Final

from aiohttp import web

__all__ = [
    "DEFAULT_HEADER_TIMEOUT",
    "DEFAULT_KEEPALIVE_TIMEOUT",
    "DEFAULT_MAX_CONNECTIONS",
    "ConnectionGuard",
    "ServerLimits",
]

#: Seconds for a request's headers (Apache ``mod_reqtimeout``'s first value).
DEFAULT_HEADER_TIMEOUT: Final = 20.0
#: Seconds an idle connection is kept (nginx ``keepalive_timeout``).
DEFAULT_KEEPALIVE_TIMEOUT: Final = 75.0
#: Connections served at once (a typical nginx ``worker_connections``).
DEFAULT_MAX_CONNECTIONS: Final = 1024

# Sent to a connection over the limit before it is closed; the body is in the shape both SDKs
# read an error message from.
_BUSY_BODY: Final = (
    b'{"type":"error","error":{"type":"overloaded_error",'
    b'"message":"too many open connections; try again later"}}'
)
_BUSY: Final = (
    b"HTTP/1.1 503 Service Unavailable\r\n"
    b"content-type: application/json\r\n"
    b"retry-after: 1\r\n"
    b"connection: close\r\n"
    b"content-length: " + str(len(_BUSY_BODY)).encode() + b"\r\n\r\n" + _BUSY_BODY
)


@dataclass(frozen=True, slots=True)
class ServerLimits:
    """How long the server waits for clients, and how many it serves at once.

    Attributes:
        header_timeout: seconds a request may take to send its headers (and, for the embedded
            server, its body).
        keepalive_timeout: seconds an idle connection is kept open between requests.
        max_connections: how many connections are served at once; more are answered 503.

    Raises:
        ValueError: a timeout that is not a positive number, or fewer than one connection.
    """

    header_timeout: float = DEFAULT_HEADER_TIMEOUT
    keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT
    max_connections: int = DEFAULT_MAX_CONNECTIONS

    def __post_init__(self) -> None:
        for name in ("header_timeout", "keepalive_timeout"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
                raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
        connections = self.max_connections
        if isinstance(connections, bool) or not isinstance(connections, int) or connections < 1:
            raise ValueError(f"max_connections must be a whole number >= 1, got {connections!r}")


class ConnectionGuard:
    """Enforces ``ServerLimits`` on one server's connections.

    Put ``middleware`` first on the application (it stops a connection's header clock while
    its request is served), serve through ``site(...)`` instead of ``web.TCPSite`` (it counts
    connections and runs the header clock), and set up the runner with
    ``keepalive_timeout=limits.keepalive_timeout`` (aiohttp closes idle connections itself).
    """

    def __init__(self, limits: ServerLimits) -> None:
        self.limits = limits
        self._live: dict[asyncio.BaseTransport, _GuardedConnection] = {}

    def admit(self, transport: asyncio.BaseTransport, connection: _GuardedConnection) -> bool:
        if len(self._live) >= self.limits.max_connections:
            return False
        self._live[transport] = connection
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        self._live.pop(transport, None)

    def find(self, transport: asyncio.BaseTransport | None) -> _GuardedConnection | None:
        return self._live.get(transport) if transport is not None else None

    def site(self, runner: web.BaseRunner, host: str, port: int) -> web.BaseSite:
        """A site serving ``runner`` on ``host:port`` within this guard's limits."""
        return _LimitedSite(runner, host, port, self)

    @web.middleware
    async def middleware(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Stops the header clock while a request is served: its headers are complete."""
        connection = self.find(request.transport)
        if connection is not None:
            connection.request_started()
        try:
            return await handler(request)
        finally:
            if connection is not None:
                connection.request_finished()


class _GuardedConnection(asyncio.Protocol):
    """One client connection: aiohttp's request handler, behind the header clock and the limit.

    Every protocol callback is passed on to the handler, which owns the transport as usual.
    """

    def __init__(self, inner: asyncio.Protocol, guard: ConnectionGuard) -> None:
        self._inner = inner
        self._guard = guard
        self._transport: asyncio.Transport | None = None
        self._refused = False
        self._in_request = False
        self._clock: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        if not self._guard.admit(transport, self):
            self._refused = True
            transport.write(_BUSY)
            transport.close()
            return
        self._transport = transport
        self._inner.connection_made(transport)
        self._start_clock()

    def data_received(self, data: bytes) -> None:
        if self._refused:
            return  # the 503 is on its way; what the client sends does not matter
        if not self._in_request and self._clock is None:
            self._start_clock()  # the first byte of the next request on a kept-alive connection
        self._inner.data_received(data)

    def eof_received(self) -> bool | None:
        return None if self._refused else self._inner.eof_received()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_clock()
        if self._transport is not None:
            self._guard.release(self._transport)
            self._transport = None
        if not self._refused:
            self._inner.connection_lost(exc)

    def pause_writing(self) -> None:
        if not self._refused:
            self._inner.pause_writing()

    def resume_writing(self) -> None:
        if not self._refused:
            self._inner.resume_writing()

    def request_started(self) -> None:
        self._in_request = True
        self._stop_clock()

    def request_finished(self) -> None:
        self._in_request = False

    def _start_clock(self) -> None:
        loop = asyncio.get_running_loop()
        self._clock = loop.call_later(self._guard.limits.header_timeout, self._headers_too_slow)

    def _stop_clock(self) -> None:
        if self._clock is not None:
            self._clock.cancel()
            self._clock = None

    def _headers_too_slow(self) -> None:
        self._clock = None
        if self._transport is not None and not self._in_request:
            self._transport.close()


class _LimitedSite(web.BaseSite):
    """A TCP site whose connections pass through a ``ConnectionGuard``."""

    __slots__ = ("_guard", "_host", "_port")

    def __init__(
        self, runner: web.BaseRunner, host: str, port: int, guard: ConnectionGuard
    ) -> None:
        super().__init__(runner)
        self._host = host
        self._port = port
        self._guard = guard

    @property
    def name(self) -> str:
        return f"http://{self._host}:{self._port}"

    async def start(self) -> None:
        await super().start()
        server = self._runner.server
        assert server is not None
        guard = self._guard

        def connection() -> asyncio.Protocol:
            return _GuardedConnection(server(), guard)

        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(connection, self._host, self._port)
