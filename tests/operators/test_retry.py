"""retry_with_backoff under virtual time: policy, timing, resume modes, wiring to the ledger.

What of each attempt goes downstream is the ledger's rule, tested as a plain step function in
``tests/fold/test_retry_ledger.py``; here the same rules are checked through the operator.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Sequence
from typing import get_args

import pytest
import reactivex
from reactivex import Observable, abc
from reactivex.scheduler import CurrentThreadScheduler, ImmediateScheduler
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
    ReasoningDelta,
    Retrying,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.operators.retry import (
    DEFAULT_RESUME,
    RESUME_MODES,
    ResumeMode,
    RetryPolicy,
    check_resume,
    is_retryable,
    retry_with_backoff,
)
from streamkit.server import answer_for

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
    with pytest.raises(ValueError, match="resume"):
        retry_with_backoff(resume="sometimes")  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="policy"):
        retry_with_backoff(3)  # type: ignore[arg-type]


# --- the resume mode: one default, one check ----------------------------------------------------


def test_resume_defaults_to_continue_once() -> None:
    default = inspect.signature(retry_with_backoff).parameters["resume"].default
    assert default == DEFAULT_RESUME == "continue"
    assert RESUME_MODES == get_args(ResumeMode) == ("continue", "restart", "none")


@pytest.mark.parametrize("mode", ["continue", "restart", "none"])
def test_check_resume_returns_a_valid_mode(mode: str) -> None:
    assert check_resume(mode) == mode


@pytest.mark.parametrize("bad", ["sometimes", "", "Continue", None, ["continue"]])
def test_check_resume_rejects_anything_else_with_the_modes_listed(bad: object) -> None:
    expected = f"resume must be 'continue', 'restart' or 'none', got {bad!r}"
    with pytest.raises(ValueError) as raised:
        check_resume(bad)
    assert str(raised.value) == expected


def test_continue_without_a_continuation_resubscribes_and_resumes_like_restart() -> None:
    scripts: list[tuple[list[StreamEvent], BaseException | None]] = [
        ([START, *text("Hel", "lo wo")], LOST),
        (answer("Hello", " there"), None),
    ]
    outcomes = []
    for mode in ("continue", "restart"):
        scheduler = TestScheduler()
        source, subs = attempts(scheduler, scripts)
        messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume=mode))
        outcomes.append((values(messages), len(subs)))
    (continued, subscriptions), restarted = outcomes
    assert (continued, subscriptions) == restarted
    assert subscriptions == 2
    assert [e.continued for e in continued if isinstance(e, Retrying)] == [False]
    assert any(isinstance(e, Rewind) for e in continued)  # " there" diverges from "lo wo"


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


# --- repeated failures: the baseline is everything delivered so far ------------------------------


def test_restart_after_two_failures_in_a_row_repeats_nothing() -> None:
    scheduler = TestScheduler()
    source, subs = attempts(
        scheduler,
        [
            ([START, *text("Hello wor")], LOST),
            ([START, *text("Hel")], LOST),
            (answer("Hello world!"), None),
        ],
    )
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    events = values(messages)
    assert len(subs) == 3
    assert [e for e in events if isinstance(e, TextDelta)] == text("Hello wor", "ld!")
    assert not any(isinstance(e, Rewind) for e in events)
    assert delivered_text(messages) == "Hello world!"


def test_restart_after_a_partial_replay_that_diverges_rewinds_everything_shown() -> None:
    scheduler = TestScheduler()
    source, _ = attempts(
        scheduler,
        [
            ([START, *text("Hello wor")], LOST),
            ([START, *text("Hel")], LOST),
            (answer("Help!"), None),
        ],
    )
    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))
    events = values(messages)
    assert [e for e in events if isinstance(e, Rewind)] == [Rewind(attempt=3)]
    assert delivered_text(messages) == "Help!"


def test_continue_that_falls_back_to_restart_twice_repeats_nothing() -> None:
    scheduler = TestScheduler()
    think = ReasoningDelta("hmm")
    source, _ = attempts(
        scheduler,
        [
            ([START, think, *text("Hello wor")], LOST),
            ([START, think, *text("Hel")], LOST),
            ([START, think, *answer("Hello world!")[1:]], None),
        ],
    )
    called: list[str] = []
    operator = retry_with_backoff(
        fixed_policy(),
        resume="continue",
        continuation=lambda p: called.append(p) or reactivex.empty(),
    )
    messages = run(source, scheduler, operator)
    events = values(messages)
    assert called == []
    assert [e for e in events if isinstance(e, ReasoningDelta)] == [think]
    assert [e for e in events if isinstance(e, TextDelta)] == text("Hello wor", "ld!")
    assert delivered_text(messages) == "Hello world!"


def test_a_finish_matched_by_an_attempt_that_failed_is_not_repeated() -> None:
    scheduler = TestScheduler()
    second = StreamStart("msg_1", "m", choice=1)
    done_0 = Finish("stop", raw_reason="stop")
    done_1 = Finish("stop", raw_reason="stop", choice=1)
    source, _ = attempts(
        scheduler,
        [
            ([START, second, TextDelta("A"), done_0, TextDelta("B", choice=1)], LOST),
            ([START, second, TextDelta("A")], LOST),
            ([START, second, TextDelta("A"), done_0, TextDelta("BC", choice=1), done_1], None),
        ],
    )
    events = values(run(source, scheduler, retry_with_backoff(fixed_policy())))
    content = [e for e in events if not isinstance(e, Retrying)]
    assert content == [
        START,
        second,
        TextDelta("A"),
        done_0,
        TextDelta("B", choice=1),
        TextDelta("C", choice=1),
        done_1,
    ]


# --- synchronous schedulers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "timer", [ImmediateScheduler(), CurrentThreadScheduler()], ids=["immediate", "current_thread"]
)
def test_a_backoff_timer_that_runs_inline_does_not_stall_the_retry(
    timer: abc.SchedulerBase,
) -> None:
    scheduler = TestScheduler()
    source, subs = attempts(scheduler, [([START, *text("Hel")], LOST), (answer("Hello"), None)])
    policy = fixed_policy(base_delay=0.0)
    messages = run(source, scheduler, retry_with_backoff(policy, scheduler=timer))
    assert len(subs) == 2
    assert delivered_text(messages) == "Hello"
    assert terminal(messages).kind == "C"  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "timer", [ImmediateScheduler(), CurrentThreadScheduler()], ids=["immediate", "current_thread"]
)
def test_a_synchronous_source_is_retried_inline(timer: abc.SchedulerBase) -> None:
    tries: list[int] = []

    def factory(_: object) -> Observable[StreamEvent]:
        tries.append(1)
        if len(tries) < 3:
            return reactivex.concat(reactivex.from_iterable(text("x")), reactivex.throw(LOST))
        return reactivex.from_iterable(answer("xy"))

    received: list[StreamEvent] = []
    completed: list[bool] = []
    reactivex.defer(factory).pipe(
        retry_with_backoff(fixed_policy(base_delay=0.0), scheduler=timer)
    ).subscribe(received.append, on_completed=lambda: completed.append(True))
    assert len(tries) == 3 and completed == [True]
    assert "".join(e.text for e in received if isinstance(e, TextDelta)) == "xy"


# --- continuation after trailing whitespace -------------------------------------------------------


def continued(
    scheduler: TestScheduler,
    first: list[StreamEvent],
    rest: list[StreamEvent],
    carried: Callable[[str], str] | None = str.rstrip,
) -> tuple[list[object], list[str]]:
    """Attempt 1 plays ``first`` then fails; the continuation, whose request carries
    ``carried(partial)`` (as an Anthropic prefill by default), plays ``rest`` and completes."""
    source, _ = attempts(scheduler, [(first, LOST)])
    partials: list[str] = []

    def continuation(partial: str) -> Observable[StreamEvent]:
        partials.append(partial)
        events = [StreamStart("msg_2", "m"), *rest]
        return scheduler.create_cold_observable(
            *[on_next(i + 1, e) for i, e in enumerate(events)], on_completed(len(events) + 1)
        )

    operator = retry_with_backoff(
        fixed_policy(), resume="continue", continuation=continuation, carried=carried
    )
    return run(source, scheduler, operator), partials


@pytest.mark.parametrize(
    ("shown", "rest", "expected"),
    [
        ("Hello ", [" world"], ["world"]),
        ("Hello ", ["world"], ["world"]),
        ("Hello ", [" ", "world"], ["world"]),
        ("Hello\n\n", ["\n", "\nworld"], ["world"]),
        ("Hello\n\n", ["\n", "world"], ["world"]),
        ("Hello ", ["  world"], [" world"]),
        ("Hello", [" world"], [" world"]),
        ("Hello ", ["", " world", " again"], ["world", " again"]),
    ],
)
def test_continue_skips_the_whitespace_the_prefill_left_out(
    shown: str, rest: list[str], expected: list[str]
) -> None:
    scheduler = TestScheduler()
    messages, partials = continued(scheduler, [START, *text(shown)], [*text(*rest)])
    assert partials == [shown]
    delivered = [e.text for e in values(messages) if isinstance(e, TextDelta)]
    assert delivered == [shown, *expected]


@pytest.mark.parametrize("carried", [None, get_format("openai").continuation_prefix])
def test_continue_keeps_whitespace_the_request_carried(
    carried: Callable[[str], str] | None,
) -> None:
    scheduler = TestScheduler()
    messages, _ = continued(scheduler, [START, *text("First.\n")], [*text("\nSecond.")], carried)
    assert delivered_text(messages) == "First.\n\nSecond."


def test_a_continuation_that_fails_to_start_is_a_failed_attempt() -> None:
    scheduler = TestScheduler()
    source, _ = attempts(scheduler, [([START, *text("Hi")], LOST)])

    def continuation(partial: str) -> Observable[StreamEvent]:
        raise ValueError("no such model")

    operator = retry_with_backoff(fixed_policy(), resume="continue", continuation=continuation)
    messages = run(source, scheduler, operator)
    assert isinstance(messages[-1].value.exception, ValueError)  # type: ignore[attr-defined]


def test_anthropic_prefill_never_ends_in_whitespace() -> None:
    fmt = get_format("anthropic")
    user = {"role": "user", "content": "q"}
    body = {"model": "m", "messages": [user]}
    assert fmt.continuation_body(body, "Hello \n")["messages"][-1] == {
        "role": "assistant",
        "content": "Hello",
    }
    prefilled = {**body, "messages": [user, {"role": "assistant", "content": "Sure: "}]}
    assert fmt.continuation_body(prefilled, "")["messages"][-1]["content"] == "Sure:"
    assert fmt.continuation_body(body, " \n")["messages"] == [user]


@pytest.mark.parametrize("name", ["anthropic", "openai"])
def test_continue_after_whitespace_with_the_embedded_servers_script(name: str) -> None:
    fmt = get_format(name)
    body = {"model": "m", "messages": [{"role": "user", "content": "Tell me about rivers."}]}
    whole = answer_for(body)
    cut = whole.index(" ", 20) + 1
    scheduler = TestScheduler()
    requests: list[dict[str, object]] = []

    def continuation(partial: str) -> Observable[StreamEvent]:
        request = fmt.continuation_body(body, partial)
        requests.append(request)
        events = [START, TextDelta(answer_for(request)), Finish("stop", raw_reason="stop")]
        return scheduler.create_cold_observable(
            *[on_next(i + 1, e) for i, e in enumerate(events)], on_completed(len(events) + 1)
        )

    source, _ = attempts(scheduler, [([START, TextDelta(whole[:cut])], LOST)])
    operator = retry_with_backoff(
        fixed_policy(),
        resume="continue",
        continuation=continuation,
        carried=fmt.continuation_prefix,
    )
    messages = run(source, scheduler, operator)
    assert delivered_text(messages) == whole
    if name == "anthropic":
        (request,) = requests
        prefill = request["messages"][-1]["content"]  # type: ignore[index]
        assert prefill == whole[: cut - 1]


def test_a_finish_voided_by_a_rewind_no_longer_counts() -> None:
    scheduler = TestScheduler()
    start_1 = StreamStart("msg_1", "m", choice=1)
    finish_0, finish_1 = Finish("stop", "stop"), Finish("stop", "stop", choice=1)
    first = [START, start_1, TextDelta("Alpha"), finish_0, TextDelta("Be", choice=1)]
    diverging = [START, start_1, TextDelta("Gamma"), TextDelta("Beta", choice=1), finish_1]
    whole = [START, start_1, TextDelta("Gamma"), TextDelta("Beta", choice=1), finish_1, finish_0]
    source, subscriptions = attempts(scheduler, [(first, LOST), (diverging, LOST), (whole, None)])

    messages = run(source, scheduler, retry_with_backoff(fixed_policy(), resume="restart"))

    assert len(subscriptions) == 3  # the second attempt ended before choice 0 finished again
    message = build_message(values(messages))
    assert [(c.text, c.finish_reason) for c in message.choices] == [
        ("Gamma", "stop"),
        ("Beta", "stop"),
    ]
