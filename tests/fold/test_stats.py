"""The stats reducer as a plain function: events in at given times, exact statistics out."""

from __future__ import annotations

from typing import Any

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
from streamkit.fold.stats import StatsAccumulator

BOOM = RuntimeError("boom")


def feed(acc: StatsAccumulator, timed: list[tuple[float, Any]]) -> StatsAccumulator:
    for now, event in timed:
        acc.step(event, now)
    return acc


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
