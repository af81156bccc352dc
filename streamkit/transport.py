"""The HTTP transport: one request whose streamed answer becomes a cold observable.

This is the only module that speaks HTTP, and it makes one attempt: retry, resume, reconnection
and every other policy belong to the composition layer (``streamkit.client``,
``streamkit.event_source``), which composes them over ``chat_attempt`` and ``sse_attempt``.
``chat_attempt`` POSTs a chat request and emits the events a ``ChatDecoder`` makes of the body;
``sse_attempt`` does the same for any SSE endpoint and emits raw ``SSEEvent`` values. Each
subscription makes one request; disposing it cancels the request and closes the connection.

Five deadlines bound every wait (``Timeouts``): ``connect`` (connection and response headers),
``first_token`` (the first content event; keep-alives and pings don't count), ``content_idle``
(between two content events: keep-alives and a trickle of bytes that completes no event don't
count), ``idle`` (between any two reads: keep-alives do count) and ``total``. Each raises
``StreamTimeoutError`` with its ``phase``. aiohttp and asyncio errors are translated here, once,
into streamkit errors.

Every byte of a response, error bodies included, passes through one ``Redactor``
(``streamkit.redaction``) before the decoder, the tap or an error message sees it: the secrets the
request carried (the API key, every credential header's value, credential query parameters) are
blanked out, so no later layer can quote them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from aiohttp.http_exceptions import ContentEncodingError
from multidict import CIMultiDict
from reactivex import Observable

from streamkit.bridge import from_async_batches
from streamkit.chat_decoder import ChatDecoder, is_content
from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    ProtocolError,
    StreamkitError,
    StreamTimeoutError,
    TimeoutPhase,
    TransportError,
    truncate,
)
from streamkit.events import StreamEvent
from streamkit.formats import WireFormat
from streamkit.http_headers import retry_after_seconds
from streamkit.redaction import Redactor, request_secrets
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder, SSEEvent

__all__ = ["ByteTap", "Timeouts", "chat_attempt", "safe_url", "sse_attempt"]

# One line per attempt at DEBUG; the URL goes through safe_url, headers are never logged.
_log = logging.getLogger("streamkit.transport")

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
        content_idle: between two content events, after the first. Keep-alive comments, pings
            and bytes that complete no event do not reset it, so it bounds a stream that sends
            one token and then only keep-alives, or trickles a byte at a time.
        idle: between any two reads of the body (keep-alive comments and pings count).
        total: for the whole request.
    """

    connect: float | None = 10.0
    first_token: float | None = 60.0
    content_idle: float | None = 120.0
    idle: float | None = 30.0
    total: float | None = None

    def __post_init__(self) -> None:
        for name in ("connect", "first_token", "content_idle", "idle", "total"):
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
    #: What the request carries that no output may show (see ``streamkit.redaction``).
    secrets: tuple[str, ...] = field(default=(), repr=False)


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
    redactor = Redactor(request.secrets)
    async with contextlib.AsyncExitStack() as stack:
        session = request.session
        if session is None:
            session = await stack.enter_async_context(aiohttp.ClientSession())
        response = await _connect(stack, session, request, started, redactor)
        _log.debug(
            "%s %s: HTTP %d after %.3f s",
            request.method,
            safe_url(request.url),
            response.status,
            loop.time() - started,
        )
        content = _RedactedBody(response.content, redactor)
        if response.status >= 300:
            body = await _read_error_body(content, timeouts, started)
            raise error_for_status(
                response.status, body, _redacted_headers(response.headers, redactor)
            )
        if response.content_type != "text/event-stream":
            body = await _read_error_body(content, timeouts, started)
            raise ProtocolError(
                f"expected a text/event-stream response, got "
                f"{redactor.redact_text(response.content_type)!r} "
                f"(status {response.status}); did the request ask for a stream? "
                f"body: {truncate(body.decode('utf-8', errors='replace'))!r}"
            )
        if request.tap is not None:
            request.tap(b"", time.monotonic())

        last_content: float | None = None  # loop time of the last content event
        while True:
            phase, deadline = _next_deadline(timeouts, started, loop.time(), last_content)
            try:
                async with asyncio.timeout_at(deadline):
                    chunk = await content.read(_READ_SIZE)
            except TimeoutError as exc:
                raise StreamTimeoutError(phase, _seconds(timeouts, phase)) from exc
            except aiohttp.ClientPayloadError as exc:
                raise _payload_error(exc) from exc
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
                if any(map(is_content, items)):
                    last_content = loop.time()
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
    redactor: Redactor,
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
    except aiohttp.ClientResponseError as exc:
        # The server answered, but with a head aiohttp cannot read (a Content-Encoding it
        # cannot decode, a malformed status line): asking again would get the same answer.
        unreadable = exc.message
    except aiohttp.ClientError as exc:
        raise TransportError(
            f"cannot reach {safe_url(request.url)}: {redactor.redact_text(str(exc))}"
        ) from exc
    # Raised out here, chained to nothing: the aiohttp error's request_info holds the request's
    # headers, credentials included, and would show them in its repr.
    raise ProtocolError(
        f"{safe_url(request.url)} answered with a response streamkit cannot read: "
        f"{redactor.redact_text(unreadable)}{_encoding_hint(unreadable)}"
    )


def _encoding_hint(message: str) -> str:
    if "content-encoding" not in message.lower():
        return ""
    # aiohttp advertises in Accept-Encoding only what it can decode, so this server sent an
    # encoding it was not asked for.
    return " (the request did not offer that encoding in Accept-Encoding)"


