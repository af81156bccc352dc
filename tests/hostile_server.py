"""A hostile HTTP server on raw asyncio sockets (127.0.0.1), written apart from the embedded one.

It does what a well-behaved server (and aiohttp's own) never would: cut a response at any byte
offset, trickle it a byte at a time, echo the request's headers (credentials included) into the
body, never answer, or send a body in an encoding the client cannot decode. Each test sets one
``Behaviour``; the server records every request it read.

    async with HostileServer() as server:
        server.behaviour = respond(sse_head(), b"data: hi\\n\\n", cut_at=5)
        ... server.url ...

Every connection is closed after its one response (``connection: close``), and ``aclose``
closes any still open, so a test leaves no socket behind.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import TracebackType

__all__ = [
    "Behaviour",
    "HostileServer",
    "RawRequest",
    "echo_headers",
    "head",
    "never_answer",
    "respond",
    "sequence",
    "sse_head",
    "trickle",
]

#: Upper bound for any wait inside the server, so a test that forgets it never hangs the suite.
_WAIT = 30.0


@dataclass(frozen=True, slots=True)
class RawRequest:
    """A request as read off the socket."""

    method: str
    path: str
    headers: Mapping[str, str]
    body: bytes


Behaviour = Callable[[RawRequest, asyncio.StreamWriter], Awaitable[None]]


def head(status: int, content_type: str, **headers: str) -> bytes:
    """A response head with ``connection: close`` (the body ends when the socket does)."""
    lines = [f"HTTP/1.1 {status} X", f"content-type: {content_type}", "connection: close"]
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in headers.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def sse_head(status: int = 200, **headers: str) -> bytes:
    """The head of an event stream."""
    return head(status, "text/event-stream", **headers)


def respond(response_head: bytes, body: bytes = b"", *, cut_at: int | None = None) -> Behaviour:
    """Write ``response_head`` and ``body``, or only their first ``cut_at`` bytes, then close."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        data = response_head + body
        writer.write(data if cut_at is None else data[:cut_at])
        await writer.drain()

    return behaviour


def echo_headers(
    response_head: bytes, template: Callable[[str], bytes], *, cut_at: int | None = None
) -> Behaviour:
    """Answer with ``template(every request header as "name: value" lines)`` as the body."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        echoed = "\\n".join(f"{name}: {value}" for name, value in request.headers.items())
        await respond(response_head, template(echoed), cut_at=cut_at)(request, writer)

    return behaviour


def trickle(
    response_head: bytes, pieces: Iterable[bytes], *, every: float, then_forever: bytes = b""
) -> Behaviour:
    """Write the head, then each piece ``every`` seconds; then ``then_forever`` repeatedly."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        writer.write(response_head)
        for piece in pieces:
            writer.write(piece)
            await writer.drain()
            await asyncio.sleep(every)
        while then_forever and not writer.is_closing():
            writer.write(then_forever)
            await writer.drain()
            await asyncio.sleep(every)

    return behaviour


def never_answer() -> Behaviour:
    """Read the request and say nothing (until the client or the server closes)."""

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        await asyncio.sleep(_WAIT)

    return behaviour


def sequence(*behaviours: Behaviour) -> Behaviour:
    """The first request gets the first behaviour, the next the next; the last one repeats."""
    calls = 0

    async def behaviour(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        nonlocal calls
        chosen = behaviours[min(calls, len(behaviours) - 1)]
        calls += 1
        await chosen(request, writer)

    return behaviour


@dataclass(slots=True)
class HostileServer:
    """The server; an async context manager that always closes its socket and connections."""

    behaviour: Behaviour = field(default_factory=never_answer)
    requests: list[RawRequest] = field(default_factory=list)
    url: str = ""
    _server: asyncio.Server | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    async def __aenter__(self) -> HostileServer:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        host, port = self._server.sockets[0].getsockname()[:2]
        self.url = f"http://{host}:{port}"
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop listening, cancel every handler and close every connection."""
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        for writer in list(self._writers):
            writer.close()
        with contextlib.suppress(Exception):
            await asyncio.wait_for(
                asyncio.gather(*self._tasks, return_exceptions=True), timeout=_WAIT
            )
        if self._server is not None:
            await asyncio.wait_for(self._server.wait_closed(), timeout=_WAIT)
            self._server = None

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        try:
            async with asyncio.timeout(_WAIT):
                request = await _read_request(reader)
            if request is None:
                return
            self.requests.append(request)
            await self.behaviour(request, writer)
        except (ConnectionError, asyncio.IncompleteReadError, TimeoutError):
            pass  # the client went away: a normal end for a hostile server
        except asyncio.CancelledError:
            # Only aclose() cancels a handler; ending quietly keeps asyncio's start_server from
            # logging the cancelled task as an error.
            pass
        finally:
            self._tasks.discard(task)
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(writer.wait_closed(), timeout=1)


async def _read_request(reader: asyncio.StreamReader) -> RawRequest | None:
    try:
        head_bytes = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None
    request_line, *lines = head_bytes.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers: dict[str, str] = {}
    for line in lines:
        if line:
            name, _, value = line.partition(":")
            headers[name.strip().lower()] = value.strip()
    length = int(headers.get("content-length", "0"))
    body = await reader.readexactly(length) if length else b""
    return RawRequest(method, path, headers, body)
