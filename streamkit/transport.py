"""The HTTP transport: one request whose streamed answer becomes a cold observable.

This is the only module that speaks HTTP, and it makes one attempt: retry, resume and every
other policy belong to the client (``streamkit.client``), which composes them over
``chat_attempt``. ``chat_attempt`` POSTs a chat request and emits the events a ``ChatDecoder``
makes of the body; ``sse_source`` does the same for any SSE endpoint and emits raw ``SSEEvent``
values. Each subscription makes one request; disposing it cancels the request and closes the
connection.

Four deadlines bound every wait (``Timeouts``): ``connect`` (connection and response headers),
``first_token`` (the first content event; keep-alives and pings don't count), ``idle`` (between
any two reads: keep-alives do count) and ``total``. Each raises ``StreamTimeoutError`` with its
``phase``. aiohttp and asyncio errors are translated here, once, into streamkit errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from multidict import CIMultiDict
from reactivex import Observable

from streamkit._credentials import is_credential_name
from streamkit.bridge import from_async_batches
from streamkit.chat_decoder import ChatDecoder, is_content
from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    ProtocolError,
    StreamTimeoutError,
    TimeoutPhase,
    TransportError,
    retry_after_seconds,
    truncate,
)
from streamkit.events import StreamEvent
from streamkit.formats import WireFormat
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder, SSEEvent

__all__ = ["ByteTap", "Timeouts", "chat_attempt", "safe_url", "sse_source"]

T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)

#: The largest error body read from a non-2xx response.
_MAX_ERROR_BODY = 1024 * 1024
#: How long to wait for an error body when no idle or total deadline is set.
_ERROR_BODY_WAIT = 30.0
#: The most body bytes decoded at once: what one read decodes is delivered as one batch, and a
#: bounded read keeps that batch small when the consumer is behind and the rest waits as bytes.
_READ_SIZE = 8 * 1024


@dataclass(frozen=True, slots=True)
class Timeouts:
    """Deadlines, in seconds, for one streamed request; ``None`` disables one.

    Attributes:
        connect: to connect and receive the response headers.
        first_token: from the request's start to its first content event.
        idle: between any two reads of the body (keep-alive comments and pings count).
        total: for the whole request.
    """

    connect: float | None = 10.0
    first_token: float | None = 60.0
    idle: float | None = 30.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "first_token", "idle", "total"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise TypeError(f"Timeouts.{name} must be seconds or None, got {value!r}")
            if value is not None and not value > 0:
                raise ValueError(f"Timeouts.{name} must be positive or None, got {value!r}")


@dataclass(frozen=True, slots=True)
class _Request:
    """One HTTP request to send; its headers hold the credentials, so its repr leaves them out
    (tracebacks that capture locals must not show a key)."""

    url: str
    body: bytes | None = field(repr=False)
    headers: Mapping[str, str] = field(repr=False)
    session: aiohttp.ClientSession | None = field(repr=False)
    timeouts: Timeouts
    tap: ByteTap | None = field(default=None, repr=False)
    method: str = "POST"


class _BodyDecoder(Protocol[T_co]):
    def feed(self, data: bytes, received_at: float) -> Iterable[T_co]: ...

    def check(self) -> None: ...

    @property
    def finished(self) -> bool: ...

    def close(self) -> None: ...


ErrorForStatus = Callable[[int, bytes, Mapping[str, str]], APIStatusError]
#: Called with every chunk of a 2xx body as it arrives, and its ``time.monotonic()`` receive time;
#: an empty chunk marks the start of each body (one per attempt of a retried stream).
ByteTap = Callable[[bytes, float], None]


async def _stream(
    request: _Request,
    decoder: _BodyDecoder[T],
    error_for_status: ErrorForStatus,
    is_content: Callable[[T], bool],
) -> AsyncGenerator[list[T], None]:
    """POST ``request`` and yield what ``decoder`` makes of each read of the body, as one list,
    enforcing the deadlines."""
    timeouts = request.timeouts
    loop = asyncio.get_running_loop()
    started = loop.time()
    async with contextlib.AsyncExitStack() as stack:
        session = request.session
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        response = await _connect(stack, session, request, started)
        if response.status >= 300:
            body = await _read_error_body(response, timeouts, started)
            raise error_for_status(response.status, body, response.headers)
        if response.content_type != "text/event-stream":
            body = await _read_error_body(response, timeouts, started)
            raise ProtocolError(
                f"expected a text/event-stream response, got {response.content_type!r} "
                f"(status {response.status}); did the request ask for a stream? "
                f"body: {truncate(body.decode('utf-8', errors='replace'))!r}"
            )
        if request.tap is not None:
            request.tap(b"", time.monotonic())

        got_content = False
        while True:
            phase, deadline = _next_deadline(timeouts, started, loop.time(), got_content)
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await response.content.read(_READ_SIZE)
            except TimeoutError as exc:
                raise StreamTimeoutError(phase, _seconds(timeouts, phase)) from exc
            except aiohttp.ClientError as exc:
                raise ConnectionLostError(
                    f"the connection broke mid-stream ({type(exc).__name__})"
                ) from exc
            if not chunk:
                break
            received_at = time.monotonic()
            if request.tap is not None:
                request.tap(chunk, received_at)
            items = list(decoder.feed(chunk, received_at))
            if items:
                got_content = got_content or any(map(is_content, items))
                yield items
            decoder.check()  # a malformed event after those: fail now, not at the next read
            if decoder.finished:
                break  # the end marker: done, even if the server leaves the body open
        decoder.close()


async def _connect(
    stack: contextlib.AsyncExitStack,
    session: aiohttp.ClientSession,
    request: _Request,
    started: float,
) -> aiohttp.ClientResponse:
    timeouts = request.timeouts
    limit = min(
        (started + t for t in (timeouts.connect, timeouts.total) if t is not None), default=None
    )
    phase: TimeoutPhase = "connect"
    if timeouts.total is not None and (
        timeouts.connect is None or timeouts.total < timeouts.connect
    ):
        phase = "total"
    # The deadlines are ours; aiohttp's own (a 5-minute total by default) must not cut streams.
    no_timeout = aiohttp.ClientTimeout(total=None, sock_connect=None, sock_read=None)
    try:
        async with asyncio.timeout_at(limit):
            return await stack.enter_async_context(
                session.request(
                    request.method,
                    request.url,
                    data=request.body,
                    headers=request.headers,
                    timeout=no_timeout,
                    # A redirect would carry x-api-key to another host; a 3xx is an error instead.
                    allow_redirects=False,
                )
            )
    except TimeoutError as exc:
        raise StreamTimeoutError(phase, _seconds(timeouts, phase)) from exc
    except aiohttp.ClientError as exc:
        raise TransportError(f"cannot reach {safe_url(request.url)}: {exc}") from exc


async def _read_error_body(
    response: aiohttp.ClientResponse, timeouts: Timeouts, started: float
) -> bytes:
    """The body of a response that is not a stream, up to ``_MAX_ERROR_BODY`` bytes.

    Bounded by the idle and total deadlines (``_ERROR_BODY_WAIT`` when neither is set); what
    arrived before a deadline or a broken connection is returned, since the status alone still
    says what went wrong.
    """
    loop = asyncio.get_running_loop()
    deadlines = [loop.time() + (timeouts.idle or _ERROR_BODY_WAIT)]
    if timeouts.total is not None:
        deadlines.append(started + timeouts.total)
    parts: list[bytes] = []
    size = 0
    with contextlib.suppress(TimeoutError, aiohttp.ClientError):
        async with asyncio.timeout_at(min(deadlines)):
            while size < _MAX_ERROR_BODY:
                chunk = await response.content.read(_MAX_ERROR_BODY - size)
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
    return b"".join(parts)


def _next_deadline(
    timeouts: Timeouts, started: float, now: float, got_content: bool
) -> tuple[TimeoutPhase, float | None]:
    candidates: list[tuple[float, TimeoutPhase]] = []
    if timeouts.idle is not None:
        candidates.append((now + timeouts.idle, "idle"))
    if timeouts.first_token is not None and not got_content:
        candidates.append((started + timeouts.first_token, "first_token"))
    if timeouts.total is not None:
        candidates.append((started + timeouts.total, "total"))
    if not candidates:
        return "total", None
    deadline, phase = min(candidates)
    return phase, deadline


def _seconds(timeouts: Timeouts, phase: TimeoutPhase) -> float:
    value = getattr(timeouts, phase)
    return float(value) if value is not None else 0.0


def safe_url(url: str) -> str:
    """``url`` without query, fragment or user info, which may hold credentials: for messages."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _SSEBody:
    """Body decoder for ``sse_source``: every SSE event is content."""

    def __init__(self, max_event_bytes: int) -> None:
        self._sse = SSEDecoder(max_event_bytes=max_event_bytes)

    def feed(self, data: bytes, received_at: float) -> list[SSEEvent]:
        return self._sse.feed(data)

    def check(self) -> None:
        pass  # SSE decoding fails at once, in feed()

    @property
    def finished(self) -> bool:
        return False  # a generic SSE stream ends when the server ends the body

    def close(self) -> None:
        self._sse.close()


