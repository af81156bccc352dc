"""The embedded LLM server: an aiohttp app on the loopback interface speaking four wire formats.

Routes: ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages`` (Anthropic), streaming and
not, and ``GET /v1/models``; OpenAI Responses and Gemini in ``streamkit.server.chat_requests``.
Answers come from ``streamkit.server.scenarios`` and are written with the formats' own encoders,
so what the server writes and what streamkit reads are one definition.

Request headers the server understands (besides authentication):

- ``x-streamkit-fault``: faults to inject, see ``streamkit.server.faults``;
- ``x-streamkit-session``: tells apart otherwise equal fault headers for ``first-attempts``;
- ``x-streamkit-tool-calls: N``: answer with N parallel tool calls when tools are offered (the
  body field ``metadata.streamkit_tool_calls`` works too).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
import uuid
from collections import Counter
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Self

import orjson
from aiohttp import web

from streamkit._credentials import is_credential_name
from streamkit.events import TextDelta, ToolCallDelta
from streamkit.fold.message_builder import build_message
from streamkit.formats import WireFormat, get_format
from streamkit.server import chat_requests
from streamkit.server.faults import FAULT_HEADER, FaultPlan, parse_faults
from streamkit.server.scenarios import Reply, plan_reply, reply_events

__all__ = ["EmbeddedServer", "RecordedRequest", "ThreadedServer"]

SESSION_HEADER: Final = "x-streamkit-session"
TOOL_CALLS_HEADER: Final = "x-streamkit-tool-calls"
#: How many requests ``EmbeddedServer.requests`` keeps (the most recent).
MAX_RECORDED_REQUESTS: Final = 1000
#: How many ``first-attempts`` counters the server keeps (the oldest are forgotten first).
_MAX_FAULT_COUNTERS: Final = 10_000
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_MODELS: Final = ("streamkit-echo",)
_ERROR_TYPES: Final[dict[str, dict[int, str]]] = {
    "openai": {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "permission_error",
        404: "not_found_error",
        429: "rate_limit_error",
        503: "service_unavailable",
        529: "overloaded_error",
    },
    "anthropic": {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        413: "request_too_large",
        429: "rate_limit_error",
        504: "timeout_error",
        529: "overloaded_error",
    },
}


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """A request the server received; credentials are left out of ``headers``.

    Attributes:
        path: the URL path, e.g. ``/v1/messages``.
        body: the JSON body ({} when it was not a JSON object).
        headers: the request headers, lower-cased, without ``authorization`` / ``x-api-key``.
    """

    path: str
    body: dict[str, Any] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


class _Stop(Exception):
    """Ends a stream early because a fault said so."""


def _error_type(fmt: WireFormat, status: int) -> str:
    known = _ERROR_TYPES.get(fmt.name, _ERROR_TYPES["openai"]).get(status)
    if known:
        return known
    if status >= 500:
        return "server_error" if fmt.name == "openai" else "api_error"
    return "invalid_request_error"


def _split_events(data: bytes) -> list[bytes]:
    """Split encoder output into single SSE events (each ends with a blank line)."""
    return [part + b"\n\n" for part in data.split(b"\n\n") if part]


def _malformed(fmt: WireFormat) -> bytes:
    if fmt.name == "anthropic":
        return b'event: content_block_delta\ndata: {"type": "content_block_delta", "index": 0,\n\n'
    return b'data: {"id": "chatcmpl-broken", "choices": [{"index": 0, "delta": {\n\n'


def _oversize(fmt: WireFormat, size: int) -> bytes:
    padding = "x" * (size + 1)
    if fmt.name == "anthropic":
        return b"event: ping\ndata: " + orjson.dumps({"type": "ping", "padding": padding}) + b"\n\n"
    chunk = {"id": "chatcmpl-padding", "object": "chat.completion.chunk", "choices": []}
    return b"data: " + orjson.dumps({**chunk, "padding": padding}) + b"\n\n"


class _StreamWriter:
    """Writes one response's SSE events, applying its fault plan and pacing."""

    def __init__(
        self,
        request: web.Request,
        response: web.StreamResponse,
        fmt: WireFormat,
        plan: FaultPlan,
        token_delay: float,
        event_delay: float,
    ) -> None:
        self._request = request
        self._response = response
        self._fmt = fmt
        self._plan = plan
        self._token_delay = token_delay
        self._event_delay = event_delay
        self.sent = 0

    async def start(self) -> None:
        await self._after_event()

    async def send(self, data: bytes, *, token: bool = False, final: bool = False) -> None:
        """Write the SSE events in ``data``; after ``final`` ones (the end marker) no faults."""
        for event in _split_events(data):
            plan = self._plan
            if plan.stall_before is not None and self.sent == max(plan.stall_before - 1, 0):
                await asyncio.sleep(plan.stall_seconds)
            delay = self._event_delay or (self._token_delay if token else 0.0)
            if delay:
                await asyncio.sleep(delay)
            await self._response.write(event)
            self.sent += 1
            if event.startswith(b"event: message_start"):
                await self._response.write(self._fmt.keep_alive())  # Anthropic's ping
            if not final:
                await self._after_event()

    async def _after_event(self) -> None:
        plan, n = self._plan, self.sent
        if plan.keepalive_every and n and n % plan.keepalive_every == 0:
            await self._response.write(self._fmt.keep_alive())
        if plan.malformed_after == n:
            await self._response.write(_malformed(self._fmt))
        if plan.oversize_after == n:
            await self._response.write(_oversize(self._fmt, plan.oversize_bytes))
        if plan.error_event_after == n:
            message = f"injected {plan.error_type} after {n} events"
            await self._response.write(self._fmt.error_event(plan.error_type, message))
            raise _Stop
        if plan.disconnect_after == n:
            transport = self._request.transport
            if transport is not None:
                transport.close()  # what was written is flushed, then the socket closes
            raise _Stop


