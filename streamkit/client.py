"""The client: a chat endpoint, with the transport, retry and resume wired together once.

This is the composition layer. The transport (``streamkit.transport``) makes one HTTP attempt and
knows no policy; the retry operator (``streamkit.operators.retry``) knows no HTTP. ``ChatEndpoint``
joins them: it builds each attempt's request from the format (the first request, and for
``resume="continue"`` the continuation request that carries the partial answer), and hands them
to ``retry_with_backoff``. The resume mode has one default, ``DEFAULT_RESUME``, and is checked in
one place, ``check_resume``.

``ChatEndpoint.open`` / ``open_stream`` wrap the stream in a ``ChatStream`` handle: iterated for
the live text, then awaited for the final message, with one request. The plain observable stays
cold, so a second subscription is a second request; when that happens while another is running
or after one completed (the usual accident: iterating, then ``collect_message`` on the same
observable), a ``RepeatedRequestWarning`` says so.

Logging (``streamkit.client``, silent unless the application configures logging): each request
at DEBUG (URL without credentials, format, model), each retry with its cause, delay and resume
decision at INFO, a ``Rewind`` at INFO, and the end at INFO with duration, time to first token,
output tokens and finish reason, or the error. Bodies and headers are never logged.
"""

from __future__ import annotations

import logging
import time
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable
from urllib.parse import urlsplit

import aiohttp
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable

from streamkit.events import Finish, Retrying, Rewind, StreamEvent, StreamStart, Usage
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.formats import FormatName, WireFormat, get_format
from streamkit.operators.retry import (
    DEFAULT_RESUME,
    ResumeMode,
    RetryPolicy,
    check_resume,
    retry_with_backoff,
)
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES
from streamkit.stats import Tokenizer
from streamkit.stream_handle import ChatStream
from streamkit.transport import ByteTap, Timeouts, chat_attempt, safe_url

__all__ = [
    "ChatEndpoint",
    "ChatStream",
    "RepeatedRequestWarning",
    "StreamRecorder",
    "open_stream",
    "stream_chat",
]

_log = logging.getLogger("streamkit.client")


class RepeatedRequestWarning(UserWarning):
    """A chat observable was subscribed again: that sends the request again.

    Issued when a subscription starts while another of the same observable runs, or after one
    completed. A retry after a failure is not a repeat. Use ``sk.open_stream`` to iterate and
    await one request; silence it with ``warnings.filterwarnings("ignore",
    category=sk.RepeatedRequestWarning)`` where repeating is meant.
    """


@runtime_checkable
class StreamRecorder(Protocol):
    """A byte tap that also wants to know what it records (``streamkit.record.Recorder`` is one).

    The client calls ``describe`` once per ``stream()`` call, before any byte, so a recording
    names its format, request and resume mode without the caller repeating them.
    """

    def __call__(self, chunk: bytes, received_at: float) -> None: ...

    def describe(
        self, *, format: FormatName, request: Mapping[str, Any], resume: ResumeMode
    ) -> None: ...


