"""Sources: an HTTP request whose SSE answer becomes a cold observable.

This is the only module that speaks HTTP. ``stream_chat`` (or ``ChatEndpoint.stream``) POSTs a chat
request and emits the decoded ``StreamEvent`` values; ``sse_source`` does the same for any SSE
endpoint and emits raw ``SSEEvent`` values. Each subscription makes one request; disposing it
cancels the request and closes the connection.

Four deadlines bound every wait (``Timeouts``): ``connect`` (connection and response headers),
``first_token`` (the first content event; keep-alives and pings don't count), ``idle`` (between
any two reads: keep-alives do count) and ``total``. Each raises ``StreamTimeoutError`` with its
``phase``. aiohttp and asyncio errors are translated here, once, into streamkit errors.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol, TypeVar
from urllib.parse import urlsplit

import aiohttp
import orjson
from multidict import CIMultiDict
from reactivex import Observable

from streamkit._credentials import is_credential_name
from streamkit.bridge import from_async_iterable
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
from streamkit.events import ContentEvent, StreamEvent, StreamStart, Usage
from streamkit.formats import FormatName, StreamDecoder, WireFormat, get_format
from streamkit.operators.retry import ResumeMode, RetryPolicy, retry_with_backoff
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder, SSEEvent

__all__ = ["ByteTap", "ChatEndpoint", "Timeouts", "sse_source", "stream_chat"]

T = TypeVar("T")

#: The largest error body read from a non-2xx response.
_MAX_ERROR_BODY = 1024 * 1024
#: How long to wait for an error body when no idle or total deadline is set.
_ERROR_BODY_WAIT = 30.0


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


class _BodyDecoder(Protocol[T]):
    def feed(self, chunk: bytes, received_at: float) -> Iterable[T]: ...

    def is_content(self, item: T) -> bool: ...

    @property
    def finished(self) -> bool: ...

    def close(self) -> None: ...


ErrorForStatus = Callable[[int, bytes, Mapping[str, str]], APIStatusError]
#: Called with every chunk of a 2xx body as it arrives, and its ``time.monotonic()`` receive time;
#: an empty chunk marks the start of each body (one per attempt of a retried stream).
ByteTap = Callable[[bytes, float], None]


async def _stream(
    request: _Request, decoder: _BodyDecoder[T], error_for_status: ErrorForStatus
) -> AsyncGenerator[T, None]:
    """POST ``request`` and yield what ``decoder`` makes of the body, enforcing the deadlines."""
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
                    chunk = await response.content.readany()
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
            for item in decoder.feed(chunk, received_at):
                got_content = got_content or decoder.is_content(item)
                yield item
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
        raise TransportError(f"cannot reach {_safe_url(request.url)}: {exc}") from exc


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


def _safe_url(url: str) -> str:
    """The URL without query, fragment or user info, which may hold credentials."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class _SSEBody:
    """Body decoder for ``sse_source``: every SSE event is content."""

    def __init__(self, max_event_bytes: int) -> None:
        self._sse = SSEDecoder(max_event_bytes=max_event_bytes)

    def feed(self, chunk: bytes, received_at: float) -> list[SSEEvent]:
        return self._sse.feed(chunk)

    def is_content(self, item: SSEEvent) -> bool:
        return True

    @property
    def finished(self) -> bool:
        return False  # a generic SSE stream ends when the server ends the body

    def close(self) -> None:
        self._sse.close()


class _ChatBody:
    """Body decoder for chat streams: SSE, then the format's decoder, then byte accounting."""

    def __init__(self, stream_decoder: StreamDecoder, max_event_bytes: int) -> None:
        self._sse = SSEDecoder(max_event_bytes=max_event_bytes)
        self._decoder = stream_decoder
        self._unaccounted = 0  # bytes read since the last event was emitted

    def feed(self, chunk: bytes, received_at: float) -> Iterator[ContentEvent]:
        # A generator: the events decoded before a failing SSE event still reach the observer.
        self._unaccounted += len(chunk)
        for sse in self._sse.feed(chunk):
            for event in self._decoder.decode(sse, received_at):
                if self._unaccounted:
                    event = replace(event, wire_bytes=self._unaccounted)
                    self._unaccounted = 0
                yield event

    def is_content(self, item: ContentEvent) -> bool:
        # The answer's opening and usage report come before any token; pings never become events.
        return not isinstance(item, (StreamStart, Usage))

    @property
    def finished(self) -> bool:
        return self._decoder.finished

    def close(self) -> None:
        partial = self._sse.has_partial_event
        self._sse.close()
        if not self._decoder.finished:
            detail = " inside an event" if partial else ""
            raise ConnectionLostError(f"the stream ended{detail} before its end marker")


