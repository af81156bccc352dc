"""The stats reducer: ``StatsAccumulator`` folds events into ``StreamStats``.

Plain code with no clock of its own: each ``step(event, now)`` is told when the event arrived, and
``stats(now)`` answers for a given moment, so the numbers are exact under any timebase and the
reducer is tested by feeding it events. The numbers are defined in ``streamkit.stats``;
``streamkit.operators.progress`` drives this reducer live from a stream.

Memory is bounded however long the stream: at most ``max_points`` timeline points (decimated by
doubling the stride) and ``max_gaps`` gaps (a seeded uniform reservoir sample beyond that).
"""

from __future__ import annotations

import math
import random
from typing import Final

from streamkit.events import (
    Finish,
    FinishReason,
    ReasoningDelta,
    RefusalDelta,
    Retrying,
    StreamEvent,
    TextDelta,
    ToolCallDelta,
    Usage,
)
from streamkit.stats import StreamStats, Tokenizer, TokensSource

__all__ = ["MAX_GAPS", "MAX_TIMELINE_POINTS", "StatsAccumulator"]

#: The default bound on ``StreamStats.timeline`` points.
MAX_TIMELINE_POINTS: Final = 10_000
#: The default bound on the gaps kept for the latency percentiles.
MAX_GAPS: Final = 10_000


