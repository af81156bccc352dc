"""RetryLedger as a plain step function: each rule of ``streamkit/fold/retry_ledger.py`` by name.

No Rx, no scheduler: attempts are lists of events fed to ``step``; a failure is simply the next
``begin_attempt`` / ``begin_continuation`` without ``end_attempt``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from itertools import pairwise

import pytest
from hypothesis import given
from hypothesis import strategies as st

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
    Usage,
)
from streamkit.fold.retry_ledger import RetryLedger

START = StreamStart("msg_1", "m")
START_1 = StreamStart("msg_1", "m", choice=1)
STOP = Finish("stop", raw_reason="stop")
STOP_1 = Finish("stop", raw_reason="stop", choice=1)
TOOLS = Finish("tool_calls", raw_reason="tool_calls")


def text(*pieces: str, choice: int = 0) -> list[StreamEvent]:
    return [TextDelta(p, choice=choice) for p in pieces]


def call(index: int, call_id: str, name: str, *arguments: str) -> list[StreamEvent]:
    """A tool call's fragments: the first names it, the rest carry more arguments."""
    first, *rest = arguments or ("{}",)
    deltas = [ToolCallDelta(index, id=call_id, name=name, arguments=first)]
    return [*deltas, *(ToolCallDelta(index, arguments=a) for a in rest)]


def feed(ledger: RetryLedger, events: Iterable[StreamEvent], attempt: int) -> list[StreamEvent]:
    """Everything the ledger sends downstream for ``events`` of one attempt."""
    return [out for event in events for out in ledger.step(event, attempt)]


def complete(ledger: RetryLedger, events: Iterable[StreamEvent], attempt: int) -> list[StreamEvent]:
    """``feed``, then the attempt completes."""
    return feed(ledger, events, attempt) + ledger.end_attempt(attempt)


def sent_text(events: Sequence[StreamEvent], choice: int = 0) -> str:
    return "".join(e.text for e in events if isinstance(e, TextDelta) and e.choice == choice)


def shown(events: Sequence[StreamEvent], choice: int = 0) -> str:
    """The answer text a consumer holds that discards everything at a ``Rewind``."""
    held = ""
    for event in events:
        if isinstance(event, Rewind):
            held = ""
        elif isinstance(event, TextDelta) and event.choice == choice:
            held += event.text
    return held


def rewinds(events: Sequence[StreamEvent]) -> list[StreamEvent]:
    return [e for e in events if isinstance(e, Rewind)]


def splits(whole: str) -> st.SearchStrategy[list[str]]:
    """``whole`` cut into non-empty pieces at arbitrary places."""
    if len(whole) < 2:
        return st.just([whole] if whole else [])
    cuts = st.sets(st.integers(1, len(whole) - 1), max_size=len(whole) - 1)
    bounds = cuts.map(lambda c: [0, *sorted(c), len(whole)])
    return bounds.map(lambda b: [whole[i:j] for i, j in pairwise(b)])


# --- a stream without failures passes whole ---------------------------------------------------


def test_a_stream_without_failures_passes_unchanged() -> None:
    stream = [
        START,
        ReasoningDelta("think"),
        *text("Hel", "lo"),
        RefusalDelta("no"),
        *call(0, "c1", "f", '{"a"', ": 1}"),
        ToolCallEnd(0),
        STOP,
        Usage(input_tokens=1, output_tokens=2),
    ]
    ledger = RetryLedger()
    assert complete(ledger, stream, 1) == stream
    assert ledger.complete


def test_pass_through_events_are_sent_unrecorded() -> None:
    ledger = RetryLedger()
    usage, retrying = Usage(output_tokens=3), Retrying(2, 0.5, ConnectionError("x"))
    assert feed(ledger, [usage, retrying, Rewind(1)], 1) == [usage, retrying, Rewind(1)]
    assert not ledger.delivered_anything
    assert ledger.partial_text() == ""


# --- restart: nothing repeated --------------------------------------------------------------------


def test_restart_skips_text_already_delivered() -> None:
    ledger = RetryLedger()
    assert feed(ledger, [START, *text("Hel", "lo wo")], 1) == [START, *text("Hel", "lo wo")]
    ledger.begin_attempt()
    out = complete(ledger, [START, *text("Hello", " world", "!"), STOP], 2)
    assert out == [*text("rld", "!"), STOP]


