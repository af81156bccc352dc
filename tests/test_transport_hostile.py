"""The transport against a hostile server (``tests/hostile_server.py``): raw sockets, 127.0.0.1.

Servers that echo the key into any body, cut or trickle a response, never answer, or send an
encoding nobody asked for.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import orjson
import pytest
import pytest_asyncio

from streamkit.bridge import collect
from streamkit.client import stream_chat
from streamkit.errors import (
    APIStatusError,
    MalformedEventError,
    ProtocolError,
    StreamTimeoutError,
)
from streamkit.event_source import sse_source
from streamkit.operators.retry import is_retryable
from streamkit.transport import Timeouts
from tests.hostile_server import (
    HostileServer,
    echo_headers,
    head,
    never_answer,
    respond,
    sse_head,
    trickle,
)

CANARY = "sk-canary-7f3e9c1d2b4a6e8f0a1b"
BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
QUICK = Timeouts(connect=5, first_token=5, content_idle=5, idle=5, total=10)


@pytest_asyncio.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


def _chunk(text: str) -> bytes:
    payload = {"id": "c", "object": "chat.completion.chunk", "created": 1, "model": "m"}
    payload["choices"] = [{"index": 0, "delta": {"content": text}, "finish_reason": None}]
    return b"data: " + orjson.dumps(payload) + b"\n\n"


async def _failure(hostile: HostileServer, *, timeouts: Timeouts = QUICK) -> BaseException:
    with pytest.raises(Exception) as info:
        async with asyncio.timeout(15):
            await collect(stream_chat(hostile.url, BODY, api_key=CANARY, timeouts=timeouts))
    return info.value


def _shows_canary(error: BaseException) -> bool:
    return CANARY in f"{error} {error!r} {getattr(error, 'body', '')!r}"


async def test_key_echoed_in_a_200_html_body_is_redacted(hostile: HostileServer) -> None:
    hostile.behaviour = echo_headers(
        head(200, "text/html"), lambda echoed: f"<html>{echoed}</html>".encode()
    )
    error = await _failure(hostile)
    assert isinstance(error, ProtocolError)
    assert "[redacted]" in str(error) and not _shows_canary(error)


async def test_key_echoed_in_an_in_stream_error_event_is_redacted(hostile: HostileServer) -> None:
    def error_event(echoed: str) -> bytes:
        error = {"error": {"message": f"bad key {echoed}", "type": "invalid_request_error"}}
        return _chunk("Hi") + b"data: " + orjson.dumps(error) + b"\n\n"

    hostile.behaviour = echo_headers(sse_head(), error_event)
    error = await _failure(hostile)
    assert isinstance(error, APIStatusError) and error.in_stream
    assert "[redacted]" in error.message and not _shows_canary(error)


async def test_key_echoed_in_a_malformed_event_is_redacted(hostile: HostileServer) -> None:
    hostile.behaviour = echo_headers(sse_head(), lambda echoed: f"data: {{{echoed}\n\n".encode())
    error = await _failure(hostile)
    assert isinstance(error, MalformedEventError)
    assert not _shows_canary(error)


async def test_key_echoed_in_an_error_status_body_is_redacted(hostile: HostileServer) -> None:
    hostile.behaviour = echo_headers(
        head(401, "application/json"),
        lambda echoed: orjson.dumps({"error": {"message": echoed, "type": "auth"}}),
    )
    error = await _failure(hostile)
    assert isinstance(error, APIStatusError) and error.status == 401
    assert not _shows_canary(error)


async def test_key_split_across_reads_never_reaches_the_tap(hostile: HostileServer) -> None:
    """The key arrives a few bytes at a time: the recording tap still never sees it whole."""
    body = _chunk("your key: " + CANARY) + b"data: [DONE]\n\n"
    hostile.behaviour = trickle(
        sse_head(), [body[i : i + 3] for i in range(0, len(body), 3)], every=0
    )
    seen: list[bytes] = []
    events = await collect(
        stream_chat(
            hostile.url,
            BODY,
            headers={"authorization": f"Bearer {CANARY}"},
            timeouts=QUICK,
            tap=lambda chunk, _: seen.append(chunk),
        )
    )
    assert CANARY.encode() not in b"".join(seen)
    assert CANARY not in repr(events) and "[redacted]" in repr(events)


async def test_a_credential_header_of_sse_source_is_redacted(hostile: HostileServer) -> None:
    hostile.behaviour = echo_headers(sse_head(), lambda echoed: f"data: {echoed}\n\n".encode())
    events = await collect(
        sse_source(hostile.url, headers={"x-access-token": CANARY}, timeouts=QUICK)
    )
    assert events and CANARY not in repr(events)


async def test_a_brotli_body_is_a_clear_non_retryable_error(hostile: HostileServer) -> None:
    hostile.behaviour = respond(sse_head(content_encoding="br"), b"\x1b\x02\x00garbage")
    error = await _failure(hostile)
    assert isinstance(error, ProtocolError) and not is_retryable(error)
    assert "cannot reach" not in str(error) and "brotli" in str(error).lower()
    assert "br" not in hostile.requests[0].headers.get("accept-encoding", "").split(", ")


async def test_a_corrupt_gzip_body_is_a_non_retryable_protocol_error(
    hostile: HostileServer,
) -> None:
    hostile.behaviour = respond(
        sse_head(content_encoding="gzip"),
        b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03\xff\xff\xff\xff",
    )
    error = await _failure(hostile)
    assert isinstance(error, ProtocolError) and not is_retryable(error)


async def test_one_token_then_keepalives_forever_times_out(hostile: HostileServer) -> None:
    hostile.behaviour = trickle(sse_head(), [_chunk("Hi")], every=0.02, then_forever=b": ka\n\n")
    timeouts = Timeouts(connect=5, first_token=5, content_idle=0.3, idle=5, total=20)
    error = await _failure(hostile, timeouts=timeouts)
    assert isinstance(error, StreamTimeoutError) and error.phase == "content_idle"


async def test_a_trickle_that_completes_no_event_times_out(hostile: HostileServer) -> None:
    pieces = [_chunk("Hi")] + [bytes([byte]) for byte in _chunk("x" * 200)]
    hostile.behaviour = trickle(sse_head(), pieces, every=0.02)
    timeouts = Timeouts(connect=5, first_token=5, content_idle=0.3, idle=5, total=20)
    error = await _failure(hostile, timeouts=timeouts)
    assert isinstance(error, StreamTimeoutError) and error.phase == "content_idle"


async def test_a_server_that_never_answers_times_out_connecting(hostile: HostileServer) -> None:
    hostile.behaviour = never_answer()
    error = await _failure(hostile, timeouts=Timeouts(connect=0.2, total=10))
    assert isinstance(error, StreamTimeoutError) and error.phase == "connect"


def test_default_timeouts_bound_content_idle() -> None:
    assert Timeouts().content_idle is not None
