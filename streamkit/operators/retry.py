"""Retry a failed stream with exponential backoff, resuming without losing or repeating content.

``retry_with_backoff`` watches a stream of events. When the stream fails with a retryable error it
waits (exponential backoff with full jitter, or the server's ``retry-after``), emits a ``Retrying``
event and subscribes again, so that downstream operators see one continuous answer:

- ``resume="continue"`` (the default, ``DEFAULT_RESUME``): the next attempt asks the model to
  continue the text delivered so far (``continuation(partial_text)``: Anthropic prefill, or
  OpenAI's partial assistant message plus "continue"), and its text is appended. When the
  continuation request carries less than the whole partial text (``carried``: an Anthropic
  prefill must not end in whitespace), the model may say the rest again: the start of the
  continuation that repeats it is skipped. Without a ``continuation``, or when what was delivered
  is more than plain answer text (tool calls, reasoning, several choices), there is nothing to
  continue with: the attempt resumes as ``restart`` does;
- ``resume="restart"``: the source is subscribed again; the part of the new answer already
  delivered is skipped, and if the new answer differs from it a ``Rewind`` event tells consumers
  to discard what they showed before the new answer is delivered from its start;
- ``resume="none"``: only failures before the first event are retried.

Tool-call fragments are held back until their call is complete (``ToolCallEnd`` or ``Finish``), so
a failure never leaves half a call downstream. A failure after every choice has finished ends the
stream normally: the answer is whole, only a trailing usage report may be missing.

What of each attempt goes downstream is decided by ``streamkit.fold.retry_ledger.RetryLedger``, a
pure state machine whose rules are written out there; this module adds the policy, the timing
and the subscriptions.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal, get_args

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from streamkit.errors import RetryExhaustedError, StreamkitError
from streamkit.events import Retrying, StreamEvent
from streamkit.fold.retry_ledger import RetryLedger
from streamkit.operators.base import Operator, events_only, now_seconds, resolve_scheduler

__all__ = [
    "DEFAULT_RESUME",
    "RESUME_MODES",
    "ResumeMode",
    "RetryPolicy",
    "check_resume",
    "is_retryable",
    "retry_with_backoff",
]

ResumeMode = Literal["continue", "restart", "none"]

#: Every resume mode, in the order error messages and ``--resume`` list them.
RESUME_MODES: Final[tuple[ResumeMode, ...]] = get_args(ResumeMode)

#: The one default for ``resume`` wherever it is a parameter: continuing the partial answer asks
#: for the least text again, and falls back to restarting whenever it cannot apply.
DEFAULT_RESUME: Final[ResumeMode] = "continue"


def check_resume(value: object) -> ResumeMode:
    """Return ``value`` as a resume mode, or raise if it is not one.

    The one check of a ``resume`` argument: every entry point that takes one calls it.

    Raises:
        ValueError: ``value`` is not one of ``RESUME_MODES``.
    """
    for mode in RESUME_MODES:
        if value == mode:
            return mode
    *rest, last = (repr(mode) for mode in RESUME_MODES)
    raise ValueError(f"resume must be {', '.join(rest)} or {last}, got {value!r}")


def is_retryable(error: BaseException) -> bool:
    """Whether sending the same request again may succeed.

    Retryable: connection failures and losses, every timeout, HTTP 408/409/429/500/502/503/504/529,
    in-stream ``overloaded_error`` / ``api_error`` events, and a ``MalformedEventError`` (one
    corrupted event). Not retryable: other 4xx statuses, the other protocol errors (oversized
    events, tool arguments that are not JSON: the server would repeat them), and anything that is
    not a streamkit error.
    """
    return isinstance(error, StreamkitError) and error.retryable


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How often and how patiently to retry.

    The delay before retry ``n`` (1-based) is uniform in
    ``[0, min(max_delay, base_delay * 2**(n-1))]`` ("full jitter"), unless the error carries
    ``retry_after``: then that, capped at ``max_retry_after``.

    Attributes:
        max_attempts: attempts in all, the first one included.
        base_delay: the backoff's first ceiling, in seconds.
        max_delay: the cap on any backoff delay.
        deadline: seconds from subscription after which no new attempt starts (None: no limit).
        max_retry_after: the cap on a server's ``retry-after``.
        retryable: decides which errors are retried.
        random: returns a float in [0, 1); inject it to make delays deterministic.
    """

    max_attempts: int = 5
    base_delay: float = 0.5
    max_delay: float = 20.0
    deadline: float | None = 300.0
    max_retry_after: float = 60.0
    retryable: Callable[[BaseException], bool] = field(default=is_retryable, compare=False)
    random: Callable[[], float] = field(default=random.random, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.max_attempts < 1:
            raise ValueError(f"max_attempts must be at least 1, got {self.max_attempts}")
        for name in ("base_delay", "max_delay", "max_retry_after"):
            if getattr(self, name) < 0:
                raise ValueError(f"{name} must not be negative, got {getattr(self, name)}")
        if self.deadline is not None and self.deadline <= 0:
            raise ValueError(f"deadline must be positive or None, got {self.deadline}")

    def delay(self, retry: int, error: BaseException) -> float:
        """Seconds to wait before retry number ``retry`` (1 for the first) after ``error``."""
        retry_after = getattr(error, "retry_after", None)
        if isinstance(retry_after, int | float):
            return min(float(retry_after), self.max_retry_after)
        ceiling = min(self.max_delay, self.base_delay * 2 ** (retry - 1))
        return float(ceiling * self.random())


def retry_with_backoff(
    policy: RetryPolicy | None = None,
    *,
    resume: ResumeMode = DEFAULT_RESUME,
    continuation: Callable[[str], Observable[StreamEvent]] | None = None,
    carried: Callable[[str], str] | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Operator[StreamEvent, StreamEvent]:
    """Retry a failing stream of events, resuming where it broke.

    See the module docstring for the three ``resume`` modes. When the attempts or the deadline run
    out, the stream fails with ``RetryExhaustedError`` whose ``causes`` hold every failure; an error
    the policy does not retry is passed on as it is, at once. Backoff waits run on ``scheduler``
    (else the subscriber's, else the running asyncio loop); disposing the subscription during a
    wait cancels it and starts no new attempt.

    Args:
        policy: attempts, delays and the retry predicate; ``RetryPolicy()`` by default.
        resume: ``continue`` (the default), ``restart`` or ``none``.
        continuation: for ``continue``: makes the stream that continues a partial text (all
            the text delivered so far); ``ChatEndpoint.stream(body, retry=...)`` supplies it.
            Without it, ``continue`` subscribes the source again and resumes as ``restart``.
        carried: for ``continue``: how much of the partial text the continuation request
            carries (a prefix of it; all of it by default); what it leaves out, the model may say
            again, and that repetition is skipped. ``ChatEndpoint.stream`` passes the format's.
        scheduler: where backoff delays are timed.

    Raises:
        ValueError: ``resume`` is not a resume mode.
        TypeError: ``policy`` is not a ``RetryPolicy``.

    Example:
        >>> events = endpoint.stream(body).pipe(  # doctest: +SKIP
        ...     ops.retry_with_backoff(RetryPolicy(max_attempts=4), resume="restart")
        ... )

    Marble (``resume="restart"``, ``x`` a retryable error, delay 2 ticks)::

        source, attempt 1:  -a-b-x
        source, attempt 2:          -a-b-c-|
        result:             -a-b-R-------c-|      (R = Retrying; a and b are not repeated)
    """
    mode = check_resume(resume)
    if policy is not None and not isinstance(policy, RetryPolicy):
        raise TypeError(f"policy must be a RetryPolicy or None, got {type(policy).__name__}")
    retry_policy = policy or RetryPolicy()
    # Raw SSE events have no answer to compare attempts by: re-subscribing would deliver again
    # what was delivered. They fail at once (a TypeError is never retried).
    checked: Operator[StreamEvent, StreamEvent] = events_only(
        "retry_with_backoff()",
        sse_hint="a raw SSE stream reconnects by itself: sse_source sends Last-Event-ID, honours "
        "retry: and skips events already delivered (see its reconnect= argument)",
    )

    def operator(source: Observable[StreamEvent]) -> Observable[StreamEvent]:
        def subscribe(
            observer: abc.ObserverBase[StreamEvent],
            subscribe_scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            timer = resolve_scheduler(scheduler, subscribe_scheduler)
            started = now_seconds(timer)
            ledger = RetryLedger()
            causes: list[BaseException] = []
            current = SerialDisposable()
            attempt = 1

            def run(stream: Observable[StreamEvent]) -> None:
                def on_next(event: StreamEvent) -> None:
                    for out in ledger.step(event, attempt):
                        observer.on_next(out)

                def on_completed() -> None:
                    for out in ledger.end_attempt(attempt):
                        observer.on_next(out)
                    observer.on_completed()

                # Assign before subscribing: a synchronous source may fail inside subscribe() and
                # schedule the next attempt, which must not be overwritten afterwards.
                subscription = SingleAssignmentDisposable()
                current.disposable = subscription
                subscription.disposable = stream.pipe(checked).subscribe(
                    on_next, on_failure, on_completed, scheduler=subscribe_scheduler
                )

            def on_failure(error: Exception) -> None:
                nonlocal attempt
                causes.append(error)
                if ledger.complete:
                    observer.on_completed()
                    return
                if not retry_policy.retryable(error) or (
                    mode == "none" and ledger.delivered_anything
                ):
                    observer.on_error(error)
                    return
                if attempt >= retry_policy.max_attempts:
                    observer.on_error(_exhausted(f"{attempt} attempts failed", causes))
                    return
                delay = retry_policy.delay(attempt, error)
                deadline = retry_policy.deadline
                if deadline is not None and now_seconds(timer) - started + delay > deadline:
                    observer.on_error(_exhausted(f"the {deadline:g} s deadline passed", causes))
                    return
                attempt += 1
                # Decided now, so that Retrying tells the truth about the attempt it announces.
                partial = ledger.partial_text() if mode == "continue" and continuation else None
                observer.on_next(
                    Retrying(attempt=attempt, delay=delay, cause=error, continued=bool(partial))
                )
                # Assign before scheduling: a scheduler that runs the action at once starts the
                # next attempt inside schedule_relative(), and that must not be disposed after.
                wait = SingleAssignmentDisposable()
                current.disposable = wait
                wait.disposable = timer.schedule_relative(delay, lambda *_: next_attempt(partial))

            def next_attempt(partial: str | None) -> None:
                try:
                    if partial and continuation is not None:
                        ledger.begin_continuation(partial, carried(partial) if carried else partial)
                        run(continuation(partial))
                    else:  # restart, or continue with nothing to continue: answer from the start
                        ledger.begin_attempt()
                        run(source)
                except Exception as exc:  # a continuation or a source that fails to start
                    on_failure(exc)

            run(source)
            return current

        return reactivex.create(subscribe)

    return operator


def _exhausted(why: str, causes: list[BaseException]) -> RetryExhaustedError:
    return RetryExhaustedError(f"gave up: {why}; last error: {causes[-1]}", causes)