def test_restart_compares_text_across_pieces_longer_than_the_merge_size() -> None:
    long = "".join(f"{i:05d} " for i in range(400))  # 2400 characters, delivered in many pieces
    ledger = RetryLedger()
    feed(ledger, [START, *text(*(long[i : i + 300] for i in range(0, len(long), 300)))], 1)
    ledger.begin_attempt()
    resent = [long[i : i + 7] for i in range(0, len(long), 7)]
    assert feed(ledger, [START, *text(*resent)], 2) == []
    assert feed(ledger, text("more"), 2) == text("more")


def test_restart_sends_the_new_part_of_an_event_that_runs_past_what_was_delivered() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Hello wor")], 1)
    ledger.begin_attempt()
    assert feed(ledger, [START, *text("Hello world!")], 2) == text("ld!")


def test_restart_skips_a_tool_call_already_delivered_despite_its_new_id() -> None:
    ledger = RetryLedger()
    first = feed(ledger, [START, *call(0, "a", "f", '{"x":', " 1}"), ToolCallEnd(0)], 1)
    assert [e.id for e in first if isinstance(e, ToolCallDelta)] == ["a", None]
    ledger.begin_attempt()
    again = [START, *call(0, "b", "f", '{"x": 1}'), ToolCallEnd(0), *call(1, "c", "g"), TOOLS]
    out = complete(ledger, again, 2)
    assert [e.id for e in out if isinstance(e, ToolCallDelta)] == ["c"]
    assert out[-1] == TOOLS and not rewinds(out)


def test_restart_skips_a_finish_already_delivered() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, START_1, *text("A"), STOP, *text("B", choice=1)], 1)
    ledger.begin_attempt()
    out = complete(ledger, [START, START_1, *text("A"), STOP, *text("BC", choice=1), STOP_1], 2)
    assert out == [*text("C", choice=1), STOP_1]


def test_stream_start_is_sent_once_per_choice() -> None:
    ledger = RetryLedger()
    assert feed(ledger, [START, *text("a")], 1) == [START, *text("a")]
    ledger.begin_attempt()
    out = feed(ledger, [START, START_1, *text("a"), *text("b", choice=1)], 2)
    assert out == [START_1, *text("b", choice=1)]


# --- restart: divergence --------------------------------------------------------------------------


def test_restart_divergence_emits_rewind_then_new_answer() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Hello", " there")], 1)
    ledger.begin_attempt()
    assert feed(ledger, [START, *text("Hello")], 2) == []  # agrees so far: swallowed
    assert feed(ledger, text(" world"), 2) == [Rewind(2), *text("Hello", " world")]
    assert feed(ledger, text("!"), 2) == text("!")  # one rewind per attempt at most


def test_restart_divergence_inside_one_event_sends_the_event_whole() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Hello")], 1)
    ledger.begin_attempt()
    assert feed(ledger, [START, *text("Help!")], 2) == [Rewind(2), *text("Help!")]


def test_restart_with_a_shorter_answer_rewinds_when_the_attempt_completes() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Hello", " world")], 1)
    ledger.begin_attempt()
    assert feed(ledger, [START, *text("Hello")], 2) == []
    assert ledger.end_attempt(2) == [Rewind(2), *text("Hello")]


@pytest.mark.parametrize(
    "other",
    [
        ReasoningDelta("Hello"),
        RefusalDelta("Hello"),
        TextDelta("Hello", choice=1),
        Finish("length", raw_reason="length"),
        ToolCallDelta(0, id="x", name="f", arguments="{}"),
    ],
    ids=["reasoning", "refusal", "other-choice", "finish", "tool-call"],
)
def test_restart_with_another_kind_of_content_rewinds(other: StreamEvent) -> None:
    ledger = RetryLedger()
    feed(ledger, [START, START_1, *text("Hello")], 1)
    ledger.begin_attempt()
    out = complete(ledger, [START, START_1, other], 2)
    assert out[0] == Rewind(2)
    assert other in out and shown(out) == ""


def test_restart_with_another_tool_call_rewinds_and_sends_it_whole() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *call(0, "a", "f", '{"x": 1}'), ToolCallEnd(0)], 1)
    ledger.begin_attempt()
    new_call = [*call(0, "b", "f", '{"x":', " 2}"), ToolCallEnd(0)]
    assert feed(ledger, [START, *new_call], 2) == [Rewind(2), *new_call]


@given(data=st.data(), earlier=st.text("ab ", max_size=12), answer=st.text("ab ", max_size=12))
def test_after_a_restart_the_consumer_holds_exactly_the_new_answer(
    data: st.DataObject, earlier: str, answer: str
) -> None:
    cut = data.draw(st.integers(0, len(earlier)), label="cut")
    ledger = RetryLedger()
    out = feed(ledger, [START, *text(*data.draw(splits(earlier[:cut]), label="first"))], 1)
    ledger.begin_attempt()
    pieces = data.draw(splits(answer), label="second")
    retried = complete(ledger, [START, *text(*pieces)], 2)
    assert shown(out + retried) == answer
    if answer.startswith(earlier[:cut]):  # nothing to take back: nothing repeated either
        assert not rewinds(retried)
        assert sent_text(retried) == answer[cut:]
    else:
        assert rewinds(retried) == [Rewind(2)]


