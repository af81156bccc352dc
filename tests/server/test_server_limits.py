"""The embedded server closes idle, slow and excess connections, like a production server.

Driven with raw asyncio sockets on 127.0.0.1. Timeouts are set small and the checks only bound
them generously from above (the machine is shared): what is asserted is that the server closes
the connection on its own, and that file descriptors return to their baseline.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
from collections.abc import AsyncIterator

import pytest

from streamkit.cli import build_parser
from streamkit.server import EmbeddedServer, ServerLimits

SHORT = 0.3  # a configured timeout, in seconds
LONG = 60.0  # a timeout that must not be the one that fires
BOUND = 15.0  # generous upper bound for "closed within the configured time" on a busy machine
BODY = json.dumps(
    {"model": "m", "max_tokens": 5, "messages": [{"role": "user", "content": "Hi"}]}
).encode()
REQUEST = (
    b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-type: application/json\r\n"
    b"content-length: " + str(len(BODY)).encode() + b"\r\n\r\n" + BODY
)


def _open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


async def _connect(server: EmbeddedServer) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    port = int(server.url.rsplit(":", 1)[1])
    return await asyncio.open_connection("127.0.0.1", port)


async def _closed_by_server(reader: asyncio.StreamReader) -> bytes:
    """Everything the server sends until it closes the connection (within ``BOUND``)."""
    received = b""
    async with asyncio.timeout(BOUND):
        with contextlib.suppress(ConnectionResetError):
            while chunk := await reader.read(65536):
                received += chunk
    return received


async def _close(writer: asyncio.StreamWriter) -> None:
    writer.close()
    with contextlib.suppress(ConnectionError):
        await writer.wait_closed()


@contextlib.asynccontextmanager
async def _serving(**limits: float) -> AsyncIterator[EmbeddedServer]:
    async with EmbeddedServer(**limits) as server:  # type: ignore[arg-type]
        yield server


pytestmark = pytest.mark.skipif(not os.path.isdir("/proc/self/fd"), reason="needs /proc")


async def test_idle_connections_are_closed_and_descriptors_return_to_baseline() -> None:
    async with _serving(header_timeout=LONG, keepalive_timeout=SHORT) as server:
        baseline = _open_fds()
        clients = [await _connect(server) for _ in range(20)]
        assert _open_fds() >= baseline + 20
        for reader, _ in clients:
            assert await _closed_by_server(reader) == b""
        for _, writer in clients:
            await _close(writer)
        await server.wait_idle(BOUND)
        assert _open_fds() == baseline


async def test_a_kept_alive_connection_is_closed_when_idle_after_a_response() -> None:
    async with _serving(header_timeout=LONG, keepalive_timeout=SHORT) as server:
        reader, writer = await _connect(server)
        writer.write(REQUEST)
        received = await _closed_by_server(reader)
        assert received.startswith(b"HTTP/1.1 200 OK")
        assert b'"stop_reason":"max_tokens"' in received
        await _close(writer)
        await server.wait_idle(BOUND)


async def test_a_slowloris_is_closed_by_the_header_timeout() -> None:
    async with _serving(header_timeout=SHORT, keepalive_timeout=LONG) as server:
        baseline = _open_fds()
        reader, writer = await _connect(server)
        writer.write(b"POST /v1/messages HTTP/1.1\r\nhost: 127.0.0.1\r\n")

        async def trickle() -> None:
            with contextlib.suppress(ConnectionError):
                for n in range(10_000):
                    writer.write(f"x-slow-{n}: 1\r\n".encode())
                    await writer.drain()
                    await asyncio.sleep(0.02)

        trickling = asyncio.create_task(trickle())
        try:
            assert await _closed_by_server(reader) == b""
        finally:
            trickling.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await trickling
        await _close(writer)
        await server.wait_idle(BOUND)
        assert _open_fds() == baseline


async def test_a_second_request_on_a_kept_alive_connection_has_its_own_header_clock() -> None:
    async with _serving(header_timeout=SHORT, keepalive_timeout=LONG) as server:
        reader, writer = await _connect(server)
        writer.write(REQUEST)
        status = await reader.readuntil(b"\r\n\r\n")
        assert status.startswith(b"HTTP/1.1 200 OK")
        await asyncio.sleep(SHORT * 2)  # idle longer than the header timeout: allowed
        writer.write(b"POST /v1/messages HTTP/1.1\r\n")  # then headers that never end
        rest = await _closed_by_server(reader)
        assert rest.count(b"HTTP/1.1") == 0  # the first response's body only, no second answer
        await _close(writer)
        await server.wait_idle(BOUND)


async def test_a_body_that_never_arrives_is_a_408_and_the_connection_closes() -> None:
    async with _serving(header_timeout=SHORT, keepalive_timeout=LONG) as server:
        reader, writer = await _connect(server)
        writer.write(REQUEST[: len(REQUEST) - 10])  # all headers, most of the body
        received = await _closed_by_server(reader)
        assert received.startswith(b"HTTP/1.1 408")
        assert b'"type":"error"' in received
        await _close(writer)
        await server.wait_idle(BOUND)


async def test_connections_over_the_limit_get_503_and_are_closed() -> None:
    async with _serving(header_timeout=LONG, keepalive_timeout=LONG, max_connections=3) as server:
        baseline = _open_fds()
        held = [await _connect(server) for _ in range(3)]
        async with asyncio.timeout(BOUND):
            while server.open_connections < 3:
                await asyncio.sleep(0.01)
        reader, writer = await _connect(server)
        refused = await _closed_by_server(reader)
        assert refused.startswith(b"HTTP/1.1 503")
        assert server.open_connections == 3
        await _close(writer)

        for _, held_writer in held:
            await _close(held_writer)
        await server.wait_idle(BOUND)
        reader, writer = await _connect(server)  # room again
        writer.write(REQUEST.replace(b"HTTP/1.1\r\n", b"HTTP/1.1\r\nconnection: close\r\n", 1))
        assert (await _closed_by_server(reader)).startswith(b"HTTP/1.1 200 OK")
        await _close(writer)
        await server.wait_idle(BOUND)
        assert _open_fds() == baseline


def test_limits_must_be_positive() -> None:
    assert ServerLimits().max_connections >= 100
    for bad in ({"header_timeout": 0}, {"keepalive_timeout": -1}, {"max_connections": 0}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            EmbeddedServer(**bad)  # type: ignore[arg-type]


def test_streamkit_serve_takes_the_limits() -> None:
    parser = build_parser()
    args = parser.parse_args(
        ["serve", "--header-timeout", "5", "--keepalive-timeout", "0.5", "--max-connections", "9"]
    )
    assert (args.header_timeout, args.keepalive_timeout, args.max_connections) == (5.0, 0.5, 9)
    defaults = parser.parse_args(["serve"])
    assert defaults.header_timeout == ServerLimits().header_timeout
    assert defaults.max_connections == ServerLimits().max_connections
    with pytest.raises(SystemExit):
        parser.parse_args(["serve", "--header-timeout", "0"])