@dataclass(frozen=True, slots=True)
class ChatEndpoint:
    """A chat API to stream from: where it is, which wire format it speaks, how to authenticate.

    The API key is never shown: not in ``repr``, not in error messages.

    Args:
        base_url: the server's root, e.g. ``https://api.openai.com`` or ``http://127.0.0.1:8000``;
            a trailing ``/v1`` is accepted too.
        format: ``"openai"``, ``"anthropic"``, or a ``WireFormat``.
        api_key: sent as the format's credential header.
        headers: extra request headers.
        session: an ``aiohttp.ClientSession`` to reuse (its owner closes it); by default each
            request opens and closes its own.
        timeouts: the deadlines of each request.
        max_event_bytes: the largest SSE event accepted.
    """

    base_url: str
    format: FormatName | WireFormat = "openai"
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    session: aiohttp.ClientSession | None = field(default=None, repr=False, compare=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES

    def __post_init__(self) -> None:
        if not isinstance(self.base_url, str):
            hint = " (an EmbeddedServer's is its .url)" if hasattr(self.base_url, "url") else ""
            raise TypeError(f"base_url must be a str, got {type(self.base_url).__name__}{hint}")
        if not isinstance(self.timeouts, Timeouts):
            raise TypeError(f"timeouts must be a Timeouts, got {type(self.timeouts).__name__}")
        if not isinstance(self.headers, Mapping):
            raise TypeError(f"headers must be a mapping, got {type(self.headers).__name__}")
        parts = urlsplit(self.base_url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError(f"base_url must be an http(s) URL, got {_safe_url(self.base_url)!r}")
        if isinstance(self.format, str):
            object.__setattr__(self, "format", get_format(self.format))

    def __repr__(self) -> str:
        # By hand: user info or a query in base_url may hold credentials.
        return (
            f"ChatEndpoint(base_url={_safe_url(self.base_url)!r}, format={self.format!r}, "
            f"timeouts={self.timeouts!r}, max_event_bytes={self.max_event_bytes!r})"
        )

    @property
    def wire_format(self) -> WireFormat:
        """The resolved wire format."""
        assert not isinstance(self.format, str)  # resolved in __post_init__
        return self.format

    @property
    def url(self) -> str:
        """The endpoint's full URL."""
        root = self.base_url.rstrip("/")
        root = root.removesuffix("/v1")
        return root + self.wire_format.path

    def stream(
        self,
        body: Mapping[str, Any],
        *,
        retry: RetryPolicy | None = None,
        resume: ResumeMode = "continue",
        tap: ByteTap | None = None,
    ) -> Observable[StreamEvent]:
        """A cold observable of the events of one streamed answer to ``body``.

        ``body`` is the provider's request body (``model``, ``messages``, ...); ``"stream": true``
        is added. Each subscription sends the request anew.

        With ``retry``, failures are retried by ``retry_with_backoff(retry, resume=resume)``;
        ``resume="continue"`` continues the partial answer with the format's continuation request
        (Anthropic prefill; OpenAI partial assistant message plus "continue").

        ``tap`` sees the raw body bytes of every attempt as they arrive (for recording).

        Errors (as ``on_error``): ``APIStatusError`` and subclasses for non-2xx statuses and error
        events in the stream, ``ProtocolError`` for malformed streams, ``TransportError`` /
        ``ConnectionLostError`` / ``StreamTimeoutError`` for the connection. The stream must end
        with the format's end marker; ending without it is a ``ConnectionLostError``.

        Retrying is opt-in: without ``retry`` any failure ends the stream (``resume`` is unused).

        Raises:
            TypeError: ``retry`` is not a ``RetryPolicy``, or ``tap`` is not callable.
            ValueError: ``resume`` is not one of the three modes.
        """
        if retry is not None and not isinstance(retry, RetryPolicy):
            raise TypeError(
                f"retry must be a RetryPolicy or None, got {type(retry).__name__} "
                "(sk.RetryPolicy() gives the defaults)"
            )
        if tap is not None and not callable(tap):
            raise TypeError(
                f"tap must be callable (bytes, float) -> None, got {type(tap).__name__}"
            )
        if resume not in ("continue", "restart", "none"):
            raise ValueError(f"resume must be 'continue', 'restart' or 'none', got {resume!r}")
        fmt = self.wire_format
        events = self._request(fmt.stream_body(body), tap)
        if retry is None:
            return events
        return events.pipe(
            retry_with_backoff(
                retry,
                resume=resume,
                continuation=lambda partial: self._request(
                    fmt.continuation_body(body, partial), tap
                ),
                carried=fmt.continuation_prefix,
            )
        )

    def _request(self, body: Mapping[str, Any], tap: ByteTap | None) -> Observable[StreamEvent]:
        fmt = self.wire_format
        request = _Request(
            url=self.url,
            body=orjson.dumps(body),
            headers={**fmt.headers(self.api_key), **self.headers},
            session=self.session,
            timeouts=self.timeouts,
            tap=tap,
        )
        max_event_bytes = self.max_event_bytes
        return from_async_iterable(
            lambda: _stream(
                request,
                _ChatBody(fmt.decoder(), max_event_bytes),
                _redacting(fmt.error_from_response, _secrets(self.api_key, self.headers)),
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


def stream_chat(
    base_url: str,
    body: Mapping[str, Any],
    *,
    format: FormatName | WireFormat = "openai",
    api_key: str | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    timeouts: Timeouts | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    retry: RetryPolicy | None = None,
    resume: ResumeMode = "continue",
    tap: ByteTap | None = None,
) -> Observable[StreamEvent]:
    """Stream one chat answer as a cold observable of ``StreamEvent`` values.

    A shortcut for ``ChatEndpoint(base_url, ...).stream(body)``; see ``ChatEndpoint`` for the
    arguments and the errors.

    Example:
        >>> events = sk.stream_chat(  # doctest: +SKIP
        ...     "http://127.0.0.1:8000",
        ...     {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]},
        ... )
        >>> text = "".join(await sk.collect(events.pipe(ops.text())))  # doctest: +SKIP
    """
    endpoint = ChatEndpoint(
        base_url,
        format=format,
        api_key=api_key,
        headers=headers or {},
        session=session,
        timeouts=timeouts or Timeouts(),
        max_event_bytes=max_event_bytes,
    )
    return endpoint.stream(body, retry=retry, resume=resume, tap=tap)


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
    return from_async_iterable(
        lambda: _stream(request, _SSEBody(max_event_bytes), _generic_status_error)
    )


def _generic_status_error(status: int, body: bytes, headers: Mapping[str, str]) -> APIStatusError:
    text = body.decode("utf-8", errors="replace")
    return APIStatusError.for_status(
        status,
        truncate(text) or f"HTTP {status}",
        body=text,
        retry_after=retry_after_seconds(headers),
    )
