"""The limiter as an operator: each subscription waits for its quota, then settles it.

``rate_limited(limiter, tokens=n)`` delays the subscription to its source until the shared
``RateLimiter`` grants one request and ``n`` tokens, and settles the reservation with the usage
the stream reports. A 429 (or any status error carrying ``retry-after``) that ends the stream
pauses the whole limiter, so every other stream sharing it waits too.

Place it *before* a retry operator so that every attempt goes through it::

    endpoint.stream(body).pipe(
        rate_limited(limiter, tokens=1200),
        ops.retry_with_backoff(policy, resume="restart"),
    )

(``sk.batch`` also puts each continuation request of ``resume="continue"`` through it.)
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from reactivex import Observable, abc
from reactivex.disposable import Disposable, SerialDisposable

from streamkit.batch.limiter import RateLimiter, Reservation
from streamkit.errors import APIStatusError, RateLimitError
from streamkit.events import StreamEvent, Usage

__all__ = ["pause_for", "rate_limited"]


def pause_for(error: BaseException) -> float | None:
    """How long a failure asks the whole run to pause, or None when it asks for no pause.

    A 429 pauses for its ``retry-after`` (the limiter's default when it has none); any other
    status error pauses only when it carries a ``retry-after``.
    """
    if isinstance(error, RateLimitError):
        return error.retry_after if error.retry_after is not None else -1.0
    if isinstance(error, APIStatusError) and error.retry_after is not None:
        return error.retry_after
    return None


def rate_limited(
    limiter: RateLimiter, *, tokens: int = 0
) -> Callable[[Observable[StreamEvent]], Observable[StreamEvent]]:
    """Start each subscription only when ``limiter`` grants one request and ``tokens`` tokens.

    On subscription the operator waits (``limiter.acquire(tokens)``) and then subscribes to the
    source. When the stream ends the reservation is settled with the usage it reported (input
    plus output tokens); a stream that reports none keeps its whole reservation, except one
    refused with an HTTP status (nothing was generated), which gives the tokens back. A failure
    that asks for a pause (``pause_for``) pauses the limiter, then is passed on unchanged.

    Disposing during the wait takes no quota; disposing mid-stream keeps the reservation.
    Needs a running asyncio loop (as streamkit's sources do).

    Args:
        limiter: the run's shared limiter.
        tokens: what one request reserves: its input estimate plus its ``max_tokens``.

    Example:
        >>> events = endpoint.stream(body).pipe(rate_limited(limiter, tokens=900))  # doctest: +SKIP

    Marble (the limiter grants after 3 ticks)::

        source:  -a-b-|
        result:  ---- -a-b-|     (subscribed at tick 3)
    """
    if tokens < 0:
        raise ValueError(f"tokens must not be negative, got {tokens}")

    def operator(source: Observable[StreamEvent]) -> Observable[StreamEvent]:
        def subscribe(
            observer: abc.ObserverBase[StreamEvent], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            loop = asyncio.get_running_loop()
            inner = SerialDisposable()
            reservation: Reservation | None = None
            usage: dict[str, int] = {}
            stopped = False

            def settle(error: BaseException | None) -> None:
                nonlocal reservation
                if reservation is None:
                    return
                taken, reservation = reservation, None
                used: int | None = sum(usage.values()) if usage else None
                if used is None and isinstance(error, APIStatusError) and not error.in_stream:
                    used = 0  # refused before generating anything
                limiter.settle(taken, used)

            def on_next(event: StreamEvent) -> None:
                if isinstance(event, Usage):  # later reports supersede earlier ones
                    if event.input_tokens is not None:
                        usage["input"] = event.input_tokens
                    if event.output_tokens is not None:
                        usage["output"] = event.output_tokens
                observer.on_next(event)

            def on_error(error: Exception) -> None:
                nonlocal stopped
                stopped = True
                pause = pause_for(error)
                if pause is not None:
                    limiter.pause(None if pause < 0 else pause)
                settle(error)
                observer.on_error(error)

            def on_completed() -> None:
                nonlocal stopped
                stopped = True
                settle(None)
                observer.on_completed()

            async def start() -> None:
                nonlocal reservation
                reservation = await limiter.acquire(tokens)
                try:
                    inner.disposable = source.subscribe(
                        on_next, on_error, on_completed, scheduler=scheduler
                    )
                except Exception as exc:  # a source that fails to start
                    if not stopped:
                        on_error(exc)

            task = loop.create_task(start())

            def dispose() -> None:
                task.cancel()
                inner.dispose()

            return Disposable(dispose)

        return Observable(subscribe)

    return operator
