"""Retry a failed stream with exponential backoff, resuming without losing or repeating content.

``retry_with_backoff`` watches a stream of events. When the stream fails with a retryable error it
waits (exponential backoff with full jitter, or the server's ``retry-after``), emits a ``Retrying``
event and subscribes again, so that downstream operators see one continuous answer:

- ``resume="continue"``: the next attempt asks the model to continue the text delivered so far
  (``continuation(partial_text)``: Anthropic prefill, or OpenAI's partial assistant message plus
  "continue"), and its text is appended;
- ``resume="restart"``: the source is subscribed again; the part of the new answer already
  delivered is skipped, and if the new answer differs from it a ``Rewind`` event tells consumers
  to discard what they showed before the new answer is delivered from its start;
- ``resume="none"``: only failures before the first event are retried.

Tool-call fragments are held back until their call is complete (``ToolCallEnd`` or ``Finish``), so
a failure never leaves half a call downstream. A failure after every choice has finished ends the
stream normally: the answer is whole, only a trailing usage report may be missing.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Literal, TypeAlias

import reactivex
from reactivex import Observable, abc
from reactivex.disposable import SerialDisposable, SingleAssignmentDisposable

from streamkit.errors import RetryExhaustedError, StreamkitError
from streamkit.events import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    Retrying,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
)
from streamkit.operators._scheduling import now_seconds, resolve_scheduler
from streamkit.operators._types import Operator

__all__ = ["ResumeMode", "RetryPolicy", "is_retryable", "retry_with_backoff"]

ResumeMode = Literal["continue", "restart", "none"]


def is_retryable(error: BaseException) -> bool:
    """Whether sending the same request again may succeed.

    Retryable: connection failures and losses, every timeout, HTTP 408/409/429/500/502/503/504/529
    and in-stream ``overloaded_error`` / ``api_error`` events. Not retryable: other 4xx statuses,
    protocol errors (the server would repeat them), and anything that is not a streamkit error.
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


# --- what has been delivered downstream, as segments that a new attempt can be compared with ---


@dataclass(slots=True)
class _Text:
    """Consecutive text of one kind (text, thinking, signature, refusal...) for one choice."""

    key: tuple[str, int]
    text: str


@dataclass(frozen=True, slots=True)
class _Tool:
    """A complete tool call; ids differ between attempts, so name and arguments identify it."""

    choice: int
    name: str
    arguments: str


_Segment: TypeAlias = _Text | _Tool | Finish
_TextEvent: TypeAlias = TextDelta | ReasoningDelta | RefusalDelta


def _text_key(event: _TextEvent) -> tuple[str, int]:
    kind = event.kind if isinstance(event, ReasoningDelta) else type(event).__name__
    return kind, event.choice