# --- continue -------------------------------------------------------------------------------------


def test_continue_appends_without_comparing() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Once", " upon")], 1)
    partial = ledger.partial_text()
    assert partial == "Once upon"
    ledger.begin_continuation(partial, partial)
    out = complete(ledger, [StreamStart("msg_2", "m"), *text("Once", " a time"), STOP], 2)
    assert out == [*text("Once", " a time"), STOP]  # even text that looks repeated is new
    assert ledger.complete


@pytest.mark.parametrize(
    ("shown_before", "rest", "expected"),
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
def test_continue_appends_and_skips_repeated_whitespace(
    shown_before: str, rest: list[str], expected: list[str]
) -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text(shown_before)], 1)
    ledger.begin_continuation(shown_before, shown_before.rstrip())  # as an Anthropic prefill
    out = complete(ledger, text(*rest), 2)
    assert [e.text for e in out if isinstance(e, TextDelta)] == expected


def test_continue_keeps_whitespace_the_request_carried() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("First.\n")], 1)
    ledger.begin_continuation("First.\n", "First.\n")
    assert feed(ledger, text("\nSecond."), 2) == text("\nSecond.")


def test_continue_stops_skipping_whitespace_at_other_content() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Hello ")], 1)
    ledger.begin_continuation("Hello ", "Hello")
    think = ReasoningDelta("hmm")
    assert feed(ledger, [think, *text(" world")], 2) == [think, *text(" world")]


@given(data=st.data(), before=st.text("ab ", max_size=10), after=st.text("ab ", max_size=10))
def test_after_a_continuation_the_consumer_holds_the_partial_text_then_the_rest(
    data: st.DataObject, before: str, after: str
) -> None:
    ledger = RetryLedger()
    out = feed(ledger, [START, *text(*data.draw(splits(before), label="first"))], 1)
    ledger.begin_continuation(before, before)
    out += complete(ledger, [START, *text(*data.draw(splits(after), label="rest"))], 2)
    assert shown(out) == before + after and not rewinds(out)


@pytest.mark.parametrize(
    "delivered",
    [
        [ReasoningDelta("hmm"), *text("a")],
        [RefusalDelta("no")],
        [*text("a"), *text("b", choice=1)],
        [*call(0, "c", "f"), ToolCallEnd(0)],
        [*text("a"), STOP],
    ],
    ids=["reasoning", "refusal", "other-choice", "tool-call", "finish"],
)
def test_partial_text_is_none_unless_only_answer_text_of_choice_0_was_delivered(
    delivered: list[StreamEvent],
) -> None:
    ledger = RetryLedger()
    feed(ledger, [START, START_1, *delivered], 1)
    assert ledger.partial_text() is None


def test_partial_text_joins_everything_delivered() -> None:
    ledger = RetryLedger()
    assert ledger.partial_text() == ""
    pieces = [f"{i} " for i in range(1000)]
    feed(ledger, [START, *text(*pieces)], 1)
    assert ledger.partial_text() == "".join(pieces)


# --- tool calls are held back until complete ------------------------------------------------------


def test_tool_call_fragments_held_until_end() -> None:
    ledger = RetryLedger()
    fragments = call(0, "c1", "get", '{"ci', 'ty": "Oslo"}')
    assert feed(ledger, [START, *fragments], 1) == [START]
    assert ledger.step(ToolCallEnd(0), 1) == [*fragments, ToolCallEnd(0)]


def test_tool_call_fragments_released_before_their_choices_finish() -> None:
    ledger = RetryLedger()
    own, other = call(0, "a", "f"), [ToolCallDelta(0, id="b", name="g", choice=1)]
    assert feed(ledger, [START, START_1, *own, *other], 1) == [START, START_1]
    assert ledger.step(STOP, 1) == [*own, STOP]  # choice 1's call stays held
    assert ledger.end_attempt(1) == other


def test_open_tool_calls_released_when_the_attempt_completes() -> None:
    ledger = RetryLedger()
    first, second = call(1, "b", "g"), call(0, "a", "f")
    assert feed(ledger, [START, *first, *second], 1) == [START]
    assert ledger.end_attempt(1) == [*second, *first]  # by index


