"""Generic Server-Sent Events that reconnect as a browser's ``EventSource`` does.

The WHATWG HTML standard, section 9.2 "Server-sent events", has the user agent reconnect when the
connection is lost: it waits the stream's *reconnection time* (set by the ``retry:`` field), then
sends the request again with a ``Last-Event-ID`` header holding the last ``id:`` it saw, so a
server can resume after it. ``sse_source`` does the same over the transport's one attempt
(``streamkit.transport.sse_attempt``); this is policy, so it lives here, in the composition layer,
and the transport never retries.

What it adds to a browser's behaviour, so that one observable gives each event once:

- Events already delivered are skipped by id. A server that ignores ``Last-Event-ID`` and starts
  over repeats events this subscription has delivered: each event carries the last id seen
  (ids persist across events, as the standard says), and a reconnected attempt's events are
  skipped while their id has come no more often than it was delivered. Events before the first
  ``id:`` cannot be told apart, so a stream without ids is delivered again from its start: give
  events ids to resume exactly.
- It gives up: after ``ReconnectPolicy.max_attempts`` attempts in a row that deliver nothing new,
  the stream fails with ``RetryExhaustedError`` (a browser tries forever).
- By default a body the server ends normally completes the observable, as most finite SSE
  endpoints mean it; ``ReconnectPolicy(on_end=True)`` reconnects then too, as a browser does.

As in a browser, only a lost or failed connection is reconnected (``TransportError``: refused,
reset, cut mid-stream, every timeout); an HTTP error status or a response that is not an event
stream fails the stream at once.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

import aiohttp
import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from streamkit.errors import RetryExhaustedError, TransportError
from streamkit.operators.base import resolve_scheduler
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES, SSEEvent
from streamkit.transport import Timeouts, sse_attempt

__all__ = ["ReconnectPolicy", "sse_source"]

#: How many distinct ids the skip-by-id memory keeps (the most recent ones): a bound on memory
#: for endless streams; a server replaying further back than this is not de-duplicated.
MAX_REMEMBERED_IDS: Final = 10_000


@dataclass(frozen=True, slots=True)
class ReconnectPolicy:
    """How ``sse_source`` reconnects.

    Attributes:
        delay: the initial reconnection time, in seconds; the stream's ``retry:`` field
            (milliseconds) replaces it, for this and later reconnections.
        max_attempts: attempts in a row that deliver no new event before giving up with
            ``RetryExhaustedError`` (the first attempt counts); None tries forever.
        on_end: also reconnect when the server ends the body normally, as a browser does;
            otherwise that completes the observable.
    """

    delay: float = 3.0
    max_attempts: int | None = 5
    on_end: bool = False

    def __post_init__(self) -> None:
        if not self.delay >= 0:
            raise ValueError(f"delay must not be negative, got {self.delay!r}")
        if self.max_attempts is not None and self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1 or None, got {self.max_attempts!r}")


class _Resumption:
    """What one subscription remembers across its attempts: position, delay, delivered ids."""

    def __init__(self, delay: float) -> None:
        self.last_event_id: str | None = None
        self.delay = delay
        # id -> how many events carrying it were delivered, most recent ids last.
        self._delivered: OrderedDict[str, int] = OrderedDict()

    def set_reconnection_time(self, milliseconds: int) -> None:
        self.delay = milliseconds / 1000

    def admit(self, event: SSEEvent, seen: dict[str, int]) -> bool:
        """Whether ``event`` is new; ``seen`` counts the ids of the current attempt's events."""
        if event.id is not None:
            self.last_event_id = event.id
        if not event.id:
            return True  # no id to tell it by: deliver it
        count = seen[event.id] = seen.get(event.id, 0) + 1
        delivered = self._delivered.get(event.id, 0)
        if count <= delivered:
            return False  # a replay of what this subscription already delivered
        self._delivered[event.id] = delivered + 1
        self._delivered.move_to_end(event.id)
        if len(self._delivered) > MAX_REMEMBERED_IDS:
            self._delivered.popitem(last=False)
        return True


