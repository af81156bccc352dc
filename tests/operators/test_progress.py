"""Progress metrics: the accumulator as plain code, the meter and operator under virtual time."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import reactivex
from reactivex.subject import Subject
from reactivex.testing import ReactiveTest, TestScheduler
from reactivex.testing.recorded import Recorded

from streamkit.events import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    Retrying,
    Rewind,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from streamkit.operators.progress import (
    ProgressMeter,
    StatsAccumulator,
    StreamStats,
    estimate_tokens,
    format_stats,
    measure_progress,
)

on_next, on_error, on_completed = (
    ReactiveTest.on_next,
    ReactiveTest.on_error,
    ReactiveTest.on_completed,
)

BOOM = RuntimeError("boom")
SUBSCRIBED = 200


def feed(acc: StatsAccumulator, timed: list[tuple[float, Any]]) -> StatsAccumulator:
    for now, event in timed:
        acc.step(event, now)
    return acc


# --- StatsAccumulator ----------------------------------------------------------------------------


def test_ttft_rate_and_counts_are_exact() -> None:
    acc = feed(
        StatsAccumulator(started_at=10.0),
        [
            (10.5, StreamStart("m", "x")),
            (11.0, TextDelta("abcd")),  # first chunk: ttft 1.0
            (11.5, TextDelta("efgh")),
            (13.0, TextDelta("ijkl")),
            (13.5, Finish("stop", "stop")),
        ],
    )
    acc.end(15.0)
    stats = acc.stats(now=99.0)  # ended: the end time counts, not now
    assert stats.chunks == 3
    assert stats.characters == 12
    assert (stats.tokens, stats.tokens_source) == (3, "estimate")
    assert stats.ttft == 1.0
    assert stats.elapsed == 5.0
    assert stats.tokens_per_second == 3 / 4.0
    assert stats.finished is True
    assert stats.finish_reason == "stop"
    assert stats.latencies == (0.5, 1.5)
    assert stats.timeline == ((1.0, 1), (1.5, 2), (3.0, 3))


def test_percentiles_are_nearest_rank() -> None:
    acc = StatsAccumulator(started_at=0.0)
    now = 0.0
    # Gaps 1, 2, ..., 20 (in that order of magnitude but shuffled in time order).
    gaps = [7, 3, 20, 1, 15, 9, 2, 11, 18, 5, 4, 13, 6, 19, 8, 12, 10, 17, 14, 16]
    acc.step(TextDelta("x"), now)
    for gap in gaps:
        now += gap
        acc.step(TextDelta("x"), now)
    stats = acc.stats(now)
    # nearest rank: p50 -> ceil(0.5*20)=10th smallest, p95 -> 19th, p99 -> 20th.
    assert (stats.latency_p50, stats.latency_p95, stats.latency_p99) == (10, 19, 20)
    assert stats.latency_max == 20


def test_percentiles_of_few_gaps_and_none() -> None:
    acc = StatsAccumulator(started_at=0.0).step(TextDelta("a"), 1.0)
    empty = acc.stats(2.0)
    assert empty.latency_p50 is None and empty.latency_max is None
    acc.step(TextDelta("b"), 1.25).step(TextDelta("c"), 2.0)
    stats = acc.stats(2.0)
    assert (stats.latency_p50, stats.latency_p95, stats.latency_max) == (0.25, 0.75, 0.75)


def test_rate_is_undefined_before_time_passes_after_the_first_chunk() -> None:
    acc = StatsAccumulator(started_at=0.0)
    assert acc.stats(5.0).tokens_per_second is None  # no chunk yet
    acc.step(TextDelta("abc"), 2.0)
    assert acc.stats(2.0).tokens_per_second is None
    assert acc.stats(3.0).tokens_per_second == 1.0
    assert acc.stats(3.0).finished is False


def test_tokenizer_counts_and_usage_wins_then_later_chunks_add() -> None:
    acc = StatsAccumulator(started_at=0.0, tokenizer=lambda s: len(s.split()))
    acc.step(Usage(input_tokens=12, output_tokens=1), 0.1)  # Anthropic's provisional count
    acc.step(TextDelta("one two"), 1.0).step(TextDelta(" three"), 2.0)
    running = acc.stats(2.0)
    assert (running.tokens, running.tokens_source, running.input_tokens) == (4, "tokenizer", 12)
    acc.step(Usage(output_tokens=6), 3.0)
    final = acc.stats(3.0)
    assert (final.tokens, final.tokens_source, final.input_tokens) == (6, "usage", 12)
    # The timeline is scaled to the reported count: 2 and 3 counted -> 4 and 6.
    assert final.timeline == ((1.0, 4), (2.0, 6))


def test_what_counts_as_a_chunk() -> None:
    acc = feed(
        StatsAccumulator(started_at=0.0),
        [
            (1.0, TextDelta("")),
            (1.0, ReasoningDelta("sig", kind="signature")),
            (1.0, ReasoningDelta("hmm")),
            (2.0, RefusalDelta("no")),
            (3.0, ToolCallDelta(0, id="c1", name="get", arguments="{}")),
            (4.0, Retrying(attempt=2, delay=1.0, cause=BOOM, wire_bytes=0)),
            (5.0, Rewind(2)),
            (6.0, TextDelta("ok", wire_bytes=40)),
        ],
    )
    stats = acc.stats(6.0)
    assert stats.chunks == 4
    assert stats.characters == len("hmm") + len("no") + len("get{}") + len("ok")
    assert stats.ttft == 1.0
    assert stats.retries == 1
    assert stats.bytes_received == 40


def test_bytes_received_sums_wire_bytes_of_every_event() -> None:
    acc = feed(
        StatsAccumulator(started_at=0.0),
        [(1.0, StreamStart("m", "x", wire_bytes=100)), (2.0, TextDelta("a", wire_bytes=30))],
    )
    assert acc.stats(2.0).bytes_received == 130


def test_timeline_and_gaps_stay_bounded() -> None:
    acc = StatsAccumulator(started_at=0.0, max_points=8, max_gaps=5)
    for i in range(1, 101):
        acc.step(TextDelta("abcd"), float(i))
    stats = acc.stats(100.0)
    assert len(stats.timeline) <= 9  # the kept points plus the latest one
    assert stats.timeline[0] == (1.0, 1)
    assert stats.timeline[-1] == (100.0, 100)
    times = [t for t, _ in stats.timeline]
    assert times == sorted(times)
    assert len(stats.latencies) == 5 and stats.latency_max == 1.0


def test_reservoir_keeps_the_max_exact() -> None:
    acc = StatsAccumulator(started_at=0.0, max_gaps=3)
    now = 0.0
    for gap in [1.0] * 50 + [9.0] + [1.0] * 50:
        now += gap
        acc.step(TextDelta("x"), now)
    assert acc.stats(now).latency_max == 9.0
    assert len(acc.stats(now).latencies) == 3


def test_failed_stream_is_not_finished() -> None:
    acc = StatsAccumulator(started_at=0.0).step(TextDelta("x"), 1.0)
    acc.end(2.0, completed=False)
    acc.end(5.0)  # the first end stands
    stats = acc.stats(9.0)
    assert (stats.finished, stats.elapsed) == (False, 2.0)


def test_estimate_tokens() -> None:
    assert [estimate_tokens(s) for s in ("", "a", "abcd", "abcde")] == [0, 1, 1, 2]


# --- format_stats --------------------------------------------------------------------------------


def test_format_stats_one_line() -> None:
    stats = StreamStats(
        tokens=142, ttft=0.21, tokens_per_second=78.34, elapsed=1.84, finish_reason="stop"
    )
    assert format_stats(stats) == "142 tokens · TTFT 0.21 s · 78.3 tok/s · 1.8 s · stop"
    assert format_stats(StreamStats(elapsed=0.5, retries=2)) == "0 tokens · 0.5 s · 2 retries"


# --- measure_progress and the meter --------------------------------------------------------------


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


# --- plot ----------------------------------------------------------------------------------------


def test_plot_writes_a_png(tmp_path: Path) -> None:
    pytest.importorskip("matplotlib")
    acc = StatsAccumulator(started_at=0.0)
    for i in range(1, 60):
        acc.step(TextDelta("word "), i * 0.05 + (0.2 if i % 7 == 0 else 0.0))
    acc.end(3.5)
    path = tmp_path / "stats.png"
    figure = acc.stats(3.5).plot(str(path))
    data = path.read_bytes()
    assert data[:4] == b"\x89PNG"
    assert len(data) > 1000
    assert len(figure.axes) == 2
    assert figure.axes[0].get_title() == "Tokens over time"


def test_plot_of_empty_stats_still_draws() -> None:
    pytest.importorskip("matplotlib")
    figure = StreamStats().plot()
    assert len(figure.axes) == 2
    assert figure.get_suptitle() == "0 tokens · 0.0 s"
    assert len(figure.axes[1].patches) == 0  # no gaps: an empty histogram


def test_plot_without_matplotlib_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(ImportError, match=r"pip install streamkit\[plot\]"):
        StreamStats().plot()


# --- tokens across retries -----------------------------------------------------------------------

LOST = ConnectionError("lost")


def test_a_continued_retry_keeps_the_tokens_counted_before_it() -> None:
    acc = feed(
        StatsAccumulator(started_at=0.0),
        [
            (1.0, TextDelta("abcdefgh")),  # 2 estimated
            (2.0, Retrying(2, 0.0, LOST, continued=True)),
            (3.0, TextDelta("ijkl")),  # the continuation: 1 estimated
        ],
    )
    assert (acc.stats(3.0).tokens, acc.stats(3.0).tokens_source) == (3, "estimate")
    acc.step(Usage(9, 5), 4.0)  # the server counts the continuation only
    assert (acc.stats(4.0).tokens, acc.stats(4.0).tokens_source) == (7, "estimate")


def test_reported_tokens_before_a_continued_retry_stay_exact() -> None:
    acc = feed(
        StatsAccumulator(started_at=0.0),
        [
            (1.0, TextDelta("abcdefgh")),
            (1.5, Usage(output_tokens=10)),
            (2.0, Retrying(2, 0.0, LOST, continued=True)),
            (3.0, TextDelta("ijkl")),
            (4.0, Usage(output_tokens=4)),
            (5.0, Retrying(3, 0.0, LOST, continued=True)),
            (6.0, Usage(output_tokens=1)),
        ],
    )
    assert (acc.stats(6.0).tokens, acc.stats(6.0).tokens_source) == (15, "usage")


def test_a_restart_reports_the_whole_answer_again() -> None:
    acc = feed(
        StatsAccumulator(started_at=0.0),
        [
            (1.0, TextDelta("abcdefgh")),
            (1.5, Usage(output_tokens=10)),
            (2.0, Retrying(2, 0.0, LOST)),
            (3.0, TextDelta("ijkl")),
            (4.0, Usage(output_tokens=12)),
        ],
    )
    assert (acc.stats(4.0).tokens, acc.stats(4.0).tokens_source) == (12, "usage")


def test_a_restart_after_a_continued_retry_drops_the_kept_tokens() -> None:
    acc = feed(
        StatsAccumulator(started_at=0.0),
        [
            (1.0, TextDelta("abcdefghijklmnopqr")),  # 5 estimated
            (2.0, Retrying(2, 0.0, LOST, continued=True)),  # 5 kept
            (3.0, ToolCallDelta(0, id="t1", name="f", arguments="{}")),
            (4.0, Retrying(3, 0.0, LOST, continued=False)),  # the whole answer again
            (5.0, TextDelta("abcdefghijklmnopqr")),
        ],
    )
    # until the restarted attempt reports, every chunk received is estimated: (18+3+18)/4
    assert (acc.stats(5.0).tokens, acc.stats(5.0).tokens_source) == (10, "estimate")
    acc.step(Usage(10, 9), 6.0)  # the restart's report covers the whole answer
    assert (acc.stats(6.0).tokens, acc.stats(6.0).tokens_source) == (9, "usage")


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
