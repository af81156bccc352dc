"""retry_with_backoff: the resume ledger as plain code, the operator under virtual time."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import pytest
import reactivex
from reactivex import Observable
from reactivex.testing import ReactiveTest, TestScheduler

from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    ProtocolError,
    RateLimitError,
    RetryExhaustedError,
    ServerError,
    StreamTimeoutError,
)
from streamkit.events import (
    Finish,
    Retrying,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.operators.retry import RetryPolicy, is_retryable, retry_with_backoff

on_next, on_error, on_completed = (
    ReactiveTest.on_next,
    ReactiveTest.on_error,
    ReactiveTest.on_completed,
)

START = StreamStart("msg_1", "m")
LOST = ConnectionLostError("cut")


def text(*pieces: str) -> list[StreamEvent]:
    return [TextDelta(p) for p in pieces]


def answer(*pieces: str, reason: str = "stop") -> list[StreamEvent]:
    return [START, *text(*pieces), Finish("stop", raw_reason=reason)]


def fixed_policy(**kwargs: object) -> RetryPolicy:
    """Delays at the top of the jitter range: 1, 2, 4... seconds with base_delay=1."""
    options: dict[str, object] = {"base_delay": 1.0, "random": lambda: 0.999999}
    options.update(kwargs)
    return RetryPolicy(**options)  # type: ignore[arg-type]


def attempts(
    scheduler: TestScheduler, scripts: Sequence[tuple[list[StreamEvent], BaseException | None]]
) -> tuple[Observable[StreamEvent], list[int]]:
    """A source whose n-th subscription plays scripts[n]: events one tick apart, then the end."""
    subscriptions: list[int] = []

    def factory(_: object) -> Observable[StreamEvent]:
        n = len(subscriptions)
        subscriptions.append(n)
        events, error = scripts[min(n, len(scripts) - 1)]
        messages = [on_next(i + 1, e) for i, e in enumerate(events)]
        end = len(events) + 1
        messages.append(on_error(end, error) if error else on_completed(end))
        return scheduler.create_cold_observable(*messages)

    return reactivex.defer(factory), subscriptions


def run(
    source: Observable[StreamEvent],
    scheduler: TestScheduler,
    operator: Callable[[Observable[StreamEvent]], Observable[StreamEvent]],
    disposed: float = 1000.0,
) -> list[object]:
    observer = scheduler.start(lambda: source.pipe(operator), disposed=disposed)
    return observer.messages


def values(messages: list[object]) -> list[StreamEvent]:
    return [m.value.value for m in messages if m.value.kind == "N"]  # type: ignore[attr-defined]


def delivered_text(messages: list[object]) -> str:
    out = ""
    for event in values(messages):
        if isinstance(event, Rewind):
            out = ""
        elif isinstance(event, TextDelta):
            out += event.text
    return out


def terminal(messages: list[object]) -> object:
    return messages[-1].value  # type: ignore[attr-defined]


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (ConnectionLostError("x"), True),
        (StreamTimeoutError("idle", 1.0), True),
        (APIStatusError.for_status(429, "slow down"), True),
        (APIStatusError.for_status(529, "overloaded", in_stream=True), True),
        (APIStatusError.for_status(500, "api_error", in_stream=True), True),
        (APIStatusError.for_status(400, "bad"), False),
        (APIStatusError.for_status(401, "who"), False),
        (APIStatusError.for_status(404, "where"), False),
        (ProtocolError("malformed"), False),
        (ValueError("not ours"), False),
    ],
)
def test_is_retryable_classifies_errors(error: BaseException, expected: bool) -> None:
    assert is_retryable(error) is expected


def test_delay_grows_exponentially_with_full_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base_delay=0.5, max_delay=3.0, random=lambda: 0.5)
    assert [policy.delay(n, LOST) for n in (1, 2, 3, 4, 5)] == [0.25, 0.5, 1.0, 1.5, 1.5]


def test_delay_honours_retry_after_within_its_cap() -> None:
    policy = RetryPolicy(max_retry_after=10.0, random=lambda: 0.0)
    assert policy.delay(1, RateLimitError("x", status=429, retry_after=3.0)) == 3.0
    assert policy.delay(1, RateLimitError("x", status=429, retry_after=99.0)) == 10.0


def test_policy_rejects_nonsense() -> None:
    with pytest.raises(ValueError, match="max_attempts"):
        RetryPolicy(max_attempts=0)
    with pytest.raises(ValueError, match="base_delay"):
        RetryPolicy(base_delay=-1)
    with pytest.raises(ValueError, match="continuation"):
        retry_with_backoff(resume="continue")
    with pytest.raises(ValueError, match="resume"):
        retry_with_backoff(resume="sometimes")  # type: ignore[arg-type]


# --- restart ----------------------------------------------------------------------------------


def test_restart_skips_the_prefix_already_delivered() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(
        scheduler,
        [
            ([START, *text("Hel", "lo wo")], LOST),
            (answer("Hello", " world", "!"), None),
        ],
    )
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    events = values(messages)
    assert len(subs) == 2
    assert delivered_text(messages) == "Hello world!"
    assert [e for e in events if isinstance(e, TextDelta)] == text("Hel", "lo wo", "rld", "!")
    assert not any(isinstance(e, Rewind) for e in events)
    assert sum(isinstance(e, StreamStart) for e in events) == 1
    assert terminal(messages).kind == "C"  # type: ignore[attr-defined]


def test_restart_that_diverges_rewinds_then_delivers_the_new_answer_whole() -> None:
    scheduler = TestScheduler()
    source, _ = attempts(
        scheduler,
        [([START, *text("Hello", " there")], LOST), (answer("Hello", " world"), None)],
    )
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    events = values(messages)
    rewind = next(i for i, e in enumerate(events) if isinstance(e, Rewind))
    assert events[rewind] == Rewind(attempt=2)
    assert [e for e in events[rewind:] if isinstance(e, TextDelta)] == text("Hello", " world")
    assert delivered_text(messages) == "Hello world"


def test_restart_with_a_shorter_answer_rewinds_at_completion() -> None:
    scheduler = TestScheduler()
    source, _ = attempts(
        scheduler, [([START, *text("Hello", " world")], LOST), (answer("Hello"), None)]
    )
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    assert any(isinstance(e, Rewind) for e in values(messages))
    assert delivered_text(messages) == "Hello"


def test_backoff_delays_follow_the_policy_in_virtual_time() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [([START], LOST), ([START], LOST), (answer("ok"), None)])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    retrying = [
        (m.time, m.value.value)  # type: ignore[attr-defined]
        for m in messages
        if m.value.kind == "N" and isinstance(m.value.value, Retrying)  # type: ignore[attr-defined]
    ]
    # subscribed at 200; attempt 1 fails at +2; retry 1 waits ~1 s; attempt 2 fails 2 s later.
    assert [(t, r.attempt, round(r.delay, 3)) for t, r in retrying] == [
        (202.0, 2, 1.0),
        (pytest.approx(205.0, abs=1e-3), 3, 2.0),
    ]
    assert len(subs) == 3
    assert delivered_text(messages) == "ok"


def test_retry_after_from_the_error_sets_the_delay() -> None:
    scheduler = TestScheduler()
    limited = RateLimitError("slow", status=429, retry_after=7.0)
    source, _ = attempts(scheduler, [([], limited), (answer("ok"), None)])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    (retrying,) = [e for e in values(messages) if isinstance(e, Retrying)]
    assert retrying.delay == 7.0 and retrying.cause is limited


def test_non_retryable_error_fails_fast_with_one_attempt() -> None:
    scheduler = TestScheduler()
    bad = APIStatusError.for_status(400, "bad request")
    source, subs = attempts(scheduler, [([], bad)])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy()))
    assert len(subs) == 1
    assert terminal(messages).exception is bad  # type: ignore[attr-defined]


def test_exhausted_attempts_raise_with_every_cause() -> None:
    scheduler = TestScheduler()
    errors = [ServerError(f"boom {i}", status=500) for i in range(3)]
    source, subs = attempts(scheduler, [([START], e) for e in errors])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(max_attempts=3)))
    error = terminal(messages).exception  # type: ignore[attr-defined]
    assert isinstance(error, RetryExhaustedError)
    assert error.causes == tuple(errors)
    assert len(subs) == 3


def test_deadline_stops_retrying_before_it_would_pass() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [([], LOST)] * 10)
    policy = fixed_policy(max_attempts=10, deadline=5.0)
    messages = run(source, scheduler, retry_with_backoff(policy))
    error = terminal(messages).exception  # type: ignore[attr-defined]
    assert isinstance(error, RetryExhaustedError) and "deadline" in str(error)
    # attempts at 0, +2 (after 1 s), +5 (after 2 s); the next would wait 4 s and pass 5 s.
    assert len(subs) == 3


def test_failure_after_every_choice_finished_completes_the_stream() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [(answer("all", " there"), LOST)])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy()))
    assert terminal(messages).kind == "C"  # type: ignore[attr-defined]
    assert len(subs) == 1
    assert delivered_text(messages) == "all there"


def test_disposal_during_backoff_starts_no_new_attempt() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [([START], LOST), (answer("late"), None)])
    # attempt 1 fails at 202, the retry would start at 203: dispose at 202.5.
    messages = run(source, scheduler, retry_with_backoff(fixed_policy()), disposed=202.5)
    assert len(subs) == 1
    assert isinstance(values(messages)[-1], Retrying)


# --- none ---------------------------------------------------------------------------------------


def test_none_retries_a_failure_before_the_first_event() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [([], LOST), (answer("ok"), None)])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="none"))
    assert len(subs) == 2 and delivered_text(messages) == "ok"


def test_none_passes_on_a_failure_after_the_first_event() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [([START, *text("par")], LOST), (answer("ok"), None)])
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="none"))
    assert len(subs) == 1
    assert terminal(messages).exception is LOST  # type: ignore[attr-defined]


# --- continue -----------------------------------------------------------------------------------


def test_continue_asks_for_the_rest_of_the_partial_text_and_splices_it() -> None:
    scheduler = TestScheduler()
    source, _ = attempts(scheduler, [([START, *text("Once", " upon")], LOST)])
    partials: list[str] = []

    def continuation(partial: str) -> Observable[StreamEvent]:
        partials.append(partial)
        rest = [StreamStart("msg_2", "m"), *text(" a", " time"), Finish("stop", raw_reason="stop")]
        return scheduler.create_cold_observable(
            *[on_next(i + 1, e) for i, e in enumerate(rest)], on_completed(len(rest) + 1)
        )

    operator = retry_with_backoff(fixed_policy(), resume="continue", continuation=continuation)
    messages = run(source, scheduler, operator)
    assert partials == ["Once upon"]
    assert delivered_text(messages) == "Once upon a time"
    events = values(messages)
    assert [e for e in events if isinstance(e, StreamStart)] == [START]
    assert terminal(messages).kind == "C"  # type: ignore[attr-defined]


def test_continue_falls_back_to_restart_when_tool_calls_were_delivered() -> None:
    scheduler = TestScheduler()
    call = [ToolCallDelta(0, id="c1", name="f", arguments='{"a": 1}'), ToolCallEnd(0)]
    source, _ = attempts(
        scheduler,
        [
            ([START, *call], LOST),
            ([START, *call, Finish("tool_calls", raw_reason="tool_calls")], None),
        ],
    )
    called: list[str] = []
    operator = retry_with_backoff(
        fixed_policy(),
        resume="continue",
        continuation=lambda p: called.append(p) or reactivex.empty(),
    )
    events = values(run(source, scheduler, operator))
    assert called == []
    assert [e for e in events if isinstance(e, ToolCallDelta)] == call[:1]


# --- tool calls in flight -------------------------------------------------------------------------


def test_half_a_tool_call_is_never_delivered() -> None:
    scheduler = TestScheduler()
    first = [START, ToolCallDelta(0, id="c1", name="get", arguments='{"ci')]
    whole = [
        START,
        ToolCallDelta(0, id="c9", name="get", arguments='{"ci'),
        ToolCallDelta(0, arguments='ty": "Oslo"}'),
        ToolCallEnd(0),
        Finish("tool_calls", raw_reason="tool_calls"),
        Usage(input_tokens=3, output_tokens=5),
    ]
    source, _ = attempts(scheduler, [(first, LOST), (whole, None)])
    events = values(run(source, scheduler, retry_with_backoff(fixed_policy())))
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert "".join(d.arguments for d in deltas) == '{"city": "Oslo"}'
    assert deltas[0].id == "c9"
    assert not any(isinstance(e, Rewind) for e in events)


def test_a_completed_tool_call_is_not_repeated_on_restart() -> None:
    scheduler = TestScheduler()
    call_1 = [ToolCallDelta(0, id="a", name="f", arguments="{}"), ToolCallEnd(0)]
    call_1_again = [ToolCallDelta(0, id="b", name="f", arguments="{}"), ToolCallEnd(0)]
    call_2 = [ToolCallDelta(1, id="c", name="g", arguments='{"x": 2}'), ToolCallEnd(1)]
    finish = Finish("tool_calls", raw_reason="tool_calls")
    source, _ = attempts(
        scheduler,
        [([START, *call_1, call_2[0]], LOST), ([START, *call_1_again, *call_2, finish], None)],
    )
    events = values(run(source, scheduler, retry_with_backoff(fixed_policy())))
    assert [e.id for e in events if isinstance(e, ToolCallDelta)] == ["a", "c"]
    assert events[-1] == finish


def test_open_calls_are_released_when_the_choice_finishes_without_end_events() -> None:
    scheduler = TestScheduler()
    stream = [
        START,
        ToolCallDelta(0, id="a", name="f", arguments="{}"),
        Finish("tool_calls", raw_reason="tool_calls"),
    ]
    source, _ = attempts(scheduler, [(stream, None)])
    events = values(run(source, scheduler, retry_with_backoff(fixed_policy())))
    assert events == stream
