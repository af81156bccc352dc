"""buffer_text / buffer_events: the batch policy as plain code, the operators under virtual time."""

from __future__ import annotations

import pytest
from reactivex import Observable
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.marbles import marbles_testing
from reactivex.testing.recorded import Recorded

from streamkit.events import Finish, Rewind, StreamEvent, StreamStart, TextDelta, Usage
from streamkit.operators.base import Operator
from streamkit.operators.buffer import _Batch, buffer_events, buffer_text
from tests.operators._recording_scheduler import RecordingScheduler

on_next, on_error, on_completed = (
    ReactiveTest.on_next,
    ReactiveTest.on_error,
    ReactiveTest.on_completed,
)

BOOM = RuntimeError("boom")
SUBSCRIBED = 200


def run(
    messages: list[object], operator: Operator[StreamEvent, object], disposed: float = 1000.0
) -> tuple[list[object], TestScheduler]:
    """Play ``messages`` through ``operator``; ticks count from the subscription."""
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(*messages)
    observer = scheduler.start(
        lambda: source.pipe(operator),
        created=100,
        subscribed=SUBSCRIBED,
        disposed=SUBSCRIBED + disposed,
    )
    return [Recorded(m.time - SUBSCRIBED, m.value) for m in observer.messages], scheduler


def texts(*timed: tuple[float, str]) -> list[object]:
    return [on_next(t, TextDelta(s)) for t, s in timed]


# --- the batch policy ----------------------------------------------------------------------------


def test_batch_reports_first_and_full_and_take_bumps_generation() -> None:
    batch: _Batch[str] = _Batch(2)
    assert batch.add("a") == (True, False)
    assert batch.add("b") == (False, True)
    assert batch.take() == ["a", "b"]
    assert batch.generation == 1
    assert batch.take() == []
    assert batch.add("c") == (True, False)


# --- buffer_text ---------------------------------------------------------------------------------


def test_docstring_marble_holds() -> None:
    with marbles_testing(timespan=1.0) as (start, cold, _hot, exp):
        pieces = {k: TextDelta(k) for k in "abcdef"}
        source: Observable[StreamEvent] = cold("-a-b---c-d-e-f-|", pieces)
        expected = exp("-----x-----y---(z,|)", {"x": "ab", "y": "cde", "z": "f"})
        result = start(source.pipe(buffer_text(count=3, seconds=4.0)))
        assert result == expected


def test_time_flush_counts_from_the_first_piece_of_each_batch() -> None:
    messages, _ = run(
        [*texts((1, "a"), (2, "b"), (10, "c"), (12, "d")), on_completed(30)],
        buffer_text(count=100, seconds=5.0),
    )
    assert messages == [on_next(6, "ab"), on_next(15, "cd"), on_completed(30)]


def test_count_flush_is_immediate_and_restarts_the_timer() -> None:
    messages, _ = run(
        [*texts((1, "a"), (2, "b"), (3, "c"), (5, "d")), on_completed(40)],
        buffer_text(count=2, seconds=10.0),
    )
    # "c" starts a new batch at 3; its timer fires at 13, not at 11 (the old batch's).
    assert messages == [on_next(2, "ab"), on_next(5, "cd"), on_completed(40)]


def test_stale_timer_of_a_count_flushed_batch_does_not_flush_the_next() -> None:
    messages, _ = run(
        [*texts((1, "a"), (2, "b"), (4, "c")), on_completed(40)],
        buffer_text(count=2, seconds=5.0),
    )
    assert messages == [on_next(2, "ab"), on_next(9, "c"), on_completed(40)]


def test_remaining_text_is_flushed_on_completion() -> None:
    messages, _ = run(
        [*texts((1, "a"), (2, "b")), on_completed(3)], buffer_text(count=10, seconds=5.0)
    )
    assert messages == [on_next(3, "ab"), on_completed(3)]


def test_remaining_text_is_flushed_before_the_error() -> None:
    messages, _ = run(
        [*texts((1, "a"), (2, "b")), on_error(3, BOOM)], buffer_text(count=10, seconds=5.0)
    )
    assert messages == [on_next(3, "ab"), on_error(3, BOOM)]


def test_only_text_of_the_chosen_choice_and_never_empty_strings() -> None:
    messages, _ = run(
        [
            on_next(1, StreamStart("m1", "model")),
            on_next(2, TextDelta("x", choice=1)),
            on_next(3, TextDelta("")),
            on_next(4, TextDelta("y", choice=1)),
            on_next(5, Finish("stop", "stop", choice=1)),
            on_next(6, Usage(1, 2)),
            on_completed(7),
        ],
        buffer_text(count=2, seconds=None, choice=1),
    )
    assert messages == [on_next(4, "xy"), on_completed(7)]


def test_empty_stream_emits_nothing() -> None:
    messages, _ = run([on_completed(5)], buffer_text())
    assert messages == [on_completed(5)]


