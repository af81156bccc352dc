"""The progress meter and the ``measure_progress`` operator, under virtual time."""

from __future__ import annotations

from typing import Any

import pytest
import reactivex
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from streamkit import operators, stats
from streamkit.events import Finish, Retrying, StreamStart, TextDelta, Usage
from streamkit.fold import stats as fold_stats
from streamkit.operators import progress
from streamkit.operators.progress import ProgressMeter, StreamStats, measure_progress

on_next, on_error, on_completed = (
    ReactiveTest.on_next,
    ReactiveTest.on_error,
    ReactiveTest.on_completed,
)

BOOM = RuntimeError("boom")
SUBSCRIBED = 200


def virtual_clock(scheduler: TestScheduler) -> Any:
    return lambda: scheduler.clock - SUBSCRIBED


def test_measure_progress_passes_events_through_and_fills_the_meter() -> None:
    scheduler = TestScheduler()
    events = [StreamStart("m", "x"), TextDelta("abcd"), TextDelta("efgh"), Finish("stop", "stop")]
    source = scheduler.create_cold_observable(
        on_next(1, events[0]),
        on_next(2, events[1]),
        on_next(4, events[2]),
        on_next(5, events[3]),
        on_completed(6),
    )
    measure = measure_progress(clock=virtual_clock(scheduler))
    observer = scheduler.start(lambda: source.pipe(measure))
    assert [m.value.value for m in observer.messages[:-1]] == events
    summary = measure.meter.summary
    assert summary is not None
    assert summary == measure.meter.snapshot()
    assert (summary.ttft, summary.elapsed, summary.tokens) == (2.0, 6.0, 2)
    assert summary.tokens_per_second == 2 / 4.0
    assert summary.latencies == (2.0,)
    assert summary.finished is True


def test_events_received_at_wins_over_the_clock() -> None:
    meter = ProgressMeter(clock=lambda: 100.0)
    events = [TextDelta("ab", received_at=101.0), TextDelta("cd", received_at=103.0)]
    reactivex.from_iterable(events).pipe(measure_progress(meter)).subscribe()
    summary = meter.summary
    assert summary is not None
    assert summary.ttft == 1.0 and summary.latencies == (2.0,)


def test_error_ends_the_meter_unfinished_and_passes_through() -> None:
    meter = ProgressMeter(clock=lambda: 0.0)
    errors: list[Exception] = []
    reactivex.throw(BOOM).pipe(measure_progress(meter)).subscribe(on_error=errors.append)
    assert errors == [BOOM]
    assert meter.summary is not None and meter.summary.finished is False


def test_dispose_ends_the_meter() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(on_next(1, TextDelta("x")), on_completed(500))
    measure = measure_progress(clock=virtual_clock(scheduler))
    scheduler.start(lambda: source.pipe(measure), disposed=SUBSCRIBED + 10)
    summary = measure.meter.summary
    assert summary is not None
    assert (summary.finished, summary.elapsed, summary.chunks) == (False, 10.0, 1)


def test_resubscribing_starts_the_meter_over() -> None:
    meter = ProgressMeter(clock=lambda: 0.0)
    stream = reactivex.of(TextDelta("abcd")).pipe(measure_progress(meter))
    stream.subscribe()
    stream.subscribe()
    assert meter.summary is not None and meter.summary.chunks == 1


def test_updates_are_throttled_and_end_with_the_summary() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(
        on_next(1, TextDelta("abcd")), on_next(3, TextDelta("efgh")), on_completed(5)
    )
    measure = measure_progress(clock=virtual_clock(scheduler))
    seen: list[Recorded[Any]] = []

    def watch(*_: Any) -> None:
        measure.meter.updates(2.0).subscribe(
            lambda s: seen.append(on_next(scheduler.clock - SUBSCRIBED, s)),
            on_completed=lambda: seen.append(on_completed(scheduler.clock - SUBSCRIBED)),
            scheduler=scheduler,
        )

    scheduler.schedule_absolute(SUBSCRIBED, watch)
    scheduler.start(lambda: source.pipe(measure), subscribed=SUBSCRIBED)
    times = [(r.time, r.value.kind) for r in seen]
    assert times == [(2, "N"), (4, "N"), (5, "N"), (5, "C")]
    tokens = [r.value.value.tokens for r in seen if r.value.kind == "N"]
    assert tokens == [1, 2, 2]
    assert seen[2].value.value == measure.meter.summary


