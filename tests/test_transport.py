"""The HTTP source against a small local aiohttp server serving canned transcripts.

Each test installs a handler on the ``canned`` server (127.0.0.1, port 0) and streams through the
real ``stream_chat`` / ``ChatEndpoint`` / ``sse_source``: chunking, errors, deadlines, lifetimes.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

import aiohttp
import orjson
import pytest
import pytest_asyncio
from aiohttp import web
from reactivex import Observable

from streamkit.bridge import collect
from streamkit.client import ChatEndpoint, stream_chat
from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    ConnectionLostError,
    ProtocolError,
    RateLimitError,
    ServerError,
    StreamTimeoutError,
    TransportError,
)
from streamkit.event_source import sse_source
from streamkit.events import (
    Finish,
    ReasoningDelta,
    Retrying,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.operators.retry import RetryPolicy
from streamkit.sse import SSEEvent
from streamkit.transport import Timeouts

T = TypeVar("T")
TRANSCRIPTS = Path(__file__).parent / "formats" / "transcripts"
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
OPENAI_BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}
ANTHROPIC_BODY = {
    "model": "claude",
    "max_tokens": 64,
    "messages": [{"role": "user", "content": "Hi"}],
}
FAST = Timeouts(connect=2, first_token=2, idle=2, total=5)
SECRET = "sk-ant-source-secret-0123456789"


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


class CannedServer:
    """A local server whose one handler each test sets; it records what the client sent."""

    def __init__(self) -> None:
        self.handler: Handler | None = None
        self.requests: list[tuple[str, dict[str, str], Any]] = []
        self.methods: list[str] = []
        self.url = ""
        self.handler_done = asyncio.Event()

    async def dispatch(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        self.methods.append(request.method)
        self.requests.append(
            (request.path, dict(request.headers), orjson.loads(body) if body else None)
        )
        assert self.handler is not None
        try:
            return await self.handler(request)
        finally:
            self.handler_done.set()


@pytest_asyncio.fixture
async def canned() -> AsyncIterator[CannedServer]:
    server = CannedServer()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", server.dispatch)
    runner = web.AppRunner(app, handle_signals=False, shutdown_timeout=0.1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        host, port = runner.addresses[0][:2]
        server.url = f"http://{host}:{port}"
        yield server
    finally:
        await runner.cleanup()


async def sse_response(request: web.Request, **headers: str) -> web.StreamResponse:
    response = web.StreamResponse(headers={"content-type": "text/event-stream", **headers})
    await response.prepare(request)
    return response


def serve_bytes(data: bytes, *, chunk: int = 7) -> Handler:
    """A handler writing ``data`` in ``chunk``-byte pieces (splitting lines and characters)."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        for start in range(0, len(data), chunk):
            await response.write(data[start : start + chunk])
            await asyncio.sleep(0)  # let the client read: pieces should arrive apart
        await response.write_eof()
        return response

    return handler


async def run(observable: Observable[T]) -> tuple[list[T], BaseException | None]:
    """Subscribe and wait for the end: the items, and the error if it ended with one."""
    items: list[T] = []
    done: asyncio.Future[BaseException | None] = asyncio.get_running_loop().create_future()
    subscription = observable.subscribe(
        on_next=items.append,
        on_error=lambda exc: done.set_result(exc),
        on_completed=lambda: done.set_result(None),
    )
    try:
        async with asyncio.timeout(5):
            error = await done
    finally:
        subscription.dispose()
    return items, error


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


# -- decoding through HTTP --------------------------------------------------------------------


async def test_plain_text_openai(canned: CannedServer) -> None:
    canned.handler = serve_bytes(transcript("openai_text.sse"), chunk=5)
    events = await collect(stream_chat(canned.url, OPENAI_BODY, api_key="sk-test", timeouts=FAST))
    assert events == [
        StreamStart("chatcmpl-abc", "gpt-4o-mini"),
        TextDelta("Hello"),
        TextDelta(", wörld"),
        TextDelta(" 👋"),
        Finish("stop", "stop"),
        Usage(input_tokens=9, output_tokens=4),
    ]
    path, headers, body = canned.requests[0]
    assert path == "/v1/chat/completions"
    assert headers["Authorization"] == "Bearer sk-test"
    assert body == {**OPENAI_BODY, "stream": True}