def test_half_a_tool_call_is_dropped_when_the_next_attempt_begins() -> None:
    ledger = RetryLedger()
    assert feed(ledger, [START, *call(0, "c1", "get", '{"ci')], 1) == [START]
    ledger.begin_attempt()
    whole = [*call(0, "c9", "get", '{"ci', 'ty": "Oslo"}'), ToolCallEnd(0)]
    out = complete(ledger, [START, *whole, TOOLS], 2)
    assert out == [*whole, TOOLS]


# --- completion -----------------------------------------------------------------------------------


def test_complete_after_every_choice_finished() -> None:
    ledger = RetryLedger()
    assert not ledger.complete  # no choice started yet
    feed(ledger, [START, START_1, *text("a"), STOP], 1)
    assert not ledger.complete  # choice 1 is still open
    feed(ledger, [*text("b", choice=1), STOP_1], 1)
    assert ledger.complete


def test_a_finish_voided_by_a_rewind_no_longer_counts() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, START_1, *text("Alpha"), STOP, *text("Be", choice=1)], 1)
    ledger.begin_attempt()
    out = feed(ledger, [START, START_1, *text("Gamma"), *text("Beta", choice=1), STOP_1], 2)
    assert out[0] == Rewind(2)
    assert not ledger.complete  # choice 0's finish was shown before the rewind
    feed(ledger, [STOP], 2)
    assert ledger.complete


def test_delivered_anything_counts_a_started_choice() -> None:
    ledger = RetryLedger()
    assert not ledger.delivered_anything
    feed(ledger, [START], 1)
    assert ledger.delivered_anything


# --- several failures, several choices ------------------------------------------------------------


def test_two_failures_in_a_row_repeat_nothing() -> None:
    ledger = RetryLedger()
    assert sent_text(feed(ledger, [START, *text("Hello wor")], 1)) == "Hello wor"
    ledger.begin_attempt()
    assert feed(ledger, [START, *text("Hel")], 2) == []  # fails while still behind
    ledger.begin_attempt()
    assert complete(ledger, [START, *text("Hello world!"), STOP], 3) == [*text("ld!"), STOP]


def test_two_failures_then_a_divergence_rewinds_everything_shown() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Hello wor")], 1)
    ledger.begin_attempt()
    feed(ledger, [START, *text("Hel")], 2)
    ledger.begin_attempt()
    out = complete(ledger, [START, *text("Help!"), STOP], 3)
    assert out == [Rewind(3), *text("Help!"), STOP]


def test_a_continuation_that_fails_is_continued_from_everything_delivered() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, *text("Once")], 1)
    ledger.begin_continuation("Once", "Once")
    feed(ledger, [START, *text(" upon")], 2)
    partial = ledger.partial_text()
    assert partial == "Once upon"
    ledger.begin_continuation(partial, partial)
    assert complete(ledger, [START, *text(" a time"), STOP], 3) == [*text(" a time"), STOP]


def test_tool_calls_matched_by_an_attempt_that_failed_are_not_repeated() -> None:
    ledger = RetryLedger()
    both = [*call(0, "a", "f"), ToolCallEnd(0), *call(1, "b", "g"), ToolCallEnd(1)]
    feed(ledger, [START, *both], 1)
    ledger.begin_attempt()
    assert feed(ledger, [START, *call(0, "c", "f"), ToolCallEnd(0)], 2) == []
    ledger.begin_attempt()
    again = [*call(0, "d", "f"), ToolCallEnd(0), *call(1, "e", "g"), ToolCallEnd(1), TOOLS]
    assert complete(ledger, [START, *again], 3) == [TOOLS]


def test_n_choices_each_resume_where_they_were() -> None:
    ledger = RetryLedger()
    first = [START, START_1, *text("a"), *text("x", choice=1), *text("b"), *text("y", choice=1)]
    feed(ledger, first, 1)
    ledger.begin_attempt()
    again = [*first, *text("c"), *text("z", choice=1), STOP, STOP_1]
    out = complete(ledger, again, 2)
    assert out == [*text("c"), *text("z", choice=1), STOP, STOP_1]
    assert ledger.complete


def test_n_choices_divergence_in_one_rewinds_all() -> None:
    ledger = RetryLedger()
    feed(ledger, [START, START_1, *text("a"), *text("x", choice=1)], 1)
    ledger.begin_attempt()
    out = complete(ledger, [START, START_1, *text("a"), *text("w", choice=1), STOP, STOP_1], 2)
    assert out == [Rewind(2), *text("a"), *text("w", choice=1), STOP, STOP_1]
    assert (shown(out), shown(out, choice=1)) == ("a", "w")