def _nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The nearest-rank percentile of sorted values: the ceil(p/100 * n)-th smallest."""
    if not ordered:
        return None
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


def _content(event: StreamEvent) -> str | None:
    """The generated content an event carries, or None for events that carry none."""
    if isinstance(event, TextDelta | RefusalDelta):
        return event.text
    if isinstance(event, ReasoningDelta):
        return event.text if event.kind == "thinking" else None
    if isinstance(event, ToolCallDelta):
        return (event.name or "") + event.arguments
    return None


class StatsAccumulator:
    """Folds events into stream statistics; plain code with no clock of its own.

    Bounded memory: at most ``max_points`` timeline points and ``max_gaps`` gaps are kept, however
    long the stream.

    Example:
        >>> acc = StatsAccumulator(started_at=0.0)
        >>> acc.step(TextDelta("Hello there"), now=0.5).step(TextDelta("!"), now=0.75).end(1.0)
        >>> acc.stats(now=1.0).ttft, acc.stats(now=1.0).tokens
        (0.5, 3)
    """

    def __init__(
        self,
        started_at: float,
        tokenizer: Tokenizer | None = None,
        *,
        max_points: int = MAX_TIMELINE_POINTS,
        max_gaps: int = MAX_GAPS,
        seed: int = 0,
    ) -> None:
        if max_points < 2 or max_gaps < 1:
            raise ValueError("max_points must be at least 2 and max_gaps at least 1")
        self.started_at = started_at
        self._tokenizer = tokenizer
        self._max_points = max_points
        self._max_gaps = max_gaps
        self._random = random.Random(seed)
        self._chunks = 0
        self._characters = 0
        self._counted = 0  # tokenizer sum (estimate: derived from characters)
        self._usage_tokens: int | None = None
        self._counted_at_usage = 0
        # Tokens of the attempts before a continued retry, and the count they were frozen at.
        self._base_tokens = 0
        self._base_exact = True
        self._counted_at_base = 0
        self._input_tokens: int | None = None
        self._first: float | None = None
        self._last: float | None = None
        self._latest: float | None = None  # the latest time any event was received
        self._gaps: list[float] = []
        self._gaps_seen = 0
        self._gap_max: float | None = None
        self._points: list[tuple[float, int]] = []
        self._stride = 1
        self._latest_point: tuple[float, int] | None = None
        self._bytes = 0
        self._retries = 0
        self._finish_reason: FinishReason | None = None
        self._ended_at: float | None = None
        self._completed = False

    @property
    def ended(self) -> bool:
        """Whether ``end`` was called."""
        return self._ended_at is not None

    def step(self, event: StreamEvent, now: float) -> StatsAccumulator:
        """Account for one event received at ``now``; returns self, for ``functools.reduce``."""
        self._bytes += event.wire_bytes
        self._latest = now if self._latest is None else max(self._latest, now)
        if isinstance(event, Retrying):
            self._retries += 1
            if event.continued:
                self._freeze_base()
            else:
                self._reset_base()
        elif isinstance(event, Finish):
            self._finish_reason = event.reason
        elif isinstance(event, Usage):
            if event.input_tokens is not None:
                self._input_tokens = event.input_tokens
            if event.output_tokens is not None:
                self._usage_tokens = event.output_tokens
                self._counted_at_usage = self._count()
        content = _content(event)
        if content:
            self._chunk(content, now)
        return self

    def end(self, now: float, *, completed: bool = True) -> None:
        """The stream ended at ``now``: completed, or failed / cancelled (``completed=False``)."""
        if self._ended_at is None:
            self._ended_at = self._at_least_latest(now)
            self._completed = completed

    def stats(self, now: float) -> StreamStats:
        """The statistics as of ``now`` (ignored once ended: the end time is used).

        A ``now`` before the latest event's time counts as that time: events may carry times
        ahead of the clock (a fast replay stamps the recorded timing).
        """
        end = self._ended_at if self._ended_at is not None else self._at_least_latest(now)
        elapsed = max(0.0, end - self.started_at)
        tokens = self._tokens()
        ttft = None if self._first is None else self._first - self.started_at
        rate = None
        if ttft is not None and elapsed - ttft > 0:
            rate = tokens / (elapsed - ttft)
        ordered = sorted(self._gaps)
        return StreamStats(
            chunks=self._chunks,
            characters=self._characters,
            tokens=tokens,
            tokens_source=self._source(),
            input_tokens=self._input_tokens,
            ttft=ttft,
            elapsed=elapsed,
            tokens_per_second=rate,
            latency_p50=_nearest_rank(ordered, 50),
            latency_p95=_nearest_rank(ordered, 95),
            latency_p99=_nearest_rank(ordered, 99),
            latency_max=self._gap_max,
            bytes_received=self._bytes,
            retries=self._retries,
            finished=self._completed,
            finish_reason=self._finish_reason,
            timeline=self._timeline(tokens),
            latencies=tuple(self._gaps),
        )

    # --- internals ---

    def _at_least_latest(self, now: float) -> float:
        return now if self._latest is None else max(now, self._latest)

    def _freeze_base(self) -> None:
        """The next attempt continues the answer: what was counted so far stays, later add."""
        self._base_exact = self._source() == "usage"
        self._base_tokens = self._tokens()
        self._usage_tokens = None
        self._counted_at_base = self._count()

    def _reset_base(self) -> None:
        """The next attempt repeats the whole answer: nothing is kept apart from its count."""
        self._base_tokens = 0
        self._base_exact = True
        self._counted_at_base = 0

    def _chunk(self, content: str, now: float) -> None:
        self._chunks += 1
        self._characters += len(content)
        if self._tokenizer is not None:
            self._counted += self._tokenizer(content)
        if self._first is None:
            self._first = now
        if self._last is not None:
            self._gap(now - self._last)
        self._last = now
        self._point((now - self.started_at, self._count()))

    def _count(self) -> int:
        if self._tokenizer is None:
            return -(-self._characters // 4)  # estimate_tokens of all the content so far
        return self._counted

    def _tokens(self) -> int:
        if self._usage_tokens is None:
            return self._base_tokens + self._count() - self._counted_at_base
        return self._base_tokens + self._usage_tokens + self._count() - self._counted_at_usage

    def _source(self) -> TokensSource:
        if (
            self._usage_tokens is not None
            and self._count() == self._counted_at_usage
            and self._base_exact
        ):
            return "usage"
        return "estimate" if self._tokenizer is None else "tokenizer"

    def _gap(self, gap: float) -> None:
        """Keep the gap: all of them up to ``max_gaps``, then a uniform sample (Algorithm R)."""
        self._gaps_seen += 1
        self._gap_max = gap if self._gap_max is None else max(self._gap_max, gap)
        if len(self._gaps) < self._max_gaps:
            self._gaps.append(gap)
            return
        slot = self._random.randrange(self._gaps_seen)
        if slot < self._max_gaps:
            self._gaps[slot] = gap

    def _point(self, point: tuple[float, int]) -> None:
        """Keep every ``stride``-th point; when full, halve the points and double the stride."""
        self._latest_point = point
        if (self._chunks - 1) % self._stride:
            return
        self._points.append(point)
        if len(self._points) >= self._max_points:
            self._points = self._points[::2]
            self._stride *= 2

    def _timeline(self, tokens: int) -> tuple[tuple[float, int], ...]:
        points = list(self._points)
        if self._latest_point is not None and (not points or points[-1] != self._latest_point):
            points.append(self._latest_point)
        counted = self._count()
        if counted and tokens != counted:
            points = [(t, round(n * tokens / counted)) for t, n in points]
        return tuple(points)
