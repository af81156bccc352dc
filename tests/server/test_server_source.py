"""Every fault as streamkit's own source sees it, plus continuation and disposal."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
import reactivex.operators as rx_ops

from streamkit.bridge import collect
from streamkit.client import stream_chat
from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamTimeoutError,
)
from streamkit.events import StreamEvent, TextDelta
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.operators.retry import RetryPolicy
from streamkit.server import EmbeddedServer, answer_for
from streamkit.transport import Timeouts

FORMATS = ["openai", "anthropic"]
BODY: dict[str, Any] = {
    "model": "m",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "Why is the sky blue?"}],
}


def _text(events: list[StreamEvent]) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta))


async def _run(url: str, fmt: str, fault: str | None = None, **options: Any) -> list[StreamEvent]:
    headers = {"x-streamkit-fault": fault} if fault else {}
    return await collect(stream_chat(url, BODY, format=fmt, headers=headers, **options))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_clean_stream_gives_the_answer(server_url: str, fmt: str) -> None:
    message = build_message(await _run(server_url, fmt))
    assert message.text == answer_for(BODY)
    assert message.finish_reason == "stop"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_disconnect_is_connection_lost(server_url: str, fmt: str) -> None:
    with pytest.raises(ConnectionLostError):
        await _run(server_url, fmt, "disconnect-after=4")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_429_is_rate_limit_with_retry_after(server_url: str, fmt: str) -> None:
    with pytest.raises(RateLimitError) as info:
        await _run(server_url, fmt, "status=429;retry-after=1.5")
    assert info.value.retry_after == 1.5
    assert info.value.error_type == "rate_limit_error"
    assert info.value.request_id is not None and info.value.request_id.startswith("req_")


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("status", [500, 503, 529])
async def test_server_statuses_are_server_errors(server_url: str, fmt: str, status: int) -> None:
    with pytest.raises(ServerError) as info:
        await _run(server_url, fmt, f"status={status}")
    assert info.value.status == status
    assert not info.value.in_stream
    if status == 529:
        assert info.value.error_type == "overloaded_error"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_error_event_is_an_in_stream_status_error(server_url: str, fmt: str) -> None:
    with pytest.raises(APIStatusError) as info:
        await _run(server_url, fmt, "error-event-after=3:overloaded_error")
    assert info.value.in_stream
    assert info.value.error_type == "overloaded_error"
    assert info.value.status == 529


@pytest.mark.parametrize("fmt", FORMATS)
async def test_malformed_event_is_a_protocol_error(server_url: str, fmt: str) -> None:
    with pytest.raises(ProtocolError, match="malformed JSON"):
        await _run(server_url, fmt, "malformed-after=2")


@pytest.mark.parametrize("fmt", FORMATS)
async def test_stall_beyond_idle_timeout(server_url: str, fmt: str) -> None:
    with pytest.raises(StreamTimeoutError) as info:
        await _run(server_url, fmt, "stall=0.5@5", timeouts=Timeouts(idle=0.2))
    assert info.value.phase == "idle"


@pytest.mark.parametrize("fmt", FORMATS)
async def test_short_stall_within_idle_timeout_is_harmless(server_url: str, fmt: str) -> None:
    events = await _run(server_url, fmt, "stall=0.05@5", timeouts=Timeouts(idle=2))
    assert _text(events) == answer_for(BODY)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_oversize_event_beyond_limit_is_a_protocol_error(server_url: str, fmt: str) -> None:
    with pytest.raises(ProtocolError):
        await _run(server_url, fmt, "oversize-after=2:5000", max_event_bytes=4096)
    # A big enough limit accepts the padding event and changes nothing.
    events = await _run(server_url, fmt, "oversize-after=2:5000", max_event_bytes=65536)
    assert _text(events) == answer_for(BODY)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_keep_alives_change_nothing(server_url: str, fmt: str) -> None:
    events = await _run(server_url, fmt, "keepalive-every=1")
    assert _text(events) == answer_for(BODY)


async def test_first_attempts_fails_only_the_first_request(
    embedded_server: EmbeddedServer,
) -> None:
    url, fault = embedded_server.url, "first-attempts=1;status=503"
    with pytest.raises(ServerError):
        await _run(url, "openai", fault)
    assert _text(await _run(url, "openai", fault)) == answer_for(BODY)
    # Another session starts its own count.
    headers = {"x-streamkit-fault": fault, "x-streamkit-session": "other"}
    with pytest.raises(ServerError):
        await collect(stream_chat(url, BODY, headers=headers))


@pytest.mark.parametrize("fmt", FORMATS)
async def test_retry_continues_after_a_disconnect_exactly(server_url: str, fmt: str) -> None:
    headers = {"x-streamkit-fault": "first-attempts=1;disconnect-after=12"}
    policy = RetryPolicy(max_attempts=3, base_delay=0.01, max_delay=0.01)
    events = await collect(stream_chat(server_url, BODY, format=fmt, headers=headers, retry=policy))
    assert _text(events) == answer_for(BODY)


@pytest.mark.parametrize("fmt", FORMATS)
async def test_continuation_request_streams_the_rest(server_url: str, fmt: str) -> None:
    answer = answer_for(BODY)
    body = get_format(fmt).continuation_body(BODY, answer[:33])
    events = await collect(stream_chat(server_url, body, format=fmt))
    assert answer[:33] + _text(events) == answer


@pytest.mark.parametrize("fmt", FORMATS)
async def test_disposing_closes_the_connection(fmt: str) -> None:
    async with EmbeddedServer(chunk_delay=0.01) as server:
        received: list[StreamEvent] = []
        enough = asyncio.Event()

        def on_next(event: StreamEvent) -> None:
            received.append(event)
            if len(received) >= 3:
                enough.set()

        source = stream_chat(server.url, BODY, format=fmt)
        subscription = source.subscribe(on_next)
        await asyncio.wait_for(enough.wait(), 5)
        assert server.open_connections == 1
        subscription.dispose()
        await server.wait_idle()
        assert server.open_connections == 0
        count = len(received)
        await asyncio.sleep(0.05)
        assert len(received) == count  # nothing after disposal


async def test_take_disposes_upstream_and_frees_the_connection() -> None:
    async with EmbeddedServer(rate=200) as server:
        events = await collect(stream_chat(server.url, BODY).pipe(rx_ops.take(2)))
        assert len(events) == 2
        await server.wait_idle()
        assert server.open_connections == 0
