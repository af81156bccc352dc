"""Generic SSE reconnects as a browser's EventSource does, against the hostile server.

The server cuts the stream (a declared ``content-length`` it never fills, so the client sees a
lost connection, not an end), ignores or honours ``Last-Event-ID``, and sets ``retry:``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from streamkit.bridge import collect
from streamkit.errors import APIStatusError, ConnectionLostError, RetryExhaustedError
from streamkit.event_source import ReconnectPolicy, sse_source
from streamkit.operators import retry_with_backoff
from streamkit.sse import SSEEvent
from streamkit.transport import Timeouts
from tests.hostile_server import (
    HostileServer,
    RawRequest,
    head,
    respond,
    sequence,
    sse_head,
)

QUICK = Timeouts(connect=5, first_token=5, content_idle=5, idle=5, total=10)
NOW = ReconnectPolicy(delay=0)


def _events(first: int, last: int) -> bytes:
    return b"".join(f"id: {i}\ndata: event {i}\n\n".encode() for i in range(first, last + 1))


def _cut_after(events: bytes, count: int) -> bytes:
    """The head and ``events`` up to the end of event ``count``, promising more that never comes."""
    end = events.index(f"data: event {count}\n\n".encode()) + len(f"data: event {count}\n\n")
    return sse_head(content_length=str(len(events))) + events[:end]


@pytest_asyncio.fixture
async def hostile() -> AsyncIterator[HostileServer]:
    async with HostileServer() as server:
        yield server


async def _collect(source: object) -> list[SSEEvent]:
    async with asyncio.timeout(10):
        return await collect(source)  # type: ignore[arg-type]


async def test_a_server_that_starts_over_delivers_each_event_once(hostile: HostileServer) -> None:
    full = _events(1, 50)
    hostile.behaviour = sequence(respond(_cut_after(full, 20)), respond(sse_head() + full))
    events = await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=NOW))
    assert [event.data for event in events] == [f"event {i}" for i in range(1, 51)]
    assert "last-event-id" not in hostile.requests[0].headers
    assert hostile.requests[1].headers["last-event-id"] == "20"


async def test_a_server_that_honours_last_event_id_resumes_after_it(
    hostile: HostileServer,
) -> None:
    async def resume(request: RawRequest, writer: asyncio.StreamWriter) -> None:
        after = int(request.headers.get("last-event-id", "0"))
        if after == 0:
            await respond(_cut_after(_events(1, 50), 20))(request, writer)
        else:
            await respond(sse_head() + _events(after + 1, 50))(request, writer)

    hostile.behaviour = resume
    events = await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=NOW))
    assert [event.id for event in events] == [str(i) for i in range(1, 51)]


async def test_the_retry_field_sets_the_reconnection_time(hostile: HostileServer) -> None:
    """With a one-hour default delay, only the stream's ``retry: 1`` lets the test finish."""
    first = b"retry: 1\n\n" + _events(1, 2)  # the retry block dispatches no event
    hostile.behaviour = sequence(
        respond(sse_head(content_length="999") + first), respond(sse_head() + _events(1, 3))
    )
    policy = ReconnectPolicy(delay=3600)
    events = await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=policy))
    assert [event.id for event in events] == ["1", "2", "3"]


async def test_an_http_error_is_not_reconnected(hostile: HostileServer) -> None:
    hostile.behaviour = respond(head(503, "text/plain"), b"down")
    with pytest.raises(APIStatusError):
        await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=NOW))
    assert len(hostile.requests) == 1


async def test_reconnecting_gives_up_after_fruitless_attempts(hostile: HostileServer) -> None:
    hostile.behaviour = respond(_cut_after(_events(1, 5), 2))  # always the same two events
    policy = ReconnectPolicy(delay=0, max_attempts=3)
    with pytest.raises(RetryExhaustedError) as caught:
        await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=policy))
    # The first attempt delivered 1 and 2; three more delivered nothing new. The causes are
    # every failure since the last new event: the first attempt's end and the three others.
    assert len(hostile.requests) == 4
    assert len(caught.value.causes) == 4
    assert all(isinstance(cause, ConnectionLostError) for cause in caught.value.causes)


async def test_on_end_reconnects_after_a_normal_end_too(hostile: HostileServer) -> None:
    hostile.behaviour = sequence(
        respond(sse_head() + _events(1, 2)), respond(sse_head() + _events(1, 4))
    )
    policy = ReconnectPolicy(delay=0, max_attempts=1, on_end=True)
    events = await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=policy))
    assert [event.id for event in events] == ["1", "2", "3", "4"]
    assert len(hostile.requests) == 3  # the third gave nothing new: complete


async def test_without_reconnect_a_lost_connection_fails(hostile: HostileServer) -> None:
    hostile.behaviour = respond(_cut_after(_events(1, 5), 2))
    with pytest.raises(ConnectionLostError):
        await _collect(sse_source(hostile.url, timeouts=QUICK, reconnect=None))


async def test_retry_with_backoff_on_raw_sse_events_fails_instead_of_redelivering(
    hostile: HostileServer,
) -> None:
    hostile.behaviour = respond(sse_head() + _events(1, 3))
    source = sse_source(hostile.url, timeouts=QUICK, reconnect=None)
    with pytest.raises(TypeError, match="Last-Event-ID"):
        await _collect(source.pipe(retry_with_backoff()))  # type: ignore[arg-type]


def test_bad_arguments_fail_at_once() -> None:
    with pytest.raises(ValueError, match="method"):
        sse_source("http://127.0.0.1:1", method="PUT")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="ReconnectPolicy"):
        sse_source("http://127.0.0.1:1", reconnect=3)  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        ReconnectPolicy(max_attempts=0)