def test_seconds_none_waits_for_count_or_the_end() -> None:
    messages, _ = run(
        [*texts((1, "a"), (100, "b"), (200, "c")), on_completed(300)],
        buffer_text(count=2, seconds=None),
    )
    assert messages == [on_next(100, "ab"), on_next(300, "c"), on_completed(300)]


def test_rewind_drops_the_waiting_text() -> None:
    messages, _ = run(
        [*texts((1, "old")), on_next(2, Rewind(2)), *texts((3, "new")), on_completed(20)],
        buffer_text(count=10, seconds=5.0),
    )
    assert messages == [on_next(8, "new"), on_completed(20)]


def test_dispose_cancels_the_pending_timer() -> None:
    scheduler = RecordingScheduler()
    source = scheduler.create_cold_observable(on_next(1, TextDelta("a")), on_completed(50))
    observer = scheduler.start(
        lambda: source.pipe(buffer_text(count=10, seconds=5.0)), disposed=SUBSCRIBED + 3
    )
    assert observer.messages == []
    timers = [handle for due, handle in scheduler.handles if due == SUBSCRIBED + 6]
    assert len(timers) == 1
    assert timers[0].is_disposed  # type: ignore[attr-defined]


def test_joined_output_equals_joined_input() -> None:
    pieces = [f"w{i} " for i in range(50)]
    messages, _ = run(
        [*texts(*((1 + i * 0.7, p) for i, p in enumerate(pieces))), on_completed(100)],
        buffer_text(count=7, seconds=2.0),
    )
    emitted = [m.value.value for m in messages if m.value.kind == "N"]  # type: ignore[attr-defined]
    assert "".join(emitted) == "".join(pieces)
    assert all(emitted) and len(emitted) < len(pieces)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"count": 0}, "count"),
        ({"count": 2.5}, "count"),
        ({"seconds": 0}, "seconds"),
        ({"seconds": -1.0}, "seconds"),
    ],
)
def test_rejects_bad_arguments(kwargs: dict[str, object], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        buffer_text(**kwargs)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=match):
        buffer_events(**kwargs)  # type: ignore[arg-type]


# --- buffer_events -------------------------------------------------------------------------------


def test_buffer_events_groups_all_events_in_order() -> None:
    start, a, b, c = StreamStart("m", "x"), TextDelta("a"), TextDelta("b"), Finish("stop", "stop")
    messages, _ = run(
        [on_next(1, start), on_next(3, a), on_next(10, b), on_next(11, c), on_completed(12)],
        buffer_events(count=10, seconds=4.0),
    )
    assert messages == [on_next(5, [start, a]), on_next(12, [b, c]), on_completed(12)]


def test_buffer_events_count_flush_and_rewind_travels_in_order() -> None:
    a, r, b = TextDelta("a"), Rewind(2), TextDelta("b")
    messages, _ = run(
        [on_next(1, a), on_next(2, r), on_next(3, b), on_error(4, BOOM)],
        buffer_events(count=2, seconds=None),
    )
    assert messages == [on_next(2, [a, r]), on_next(4, [b]), on_error(4, BOOM)]


def test_buffer_events_uses_the_subscribe_scheduler() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(1, TextDelta("a")), on_completed(50))
    seen: list[tuple[float, object]] = []
    source.pipe(buffer_events(seconds=2.0)).subscribe(
        lambda batch: seen.append((scheduler.clock, batch)), scheduler=scheduler
    )
    scheduler.start()
    assert seen == [(3, [TextDelta("a")])]


async def test_buffer_text_times_on_the_asyncio_loop_by_default() -> None:
    import asyncio
    from collections.abc import AsyncGenerator

    from streamkit.bridge import collect, from_async_iterable

    async def pieces() -> AsyncGenerator[StreamEvent, None]:
        yield TextDelta("a")
        yield TextDelta("b")
        await asyncio.sleep(0.2)  # well past the 0.02 s window: "ab" leaves on its timer
        yield TextDelta("c")

    source = from_async_iterable(pieces)
    assert await collect(source.pipe(buffer_text(count=10, seconds=0.02))) == ["ab", "c"]
    assert await collect(source.pipe(buffer_text(count=10, seconds=None))) == ["abc"]


def test_defaults_are_ten_pieces_or_a_tenth_of_a_second() -> None:
    burst = [on_next(2.0, TextDelta(str(i))) for i in range(12)]
    messages, _ = run(
        [*texts((1.0, "a"), (1.05, "b")), *burst, on_completed(3.0)],
        buffer_text(),
    )
    assert [(m.time, m.value) for m in messages] == [
        (pytest.approx(1.1), on_next(0, "ab").value),
        (2.0, on_next(0, "0123456789").value),
        (pytest.approx(2.1), on_next(0, "1011").value),
        (3.0, on_completed(0).value),
    ]