class EmbeddedServer:
    """A local LLM API server for tests, demos and notebooks (loopback only).

    Use it as an async context manager, or ``start()`` / ``aclose()``; ``run_in_thread()`` runs it
    for synchronous code. A server is started once: after ``aclose()`` it cannot be restarted.

    Args:
        host: the loopback address to bind.
        port: the TCP port; 0 picks a free one (see ``url``).
        api_key: when set, requests must carry it (``authorization: Bearer`` or ``x-api-key``).
        faults: fault specs applied to requests without an ``x-streamkit-fault`` header.
        rate: tokens per second for text and tool argument events; 0 is as fast as possible.
        chunk_delay: seconds before every SSE event; overrides ``rate``.

    Raises:
        ValueError: ``host`` is not a loopback address, or ``faults`` does not parse.
    """

    def __init__(
        self,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        api_key: str | None = None,
        faults: str = "",
        rate: float = 0.0,
        chunk_delay: float | None = None,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the embedded server binds loopback addresses only, not {host!r}")
        if rate < 0 or (chunk_delay is not None and chunk_delay < 0):
            raise ValueError("rate and chunk_delay must not be negative")
        parse_faults(faults)  # fail early on a bad default
        self._host = host
        self._port = port
        self._api_key = api_key
        self._faults = faults
        self._token_delay = 1.0 / rate if rate > 0 else 0.0
        self._event_delay = chunk_delay or 0.0
        self._runner: web.AppRunner | None = None
        self._state: Literal["new", "open", "closed"] = "new"
        self._bound_port = 0
        self._attempts: Counter[tuple[str, str]] = Counter()
        self._closing: asyncio.Task[None] | None = None
        #: The most recent requests received (at most ``MAX_RECORDED_REQUESTS``), oldest first,
        #: without credential headers.
        self.requests: list[RecordedRequest] = []

    def __repr__(self) -> str:
        url = self.url if self._bound_port else None
        return f"EmbeddedServer(url={url!r}, state={self._state!r})"

    @property
    def url(self) -> str:
        """The server's root URL, e.g. ``http://127.0.0.1:8123`` (no ``/v1``).

        Raises:
            RuntimeError: the server was never started.
        """
        if not self._bound_port:
            raise RuntimeError(
                "the server is not started: use `async with EmbeddedServer() as server:`, "
                "`await server.start()` or `server.run_in_thread()`"
            )
        host = f"[{self._host}]" if ":" in self._host else self._host
        return f"http://{host}:{self._bound_port}"

    @property
    def open_connections(self) -> int:
        """How many client connections are open right now."""
        server = self._runner.server if self._runner is not None else None
        return len(server.connections) if server is not None else 0

    async def wait_idle(self, timeout: float = 2.0) -> None:
        """Wait until no client connection is open.

        Raises:
            TimeoutError: connections were still open after ``timeout`` seconds.
        """
        async with asyncio.timeout(timeout):
            while self.open_connections:
                await asyncio.sleep(0.01)

    async def start(self) -> Self:
        """Bind the port and start serving.

        Raises:
            RuntimeError: the server was started before.
        """
        if self._state != "new":
            raise RuntimeError(f"the server is {self._state}: start it only once")
        self._state = "open"
        runner = web.AppRunner(self._make_app(), access_log=None, shutdown_timeout=0.5)
        self._runner = runner
        await runner.setup()
        try:
            site = web.TCPSite(runner, self._host, self._port)
            await site.start()
            self._bound_port = int(runner.addresses[0][1])
        except BaseException:
            await self.aclose()
            raise
        return self

    async def aclose(self) -> None:
        """Stop serving and close every connection; calling it again waits for the same close.

        Cancelling the await does not cancel the close: connections are closed all the same.
        """
        self._state = "closed"
        runner = self._runner
        if runner is None:
            return
        if self._closing is None:
            self._closing = asyncio.ensure_future(runner.cleanup())
        await asyncio.shield(self._closing)
        self._runner = None

    async def __aenter__(self) -> Self:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    @contextlib.contextmanager
    def run_in_thread(self) -> Iterator[ThreadedServer]:
        """Serve from a daemon thread with its own event loop, for synchronous code.

        Example:
            >>> with EmbeddedServer().run_in_thread() as server:  # doctest: +SKIP
            ...     print(server.url)
        """
        threaded = ThreadedServer(self)
        try:
            yield threaded
        finally:
            threaded.close()

    # -- the app -----------------------------------------------------------------------------

    def _make_app(self) -> web.Application:
        app = web.Application()
        openai_format, anthropic_format = get_format("openai"), get_format("anthropic")

        async def openai_route(request: web.Request) -> web.StreamResponse:
            return await self._chat(request, openai_format)

        async def anthropic_route(request: web.Request) -> web.StreamResponse:
            return await self._chat(request, anthropic_format)

        app.router.add_post(openai_format.path, openai_route)
        app.router.add_post(anthropic_format.path, anthropic_route)
        app.router.add_get("/v1/models", self._models)
        chat_requests.add_routes(app, self._chat)  # OpenAI Responses and Google Gemini
        return app

    async def _models(self, request: web.Request) -> web.StreamResponse:
        if not self._authorized(request):
            anthropic_client = "anthropic-version" in request.headers
            return _auth_error(
                get_format("anthropic" if anthropic_client else "openai"), _request_id()
            )
        data = [
            {
                "id": name,
                "object": "model",
                "type": "model",
                "created": 0,
                "created_at": "2024-01-01T00:00:00Z",
                "display_name": name,
                "owned_by": "streamkit",
            }
            for name in _MODELS
        ]
        body = {
            "object": "list",
            "data": data,
            "has_more": False,
            "first_id": _MODELS[0],
            "last_id": _MODELS[-1],
        }
        return _json_response(body, 200, _request_id())

    async def _chat(self, request: web.Request, fmt: WireFormat) -> web.StreamResponse:
        request_id = _request_id()
        raw = await request.read()
        body = _parse_body(raw)
        if len(self.requests) >= MAX_RECORDED_REQUESTS:
            del self.requests[: len(self.requests) - MAX_RECORDED_REQUESTS + 1]
        self.requests.append(
            RecordedRequest(
                path=request.path,
                body=body if body is not None else {},
                headers={
                    k.lower(): v for k, v in request.headers.items() if not is_credential_name(k)
                },
            )
        )
        body = chat_requests.chat_request(fmt, request, body)  # Responses, Gemini: as chat
        if not self._authorized(request):
            return _auth_error(fmt, request_id)
        if body is None or not isinstance(body.get("messages"), list) or not body["messages"]:
            message = "the body must be a JSON object with a non-empty 'messages' list"
            return _error_response(fmt, 400, message, request_id)
        invalid = _invalid_request(fmt, body)
        if invalid:
            return _error_response(fmt, 400, invalid, request_id)
        if fmt.name == "anthropic" and _prefill_ends_in_whitespace(body["messages"]):
            message = "messages: final assistant content cannot end with trailing whitespace"
            return _error_response(fmt, 400, message, request_id)
        try:
            plan = self._fault_plan(request)
            tool_calls = _tool_call_count(request, body)
        except ValueError as exc:  # FaultSpecError included
            return _error_response(fmt, 400, str(exc), request_id)
        if plan.status is not None:
            headers = {} if plan.retry_after is None else {"retry-after": f"{plan.retry_after:g}"}
            message = f"injected HTTP {plan.status}"
            return _error_response(fmt, plan.status, message, request_id, headers)
        reply = plan_reply(body, format=fmt.name, tool_calls=tool_calls)
        if not body.get("stream"):
            message_value = build_message(reply_events(reply, format=fmt.name))
            return _json_response(fmt.response_body(message_value), 200, request_id)
        return await self._stream(request, fmt, body, reply, plan, request_id)

    def _authorized(self, request: web.Request) -> bool:
        if self._api_key is None:
            return True
        bearer = request.headers.get("authorization", "")
        scheme, _, token = bearer.partition(" ")
        offered = {request.headers.get("x-api-key"), request.headers.get("x-goog-api-key")}
        if scheme.lower() == "bearer":
            offered.add(token.strip())
        return self._api_key in offered

    def _fault_plan(self, request: web.Request) -> FaultPlan:
        header = request.headers.get(FAULT_HEADER)
        spec = self._faults if header is None else header
        plan = parse_faults(spec)
        if plan.first_attempts is not None:
            key = (spec, request.headers.get(SESSION_HEADER, ""))
            if key not in self._attempts and len(self._attempts) >= _MAX_FAULT_COUNTERS:
                del self._attempts[next(iter(self._attempts))]
            self._attempts[key] += 1
            if self._attempts[key] > plan.first_attempts:
                return plan.without_faults()
        return plan

    async def _stream(
        self,
        request: web.Request,
        fmt: WireFormat,
        body: Mapping[str, Any],
        reply: Reply,
        plan: FaultPlan,
        request_id: str,
    ) -> web.StreamResponse:
        options = body.get("stream_options")
        usage = isinstance(options, Mapping) and bool(options.get("include_usage"))
        events = reply_events(reply, format=fmt.name, usage=usage)
        encoder = fmt.encoder()
        response = web.StreamResponse(
            headers={
                "content-type": "text/event-stream; charset=utf-8",
                "cache-control": "no-cache",
                "request-id": request_id,
                "x-request-id": request_id,
            }
        )
        writer = _StreamWriter(request, response, fmt, plan, self._token_delay, self._event_delay)
        try:
            await response.prepare(request)
            await writer.start()
            for event in events:
                token = isinstance(event, TextDelta | ToolCallDelta)
                await writer.send(encoder.encode(event), token=token)
            await writer.send(encoder.finish(), final=True)
            await response.write_eof()
        except (_Stop, ConnectionError):
            pass  # a fault ended the stream, or the client went away: both are normal ends
        return response


class ThreadedServer:
    """An ``EmbeddedServer`` running on its own event loop in a daemon thread.

    Made by ``EmbeddedServer.run_in_thread()``; ``close()`` (idempotent) stops the server and the
    thread.
    """

    def __init__(self, server: EmbeddedServer, *, timeout: float = 10.0) -> None:
        self.server = server
        self._timeout = timeout
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._error: BaseException | None = None
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="streamkit-server", daemon=True)
        self._thread.start()
        self._ready.wait(timeout)
        if self._error is not None:
            self._thread.join(timeout)
            raise self._error
        if not self._ready.is_set():
            self.close()
            raise TimeoutError("the embedded server did not start in time")

    @property
    def url(self) -> str:
        """The server's root URL (no ``/v1``)."""
        return self.server.url

    def _run(self) -> None:
        loop = self._loop
        asyncio.set_event_loop(loop)
        try:
            try:
                loop.run_until_complete(self.server.start())
            except BaseException as exc:
                self._error = exc
                return
            finally:
                self._ready.set()
            loop.run_forever()
            loop.run_until_complete(self.server.aclose())
        finally:
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.close()

    def close(self) -> None:
        """Stop the server and its thread; calling it again does nothing."""
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            with contextlib.suppress(RuntimeError):  # the loop already stopped
                self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(self._timeout)


