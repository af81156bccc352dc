"""text / smooth: the unit splitter as plain code, the operators under virtual time."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex import Observable
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing
from reactivex.testing.recorded import Recorded

from streamkit.events import Finish, Rewind, StreamEvent, StreamStart, TextDelta
from streamkit.operators.base import Operator
from streamkit.operators.text import Unit, smooth, split_units, text
from tests.operators._recording_scheduler import RecordingScheduler

on_next, on_error, on_completed = (
    ReactiveTest.on_next,
    ReactiveTest.on_error,
    ReactiveTest.on_completed,
)

BOOM = RuntimeError("boom")
SUBSCRIBED = 200


def run(
    messages: list[Recorded[Any]],
    operator: Operator[Any, str],
    disposed: float = 1000.0,
    scheduler: TestScheduler | None = None,
) -> list[Recorded[Any]]:
    """Play ``messages`` through ``operator``; ticks count from the subscription."""
    scheduler = scheduler or TestScheduler()
    source = scheduler.create_cold_observable(*messages)
    observer = scheduler.start(
        lambda: source.pipe(operator),
        created=100,
        subscribed=SUBSCRIBED,
        disposed=SUBSCRIBED + disposed,
    )
    return [Recorded(m.time - SUBSCRIBED, m.value) for m in observer.messages]


def joined(messages: list[Recorded[Any]]) -> str:
    return "".join(m.value.value for m in messages if m.value.kind == "N")


# --- split_units ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("buffered", "unit", "units", "tail"),
    [
        ("Hello wor", "words", ["Hello"], " wor"),
        ("Hello world ", "words", ["Hello", " world"], " "),
        ("  two  spaces x", "words", ["  two", "  spaces"], " x"),
        ("", "words", [], ""),
        ("   ", "words", [], "   "),
        ("word", "words", [], "word"),
        ("a\nb\n\nc", "lines", ["a\n", "b\n", "\n"], "c"),
        ("no end", "lines", [], "no end"),
        ("x\r\ny\n", "lines", ["x\r\n", "y\n"], ""),
    ],
)
def test_split_units_cuts_whole_units_and_keeps_the_tail(
    buffered: str, unit: Unit, units: list[str], tail: str
) -> None:
    assert split_units(buffered, unit) == (units, tail)


@given(st.text(alphabet="ab \n\t"), st.sampled_from(["words", "lines"]))
def test_split_units_loses_nothing(buffered: str, unit: Unit) -> None:
    units, tail = split_units(buffered, unit)
    assert "".join(units) + tail == buffered
    assert all(units)


# --- text ----------------------------------------------------------------------------------------


def test_text_keeps_only_the_chosen_choice() -> None:
    messages = run(
        [
            on_next(1, StreamStart("m", "x")),
            on_next(2, TextDelta("a")),
            on_next(3, TextDelta("b", choice=1)),
            on_next(4, TextDelta("")),
            on_next(5, TextDelta("c")),
            on_next(6, Finish("stop", "stop")),
            on_error(7, BOOM),
        ],
        text(),
    )
    assert messages == [on_next(2, "a"), on_next(5, "c"), on_error(7, BOOM)]
    assert run([on_next(1, TextDelta("b", choice=1)), on_completed(2)], text(choice=1)) == [
        on_next(1, "b"),
        on_completed(2),
    ]


# --- smooth without pacing -----------------------------------------------------------------------


def test_smooth_docstring_marble_words() -> None:
    with marbles_testing(timespan=1.0) as (start, cold, _hot, exp):
        pieces = {"a": TextDelta("Hel"), "b": TextDelta("lo wor"), "c": TextDelta("ld")}
        source: Observable[str | StreamEvent] = cold("-a-b-c-|", pieces)
        expected = exp("---x---(y,|)", {"x": "Hello", "y": " world"})
        assert start(source.pipe(smooth())) == expected


def test_smooth_lines_accepts_strings_and_flushes_the_tail_before_an_error() -> None:
    messages = run(
        [on_next(1, "one\ntw"), on_next(2, "o\nthr"), on_next(3, "ee"), on_error(4, BOOM)],
        smooth("lines"),
    )
    assert messages == [
        on_next(1, "one\n"),
        on_next(2, "two\n"),
        on_next(4, "three"),
        on_error(4, BOOM),
    ]


def test_smooth_ignores_other_events_and_choices_and_rewind_drops_the_tail() -> None:
    messages = run(
        [
            on_next(1, StreamStart("m", "x")),
            on_next(2, TextDelta("abandoned wo")),
            on_next(3, Rewind(2)),
            on_next(4, TextDelta("ignored ", choice=1)),
            on_next(5, TextDelta("fresh start")),
            on_completed(6),
        ],
        smooth(),
    )
    assert messages == [
        on_next(2, "abandoned"),
        on_next(5, "fresh"),
        on_next(6, " start"),
        on_completed(6),
    ]


def test_smooth_output_joins_to_the_input() -> None:
    pieces = ["The qu", "ick  br", "own\nfox", " ", "", "jum", "ps.\n"]
    messages = run([*(on_next(i + 1, p) for i, p in enumerate(pieces)), on_completed(20)], smooth())
    assert joined(messages) == "".join(pieces)
    assert [m.value.value for m in messages if m.value.kind == "N"] == [
        "The",
        " quick",
        "  brown",
        "\nfox",
        " jumps.",
        "\n",
    ]


# --- smooth with pacing --------------------------------------------------------------------------


def test_paced_docstring_marble() -> None:
    with marbles_testing(timespan=1.0) as (start, cold, _hot, exp):
        source: Observable[str | StreamEvent] = cold("-p----|", {"p": "a b c "})
        expected = exp("-a-b-c-(d,|)", {"a": "a", "b": " b", "c": " c", "d": " "})
        assert start(source.pipe(smooth(interval=2.0))) == expected


def test_paced_units_keep_the_pace_across_pieces_and_idle_gaps() -> None:
    messages = run(
        [on_next(1, "a b "), on_next(2, "c "), on_next(20, "d e "), on_completed(21)],
        smooth(interval=3.0),
    )
    assert messages == [
        on_next(1, "a"),
        on_next(4, " b"),
        on_next(7, " c"),
        on_next(20, " d"),  # idle for long enough: at once
        on_next(23, " e"),
        on_next(26, " "),
        on_completed(26),
    ]


def test_paced_completion_waits_for_the_queue_and_error_too() -> None:
    messages = run([on_next(1, "x y z"), on_error(2, BOOM)], smooth(interval=5.0))
    assert messages == [
        on_next(1, "x"),
        on_next(6, " y"),
        on_next(11, " z"),
        on_error(11, BOOM),
    ]


def test_paced_completion_with_nothing_queued_is_not_delayed_by_the_pace() -> None:
    assert run([on_next(1, "x\n"), on_completed(2)], smooth("lines", interval=5.0)) == [
        on_next(1, "x\n"),
        on_completed(2),
    ]


def test_paced_tail_left_at_completion_waits_for_its_turn() -> None:
    assert run([on_next(1, "x "), on_completed(2)], smooth(interval=5.0)) == [
        on_next(1, "x"),
        on_next(6, " "),
        on_completed(6),
    ]


def test_paced_rewind_drops_the_queue() -> None:
    messages = run(
        [on_next(1, "a b c "), on_next(2, Rewind(2)), on_next(3, "new "), on_completed(30)],
        smooth(interval=5.0),
    )
    assert messages == [
        on_next(1, "a"),
        on_next(6, "new"),
        on_next(30, " "),
        on_completed(30),
    ]


def test_paced_dispose_stops_the_timer() -> None:
    scheduler = RecordingScheduler()
    messages = run(
        [on_next(1, "a b c d "), on_completed(50)],
        smooth(interval=5.0),
        disposed=8,
        scheduler=scheduler,
    )
    assert messages == [on_next(1, "a"), on_next(6, " b")]
    pending = [h for due, h in scheduler.handles if due == SUBSCRIBED + 11]
    assert len(pending) == 1
    assert pending[0].is_disposed  # type: ignore[attr-defined]


async def test_paced_runs_on_the_asyncio_loop_by_default() -> None:
    from streamkit.bridge import collect

    units = await collect(reactivex.of("one two three").pipe(smooth(interval=0.01)))
    assert units == ["one", " two", " three"]


def test_smooth_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="unit"):
        smooth("sentences")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="interval"):
        smooth(interval=0)


def test_only_newline_ends_a_line() -> None:
    text = "a\rb\x0cc\u2028d\r\ne\x1cf\n\ng"
    assert split_units(text, "lines") == (["a\rb\x0cc\u2028d\r\n", "e\x1cf\n", "\n"], "g")
