"""Retry a failed stream with exponential backoff, resuming without losing or repeating content.

``retry_with_backoff`` watches a stream of events. When the stream fails with a retryable error it
waits (exponential backoff with full jitter, or the server's ``retry-after``), emits a ``Retrying``
event and subscribes again, so that downstream operators see one continuous answer:

- ``resume="continue"``: the next attempt asks the model to continue the text delivered so far
  (``continuation(partial_text)``: Anthropic prefill, or OpenAI's partial assistant message plus
  "continue"), and its text is appended. When the continuation request carries less than the
  whole partial text (``carried``: an Anthropic prefill must not end in whitespace), the model
  may say the rest again: the start of the continuation that repeats it is skipped;
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

__all__ = [
    "DEFAULT_RESUME",
    "ResumeMode",
    "RetryPolicy",
    "check_resume",
    "is_retryable",
    "retry_with_backoff",
]

ResumeMode = Literal["continue", "restart", "none"]
#: How a retried stream resumes unless told otherwise: continue the partial answer.
DEFAULT_RESUME: ResumeMode = "continue"


def check_resume(value: object) -> ResumeMode:
    """Return ``value`` as a resume mode.

    Raises:
        ValueError: it is not ``continue``, ``restart`` or ``none``.
    """
    if value == "continue" or value == "restart" or value == "none":
        return value
    raise ValueError(f"resume must be 'continue', 'restart' or 'none', got {value!r}")


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
    """Per-subscription memory of the answer: what was delivered, what a new attempt repeats.

    ``delivered`` is everything sent downstream since the start (or the last ``Rewind``); it
    only grows when events go downstream. A new attempt is compared with it from the start:
    ``cursor`` (segment, offset into a text segment) is how far the attempt has matched, and
    ``matched`` keeps the matched events, re-sent after a ``Rewind`` if the attempt diverges.
    """

    delivered: list[_Segment] = field(default_factory=list)
    cursor: tuple[int, int] = (0, 0)
    matched: list[StreamEvent] = field(default_factory=list)
    choices: set[int] = field(default_factory=set)
    held: dict[tuple[int, int], list[StreamEvent]] = field(default_factory=dict)
    # Continue mode: the end of the partial text that the continuation request left out (a
    # prefill must not end in whitespace), so the continuation may say it again.
    repeated_space: str = ""

    @property
    def delivered_anything(self) -> bool:
        return bool(self.choices) or bool(self.delivered)

    @property
    def complete(self) -> bool:
        """Every choice started has delivered its ``Finish`` (since the last ``Rewind``)."""
        finished = {segment.choice for segment in self.delivered if isinstance(segment, Finish)}
        return bool(self.choices) and self.choices <= finished

    @property
    def replaying(self) -> bool:
        return self.cursor[0] < len(self.delivered)

    def partial_text(self) -> str | None:
        """The delivered text if a continuation can carry it: choice 0 text only, else None."""
        parts: list[str] = []
        for segment in self.delivered:
            if not isinstance(segment, _Text) or segment.key != ("TextDelta", 0):
                return None
            parts.append(segment.text)
        return "".join(parts)

    def begin_attempt(self) -> None:
        """A new attempt answers from the start: compare it with everything delivered."""
        self._reset(cursor=(0, 0))

    def begin_continuation(self, partial: str, carried: str) -> None:
        """A new attempt continues ``partial``, of which the request carries ``carried``: its
        content follows what was delivered, and may first repeat the part left out."""
        self._reset(cursor=(len(self.delivered), 0))
        self.repeated_space = partial[len(carried) :] if partial.startswith(carried) else ""

    def _reset(self, *, cursor: tuple[int, int]) -> None:
        self.held.clear()
        self.matched = []
        self.cursor = cursor
        self.repeated_space = ""

    def step(self, event: StreamEvent, attempt: int) -> list[StreamEvent]:
        """Take one event of the current attempt; return what to send downstream."""
        if isinstance(event, StreamStart):
            if event.choice in self.choices:  # started by an earlier attempt
                return []
            self.choices.add(event.choice)
            return [event]
        if isinstance(event, ToolCallDelta):
            self.held.setdefault((event.choice, event.index), []).append(event)
            return []
        if isinstance(event, ToolCallEnd):
            return self._release([*self.held.pop((event.choice, event.index), []), event], attempt)
        if isinstance(event, Finish):
            out = self._release_choice(event.choice, attempt)
            return out + self._content(event, event, attempt)
        if isinstance(event, TextDelta | ReasoningDelta | RefusalDelta):
            return self._text(event, attempt)
        return [event]  # Usage, Retrying from an inner retry, Rewind: nothing to compare

    def end_attempt(self, attempt: int) -> list[StreamEvent]:
        """The attempt completed: release open calls (they are as complete as they will ever be);
        a new answer shorter than what was shown is a divergence too."""
        out: list[StreamEvent] = self._rewind(attempt) if self.replaying else []
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
        return self._content_group(group, tool, attempt)

    def _text(self, event: _TextEvent, attempt: int) -> list[StreamEvent]:
        key, text = _text_key(event), self._skip_repeated_space(event)
        while text and self.replaying:
            index, offset = self.cursor
            head = self.delivered[index]
            if not isinstance(head, _Text) or head.key != key:
                return self._diverge(event, attempt)
            remaining = head.text[offset:]
            n = min(len(remaining), len(text))
            if remaining[:n] != text[:n]:
                return self._diverge(event, attempt)
            text = text[n:]
            self.cursor = (index + 1, 0) if n == len(remaining) else (index, offset + n)
        if not text:
            self.matched.append(event)
            return []
        self._deliver(_Text(key, text))
        return [replace(event, text=text) if text != event.text else event]

    def _skip_repeated_space(self, event: _TextEvent) -> str:
        """The event's text without the part that repeats whitespace already delivered."""
        text, space = event.text, self.repeated_space
        if not space:
            return text
        if not isinstance(event, TextDelta) or event.choice != 0:
            self.repeated_space = ""
            return text
        n = _common_prefix_length(text, space)
        # All of the text repeats: the rest of the whitespace may follow in the next event.
        self.repeated_space = space[n:] if n == len(text) else ""
        return text[n:]

    def _content(self, event: StreamEvent, segment: _Segment, attempt: int) -> list[StreamEvent]:
        return self._content_group([event], segment, attempt)

    def _content_group(
        self, group: list[StreamEvent], segment: _Segment, attempt: int
    ) -> list[StreamEvent]:
        """A whole tool call or a Finish: skipped if it repeats what was delivered."""
        self.repeated_space = ""
        if self.replaying:
            index, offset = self.cursor
            if self.delivered[index] != segment or offset:
                return self._diverge_many(group, segment, attempt)
            self.cursor = (index + 1, 0)
            self.matched += group
            return []
        self._deliver(segment)
        return group

    def _deliver(self, segment: _Segment) -> None:
        """Record content sent downstream after everything delivered before it."""
        last = self.delivered[-1] if self.delivered else None
        if isinstance(segment, _Text) and isinstance(last, _Text) and last.key == segment.key:
            last.text += segment.text
        else:
            self.delivered.append(
                _Text(segment.key, segment.text) if isinstance(segment, _Text) else segment
            )
        self.cursor = (len(self.delivered), 0)

    def _diverge(self, event: _TextEvent, attempt: int) -> list[StreamEvent]:
        return self._diverge_many([event], _Text(_text_key(event), event.text), attempt)

    def _diverge_many(
        self, events: list[StreamEvent], segment: _Segment, attempt: int
    ) -> list[StreamEvent]:
        """The new attempt differs from what was shown: void that, then send the new answer."""
        out = self._rewind(attempt)
        self._deliver(segment)
        return out + events

    def _rewind(self, attempt: int) -> list[StreamEvent]:
        self.delivered = []
        self.cursor = (0, 0)
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
        resume: ``continue``, ``restart`` or ``none``.
        continuation: for ``continue``: makes the stream that continues a partial text (all
            the text delivered so far); ``ChatEndpoint.stream(body, retry=...)`` supplies it.
        carried: for ``continue``: how much of the partial text the continuation request
            carries (a prefix of it; all of it by default); what it leaves out, the model may say
            again, and that repetition is skipped. ``ChatEndpoint.stream`` passes the format's.
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
    resume = check_resume(resume)
    if resume == "continue" and continuation is None:
        raise ValueError("resume='continue' needs continuation=, a function of the partial text")
    if policy is not None and not isinstance(policy, RetryPolicy):
        raise TypeError(f"policy must be a RetryPolicy or None, got {type(policy).__name__}")
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
                continued = resume == "continue" and continuation is not None
                continued = continued and bool(ledger.partial_text())  # as next_attempt decides
                observer.on_next(
                    Retrying(attempt=attempt, delay=delay, cause=error, continued=continued)
                )
                # Assign before scheduling: a scheduler that runs the action at once starts the
                # next attempt inside schedule_relative(), and that must not be disposed after.
                wait = SingleAssignmentDisposable()
                current.disposable = wait
                wait.disposable = timer.schedule_relative(delay, lambda *_: next_attempt())

            def next_attempt() -> None:
                partial = ledger.partial_text() if resume == "continue" else None
                try:
                    if partial and continuation is not None:
                        ledger.begin_continuation(partial, carried(partial) if carried else partial)
                        run(continuation(partial))
                    else:
                        ledger.begin_attempt()
                        run(source)
                except Exception as exc:  # a continuation or a source that fails to start
                    on_failure(exc)

            run(source)
            return current

        return reactivex.create(subscribe)

    return operator


def _common_prefix_length(a: str, b: str) -> int:
    n = min(len(a), len(b))
    return next((i for i in range(n) if a[i] != b[i]), n)


def _exhausted(why: str, causes: list[BaseException]) -> RetryExhaustedError:
    return RetryExhaustedError(f"gave up: {why}; last error: {causes[-1]}", causes)