def chat_attempt(
    url: str,
    body: Mapping[str, Any],
    *,
    format: WireFormat,
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    timeouts: Timeouts | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    tap: ByteTap | None = None,
) -> Observable[StreamEvent]:
    """One streamed chat request, as a cold observable of its events: no retry, no policy.

    ``body`` is sent as it is (the caller asks for a stream). The response body is decoded by a
    ``ChatDecoder`` of ``format``; ``tap`` sees its raw bytes. Each subscription sends the request
    anew; disposing cancels it and closes the connection.

    Errors (as ``on_error``): ``APIStatusError`` and subclasses for non-2xx statuses (the API key
    and credential headers blanked out of what they quote) and error events in the stream,
    ``ProtocolError`` for malformed streams, ``TransportError`` / ``ConnectionLostError`` /
    ``StreamTimeoutError`` for the connection; a body that ends before the format's end marker is
    a ``ConnectionLostError``.
    """
    extra = headers or {}
    request = _Request(
        url=url,
        body=orjson.dumps(body),
        headers={**format.headers(api_key), **extra},
        session=session,
        timeouts=timeouts or Timeouts(),
        tap=tap,
    )
    error_for_status = _redacting(format.error_from_response, _secrets(api_key, extra))
    return from_async_batches(
        lambda: _stream(
            request,
            ChatDecoder(format, max_event_bytes=max_event_bytes),
            error_for_status,
            is_content,
        )
    )