def _request_id() -> str:
    return f"req_{uuid.uuid4().hex[:24]}"


def _invalid_request(fmt: WireFormat, body: Mapping[str, Any]) -> str | None:
    """What the real API would reject in ``body`` with a 400, as its message; None if nothing."""
    for number, message in enumerate(body["messages"]):
        if not isinstance(message, Mapping) or not isinstance(message.get("role"), str):
            return f"messages.{number}: each message must be an object with a 'role'"
    if fmt.name == "anthropic" and not isinstance(body.get("max_tokens"), int):
        return "max_tokens: Field required"
    return None


def _prefill_ends_in_whitespace(messages: list[Any]) -> bool:
    """Whether an Anthropic request ends with an assistant prefill that ends in whitespace,
    which the real API rejects with a 400."""
    last = messages[-1]
    if not isinstance(last, Mapping) or last.get("role") != "assistant":
        return False
    content = last.get("content")
    if isinstance(content, list):
        texts = [
            b.get("text") for b in content if isinstance(b, Mapping) and b.get("type") == "text"
        ]
        content = texts[-1] if texts else None
    return isinstance(content, str) and content != content.rstrip()


def _parse_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _tool_call_count(request: web.Request, body: Mapping[str, Any]) -> int:
    """How many tool calls to make: as asked by header or metadata, else one when the request's
    ``tool_choice`` demands a tool (OpenAI ``required`` or a named function; Anthropic ``any`` or
    ``tool``), else none."""
    value: Any = request.headers.get(TOOL_CALLS_HEADER)
    if value is None:
        metadata = body.get("metadata")
        value = metadata.get("streamkit_tool_calls") if isinstance(metadata, Mapping) else None
    if value is None:
        return 1 if body.get("tools") and _tool_required(body.get("tool_choice")) else 0
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{TOOL_CALLS_HEADER} must be a whole number, got {value!r}") from None
    if not 0 <= count <= 64:
        raise ValueError(f"{TOOL_CALLS_HEADER} must be between 0 and 64, got {count}")
    return count


def _tool_required(choice: Any) -> bool:
    if isinstance(choice, str):
        return choice == "required"
    return isinstance(choice, Mapping) and choice.get("type") in ("function", "any", "tool")


def _json_response(
    body: Mapping[str, Any], status: int, request_id: str, headers: Mapping[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=orjson.dumps(body),
        status=status,
        content_type="application/json",
        headers={"request-id": request_id, "x-request-id": request_id, **(headers or {})},
    )


def _error_response(
    fmt: WireFormat,
    status: int,
    message: str,
    request_id: str,
    headers: Mapping[str, str] | None = None,
) -> web.Response:
    body = fmt.error_body(status, _error_type(fmt, status), message)
    if fmt.name == "anthropic":
        body = {**body, "request_id": request_id}
    return _json_response(body, status, request_id, headers)


def _auth_error(fmt: WireFormat, request_id: str) -> web.Response:
    if fmt.name in ("responses", "gemini"):
        return chat_requests.auth_error(fmt, request_id)
    if fmt.name == "openai":
        body: dict[str, Any] = {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    else:
        body = {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": request_id,
        }
    return _json_response(body, 401, request_id)
