"""The embedded LLM server: an aiohttp app on the loopback interface speaking four wire formats.

Routes: ``POST /v1/chat/completions`` (OpenAI), ``POST /v1/messages`` (Anthropic), streaming and
not, ``POST /v1/messages/count_tokens``, ``GET /v1/models`` and ``GET /v1/models/{id}``; any
other path or method gets a JSON 404 / 405 in the API's error shape. Requests are checked as the
real APIs check them (``streamkit.server.validation``), answers come from
``streamkit.server.scenarios`` and are written with the formats' own encoders (plus the fields
the event model does not carry, ``streamkit.server.wire``), so what the server writes and what
streamkit reads are one definition. Idle, slow and excess connections are closed
(``streamkit.server.limits``).
OpenAI Responses and Gemini routes are in ``streamkit.server.chat_requests``.

Request headers the server understands (besides authentication):

- ``x-streamkit-fault``: faults to inject, see ``streamkit.server.faults``;
- ``x-streamkit-session``: tells apart otherwise equal fault headers for ``first-attempts``;
- ``x-streamkit-tool-calls: N``: answer with N parallel tool calls when tools are offered (the
  body field ``metadata.streamkit_tool_calls`` works too); ``tool_choice`` and
  ``parallel_tool_calls: false`` / ``disable_parallel_tool_use`` take precedence.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import string
import threading
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any, Final, Literal, Self

import orjson
from aiohttp import web
from aiohttp.typedefs import Middleware

from streamkit._credentials import is_credential_name
from streamkit.events import TextDelta, ToolCallDelta
from streamkit.fold.message_builder import build_message
from streamkit.formats import WireFormat, get_format
from streamkit.server import chat_requests
from streamkit.server.faults import FAULT_HEADER, FaultPlan, parse_faults
from streamkit.server.limits import (
    DEFAULT_HEADER_TIMEOUT,
    DEFAULT_KEEPALIVE_TIMEOUT,
    DEFAULT_MAX_CONNECTIONS,
    ConnectionGuard,
    ServerLimits,
)
from streamkit.server.models import MODELS, KnownModel, find_model
from streamkit.server.scenarios import Reply, input_tokens, plan_reply, reply_events
from streamkit.server.validation import RequestError, validate_count_tokens, validate_request
from streamkit.server.wire import ReplyExtras

__all__ = ["EmbeddedServer", "RecordedRequest", "ThreadedServer"]

SESSION_HEADER: Final = "x-streamkit-session"
TOOL_CALLS_HEADER: Final = "x-streamkit-tool-calls"
#: How many requests ``EmbeddedServer.requests`` keeps (the most recent).
MAX_RECORDED_REQUESTS: Final = 1000
#: How many ``first-attempts`` counters the server keeps (the oldest are forgotten first).
_MAX_FAULT_COUNTERS: Final = 10_000
_LOOPBACK: Final = frozenset({"127.0.0.1", "localhost", "::1"})
_ID_ALPHABET: Final = string.ascii_letters + string.digits
#: The Anthropic route for counting a request's tokens.
COUNT_TOKENS_PATH: Final = "/v1/messages/count_tokens"
_ERROR_TYPES: Final[dict[str, dict[int, str]]] = {
    "openai": {
        400: "invalid_request_error",
        401: "invalid_request_error",
        403: "permission_error",
        404: "invalid_request_error",
        405: "invalid_request_error",
        408: "timeout",
        429: "rate_limit_error",
        503: "service_unavailable",
        529: "overloaded_error",
    },
    "anthropic": {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        405: "invalid_request_error",
        408: "timeout_error",
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
        headers: the request headers, lower-cased, without any whose name marks a credential
            (``authorization``, ``x-api-key``, ``x-access-token``, ``cookie``...; see
            ``streamkit._credentials``).
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
        header_timeout: seconds a client may take to send a request's headers (counted from
            the connection opening, or from the first byte of a later request), and again its
            body; a connection too slow with its headers is closed, a body too slow gets 408.
        keepalive_timeout: seconds an idle connection stays open between requests.
        max_connections: connections served at once; one more is answered 503 and closed.
        seed: makes the ids (responses, tool calls, requests) the same sequence on every run;
            without it they are random. Answers depend only on the request either way.

    Raises:
        ValueError: ``host`` is not a loopback address, ``faults`` does not parse, or a limit
            is not positive.
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
        header_timeout: float = DEFAULT_HEADER_TIMEOUT,
        keepalive_timeout: float = DEFAULT_KEEPALIVE_TIMEOUT,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        seed: int | None = None,
    ) -> None:
        if host not in _LOOPBACK:
            raise ValueError(f"the embedded server binds loopback addresses only, not {host!r}")
        if rate < 0 or (chunk_delay is not None and chunk_delay < 0):
            raise ValueError("rate and chunk_delay must not be negative")
        parse_faults(faults)  # fail early on a bad default
        self._limits = ServerLimits(header_timeout, keepalive_timeout, max_connections)
        # Response, tool-call and request ids: unique per response; a seed makes the sequence
        # repeat from one run to the next.
        self._ids = random.Random(seed) if seed is not None else random.SystemRandom()
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
    def limits(self) -> ServerLimits:
        """The header and keep-alive timeouts and the connection limit."""
        return self._limits

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
        guard = ConnectionGuard(self._limits)
        runner = web.AppRunner(
            self._make_app(guard.middleware),
            access_log=None,
            shutdown_timeout=0.5,
            keepalive_timeout=self._limits.keepalive_timeout,
        )
        self._runner = runner
        await runner.setup()
        try:
            site = guard.site(runner, self._host, self._port)
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

    def _make_app(self, guard: Middleware) -> web.Application:
        app = web.Application(middlewares=[guard, self._json_errors])
        openai_format, anthropic_format = get_format("openai"), get_format("anthropic")

        async def openai_route(request: web.Request) -> web.StreamResponse:
            return await self._chat(request, openai_format)

        async def anthropic_route(request: web.Request) -> web.StreamResponse:
            return await self._chat(request, anthropic_format)

        app.router.add_post(openai_format.path, openai_route)
        app.router.add_post(anthropic_format.path, anthropic_route)
        app.router.add_post(COUNT_TOKENS_PATH, self._count_tokens)
        app.router.add_get("/v1/models", self._models)
        app.router.add_get("/v1/models/{model_id}", self._model)
        chat_requests.add_routes(app, self._chat)  # OpenAI Responses and Google Gemini
        return app

    @web.middleware
    async def _json_errors(
        self,
        request: web.Request,
        handler: Callable[[web.Request], Awaitable[web.StreamResponse]],
    ) -> web.StreamResponse:
        """Unknown paths (404) and wrong methods (405) get JSON bodies in the API's error
        shape, as from the real APIs, instead of aiohttp's plain text."""
        try:
            return await handler(request)
        except web.HTTPException as exc:
            if exc.status not in (404, 405):
                raise
            fmt = _client_format(request)
            if exc.status == 404:
                message = f"Invalid URL ({request.method} {request.path})"
            else:
                message = f"Method {request.method} not allowed for {request.path}"
            allow = {"allow": exc.headers["allow"]} if "allow" in exc.headers else None
            return _error_response(fmt, exc.status, message, self._request_id(), allow)

    async def _models(self, request: web.Request) -> web.StreamResponse:
        fmt = _client_format(request)
        request_id = self._request_id()
        if not self._authorized(request):
            return _auth_error(fmt, request_id)
        data = [_model_body(fmt, model) for model in MODELS]
        if fmt.name == "openai":
            return _json_response({"object": "list", "data": data}, 200, request_id)
        body = {
            "data": data,
            "has_more": False,
            "first_id": MODELS[0].id,
            "last_id": MODELS[-1].id,
        }
        return _json_response(body, 200, request_id)

    async def _model(self, request: web.Request) -> web.StreamResponse:
        fmt = _client_format(request)
        request_id = self._request_id()
        if not self._authorized(request):
            return _auth_error(fmt, request_id)
        model_id = request.match_info["model_id"]
        model = find_model(model_id)
        if model is None:
            if fmt.name == "openai":
                message = f"The model '{model_id}' does not exist or you do not have access to it."
                return _error_response(fmt, 404, message, request_id, code="model_not_found")
            return _error_response(fmt, 404, f"model: {model_id}", request_id)
        return _json_response(_model_body(fmt, model), 200, request_id)

    async def _read_json(
        self, request: web.Request, fmt: WireFormat, request_id: str
    ) -> dict[str, Any] | web.Response:
        """The request's JSON body, recorded in ``requests``; or the error response to send."""
        try:
            async with asyncio.timeout(self._limits.header_timeout):
                raw = await request.read()
        except TimeoutError:
            message = f"the request body did not arrive within {self._limits.header_timeout:g} s"
            response = _error_response(fmt, 408, message, request_id)
            response.force_close()
            return response
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
        if body is None:
            message = "the request body must be a JSON object"
            return _error_response(fmt, 400, message, request_id, code="invalid_json")
        return body

    async def _count_tokens(self, request: web.Request) -> web.StreamResponse:
        fmt = get_format("anthropic")
        request_id = self._request_id()
        body = await self._read_json(request, fmt, request_id)
        if isinstance(body, web.Response):
            return body
        problem = validate_count_tokens(body)
        if problem is not None:
            return _request_error(fmt, problem, request_id)
        return _json_response({"input_tokens": input_tokens(body)}, 200, request_id)

    async def _chat(self, request: web.Request, fmt: WireFormat) -> web.StreamResponse:
        request_id = self._request_id()
        body = await self._read_json(request, fmt, request_id)
        if isinstance(body, web.Response):
            return body
        problem = validate_request(fmt.name, body)
        if problem is not None:
            return _request_error(fmt, problem, request_id)
        try:
            plan = self._fault_plan(request)
            tool_calls = _tool_call_count(request, body)
        except ValueError as exc:  # FaultSpecError included
            return _error_response(fmt, 400, str(exc), request_id)
        if plan.status is not None:
            headers = {} if plan.retry_after is None else {"retry-after": f"{plan.retry_after:g}"}
            message = f"injected HTTP {plan.status}"
            return _error_response(fmt, plan.status, message, request_id, headers)
        reply = plan_reply(body, format=fmt.name, tool_calls=tool_calls, nonce=self._nonce(fmt))
        extras = ReplyExtras(reply, format=fmt.name, created=int(time.time()))
        if not body.get("stream"):
            message_value = build_message(reply_events(reply, format=fmt.name))
            response_body = extras.body(fmt.response_body(message_value))
            return _json_response(response_body, 200, request_id)
        return await self._stream(request, fmt, body, reply, extras, plan, request_id)

    def _request_id(self) -> str:
        return "req_" + "".join(self._ids.choices(_ID_ALPHABET, k=24))

    def _nonce(self, fmt: WireFormat) -> str:
        """The unique part of a response id, as long as the provider's."""
        return "".join(self._ids.choices(_ID_ALPHABET, k=22 if fmt.name == "anthropic" else 29))

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
        extras: ReplyExtras,
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
                await writer.send(extras.stream(event, encoder.encode(event)), token=token)
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


