"""Measure a stream as it flows: time to first token, tokens per second, gaps between chunks.

``measure_progress`` passes events through unchanged and feeds a ``ProgressMeter``; the meter
answers ``snapshot()`` at any moment, emits throttled ``updates()`` for a live display, and keeps
the final ``summary``. The numbers are ``StreamStats`` values, which ``format_stats`` prints on one
line and ``StreamStats.plot`` draws.

Definitions (all times in seconds, relative to the subscription):

- a *chunk* is an event that carries generated content: a non-empty ``TextDelta``,
  ``RefusalDelta``, thinking ``ReasoningDelta`` or ``ToolCallDelta`` (its name and arguments);
  reasoning signatures and redacted blocks are not generated text and are not counted;
- ``ttft``: from the subscription to the first chunk;
- ``tokens``: the estimate (``ceil(characters / 4)``, the usual rule of thumb for English with
  BPE tokenizers) or the sum of an injected ``tokenizer`` over the chunks; once the server reports
  ``Usage.output_tokens`` that number replaces the count, and chunks after the report add to it
  (Anthropic reports a provisional count when the message starts and the final one at the end).
  After a retry that continues the partial answer (``Retrying.continued``, ``resume="continue"``)
  the server's count covers only the continuation, so the tokens counted up to the retry are kept
  and the continuation's add to them; after a restart (``Retrying.continued`` False) the new
  attempt's report covers the whole answer again, so whatever an earlier continued retry kept is
  dropped: until that report the count is the estimate of every chunk received, and the report
  replaces it;
- ``tokens_per_second``: ``tokens / (elapsed - ttft)``, the generation rate once the first chunk
  arrived, so connection set-up and prompt processing do not dilute it; None before two distinct
  instants are known;
- latencies: the gaps between consecutive chunks, percentiles by the nearest-rank method (the
  smallest gap with at least p % of the gaps at or below it). The gaps are kept in full up to
  ``max_gaps``; beyond that a uniform reservoir sample of that size (seeded, so reruns agree)
  stands for them; ``latency_max`` is always exact;
- everything received counts: a ``Rewind`` does not take back the chunks before it;
- ``elapsed``: from the subscription to the end of the stream (or to now), but never less than
  to the latest event's ``received_at``.

Times come from each event's ``received_at`` (stamped by the source, so metrics need no second
clock) and from the injected ``clock`` (``time.monotonic`` by default, which is what the source
and ``streamkit.record.replay`` stamp with) where an event has none and for the start and end of
the stream. A fast replay (``speed=None``) stamps the recorded timing although it emits at once,
so its statistics show the original run's timing. The accounting is
plain code, ``StatsAccumulator``, tested without Rx.
"""

from __future__ import annotations

import asyncio
import math
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, TypeAlias

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

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
from streamkit.operators._scheduling import resolve_scheduler

if TYPE_CHECKING:
    from matplotlib.figure import Figure

__all__ = [
    "Clock",
    "ProgressMeter",
    "ProgressOperator",
    "StatsAccumulator",
    "StreamStats",
    "Tokenizer",
    "TokensSource",
    "estimate_tokens",
    "format_stats",
    "measure_progress",
]

#: Counts the tokens in a piece of text (for instance ``lambda s: len(enc.encode(s))``).
Tokenizer: TypeAlias = Callable[[str], int]
#: Returns the current time in seconds; must tick in step with the events' ``received_at``.
Clock: TypeAlias = Callable[[], float]
#: Where ``StreamStats.tokens`` comes from.
TokensSource = Literal["estimate", "tokenizer", "usage"]

MAX_TIMELINE_POINTS = 10_000
MAX_GAPS = 10_000


def estimate_tokens(text: str) -> int:
    """Estimate the tokens in ``text`` as one per four characters, rounded up."""
    return math.ceil(len(text) / 4)


def _nearest_rank(ordered: list[float], percent: float) -> float | None:
    """The nearest-rank percentile of sorted values: the ceil(p/100 * n)-th smallest."""
    if not ordered:
        return None
    rank = max(1, math.ceil(percent / 100 * len(ordered)))
    return ordered[rank - 1]