@dataclass(slots=True)
class _Ledger:
    """Per-subscription memory of the answer: what was delivered, what a new attempt repeats."""

    segments: list[_Segment] = field(default_factory=list)
    started: bool = False
    finished: set[int] = field(default_factory=set)
    choices: set[int] = field(default_factory=set)
    held: dict[tuple[int, int], list[StreamEvent]] = field(default_factory=dict)
    # Restart mode: the previous attempts' segments still to be matched, and the new attempt's
    # events matched so far (re-sent after a Rewind).
    replay: list[_Segment] = field(default_factory=list)
    replay_offset: int = 0
    matched: list[StreamEvent] = field(default_factory=list)

    @property
    def delivered_anything(self) -> bool:
        return self.started or bool(self.segments)

    @property
    def complete(self) -> bool:
        return bool(self.choices) and self.choices <= self.finished

    def partial_text(self) -> str | None:
        """The delivered text if a continuation can carry it: choice 0 text only, else None."""
        parts: list[str] = []
        for segment in self.segments:
            if not isinstance(segment, _Text) or segment.key != ("TextDelta", 0):
                return None
            parts.append(segment.text)
        return "".join(parts)

    def begin_attempt(self, *, replay: bool) -> None:
        self.held.clear()
        self.matched = []
        self.replay_offset = 0
        if replay:
            self.replay, self.segments = self.segments, []
        else:
            self.replay = []

    def step(self, event: StreamEvent, attempt: int) -> list[StreamEvent]:
        """Take one event of the current attempt; return what to send downstream."""
        if isinstance(event, StreamStart):
            self.choices.add(event.choice)
            if self.started:
                return []
            self.started = True
            return [event]
        if isinstance(event, ToolCallDelta):
            self.held.setdefault((event.choice, event.index), []).append(event)
            return []
        if isinstance(event, ToolCallEnd):
            return self._release([*self.held.pop((event.choice, event.index), []), event], attempt)
        if isinstance(event, Finish):
            self.finished.add(event.choice)
            out = self._release_choice(event.choice, attempt)
            return out + self._content(event, event, attempt)
        if isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
            return self._text(event, attempt)
        return [event]  # Usage, Retrying from an inner retry, Rewind: nothing to compare

    def end_attempt(self, attempt: int) -> list[StreamEvent]:
        """The attempt completed: release open calls (they are as complete as they will ever be);
        a new answer shorter than what was shown is a divergence too."""
        out: list[StreamEvent] = self._rewind(attempt) if self.replay else []
        for key in sorted(self.held):
            out += self._release(self.held.pop(key), attempt)
        return out

    def _release_choice(self, choice: int, attempt: int) -> list[StreamEvent]:
        out: list[StreamEvent] = []
        for key in sorted(k for k in self.held if k[0] == choice):
            out += self._release(self.held.pop(key), attempt)
        return out

    def _release(self, group: list[StreamEvent], attempt: int) -> list[StreamEvent]:
        deltas = [e for e in group if isinstance(e, ToolCallDelta)]
        if not deltas:
            return group
        name = next((d.name for d in deltas if d.name), "")
        tool = _Tool(deltas[0].choice, name, "".join(d.arguments for d in deltas))
        return self._match_group(group, tool, attempt)

    def _text(self, event: _TextEvent, attempt: int) -> list[StreamEvent]:
        key, text = _text_key(event), event.text
        while text and self.replay:
            head = self.replay[0]
            if not isinstance(head, _Text) or head.key != key:
                return self._diverge(event, attempt)
            remaining = head.text[self.replay_offset :]
            n = min(len(remaining), len(text))
            if remaining[:n] != text[:n]:
                return self._diverge(event, attempt)
            self.replay_offset += n
            self._record(_Text(key, text[:n]))
            text = text[n:]
            if self.replay_offset == len(head.text):
                self.replay.pop(0)
                self.replay_offset = 0
        if not text:
            self.matched.append(event)
            return []
        tail = replace(event, text=text) if text != event.text else event
        self._record(_Text(key, text))
        return [tail]

    def _match_group(
        self, group: list[StreamEvent], tool: _Tool, attempt: int
    ) -> list[StreamEvent]:
        if self.replay:
            if self.replay[0] != tool or self.replay_offset:
                return self._diverge_many(group, tool, attempt)
            self.replay.pop(0)
            self.segments.append(tool)
            self.matched += group
            return []
        self.segments.append(tool)
        return group

    def _content(self, event: StreamEvent, segment: _Segment, attempt: int) -> list[StreamEvent]:
        if self.replay:
            if self.replay[0] != segment or self.replay_offset:
                return self._diverge_many([event], segment, attempt)
            self.replay.pop(0)
            self.segments.append(segment)
            self.matched.append(event)
            return []
        self.segments.append(segment)
        return [event]

    def _record(self, segment: _Text) -> None:
        last = self.segments[-1] if self.segments else None
        if isinstance(last, _Text) and last.key == segment.key:
            last.text += segment.text
        else:
            self.segments.append(_Text(segment.key, segment.text))

    def _diverge(self, event: _TextEvent, attempt: int) -> list[StreamEvent]:
        return self._diverge_many([event], _Text(_text_key(event), event.text), attempt)

    def _diverge_many(
        self, events: list[StreamEvent], segment: _Segment, attempt: int
    ) -> list[StreamEvent]:
        """The new attempt differs from what was shown: void that, then send the new answer."""
        out = self._rewind(attempt)
        if isinstance(segment, _Text):
            self._record(segment)
        else:
            self.segments.append(segment)
        return out + events

    def _rewind(self, attempt: int) -> list[StreamEvent]:
        self.replay = []
        self.replay_offset = 0
        self.segments = []
        replayed, self.matched = self.matched, []
        out: list[StreamEvent] = [Rewind(attempt)]
        for earlier in replayed:
            out += self.step(earlier, attempt)
        return out


def retry_with_backoff(
    policy: RetryPolicy | None = None,
    *,
    resume: ResumeMode = "restart",
    continuation: Callable[[str], Observable[StreamEvent]] | None = None,
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
        resume: ``continue``, ``restart`` or ``none``.
        continuation: for ``continue``: makes the stream that continues a partial text;
            ``ChatEndpoint.stream(body, retry=...)`` supplies it.
        scheduler: where backoff delays are timed.

    Example:
        >>> events = endpoint.stream(body).pipe(  # doctest: +SKIP
        ...     ops.retry_with_backoff(RetryPolicy(max_attempts=4), resume="restart")
        ... )

    Marble (``resume="restart"``, ``x`` a retryable error, delay 2 ticks)::

        source, attempt 1:  -a-b-x
        source, attempt 2:          -a-b-c-|
        result:             -a-b-R-------c-|      (R = Retrying; a and b are not repeated)
    """
    if resume not in ("continue", "restart", "none"):
        raise ValueError(f"resume must be 'continue', 'restart' or 'none', got {resume!r}")
    if resume == "continue" and continuation is None:
        raise ValueError("resume='continue' needs continuation=, a function of the partial text")
    retry_policy = policy or RetryPolicy()

    def operator(source: Observable[StreamEvent]) -> Observable[StreamEvent]:
        def subscribe(
            observer: abc.ObserverBase[StreamEvent],
            subscribe_scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            timer = resolve_scheduler(scheduler, subscribe_scheduler)
            started = now_seconds(timer)
            ledger = _Ledger()
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
                subscription.disposable = stream.subscribe(
                    on_next, on_failure, on_completed, scheduler=subscribe_scheduler
                )

            def on_failure(error: Exception) -> None:
                nonlocal attempt
                causes.append(error)
                if ledger.complete:
                    observer.on_completed()
                    return
                if not retry_policy.retryable(error) or (
                    resume == "none" and ledger.delivered_anything
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
                observer.on_next(Retrying(attempt=attempt, delay=delay, cause=error))
                current.disposable = timer.schedule_relative(delay, lambda *_: next_attempt())

            def next_attempt() -> None:
                partial = ledger.partial_text() if resume == "continue" else None
                if partial and continuation is not None:
                    ledger.begin_attempt(replay=False)
                    run(continuation(partial))
                else:
                    ledger.begin_attempt(replay=resume != "none")
                    run(source)

            run(source)
            return current

        return reactivex.create(subscribe)

    return operator


def _exhausted(why: str, causes: list[BaseException]) -> RetryExhaustedError:
    return RetryExhaustedError(f"gave up: {why}; last error: {causes[-1]}", causes)
