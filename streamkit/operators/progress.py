"""Measure a stream as it flows: the ``measure_progress`` operator and its ``ProgressMeter``.

``measure_progress`` passes events through unchanged and feeds a ``ProgressMeter``, the
thread-safe live state: the meter answers ``snapshot()`` at any moment, emits throttled
``updates()`` for a live display, and keeps the final ``summary``. Each subscription is one run of
the meter, fed through the ``MeterRun`` handle that ``ProgressMeter.start_run`` hands out.

The numbers are ``StreamStats`` values (``streamkit.stats``, where each is defined), folded by the
reducer ``StatsAccumulator`` (``streamkit.fold.stats``); ``format_stats`` prints them on one line
and ``StreamStats.plot`` draws them (``streamkit.sinks.plot``). Those names are re-exported here,
where they were first published.

Times come from each event's ``received_at`` (stamped by the source, so metrics need no second
clock) and from the injected ``clock`` (``time.monotonic`` by default, which is what the source
and ``streamkit.record.replay`` stamp with) where an event has none and for the start and end of
the stream. A fast replay (``speed=None``) stamps the recorded timing although it emits at once,
so its statistics show the original run's timing.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from functools import partial
from typing import TypeAlias

from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

from streamkit.events import StreamEvent
from streamkit.fold.stats import MAX_GAPS as MAX_GAPS
from streamkit.fold.stats import MAX_TIMELINE_POINTS as MAX_TIMELINE_POINTS
from streamkit.fold.stats import StatsAccumulator as StatsAccumulator
from streamkit.operators.base import (
    Emit,
    Operator,
    events_only,
    resolve_scheduler,
    stateful_operator,
)
from streamkit.stats import StreamStats as StreamStats
from streamkit.stats import Tokenizer as Tokenizer
from streamkit.stats import TokensSource as TokensSource
from streamkit.stats import estimate_tokens as estimate_tokens
from streamkit.stats import format_stats as format_stats

__all__ = [
    "Clock",
    "MeterRun",
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

#: Returns the current time in seconds; must tick in step with the events' ``received_at``.
Clock: TypeAlias = Callable[[], float]


class MeterRun:
    """One run of a ``ProgressMeter``: the handle that feeds it events and then ends the run.

    ``ProgressMeter.start_run`` hands one out; ``measure_progress`` starts a run per subscription
    and feeds it, and code outside Rx can feed one by hand the same way. Once a newer run has
    started on the same meter, this one no longer touches it: its events and its end are
    ignored. ``end`` is idempotent. Safe to call from any thread.

    Made only by ``ProgressMeter.start_run``, which binds it to the run it started.
    """

    __slots__ = ("_end", "_record")

    def __init__(self, record: Callable[[StreamEvent], None], end: Callable[[bool], None]) -> None:
        self._record = record
        self._end = end

    def record(self, event: StreamEvent) -> None:
        """Account for ``event``, at its ``received_at`` (else the meter's clock)."""
        self._record(event)

    def end(self, *, completed: bool) -> None:
        """End the run now: the meter's ``summary`` is fixed and its waiters are told.

        Args:
            completed: the stream completed; False when it failed or was disposed.
        """
        self._end(completed)


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

    def start_run(
        self, *, clock: Clock | None = None, tokenizer: Tokenizer | None = None
    ) -> MeterRun:
        """Start a fresh run, replacing any run going on; returns the handle that feeds it.

        The clock is read now: this is the start of ``ttft``. ``summary`` is None until the run
        ends, and ``updates()`` feeds that were waiting for a run now follow this one.

        Args:
            clock: replaces the meter's clock, for this run and after it.
            tokenizer: counts tokens for this run instead of the meter's tokenizer.
        """
        with self._lock:
            if clock is not None:
                self._clock = clock
            self._summary = None
            accumulator = StatsAccumulator(self._clock(), tokenizer or self._tokenizer)
            self._accumulator = accumulator
            starters, self._starters = self._starters, []
        for start in starters:
            start()
        return MeterRun(partial(self._record, accumulator), partial(self._end, accumulator))

    # --- internals: what a MeterRun calls, and the listeners of updates() and wait() ---

    def _record(self, run: StatsAccumulator, event: StreamEvent) -> None:
        with self._lock:
            if run is self._accumulator and not run.ended:
                run.step(event, event.received_at or self._clock())

    def _end(self, run: StatsAccumulator, completed: bool) -> None:
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
        meter, clock, tokenizer = self.meter, self._clock, self._tokenizer

        def step(run: MeterRun, event: StreamEvent, emit: Emit[StreamEvent]) -> MeterRun:
            run.record(event)
            emit(event)
            return run

        def flush(run: MeterRun, emit: Emit[StreamEvent]) -> None:
            run.end(completed=True)

        def close(run: MeterRun) -> None:
            run.end(completed=False)  # a run that ended already keeps its outcome

        def start() -> MeterRun:
            return meter.start_run(clock=clock, tokenizer=tokenizer)

        measured: Operator[StreamEvent, StreamEvent] = stateful_operator(
            start, step, flush=flush, close=close
        )
        return measured(source.pipe(events_only("measure_progress()")))


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