@dataclass(frozen=True, slots=True)
class StreamStats:
    """What is known about a stream at one moment; see the module docstring for definitions.

    Attributes:
        chunks: content-carrying events received.
        characters: characters of content received.
        tokens: output tokens (estimated, counted, or reported by the server), of every attempt
            a continued retry kept (see the module docstring).
        tokens_source: ``estimate``, ``tokenizer`` or ``usage`` (the last report is final, and
            no tokens before a continued retry were estimated).
        input_tokens: prompt tokens, when the server reported them.
        ttft: seconds to the first chunk; None before it.
        elapsed: seconds since the subscription (to the end, once ended).
        tokens_per_second: the generation rate after the first chunk; None when undefined.
        latency_p50: median gap between chunks (nearest rank); None with no gap.
        latency_p95: 95th percentile gap.
        latency_p99: 99th percentile gap.
        latency_max: the longest gap.
        bytes_received: bytes read from the network (the events' ``wire_bytes``).
        retries: ``Retrying`` events seen.
        finished: the stream completed (not failed, not cancelled).
        finish_reason: the last ``Finish`` reason seen.
        timeline: ``(seconds, cumulative tokens)`` points, at most ``MAX_TIMELINE_POINTS``
            (decimated evenly when longer), scaled to the server's count once it reports one.
        latencies: the inter-chunk gaps kept for the percentiles (see the module docstring).
    """

    chunks: int = 0
    characters: int = 0
    tokens: int = 0
    tokens_source: TokensSource = "estimate"
    input_tokens: int | None = None
    ttft: float | None = None
    elapsed: float = 0.0
    tokens_per_second: float | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None
    latency_p99: float | None = None
    latency_max: float | None = None
    bytes_received: int = 0
    retries: int = 0
    finished: bool = False
    finish_reason: FinishReason | None = None
    timeline: tuple[tuple[float, int], ...] = field(default=(), repr=False)
    latencies: tuple[float, ...] = field(default=(), repr=False)

    def plot(self, path: str | None = None) -> Figure:
        """Draw tokens over time and a histogram of the gaps between chunks.

        Uses matplotlib's object API (no ``pyplot``), so no window opens and no global figure
        is left behind; in a notebook, the returned figure displays itself.

        Args:
            path: when given, the figure is also saved there as PNG.

        Returns:
            The matplotlib ``Figure`` with two axes.

        Raises:
            ImportError: matplotlib is not installed (``pip install streamkit[plot]``).
        """
        try:
            from matplotlib.figure import Figure
        except ImportError as exc:
            raise ImportError("plotting needs matplotlib: pip install streamkit[plot]") from exc
        figure = Figure(figsize=(10, 4), layout="constrained")
        tokens_axis, gaps_axis = figure.subplots(1, 2)
        if self.timeline:
            times, counts = zip(*self.timeline, strict=True)
            tokens_axis.step(times, counts, where="post")
        tokens_axis.set(title="Tokens over time", xlabel="seconds", ylabel="tokens")
        if self.latencies:
            gaps_axis.hist(
                [gap * 1000 for gap in self.latencies], bins=min(50, len(self.latencies))
            )
        gaps_axis.set(title="Gap between chunks", xlabel="milliseconds", ylabel="chunks")
        figure.suptitle(format_stats(self))
        if path is not None:
            figure.savefig(path, format="png")
        return figure


def format_stats(stats: StreamStats) -> str:
    """One line for people: ``142 tokens · TTFT 0.21 s · 78.3 tok/s · 1.8 s · stop``.

    Parts that are unknown (no first token yet, no rate, no finish) are left out; retries are
    added when there were any.
    """
    parts = [f"{stats.tokens} tokens"]
    if stats.ttft is not None:
        parts.append(f"TTFT {stats.ttft:.2f} s")
    if stats.tokens_per_second is not None:
        parts.append(f"{stats.tokens_per_second:.1f} tok/s")
    parts.append(f"{stats.elapsed:.1f} s")
    if stats.retries:
        parts.append(f"{stats.retries} retr{'y' if stats.retries == 1 else 'ies'}")
    if stats.finish_reason is not None:
        parts.append(stats.finish_reason)
    return " · ".join(parts)


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