@dataclass(frozen=True, slots=True)
class ChatEndpoint:
    """A chat API to stream from: where it is, which wire format it speaks, how to authenticate.

    The API key is never shown: not in ``repr``, not in error messages.

    Args:
        base_url: the server's root, e.g. ``https://api.openai.com`` or ``http://127.0.0.1:8000``;
            a trailing ``/v1`` (``/v1beta``) is accepted too.
        format: ``"openai"``, ``"anthropic"``, ``"responses"``, ``"gemini"``, or a
            ``WireFormat``; ``wire_format`` is the resolved one.
        api_key: sent as the format's credential header.
        headers: extra request headers.
        session: an ``aiohttp.ClientSession`` to reuse (its owner closes it); by default each
            request opens and closes its own.
        timeouts: the deadlines of each request.
        max_event_bytes: the largest SSE event accepted.

    Raises:
        TypeError: ``base_url``, ``timeouts`` or ``headers`` is of the wrong type.
        ValueError: ``base_url`` is not an http(s) URL, or ``format`` names no known format.
    """

    base_url: str
    format: FormatName | WireFormat = "openai"
    api_key: str | None = field(default=None, repr=False)
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    session: aiohttp.ClientSession | None = field(default=None, repr=False, compare=False)
    timeouts: Timeouts = field(default_factory=Timeouts)
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    _wire_format: WireFormat = field(init=False, repr=False, compare=False)

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
            raise ValueError(f"base_url must be an http(s) URL, got {safe_url(self.base_url)!r}")
        wire = get_format(self.format) if isinstance(self.format, str) else self.format
        object.__setattr__(self, "_wire_format", wire)

    def __repr__(self) -> str:
        # By hand: user info or a query in base_url may hold credentials.
        return (
            f"ChatEndpoint(base_url={safe_url(self.base_url)!r}, format={self.format!r}, "
            f"timeouts={self.timeouts!r}, max_event_bytes={self.max_event_bytes!r})"
        )

    @property
    def wire_format(self) -> WireFormat:
        """The resolved wire format."""
        return self._wire_format

    @property
    def url(self) -> str:
        """The endpoint's full URL; a template where the path names the model (Gemini)."""
        return self._root() + self.wire_format.path

    def url_for(self, body: Mapping[str, Any]) -> str:
        """The full URL a request with ``body`` goes to (Gemini's names the body's model).

        Raises:
            ValueError: the body lacks what the format's path needs.
        """
        return self._root() + self.wire_format.url_path(body)

    def _root(self) -> str:
        return self.base_url.rstrip("/").removesuffix("/v1").removesuffix("/v1beta")

    def stream(
        self,
        body: Mapping[str, Any],
        *,
        retry: RetryPolicy | None = None,
        resume: ResumeMode = DEFAULT_RESUME,
        tap: ByteTap | None = None,
    ) -> Observable[StreamEvent]:
        """A cold observable of the events of one streamed answer to ``body``.

        ``body`` is the provider's request body (``model``, ``messages``, ...); ``"stream": true``
        is added. Each subscription sends the request anew.

        With ``retry``, failures are retried by ``retry_with_backoff(retry, resume=resume)``;
        ``resume="continue"`` (the default) continues the partial answer with the format's
        continuation request (Anthropic prefill; OpenAI partial assistant message plus
        "continue"). Retrying is opt-in: without ``retry`` any failure ends the stream.

        ``tap`` sees the raw body bytes of every attempt as they arrive (for recording); a
        ``StreamRecorder`` such as ``streamkit.record.Recorder`` is also told the format, the
        request and the resume mode.

        Errors (as ``on_error``): ``APIStatusError`` and subclasses for non-2xx statuses and error
        events in the stream, ``ProtocolError`` for malformed streams, ``TransportError`` /
        ``ConnectionLostError`` / ``StreamTimeoutError`` for the connection, and with ``retry``
        ``RetryExhaustedError`` once the policy gives up. The stream must end with the format's
        end marker; ending without it is a ``ConnectionLostError``.

        Raises:
            TypeError: ``retry`` is not a ``RetryPolicy``, or ``tap`` is not callable.
            ValueError: ``resume`` is not one of the three modes, or ``body`` lacks what the
                format's URL needs (Gemini: ``model``).
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
        resume = check_resume(resume)
        fmt = self.wire_format
        url = self.url_for(body)
        if isinstance(tap, StreamRecorder):
            tap.describe(format=fmt.name, request=body, resume=resume if retry else "none")
        events = self._attempt(url, fmt.stream_body(body), tap)
        if retry is not None:
            events = events.pipe(
                retry_with_backoff(
                    retry,
                    resume=resume,
                    continuation=lambda partial: self._attempt(
                        url, fmt.continuation_body(body, partial), tap
                    ),
                    carried=fmt.continuation_prefix,
                )
            )
        return _observed(
            events,
            url=safe_url(url),
            format=fmt.name,
            model=str(body.get("model", "")),
            resume=resume if retry is not None else None,
        )

    def open(
        self,
        body: Mapping[str, Any],
        *,
        retry: RetryPolicy | None = None,
        resume: ResumeMode = DEFAULT_RESUME,
        tap: ByteTap | None = None,
        invalid: InvalidArguments = "raise",
        tokenizer: Tokenizer | None = None,
    ) -> ChatStream:
        """A ``ChatStream`` handle on one streamed answer: iterate it, then await the message.

        The request is sent when the handle is first used; see ``ChatStream``. The arguments
        are those of ``stream``, plus ``invalid`` and ``tokenizer`` for the handle.

        Example:
            >>> async with endpoint.open(body) as stream:  # doctest: +SKIP
            ...     async for text in stream.text_stream:
            ...         print(text, end="")
            >>> message = await stream  # doctest: +SKIP
        """
        events = self.stream(body, retry=retry, resume=resume, tap=tap)
        return ChatStream(events, invalid=invalid, tokenizer=tokenizer)

    def _attempt(
        self, url: str, body: Mapping[str, Any], tap: ByteTap | None
    ) -> Observable[StreamEvent]:
        return chat_attempt(
            url,
            body,
            format=self.wire_format,
            api_key=self.api_key,
            headers=self.headers,
            session=self.session,
            timeouts=self.timeouts,
            max_event_bytes=self.max_event_bytes,
            tap=tap,
        )


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
    resume: ResumeMode = DEFAULT_RESUME,
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


def open_stream(
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
    resume: ResumeMode = DEFAULT_RESUME,
    tap: ByteTap | None = None,
) -> ChatStream:
    """Open one streamed chat answer as a ``ChatStream``: the live text, then the final message.

    The way to stream once and get both, like the SDKs' stream managers: iterate the handle
    (events) or its ``text_stream``, then ``await`` it for the final ``Message``; ``stats`` and
    ``usage`` come with it. One request, sent when the handle is first used. The arguments are
    those of ``stream_chat``; retrying is opt-in (``retry=sk.RetryPolicy()``).

    Example:
        >>> async with sk.open_stream(url, body) as stream:  # doctest: +SKIP
        ...     async for text in stream.text_stream:
        ...         print(text, end="", flush=True)
        >>> message = await stream  # doctest: +SKIP
    """
    events = stream_chat(
        base_url,
        body,
        format=format,
        api_key=api_key,
        headers=headers,
        session=session,
        timeouts=timeouts,
        max_event_bytes=max_event_bytes,
        retry=retry,
        resume=resume,
        tap=tap,
    )
    return ChatStream(events)


def _observed(
    events: Observable[StreamEvent],
    *,
    url: str,
    format: str,
    model: str,
    resume: ResumeMode | None,
) -> Observable[StreamEvent]:
    """``events`` with logging and the repeated-request warning; the events pass unchanged.

    The count of running and completed subscriptions belongs to this observable (one
    ``stream()`` call), so it sees a repeat; everything else is per subscription.
    """
    running = 0
    completed = 0

    def subscribe(
        observer: abc.ObserverBase[StreamEvent], scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        nonlocal running
        if running or completed:
            warnings.warn(
                f"this chat stream was subscribed again ({running} running, {completed} "
                "completed): each subscription sends the request again. To show the text and "
                "get the final message from one request use sk.open_stream(...)",
                RepeatedRequestWarning,
                stacklevel=2,
            )
        running += 1
        started = time.monotonic()
        first_content: float | None = None
        output_tokens: int | None = None
        finish: str | None = None
        ended = False
        _log.debug(
            "request: %s (%s, model %s, retry %s)",
            url,
            format,
            model or "?",
            f"on, resume={resume}" if resume else "off",
        )

        def release() -> None:
            end()

        def end() -> bool:
            nonlocal ended, running
            if ended:
                return False
            ended = True
            running -= 1
            return True

        def on_next(event: StreamEvent) -> None:
            nonlocal first_content, output_tokens, finish
            if first_content is None and not isinstance(
                event, (StreamStart, Usage, Retrying, Rewind)
            ):
                first_content = event.received_at
            if isinstance(event, Usage) and event.output_tokens is not None:
                output_tokens = event.output_tokens
            elif isinstance(event, Finish):
                finish = event.reason
            elif isinstance(event, Retrying):
                _log.info(
                    "retrying %s: attempt %d in %.2f s after %s: %s (%s)",
                    url,
                    event.attempt,
                    event.delay,
                    type(event.cause).__name__,
                    event.cause,
                    "continuing the partial answer" if event.continued else "restarting",
                )
            elif isinstance(event, Rewind):
                _log.info(
                    "the restarted answer diverged from what was delivered: rewind (attempt %d)",
                    event.attempt,
                )
            observer.on_next(event)

        def on_error(error: Exception) -> None:
            if end():
                _log.info(
                    "stream from %s failed after %.2f s: %s: %s",
                    url,
                    time.monotonic() - started,
                    type(error).__name__,
                    error,
                )
            observer.on_error(error)

        def on_completed() -> None:
            nonlocal completed
            if end():
                completed += 1
                ttft = "-" if first_content is None else f"{first_content - started:.3f} s"
                _log.info(
                    "stream from %s done in %.2f s: TTFT %s, %s output tokens, finish %s",
                    url,
                    time.monotonic() - started,
                    ttft,
                    "?" if output_tokens is None else output_tokens,
                    finish or "?",
                )
            observer.on_completed()

        upstream = events.subscribe(on_next, on_error, on_completed, scheduler=scheduler)
        return CompositeDisposable(upstream, Disposable(release))

    return Observable(subscribe)