def _payload_error(exc: aiohttp.ClientPayloadError) -> StreamkitError:
    """A body aiohttp could not read: undecodable content is a protocol error, not a lost line."""
    if isinstance(exc.__cause__, ContentEncodingError):
        return ProtocolError(
            "the response body cannot be decoded by its Content-Encoding "
            f"({type(exc.__cause__).__name__})"
        )
    return ConnectionLostError(f"the connection broke mid-stream ({type(exc).__name__})")


def _redacted_headers(headers: Mapping[str, str], redactor: Redactor) -> CIMultiDict[str]:
    clean: CIMultiDict[str] = CIMultiDict()
    for name, value in headers.items():
        clean.add(name, redactor.redact_text(value))
    return clean


class _RedactedBody:
    """A response body read through the request's ``Redactor``: the one door every byte uses.

    Reads keep the reader's meaning: an empty result is the end of the body, reached only after
    the bytes the redactor held back (a possible secret's start) have come out.
    """

    def __init__(self, content: aiohttp.StreamReader, redactor: Redactor) -> None:
        self._content = content
        self._redactor = redactor
        self._ended = False

    async def readany(self) -> bytes:
        return await self._read(self._content.readany)

    async def read(self, limit: int) -> bytes:
        return await self._read(lambda: self._content.read(limit))

    async def _read(self, read: Callable[[], Awaitable[bytes]]) -> bytes:
        while not self._ended:
            chunk = await read()
            if not chunk:
                self._ended = True
                return self._redactor.flush()
            out = self._redactor.feed(chunk)
            if out:
                return out
        return b""


async def _read_error_body(content: _RedactedBody, timeouts: Timeouts, started: float) -> bytes:
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
                chunk = await content.read(_MAX_ERROR_BODY - size)
                if not chunk:
                    break
                parts.append(chunk)
                size += len(chunk)
    return b"".join(parts)


def _next_deadline(
    timeouts: Timeouts, started: float, now: float, last_content: float | None
) -> tuple[TimeoutPhase, float | None]:
    candidates: list[tuple[float, TimeoutPhase]] = []
    if timeouts.idle is not None:
        candidates.append((now + timeouts.idle, "idle"))
    if timeouts.first_token is not None and last_content is None:
        candidates.append((started + timeouts.first_token, "first_token"))
    if timeouts.content_idle is not None and last_content is not None:
        candidates.append((last_content + timeouts.content_idle, "content_idle"))
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
    """Body decoder for ``sse_attempt``: every SSE event is content."""

    def __init__(self, max_event_bytes: int, on_retry: Callable[[int], None] | None) -> None:
        self._sse = SSEDecoder(max_event_bytes=max_event_bytes)
        self._on_retry = on_retry
        self._reconnection_time: int | None = None

    def feed(self, data: bytes, received_at: float) -> list[SSEEvent]:
        events = self._sse.feed(data)
        reconnection_time = self._sse.reconnection_time
        if self._on_retry is not None and reconnection_time != self._reconnection_time:
            self._reconnection_time = reconnection_time
            if reconnection_time is not None:
                self._on_retry(reconnection_time)
        return events

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

    Errors (as ``on_error``): ``APIStatusError`` and subclasses for non-2xx statuses and error
    events in the stream,
    ``ProtocolError`` for malformed streams, ``TransportError`` / ``ConnectionLostError`` /
    ``StreamTimeoutError`` for the connection; a body that ends before the format's end marker is
    a ``ConnectionLostError``.
    """
    sent_headers = {**format.headers(api_key), **(headers or {})}
    request = _Request(
        url=url,
        body=orjson.dumps(body),
        headers=sent_headers,
        session=session,
        timeouts=timeouts or Timeouts(),
        tap=tap,
        secrets=request_secrets(sent_headers, api_key=api_key, url=url),
    )
    return from_async_batches(
        lambda: _stream(
            request,
            ChatDecoder(format, max_event_bytes=max_event_bytes),
            format.error_from_response,
            is_content,
        )
    )


def sse_attempt(
    url: str,
    *,
    body: Any = None,
    method: Literal["GET", "POST"] | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    timeouts: Timeouts | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    last_event_id: str | None = None,
    on_retry: Callable[[int], None] | None = None,
) -> Observable[SSEEvent]:
    """One request to any SSE endpoint, its raw events as ``SSEEvent`` values: no reconnection.

    With a ``body`` the request is a POST of it as JSON, without one a GET (``method`` overrides
    either). The observable completes when the server ends the body. A non-2xx status is an
    ``APIStatusError`` carrying the body; see ``ChatEndpoint.stream`` for the other errors.
    ``streamkit.event_source.sse_source`` reconnects over this, as a browser's EventSource does.

    Args:
        last_event_id: sent as the ``Last-Event-ID`` header when not empty.
        on_retry: called with the stream's reconnection time (ms) whenever a ``retry`` field
            changes it, also in a block that dispatches no event.
    """
    chosen = method or ("GET" if body is None else "POST")
    if chosen not in ("GET", "POST"):
        raise ValueError(f"method must be 'GET' or 'POST', got {method!r}")
    sent_headers = {"accept": "text/event-stream"}
    if body is not None:
        sent_headers["content-type"] = "application/json"
    if last_event_id:
        sent_headers["last-event-id"] = last_event_id
    request = _Request(
        url=url,
        body=orjson.dumps(body) if body is not None else None,
        headers={**sent_headers, **(headers or {})},
        session=session,
        timeouts=timeouts or Timeouts(),
        method=chosen,
        secrets=request_secrets(headers or {}, url=url),
    )
    return from_async_batches(
        lambda: _stream(
            request, _SSEBody(max_event_bytes, on_retry), _generic_status_error, lambda _: True
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