class ProgressMeter:
    """Live statistics of the stream that ``measure_progress`` feeds it.

    Read ``snapshot()`` at any time, subscribe to ``updates()`` for a throttled live feed, or wait
    for the final ``summary``. A meter follows one run at a time: each subscription of the
    measured pipeline starts a fresh run, and a meter can be reused for run after run (an
    ``updates()`` feed subscribed between two runs follows the next one). Safe to read from
    other threads.

    Args:
        tokenizer: counts tokens in a piece of text; the estimate by default.
        clock: the time source for the start and end of the stream and for snapshots
            (``time.monotonic`` by default, matching the events' ``received_at``).
    """

    def __init__(self, *, tokenizer: Tokenizer | None = None, clock: Clock | None = None) -> None:
        self._tokenizer = tokenizer
        self._clock: Clock = clock or time.monotonic
        self._lock = threading.RLock()
        self._accumulator: StatsAccumulator | None = None
        self._summary: StreamStats | None = None
        # Called with the summary when the current run ends.
        self._listeners: list[Callable[[StreamStats], None]] = []
        # Called when the next run starts (``updates()`` subscribed while no run is active).
        self._starters: list[Callable[[], None]] = []

    def snapshot(self) -> StreamStats:
        """The statistics now (empty before the measured stream is subscribed)."""
        with self._lock:
            if self._accumulator is None:
                return StreamStats()
            return self._accumulator.stats(self._clock())

    @property
    def summary(self) -> StreamStats | None:
        """The final statistics once the run ended (completed, failed or disposed), else None.

        None again while a new run is going on.
        """
        with self._lock:
            return self._summary

    @property
    def running(self) -> bool:
        """Whether a measured stream is going on (subscribed and not ended)."""
        with self._lock:
            return self._accumulator is not None and not self._accumulator.ended

    def updates(
        self, interval: float = 0.5, *, scheduler: abc.SchedulerBase | None = None
    ) -> Observable[StreamStats]:
        """Snapshots every ``interval`` seconds while a run goes on, then the final one.

        Follows the current run, or, subscribed while none is going on (before the measured
        stream is subscribed, or between two runs), the next one: the ticks start with it.
        Completes right after the final snapshot, which is that run's ``summary``; for a run that
        already ended, read ``summary``. Ticks run on ``scheduler``, else the subscriber's, else
        the running asyncio loop's; disposing stops them.

        Raises:
            ValueError: ``interval`` is not positive.

        Marble (``interval`` = 2 ticks; the measured stream ends at tick 5)::

            updates:  --a-b-(c,|)      (a, b snapshots, c the summary)
        """
        if not interval > 0:
            raise ValueError(f"interval must be positive, got {interval!r}")

        def subscribe(
            observer: abc.ObserverBase[StreamStats],
            subscribe_scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            timer = resolve_scheduler(scheduler, subscribe_scheduler)
            ticks = SerialDisposable()
            lock = threading.RLock()
            stopped = False

            def final(summary: StreamStats) -> None:
                nonlocal stopped
                with lock:
                    if stopped:
                        return
                    stopped = True
                    ticks.disposable = None
                    observer.on_next(summary)
                    observer.on_completed()

            def tick() -> None:
                with lock:
                    if stopped:
                        return
                    observer.on_next(self.snapshot())
                    ticks.disposable = timer.schedule_relative(interval, lambda *_: tick())

            def start() -> None:
                with lock:
                    if not stopped:
                        ticks.disposable = timer.schedule_relative(interval, lambda *_: tick())
                summary = self._add_listener(final)
                if summary is not None:  # the run ended already
                    final(summary)

            def stop() -> None:
                nonlocal stopped
                with lock:
                    stopped = True
                self._remove_listener(final)
                self._remove_starter(start)

            self._on_next_run(start)
            return CompositeDisposable(Disposable(stop), ticks)

        return Observable(subscribe)

    async def wait(self) -> StreamStats:
        """Wait until the current run ends (or the first one, before any); return its summary.

        Between runs, the last run's summary is returned at once.
        """
        loop = asyncio.get_running_loop()
        future: asyncio.Future[StreamStats] = loop.create_future()

        def resolve(summary: StreamStats) -> None:
            loop.call_soon_threadsafe(_set_result, future, summary)

        existing = self._add_listener(resolve)
        if existing is not None:
            return existing
        try:
            return await future
        finally:
            self._remove_listener(resolve)

    # --- fed by measure_progress ---

    def _begin(self, clock: Clock | None, tokenizer: Tokenizer | None) -> StatsAccumulator:
        """Start a fresh run; returns its accumulator, which names the run to ``_step``/``_end``."""
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._summary = None
            accumulator = StatsAccumulator(self._clock(), tokenizer or self._tokenizer)
            self._accumulator = accumulator
            starters, self._starters = self._starters, []
        for start in starters:
            start()
        return accumulator

    def _step(self, run: StatsAccumulator, event: StreamEvent) -> None:
        with self._lock:
            if run is self._accumulator and not run.ended:
                run.step(event, event.received_at or self._clock())

    def _end(self, run: StatsAccumulator, *, completed: bool) -> None:
        with self._lock:
            if run is not self._accumulator or run.ended:
                return  # a run that a newer subscription replaced ends with it
            now = self._clock()
            run.end(now, completed=completed)
            self._summary = summary = run.stats(now)
            listeners, self._listeners = self._listeners, []
        for listener in listeners:
            listener(summary)

    def _add_listener(self, listener: Callable[[StreamStats], None]) -> StreamStats | None:
        """Register for the current run's summary; returns it instead when no run is going on.

        Before any run the listener waits for the first one's summary.
        """
        with self._lock:
            if self._summary is not None:
                return self._summary
            self._listeners.append(listener)
            return None

    def _remove_listener(self, listener: Callable[[StreamStats], None]) -> None:
        with self._lock:
            if listener in self._listeners:
                self._listeners.remove(listener)

    def _on_next_run(self, start: Callable[[], None]) -> None:
        """Call ``start`` now if a run is going on, else when the next one begins."""
        with self._lock:
            waiting = not self.running
            if waiting:
                self._starters.append(start)
        if not waiting:
            start()

    def _remove_starter(self, start: Callable[[], None]) -> None:
        with self._lock:
            if start in self._starters:
                self._starters.remove(start)


def _set_result(future: asyncio.Future[StreamStats], summary: StreamStats) -> None:
    if not future.done():
        future.set_result(summary)


class ProgressOperator:
    """The operator ``measure_progress`` returns; ``meter`` is where its measurements go."""

    def __init__(
        self, meter: ProgressMeter, tokenizer: Tokenizer | None, clock: Clock | None
    ) -> None:
        self.meter = meter
        self._tokenizer = tokenizer
        self._clock = clock

    def __call__(self, source: Observable[StreamEvent]) -> Observable[StreamEvent]:
        meter = self.meter

        def subscribe(
            observer: abc.ObserverBase[StreamEvent], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            run = meter._begin(self._clock, self._tokenizer)

            def on_next(event: StreamEvent) -> None:
                meter._step(run, event)
                observer.on_next(event)

            def on_error(error: Exception) -> None:
                meter._end(run, completed=False)
                observer.on_error(error)

            def on_completed() -> None:
                meter._end(run, completed=True)
                observer.on_completed()

            upstream = source.subscribe(on_next, on_error, on_completed, scheduler=scheduler)
            return CompositeDisposable(
                upstream, Disposable(lambda: meter._end(run, completed=False))
            )

        return Observable(subscribe)


def measure_progress(
    meter: ProgressMeter | None = None,
    *,
    tokenizer: Tokenizer | None = None,
    clock: Clock | None = None,
) -> ProgressOperator:
    """Pass events through unchanged while measuring them into a ``ProgressMeter``.

    Each subscription starts the meter over: the clock is read at subscription (the start of
    ``ttft``), each event is accounted at its ``received_at`` (else the clock), and the stream's
    end (completion, error or disposal) fixes the meter's ``summary``. The events, the error and
    the completion reach the observer exactly as they came.

    Args:
        meter: where the measurements go; a new one when None (see the returned ``.meter``).
        tokenizer: counts tokens per chunk; overrides the meter's.
        clock: seconds, in the timebase of the events' ``received_at``; overrides the meter's.
            Inject one for exact numbers in tests (for instance a test scheduler's clock).

    Returns:
        The operator; its ``meter`` attribute is the meter it feeds.

    Example:
        >>> measure = ops.measure_progress()  # doctest: +SKIP
        >>> events.pipe(measure).subscribe(on_completed=lambda: print(
        ...     ops.format_stats(measure.meter.summary)))  # doctest: +SKIP
    """
    return ProgressOperator(meter or ProgressMeter(), tokenizer, clock)