def test_updates_between_runs_follow_the_next_run() -> None:
    scheduler = TestScheduler()
    meter = ProgressMeter(clock=lambda: scheduler.clock)
    reactivex.of(TextDelta("x")).pipe(measure_progress(meter)).subscribe()  # run 1, ended
    assert not meter.running and meter.summary is not None
    seen: list[tuple[float, Any]] = []
    meter.updates(2.0).subscribe(
        lambda s: seen.append((scheduler.clock, (s.characters, s.chunks))),
        on_completed=lambda: seen.append((scheduler.clock, "done")),
        scheduler=scheduler,
    )
    scheduler.advance_to(10)
    assert seen == []  # nothing from run 1: no ticks while no run goes on
    run2 = scheduler.create_cold_observable(
        on_next(1, TextDelta("abcd")), on_next(3, TextDelta("efgh")), on_completed(5)
    )
    scheduler.schedule_absolute(20, lambda *_: run2.pipe(measure_progress(meter)).subscribe())
    scheduler.start(lambda: reactivex.never(), created=0, subscribed=0, disposed=100)
    assert seen == [(22, (4, 1)), (24, (8, 2)), (25, (8, 2)), (25, "done")]
    assert meter.summary is not None and (meter.summary.chunks, meter.summary.elapsed) == (2, 5)
    with pytest.raises(ValueError, match="interval"):
        meter.updates(0)


def test_a_run_replaced_by_a_newer_subscription_does_not_end_it() -> None:
    first: Subject[Any] = Subject()
    second: Subject[Any] = Subject()
    meter = ProgressMeter(clock=lambda: 0.0)
    first.pipe(measure_progress(meter)).subscribe()
    second.pipe(measure_progress(meter)).subscribe()
    first.on_next(TextDelta("old"))
    first.on_completed()
    assert meter.running and meter.summary is None
    second.on_next(TextDelta("new!"))
    second.on_completed()
    assert meter.summary is not None and meter.summary.characters == 4


async def test_wait_returns_the_summary_from_the_asyncio_loop() -> None:
    from streamkit.bridge import collect

    meter = ProgressMeter()
    stream = reactivex.of(TextDelta("hello"), Finish("stop", "stop")).pipe(measure_progress(meter))
    waiter = meter.wait()
    events = await collect(stream)
    summary = await waiter
    assert len(events) == 2
    assert summary.chunks == 1 and summary.finish_reason == "stop"
    assert await meter.wait() == summary


def test_snapshot_before_subscription_is_empty() -> None:
    assert ProgressMeter().snapshot() == StreamStats()
    assert ProgressMeter().summary is None


def test_a_hand_fed_run_fills_the_meter_until_a_newer_run_replaces_it() -> None:
    now = [0.0]
    meter = ProgressMeter(clock=lambda: now[0])
    run = meter.start_run()
    assert meter.running and meter.summary is None
    run.record(TextDelta("abcd", received_at=1.0))
    newer = meter.start_run()
    run.record(TextDelta("ignored"))
    run.end(completed=True)  # the replaced run no longer touches the meter
    assert meter.running and meter.snapshot().chunks == 0
    newer.record(TextDelta("ab", received_at=2.0))
    now[0] = 3.0
    newer.end(completed=True)
    newer.end(completed=False)  # the first end stands
    summary = meter.summary
    assert summary is not None and not meter.running
    assert (summary.chunks, summary.elapsed, summary.finished) == (1, 3.0, True)


@pytest.mark.parametrize("name", sorted(progress.__all__))
def test_moved_names_are_still_importable_from_progress_and_operators(name: str) -> None:
    """Stats values and the reducer moved out; the operator module re-exports them unchanged."""
    home = next(m for m in (stats, fold_stats, progress) if name in m.__all__)
    assert getattr(progress, name) is getattr(home, name)
    if name in operators.__all__:
        assert getattr(operators, name) is getattr(home, name)


# --- tokens across retries -----------------------------------------------------------------------


def test_measured_continue_retry_counts_every_attempt() -> None:
    from reactivex import Observable

    from streamkit.errors import ConnectionLostError
    from streamkit.events import StreamEvent
    from streamkit.operators.retry import RetryPolicy, retry_with_backoff

    scheduler = TestScheduler()
    first = scheduler.create_cold_observable(
        on_next(1, StreamStart("m1", "m")),
        on_next(2, TextDelta("one two three four")),  # 18 characters
        on_error(3, ConnectionLostError("lost")),
    )

    def continuation(partial: str) -> Observable[StreamEvent]:
        assert partial == "one two three four"
        return scheduler.create_cold_observable(
            on_next(1, StreamStart("m2", "m")),
            on_next(2, TextDelta(" five")),
            on_next(3, Finish("stop", "stop")),
            on_next(4, Usage(7, 2)),  # the continuation's own output only
            on_completed(5),
        )

    retried = first.pipe(
        retry_with_backoff(
            RetryPolicy(max_attempts=2, base_delay=0.0),
            resume="continue",
            continuation=continuation,
            scheduler=scheduler,
        )
    )
    measure = measure_progress(clock=virtual_clock(scheduler))
    observer = scheduler.start(lambda: retried.pipe(measure))
    events = [m.value.value for m in observer.messages if m.value.kind == "N"]
    retrying = [e for e in events if isinstance(e, Retrying)]
    assert [r.continued for r in retrying] == [True]
    summary = measure.meter.summary
    assert summary is not None
    assert (summary.tokens, summary.retries, summary.finished) == (5 + 2, 1, True)