async def test_received_at_and_wire_bytes(canned: CannedServer) -> None:
    data = transcript("openai_text.sse")
    canned.handler = serve_bytes(data, chunk=11)
    loop_start = asyncio.get_running_loop().time()
    events = await collect(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    times = [e.received_at for e in events]
    assert times == sorted(times) and times[0] >= loop_start - 1
    # Every byte before [DONE] is charged to some event.
    done_marker = len(b"data: [DONE]\n\n")
    assert sum(e.wire_bytes for e in events) <= len(data)
    assert sum(e.wire_bytes for e in events) >= len(data) - done_marker - 11


async def test_parallel_tool_calls_anthropic(canned: CannedServer) -> None:
    canned.handler = serve_bytes(transcript("anthropic_tools.sse"), chunk=3)
    events = await collect(
        stream_chat(
            canned.url + "/v1", ANTHROPIC_BODY, format="anthropic", api_key="k", timeouts=FAST
        )
    )
    calls = [e for e in events if isinstance(e, ToolCallDelta | ToolCallEnd)]
    assert calls == [
        ToolCallDelta(1, id="toolu_a", name="get_weather", arguments=""),
        ToolCallDelta(1, arguments=""),
        ToolCallDelta(1, arguments='{"city": "Pa'),
        ToolCallDelta(1, arguments='ris"}'),
        ToolCallEnd(1),
        ToolCallDelta(2, id="toolu_b", name="get_time", arguments=""),
        ToolCallDelta(2, arguments='{"tz": "CET"}'),
        ToolCallEnd(2),
    ]
    path, headers, body = canned.requests[0]
    assert path == "/v1/messages"
    assert headers["x-api-key"] == "k"
    assert headers["anthropic-version"] == "2023-06-01"
    assert body["stream"] is True


async def test_parallel_tool_calls_openai(canned: CannedServer) -> None:
    canned.handler = serve_bytes(transcript("openai_tools.sse"), chunk=4)
    events = await collect(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert [e.index for e in events if isinstance(e, ToolCallEnd)] == [0, 1]
    assert [e.name for e in events if isinstance(e, ToolCallDelta) and e.name] == [
        "get_weather",
        "get_time",
    ]
    assert events[-2:] == [Finish("tool_calls", "tool_calls"), Usage(20, 30)]


async def test_thinking_and_usage_anthropic(canned: CannedServer) -> None:
    canned.handler = serve_bytes(transcript("anthropic_thinking.sse"), chunk=9)
    events = await collect(
        stream_chat(canned.url, ANTHROPIC_BODY, format="anthropic", timeouts=FAST)
    )
    reasoning = [e for e in events if isinstance(e, ReasoningDelta)]
    assert [(r.kind, r.text) for r in reasoning] == [
        ("thinking", "Let me think"),
        ("thinking", " step by step."),
        ("signature", "EqQBCgIYAh"),
        ("redacted", "EmwKAhgBEgy3va"),
    ]
    usages = [e for e in events if isinstance(e, Usage)]
    assert usages == [Usage(25, 1), Usage(25, 120)]


async def test_tap_receives_raw_bytes(canned: CannedServer) -> None:
    data = transcript("anthropic_text.sse")
    canned.handler = serve_bytes(data, chunk=17)
    seen: list[tuple[bytes, float]] = []
    await collect(
        stream_chat(
            canned.url,
            ANTHROPIC_BODY,
            format="anthropic",
            timeouts=FAST,
            tap=lambda chunk, at: seen.append((chunk, at)),
        )
    )
    assert b"".join(chunk for chunk, _ in seen) == data
    assert [chunk for chunk, _ in seen].count(b"") == 1 and seen[0][0] == b""  # body starts
    assert len(seen) > 2  # the pieces arrived apart: decoding across reads was exercised
    assert all(isinstance(at, float) for _, at in seen)
    assert [at for _, at in seen] == sorted(at for _, at in seen)


# -- errors -----------------------------------------------------------------------------------


@pytest.mark.parametrize("chunk", [7, 1_000_000])  # in pieces; in one read with the events before
@pytest.mark.parametrize(
    ("name", "fmt", "cls", "status"),
    [
        ("openai_error.sse", "openai", RateLimitError, 429),
        ("anthropic_error.sse", "anthropic", ServerError, 529),
    ],
)
async def test_mid_stream_error_event(
    canned: CannedServer, name: str, fmt: str, cls: type[APIStatusError], status: int, chunk: int
) -> None:
    canned.handler = serve_bytes(transcript(name), chunk=chunk)
    items, error = await run(stream_chat(canned.url, {}, format=fmt, timeouts=FAST))  # type: ignore[arg-type]
    assert TextDelta("Hi") in items
    assert isinstance(error, cls)
    assert error.status == status and error.in_stream


async def test_stream_ending_before_end_marker_is_connection_lost(canned: CannedServer) -> None:
    data = transcript("openai_text.sse")
    canned.handler = serve_bytes(data[: data.index(b"data: [DONE]")])
    items, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert len(items) == 6
    assert isinstance(error, ConnectionLostError)
    assert "end marker" in str(error)


async def test_stream_ending_inside_an_event_is_connection_lost(canned: CannedServer) -> None:
    data = transcript("anthropic_text.sse")
    canned.handler = serve_bytes(data[:-30])
    _, error = await run(stream_chat(canned.url, {}, format="anthropic", timeouts=FAST))
    assert isinstance(error, ConnectionLostError)
    assert "inside an event" in str(error)


async def test_connection_cut_mid_stream_is_connection_lost(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        data = transcript("openai_text.sse")
        await response.write(data[:300])
        assert request.transport is not None
        request.transport.close()
        return response

    canned.handler = handler
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert isinstance(error, ConnectionLostError)


@pytest.mark.parametrize(
    ("fmt", "status", "cls", "headers", "retry_after", "request_id"),
    [
        (
            "openai",
            429,
            RateLimitError,
            {"retry-after": "7", "x-request-id": "req_o"},
            7.0,
            "req_o",
        ),
        (
            "anthropic",
            529,
            ServerError,
            {"retry-after-ms": "250", "request-id": "req_a"},
            0.25,
            "req_a",
        ),
        ("openai", 401, AuthenticationError, {}, None, None),
        ("anthropic", 400, APIStatusError, {}, None, None),
    ],
)
async def test_non_2xx_is_typed_error(
    canned: CannedServer,
    fmt: str,
    status: int,
    cls: type[APIStatusError],
    headers: dict[str, str],
    retry_after: float | None,
    request_id: str | None,
) -> None:
    from streamkit.formats import get_format

    wire = get_format(fmt)
    payload = wire.error_body(status, "some_error", "went wrong")

    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response(payload, status=status, headers=headers)

    canned.handler = handler
    items, error = await run(stream_chat(canned.url, {}, format=fmt, timeouts=FAST))  # type: ignore[arg-type]
    assert items == []
    assert type(error) is cls
    assert error.status == status
    assert error.error_type == "some_error"
    assert error.message == "went wrong"
    assert error.retry_after == retry_after
    assert error.request_id == request_id
    assert not error.in_stream
    assert error.body == payload


async def test_wrong_content_type_is_protocol_error(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"choices": []})

    canned.handler = handler
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert isinstance(error, ProtocolError)
    assert "application/json" in str(error)


async def test_unreachable_server_is_transport_error() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    _, error = await run(stream_chat(url, OPENAI_BODY, timeouts=FAST))
    assert type(error) is TransportError
    assert "127.0.0.1" in str(error)


async def test_oversized_event_is_protocol_error(canned: CannedServer) -> None:
    canned.handler = serve_bytes(b"data: " + b"x" * 5000 + b"\n\n", chunk=512)
    endpoint = ChatEndpoint(canned.url, timeouts=FAST, max_event_bytes=1000)
    _, error = await run(endpoint.stream(OPENAI_BODY))
    assert isinstance(error, ProtocolError)
    assert "max_event_bytes" in str(error)


# -- sessions and disposal --------------------------------------------------------------------


async def test_callers_session_is_reused_and_not_closed(canned: CannedServer) -> None:
    canned.handler = serve_bytes(transcript("openai_text.sse"))
    async with aiohttp.ClientSession() as session:
        endpoint = ChatEndpoint(canned.url, session=session, timeouts=FAST)
        for _ in range(2):
            events = await collect(endpoint.stream(OPENAI_BODY))
            assert len(events) == 6
            assert not session.closed
        assert len(canned.requests) == 2


async def test_own_session_is_closed(canned: CannedServer, monkeypatch: pytest.MonkeyPatch) -> None:
    sessions: list[aiohttp.ClientSession] = []

    real_session = aiohttp.ClientSession

    def recording_session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real_session(*args, **kwargs)
        sessions.append(session)
        return session

    monkeypatch.setattr(aiohttp, "ClientSession", recording_session)
    canned.handler = serve_bytes(transcript("openai_text.sse"))
    await collect(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    canned.handler = serve_bytes(b"data: {bad\n\n")
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert isinstance(error, ProtocolError)
    assert len(sessions) == 2
    assert all(s.closed for s in sessions)


async def test_dispose_while_connecting_closes_own_session(
    canned: CannedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    sessions: list[aiohttp.ClientSession] = []
    real_session = aiohttp.ClientSession
    client_gone: list[bool] = []

    def recording_session(*args: Any, **kwargs: Any) -> aiohttp.ClientSession:
        session = real_session(*args, **kwargs)
        sessions.append(session)
        return session

    async def handler(request: web.Request) -> web.StreamResponse:
        for _ in range(300):  # headers never come; watch for the client to hang up
            if request.transport is None or request.transport.is_closing():
                client_gone.append(True)
                break
            await asyncio.sleep(0.01)
        return web.Response(status=204)

    monkeypatch.setattr(aiohttp, "ClientSession", recording_session)
    canned.handler = handler
    ended: list[str] = []
    subscription = stream_chat(canned.url, OPENAI_BODY, timeouts=FAST).subscribe(
        on_error=lambda e: ended.append("error"), on_completed=lambda: ended.append("completed")
    )
    async with asyncio.timeout(3):
        while not canned.requests:
            await asyncio.sleep(0.01)
    subscription.dispose()
    async with asyncio.timeout(3):
        while not (sessions and sessions[0].closed):
            await asyncio.sleep(0.01)
        await canned.handler_done.wait()  # the server saw the client go
    assert ended == []
    assert client_gone == [True]


async def test_dispose_mid_stream_closes_the_connection(canned: CannedServer) -> None:
    server_saw: list[str] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        data = transcript("openai_text.sse")
        await response.write(data[: data.index(b"\n\n") + 2])  # the role chunk
        try:
            for _ in range(500):
                await response.write(b": keep-alive\n\n")
                await asyncio.sleep(0.01)
            server_saw.append("finished")
        except (ConnectionResetError, ConnectionError):
            server_saw.append("write failed")
        except asyncio.CancelledError:
            server_saw.append("cancelled")
            raise
        return response

    canned.handler = handler
    got_first = asyncio.Event()
    items: list[StreamEvent] = []

    def on_next(event: StreamEvent) -> None:
        items.append(event)
        got_first.set()

    subscription = stream_chat(canned.url, OPENAI_BODY, timeouts=FAST).subscribe(on_next=on_next)
    async with asyncio.timeout(3):
        await got_first.wait()
    subscription.dispose()
    async with asyncio.timeout(3):
        await canned.handler_done.wait()
    assert server_saw in (["write failed"], ["cancelled"])
    assert len(items) == 1  # nothing after disposal


# -- deadlines --------------------------------------------------------------------------------


async def test_connect_timeout_when_headers_are_delayed(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return await sse_response(request)

    canned.handler = handler
    timeouts = Timeouts(connect=0.2, first_token=5, idle=5)
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert isinstance(error, StreamTimeoutError)
    assert isinstance(error, TimeoutError)
    assert error.phase == "connect"
    assert error.seconds == 0.2


async def test_total_deadline_bounds_connect_when_shorter(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        await asyncio.sleep(3)
        return await sse_response(request)

    canned.handler = handler
    timeouts = Timeouts(connect=5, first_token=5, idle=5, total=0.2)
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert isinstance(error, StreamTimeoutError)
    assert (error.phase, error.seconds) == ("total", 0.2)


def keep_alive_then(content: bytes, *, seconds: float, every: float = 0.05) -> Handler:
    """A handler that sends the role chunk, keep-alives for ``seconds``, then ``content``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        data = transcript("openai_text.sse")
        await response.write(data[: data.index(b"\n\n") + 2])
        loop = asyncio.get_running_loop()
        end = loop.time() + seconds
        while loop.time() < end:
            await response.write(b": keep-alive\n\n")
            await asyncio.sleep(every)
        await response.write(content)
        await response.write_eof()
        return response

    return handler


async def test_first_token_timeout_keep_alives_do_not_count(canned: CannedServer) -> None:
    canned.handler = keep_alive_then(transcript("openai_text.sse"), seconds=3)
    timeouts = Timeouts(connect=2, first_token=0.3, idle=2)
    items, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert isinstance(error, StreamTimeoutError)
    assert error.phase == "first_token"
    assert [type(e) for e in items] == [StreamStart]


async def test_idle_timeout(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        data = transcript("openai_text.sse")
        await response.write(data[:400])
        await asyncio.sleep(3)
        return response

    canned.handler = handler
    timeouts = Timeouts(connect=2, first_token=2, idle=0.2)
    items, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert isinstance(error, StreamTimeoutError)
    assert error.phase == "idle"
    assert items  # what arrived before the silence was delivered


async def test_keep_alives_count_as_liveness_for_idle(canned: CannedServer) -> None:
    data = transcript("openai_text.sse")
    rest = data[data.index(b"\n\n") + 2 :]
    canned.handler = keep_alive_then(rest, seconds=0.8, every=0.03)
    timeouts = Timeouts(connect=2, first_token=None, idle=0.5)
    events = await collect(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert events[-2:] == [Finish("stop", "stop"), Usage(9, 4)]


async def test_total_timeout(canned: CannedServer) -> None:
    data = transcript("openai_text.sse")
    canned.handler = keep_alive_then(data, seconds=3, every=0.04)
    timeouts = Timeouts(connect=2, first_token=None, idle=2, total=0.3)
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert isinstance(error, StreamTimeoutError)
    assert error.phase == "total"


def test_timeouts_validate() -> None:
    with pytest.raises(ValueError):
        Timeouts(idle=0)
    with pytest.raises(ValueError):
        Timeouts(connect=-1)
    assert Timeouts(total=None).total is None


# -- generic SSE ------------------------------------------------------------------------------


async def test_sse_source(canned: CannedServer) -> None:
    data = b"\xef\xbb\xbfevent: a\r\nid: 1\r\ndata: x\r\n\r\n: c\n\ndata: y\rdata: z\r\r"
    canned.handler = serve_bytes(data, chunk=2)
    events = await collect(
        sse_source(canned.url + "/events", body={"q": 1}, headers={"x-extra": "1"}, timeouts=FAST)
    )
    assert events == [SSEEvent(event="a", data="x", id="1"), SSEEvent(data="y\nz", id="1")]
    path, headers, body = canned.requests[0]
    assert (path, body, headers["x-extra"]) == ("/events", {"q": 1}, "1")
    assert headers["Accept"] == "text/event-stream"
    assert canned.methods == ["POST"]


async def test_sse_source_without_a_body_is_a_get(canned: CannedServer) -> None:
    canned.handler = serve_bytes(b"data: x\n\n")
    events = await collect(sse_source(canned.url + "/events", timeouts=FAST))
    assert events == [SSEEvent(data="x")]
    assert canned.methods == ["GET"]
    assert "Content-Type" not in canned.requests[0][1]
    with pytest.raises(ValueError, match="method"):
        sse_source(canned.url, method="PUT")  # type: ignore[arg-type]


async def test_redirects_are_errors_and_never_carry_the_key(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        if request.path == "/elsewhere/v1/messages":
            return await serve_bytes(transcript("anthropic_text.sse"))(request)
        raise web.HTTPTemporaryRedirect("/elsewhere/v1/messages")

    canned.handler = handler
    endpoint = ChatEndpoint(canned.url, format="anthropic", api_key=SECRET, timeouts=FAST)
    _, error = await run(endpoint.stream(ANTHROPIC_BODY))
    assert isinstance(error, APIStatusError) and error.status == 307
    assert [path for path, _, _ in canned.requests] == ["/v1/messages"]


async def test_an_error_body_written_in_pieces_is_read_whole(canned: CannedServer) -> None:
    body = b'{"error": {"type": "invalid_request_error", "message": "max_tokens is too big"}}'

    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=400, headers={"content-type": "application/json"})
        await response.prepare(request)
        for start in range(0, len(body), 10):
            await response.write(body[start : start + 10])
            await asyncio.sleep(0.01)
        await response.write_eof()
        return response

    canned.handler = handler
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert isinstance(error, APIStatusError)
    assert (error.error_type, error.message) == ("invalid_request_error", "max_tokens is too big")


async def test_a_stalled_error_body_ends_at_the_total_deadline(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = web.StreamResponse(status=503, headers={"content-type": "application/json"})
        await response.prepare(request)
        await response.write(b'{"error": ')
        await asyncio.sleep(10)
        return response

    canned.handler = handler
    timeouts = Timeouts(connect=2, first_token=None, idle=None, total=0.3)
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=timeouts))
    assert isinstance(error, ServerError) and error.status == 503
    assert error.body == '{"error": '


async def test_a_2xx_that_is_not_a_stream_shows_its_body(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.json_response({"error": {"message": "gateway says no"}})

    canned.handler = handler
    _, error = await run(stream_chat(canned.url, OPENAI_BODY, timeouts=FAST))
    assert isinstance(error, ProtocolError)
    assert "application/json" in str(error) and "gateway says no" in str(error)


def test_a_request_repr_never_shows_its_headers() -> None:
    from streamkit.transport import _Request

    request = _Request(
        url="http://127.0.0.1:1/v1/messages",
        body=b"{}",
        headers={"x-api-key": SECRET},
        session=None,
        timeouts=FAST,
    )
    assert SECRET not in repr(request)


async def test_sse_source_status_error(canned: CannedServer) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.Response(status=503, text="down for maintenance", headers={"retry-after": "2"})

    canned.handler = handler
    _, error = await run(sse_source(canned.url, timeouts=FAST))
    assert isinstance(error, ServerError)
    assert error.status == 503
    assert error.body == "down for maintenance"
    assert error.retry_after == 2.0


def test_endpoint_url_and_validation() -> None:
    assert ChatEndpoint("http://127.0.0.1:1/v1/").url == "http://127.0.0.1:1/v1/chat/completions"
    endpoint = ChatEndpoint("http://127.0.0.1:1", format="anthropic")
    assert endpoint.url == "http://127.0.0.1:1/v1/messages"
    with pytest.raises(ValueError):
        ChatEndpoint("ftp://127.0.0.1")
    with pytest.raises(ValueError):
        ChatEndpoint("http://127.0.0.1", format="cohere")  # type: ignore[arg-type]


# -- end marker and retries -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "fmt"),
    [
        ("openai_text.sse", "openai"),
        ("anthropic_text.sse", "anthropic"),
        ("responses_text.sse", "responses"),
        ("gemini_text.sse", "gemini"),  # no end marker: the last candidate's finishReason
    ],
)
async def test_completes_at_end_marker_even_if_server_keeps_the_body_open(
    canned: CannedServer, name: str, fmt: str
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        response = await sse_response(request)
        await response.write(transcript(name))
        await asyncio.sleep(3)  # never ends the body on its own
        return response

    canned.handler = handler
    timeouts = Timeouts(connect=2, first_token=2, idle=0.5, total=2)
    body = {"model": "m"}  # Gemini's URL names it
    items, error = await run(stream_chat(canned.url, body, format=fmt, timeouts=timeouts))  # type: ignore[arg-type]
    assert error is None
    assert isinstance(items[-1], Usage)


async def test_retry_continues_after_connection_loss(canned: CannedServer) -> None:
    data = transcript("anthropic_text.sse")
    cut = data.index(b"event: content_block_delta", data.index(b"Hello"))  # after "Hello"
    attempts = [serve_bytes(data[:cut]), serve_bytes(data)]

    async def handler(request: web.Request) -> web.StreamResponse:
        return await attempts.pop(0)(request)

    canned.handler = handler
    policy = RetryPolicy(max_attempts=2, base_delay=0.01, random=lambda: 0.5)
    events = await collect(
        stream_chat(
            canned.url,
            ANTHROPIC_BODY,
            format="anthropic",
            timeouts=FAST,
            retry=policy,
            resume="continue",
        )
    )
    assert len(canned.requests) == 2
    second_body = canned.requests[1][2]
    assert second_body["stream"] is True
    assert second_body["messages"][-1] == {"role": "assistant", "content": "Hello"}
    assert any(isinstance(e, Retrying) for e in events)
    assert isinstance(events[-1], Usage)