def _parse_body(raw: bytes) -> dict[str, Any] | None:
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        return None
    return body if isinstance(body, dict) else None


def _tool_call_count(request: web.Request, body: Mapping[str, Any]) -> int | None:
    """How many tool calls the header (or ``metadata.streamkit_tool_calls``) asks for; None when
    neither asks. ``plan_reply`` weighs it against ``tool_choice`` and parallel calls."""
    value: Any = request.headers.get(TOOL_CALLS_HEADER)
    if value is None:
        metadata = body.get("metadata")
        value = metadata.get("streamkit_tool_calls") if isinstance(metadata, Mapping) else None
    if value is None:
        return None
    try:
        count = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{TOOL_CALLS_HEADER} must be a whole number, got {value!r}") from None
    if not 0 <= count <= 64:
        raise ValueError(f"{TOOL_CALLS_HEADER} must be between 0 and 64, got {count}")
    return count


def _client_format(request: web.Request) -> WireFormat:
    """Which API a request speaks, for routes both share: the Anthropic SDK sends
    ``anthropic-version``, and ``/v1/messages...`` is Anthropic's."""
    anthropic = "anthropic-version" in request.headers or request.path.startswith("/v1/messages")
    return get_format("anthropic" if anthropic else "openai")


def _model_body(fmt: WireFormat, model: KnownModel) -> dict[str, Any]:
    if fmt.name == "openai":
        return {
            "id": model.id,
            "object": "model",
            "created": model.created,
            "owned_by": model.owned_by,
        }
    return {
        "type": "model",
        "id": model.id,
        "display_name": model.display_name,
        "created_at": model.created_at,
    }