def sse_source(
    url: str,
    *,
    body: Any = None,
    method: Literal["GET", "POST"] | None = None,
    headers: Mapping[str, str] | None = None,
    session: aiohttp.ClientSession | None = None,
    timeouts: Timeouts | None = None,
    max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES,
    reconnect: ReconnectPolicy | None = ReconnectPolicy(),
    scheduler: abc.SchedulerBase | None = None,
) -> Observable[SSEEvent]:
    """Stream the raw SSE events of any endpoint, reconnecting as a browser's EventSource does.

    With a ``body`` the request is a POST of it as JSON, without one a GET (``method`` overrides
    either). A lost connection is reconnected after the stream's reconnection time with
    ``Last-Event-ID``, and events already delivered are skipped by id (see the module
    docstring). The observable completes when the server ends the body (unless
    ``reconnect.on_end``). Each subscription starts afresh; disposing it cancels the request or
    the wait before the next one.

    Args:
        url: the endpoint.
        body: sent as JSON in a POST.
        method: ``GET`` or ``POST``, to override the choice ``body`` makes.
        headers: extra request headers; credential headers are redacted from every response.
        session: an ``aiohttp.ClientSession`` to reuse.
        timeouts: the deadlines of each attempt (each event counts as content).
        max_event_bytes: the largest event accepted.
        reconnect: the reconnection policy; None makes one attempt only.
        scheduler: where reconnection delays are timed (else the subscriber's, else the running
            asyncio loop's).

    Errors (as ``on_error``): ``APIStatusError`` for a non-2xx status (its ``body`` holds the
    text), ``ProtocolError`` for a response that is not an event stream or an oversized event,
    a ``TransportError`` without ``reconnect``, and ``RetryExhaustedError`` (``causes``: every
    failure since the last new event) when the reconnections run out.

    Raises:
        ValueError: ``method`` is neither ``GET`` nor ``POST``.
        TypeError: ``reconnect`` is not a ``ReconnectPolicy``.

    Example:
        >>> events = sk.sse_source("http://127.0.0.1:8000/events")  # doctest: +SKIP
        >>> events.subscribe(lambda event: print(event.id, event.data))  # doctest: +SKIP
    """
    if method is not None and method not in ("GET", "POST"):
        raise ValueError(f"method must be 'GET' or 'POST', got {method!r}")
    if reconnect is not None and not isinstance(reconnect, ReconnectPolicy):
        raise TypeError(
            f"reconnect must be a ReconnectPolicy or None, got {type(reconnect).__name__}"
        )

    def attempt(resumption: _Resumption | None) -> Observable[SSEEvent]:
        return sse_attempt(
            url,
            body=body,
            method=method,
            headers=headers,
            session=session,
            timeouts=timeouts,
            max_event_bytes=max_event_bytes,
            last_event_id=resumption.last_event_id if resumption else None,
            on_retry=resumption.set_reconnection_time if resumption else None,
        )

    if reconnect is None:
        return attempt(None)
    policy = reconnect

    def subscribe(
        observer: abc.ObserverBase[SSEEvent], subscribe_scheduler: abc.SchedulerBase | None = None
    ) -> abc.DisposableBase:
        timer = resolve_scheduler(scheduler, subscribe_scheduler)
        resumption = _Resumption(policy.delay)
        current = SerialDisposable()
        causes: list[BaseException] = []
        fruitless = 0  # attempts in a row that delivered nothing new

        def run() -> None:
            seen: dict[str, int] = {}
            delivered = False

            def on_next(event: SSEEvent) -> None:
                nonlocal delivered, fruitless
                if resumption.admit(event, seen):
                    if not delivered:
                        delivered, fruitless = True, 0
                        causes.clear()
                    observer.on_next(event)

            def on_error(error: Exception) -> None:
                if not isinstance(error, TransportError):
                    observer.on_error(error)  # a status or a protocol error: as a browser, fail
                    return
                causes.append(error)
                again(delivered, error)

            def on_completed() -> None:
                if not policy.on_end:
                    observer.on_completed()
                    return
                again(delivered, None)

            subscription = SingleAssignmentDisposable()
            current.disposable = subscription  # before subscribing: a failure may come at once
            subscription.disposable = attempt(resumption).subscribe(
                on_next, on_error, on_completed, scheduler=subscribe_scheduler
            )

        def again(delivered: bool, error: Exception | None) -> None:
            nonlocal fruitless
            fruitless = 0 if delivered else fruitless + 1
            if policy.max_attempts is not None and fruitless >= policy.max_attempts:
                if error is None:
                    observer.on_completed()
                else:
                    observer.on_error(
                        RetryExhaustedError(
                            f"gave up reconnecting to the event stream: {fruitless} attempts in "
                            f"a row delivered nothing new; last error: {error}",
                            causes,
                        )
                    )
                return
            wait = SingleAssignmentDisposable()
            current.disposable = wait
            wait.disposable = timer.schedule_relative(resumption.delay, lambda *_: run())

        run()
        return current

    return reactivex.create(subscribe)