_REDACTED = "[redacted]"


def _secrets(api_key: str | None, headers: Mapping[str, str]) -> tuple[str, ...]:
    """The credentials a request carries: the API key and any credential header's token."""
    found = [api_key] if api_key else []
    for name, value in headers.items():
        if is_credential_name(name):
            token = value.split(" ", 1)[1] if value.lower().startswith("bearer ") else value
            found.append(token.strip())
    return tuple(secret for secret in found if secret)


def _redacting(error_for_status: ErrorForStatus, secrets: tuple[str, ...]) -> ErrorForStatus:
    """``error_for_status`` with ``secrets`` blanked out of the body and headers it is given.

    Some APIs echo the key they rejected in the 401 body; it must not reach the error message.
    """
    if not secrets:
        return error_for_status

    def build(status: int, body: bytes, headers: Mapping[str, str]) -> APIStatusError:
        clean_headers: CIMultiDict[str] = CIMultiDict()
        for name, value in headers.items():
            for secret in secrets:
                value = value.replace(secret, _REDACTED)
            clean_headers.add(name, value)
        for secret in secrets:
            body = body.replace(secret.encode(), _REDACTED.encode())
        return error_for_status(status, body, clean_headers)

    return build


def sse_source(
    url: str,
    *,
    body: Any = None,
    method: Literal["GET", "POST"] | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    timeouts: Timeouts | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
) -> Observable[SSEEvent]:
    """Stream the raw SSE events of any endpoint, as ``SSEEvent`` values.

    With a ``body`` the request is a POST of it as JSON, without one a GET (``method`` overrides
    either). The observable completes when the server ends the body. A non-2xx status is an
    ``APIStatusError`` carrying the body; see ``ChatEndpoint.stream`` for the other errors.
    """
    chosen = method or ("GET" if body is None else "POST")
    if chosen not in ("GET", "POST"):
        raise ValueError(f"method must be 'GET' or 'POST', got {method!r}")
    sent_headers = {"accept": "text/event-stream"}
    if body is not None:
        sent_headers["content-type"] = "application/json"
    request = _Request(
        url=url,
        body=orjson.dumps(body) if body is not None else None,
        headers={**sent_headers, **(headers or {})},
        session=session,
        timeouts=timeouts or Timeouts(),
        method=chosen,
    )
    return from_async_batches(
        lambda: _stream(
            request, _SSEBody(max_event_bytes), _generic_status_error, lambda _: True
        )
    )


def _generic_status_error(status: int, body: bytes, headers: Mapping[str, str]) -> APIStatusError:
    text = body.decode("utf-8", errors="replace")
    return APIStatusError.for_status(
        status,
        truncate(text) or f"HTTP {status}",
        body=text,
        retry_after=retry_after_seconds(headers),
    )