def _request_error(fmt: WireFormat, problem: RequestError, request_id: str) -> web.Response:
    return _error_response(
        fmt, 400, problem.message, request_id, param=problem.param, code=problem.code
    )


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
    *,
    param: str | None = None,
    code: str | None = None,
) -> web.Response:
    body = fmt.error_body(status, _error_type(fmt, status), message)
    if fmt.name == "anthropic":
        body = {**body, "request_id": request_id}
    else:  # OpenAI names the offending field and a machine-readable code
        body = {"error": {**body["error"], "param": param, "code": code}}
    return _json_response(body, status, request_id, headers)


def _auth_error(fmt: WireFormat, request_id: str) -> web.Response:
    """The response to a request without the server's API key, as each API words it."""
    if fmt.name == "gemini":
        # Google answers an invalid key with a 400 INVALID_ARGUMENT, not a 401.
        body = fmt.error_body(400, "invalid_request_error", "API key not valid.")
        body["error"]["details"] = [
            {"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID"}
        ]
        return _json_response(body, 400, request_id)
    if fmt.name == "anthropic":
        body = {
            "type": "error",
            "error": {"type": "authentication_error", "message": "invalid x-api-key"},
            "request_id": request_id,
        }
    else:  # chat completions and Responses answer alike
        body = {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
    return _json_response(body, 401, request_id)
