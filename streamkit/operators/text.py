"""Shape the answer text: pick it out of the events, re-cut it into whole words or lines, pace it.

Models stream text in arbitrary pieces ("Hel", "lo wor", "ld"), cut by the tokenizer, not by
meaning. ``text`` picks the pieces of one choice out of the event stream; ``smooth`` re-cuts them
into whole words or whole lines, optionally released one per interval for a steady, readable
typewriter effect.

A word is its leading whitespace plus the word (``" world"``), and a line ends with its ``"\\n"``,
so joining what ``smooth`` emits always gives back exactly the text it received. The cutting is
plain code (``split_units``), tested on its own.
"""

from __future__ import annotations

import re
import threading
from collections import deque
from collections.abc import Callable
from typing import Literal

from reactivex import Observable, abc
from reactivex import operators as rx_ops
from reactivex.disposable import CompositeDisposable, Disposable, SerialDisposable

from streamkit.events import Rewind, StreamEvent, TextDelta
from streamkit.operators.base import Operator, check_event, events_only, resolve_scheduler

__all__ = ["Unit", "smooth", "split_units", "text"]

#: How ``smooth`` cuts text: into whole words or whole lines.
Unit = Literal["words", "lines"]

_WORD = re.compile(r"\s*\S+")
_LINE = re.compile(r"[^\n]*\n")  # only "\n" ends a line, unlike str.splitlines


def text(choice: int = 0) -> Operator[StreamEvent, str]:
    """Keep only the answer text of one choice, as strings.

    Every ``TextDelta`` of ``choice`` becomes its text (empty pieces are skipped); every other
    event is dropped. Completion and errors pass through. Anything that is not a chat event (a
    raw ``SSEEvent`` from ``sse_source``) fails the stream with a ``TypeError``.

    Args:
        choice: which choice's text to keep (OpenAI ``n > 1`` streams several).

    Example:
        >>> events.pipe(ops.text()).subscribe(lambda s: print(s, end=""))  # doctest: +SKIP

    Marble (``s`` a StreamStart, ``a``/``b`` TextDeltas, ``f`` the Finish)::

        source:  -s-a-b-f-|
        result:  ---a-b---|      (their text)
    """

    def pick(event: StreamEvent) -> bool:
        if isinstance(event, TextDelta):
            return event.choice == choice and bool(event.text)
        check_event(event, "text()")  # anything else must still be an event, or fail loudly
        return False

    def to_text(event: StreamEvent) -> str:
        assert isinstance(event, TextDelta)  # guaranteed by pick
        return event.text

    def operator(source: Observable[StreamEvent]) -> Observable[str]:
        return source.pipe(rx_ops.filter(pick), rx_ops.map(to_text))

    return operator


def split_units(buffered: str, unit: Unit) -> tuple[list[str], str]:
    """Cut ``buffered`` into the whole units it holds and the unfinished tail.

    A word is whole once whitespace follows it (more letters could still come otherwise); the
    whitespace stays for the next word. A line is whole at its ``"\\n"``. Joining the units and
    the tail gives back ``buffered``.

    Example:
        >>> split_units("Hello wor", "words")
        (['Hello'], ' wor')
        >>> split_units("a\\nb", "lines")
        (['a\\n'], 'b')
    """
    if unit == "lines":
        end = buffered.rfind("\n") + 1
        return _LINE.findall(buffered[:end]), buffered[end:]
    units: list[str] = []
    end = 0
    for match in _WORD.finditer(buffered):
        if match.end() == len(buffered):
            break  # the word may go on in the next piece
        units.append(match.group())
        end = match.end()
    return units, buffered[end:]


def _piece(item: str | StreamEvent) -> str | None:
    """The text an input item adds, or None when it adds none."""
    if isinstance(item, str):
        return item
    if isinstance(item, TextDelta) and item.choice == 0:
        return item.text
    return None


def smooth(
    unit: Unit = "words",
    *,
    interval: float | None = None,
    scheduler: abc.SchedulerBase | None = None,
) -> Operator[str | StreamEvent, str]:
    """Re-cut streamed text into whole words or whole lines, optionally one per ``interval``.

    Input is strings, or events of which the ``TextDelta`` of choice 0 are taken (others are
    ignored; an item that is neither fails the stream with a ``TypeError``). The unfinished tail (a
    word that may go on, a line without its ``"\\n"`` yet) is held until more text completes it, and
    emitted as it is when the source completes or before its error is passed on. Joining the output
    gives exactly the input text. Splitting lines treats only ``"\\n"`` as a line end. A ``Rewind``
    drops the held tail and, when pacing, the queued units: they belong to the answer the retry
    layer voided.

    With ``interval``, units are released one at a time at least ``interval`` seconds apart, on
    ``scheduler`` (else the subscriber's, else the running asyncio loop's): the first at once,
    the rest from a queue. Completion, and an error, follow the last queued unit, so nothing is
    cut off; disposing the subscription stops the pacing timer and drops the queue. The queue
    holds what the source sent ahead of the pace, so pace only text meant to be read live.

    Args:
        unit: ``words`` or ``lines``.
        interval: seconds between units; None emits units as soon as they are whole.
        scheduler: where the pacing is timed.

    Raises:
        ValueError: ``unit`` is neither ``words`` nor ``lines``, or ``interval`` is not positive.

    Example:
        >>> events.pipe(ops.smooth("words", interval=0.03)).subscribe(show)  # doctest: +SKIP

    Marble (no interval; pieces "Hel", "lo wor", "ld")::

        source:  -a-b-c-|
        result:  ---x---(y,|)      (x = "Hello", y = " world")

    Marble (``interval`` = 2 ticks; one piece "a b c " at tick 1)::

        source:  -p----|
        result:  -a-b-c-(d,|)      (a = "a", b = " b", c = " c", d = " ")
    """
    if unit not in ("words", "lines"):
        raise ValueError(f"unit must be 'words' or 'lines', got {unit!r}")
    if interval is not None and not interval > 0:
        raise ValueError(f"interval must be positive or None, got {interval!r}")

    def operator(source: Observable[str | StreamEvent]) -> Observable[str]:
        source = source.pipe(events_only("smooth()", also=(str,)))

        def subscribe(
            observer: abc.ObserverBase[str], subscribe_scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            tail = ""
            emit: _Emitter = (
                _Immediate(observer)
                if interval is None
                else _Paced(observer, interval, resolve_scheduler(scheduler, subscribe_scheduler))
            )

            def on_next(item: str | StreamEvent) -> None:
                nonlocal tail
                if isinstance(item, Rewind):
                    tail = ""
                    emit.clear()
                    return
                piece = _piece(item)
                if not piece:
                    return
                units, tail = split_units(tail + piece, unit)
                emit.push(units)

            def end(finish: Callable[[], None]) -> None:
                nonlocal tail
                last, tail = tail, ""
                emit.push([last] if last else [])
                emit.end(finish)

            def on_error(error: Exception) -> None:
                end(lambda: observer.on_error(error))

            def on_completed() -> None:
                end(observer.on_completed)

            upstream = source.subscribe(
                on_next, on_error, on_completed, scheduler=subscribe_scheduler
            )
            return CompositeDisposable(Disposable(emit.dispose), upstream)

        return Observable(subscribe)

    return operator


class _Emitter:
    """Where whole units go: straight to the observer, or through a paced queue."""

    def push(self, units: list[str]) -> None:
        raise NotImplementedError

    def clear(self) -> None:
        """Drop units not yet emitted."""

    def end(self, finish: Callable[[], None]) -> None:
        raise NotImplementedError

    def dispose(self) -> None:
        """Stop emitting."""


class _Immediate(_Emitter):
    def __init__(self, observer: abc.ObserverBase[str]) -> None:
        self._observer = observer

    def push(self, units: list[str]) -> None:
        for unit in units:
            self._observer.on_next(unit)

    def end(self, finish: Callable[[], None]) -> None:
        finish()


class _Paced(_Emitter):
    """Releases one unit per ``interval``; the first of a burst at once, if the pace allows."""

    def __init__(
        self, observer: abc.ObserverBase[str], interval: float, scheduler: abc.SchedulerBase
    ) -> None:
        self._observer = observer
        self._interval = interval
        self._scheduler = scheduler
        self._queue: deque[str] = deque()
        self._finish: Callable[[], None] | None = None
        self._ticking = False  # a tick is scheduled: the pace forbids emitting now
        self._stopped = False
        self._timer = SerialDisposable()
        self._lock = threading.RLock()  # the timer may fire on another thread

    def push(self, units: list[str]) -> None:
        with self._lock:
            self._queue.extend(units)
            if not self._ticking:
                self._release()

    def clear(self) -> None:
        with self._lock:
            self._queue.clear()

    def end(self, finish: Callable[[], None]) -> None:
        with self._lock:
            self._finish = finish
            if not self._queue:
                self._end()
            elif not self._ticking:
                self._release()

    def dispose(self) -> None:
        with self._lock:
            self._stopped = True
            self._queue.clear()
        self._timer.dispose()

    def _tick(self) -> None:
        with self._lock:
            self._ticking = False
            self._release()

    def _release(self) -> None:
        """Emit the next unit and start the pace; end the stream after the last one."""
        if self._stopped or not self._queue:
            return
        self._observer.on_next(self._queue.popleft())
        if not self._queue and self._finish is not None:
            self._end()
            return
        self._ticking = True
        self._timer.disposable = self._scheduler.schedule_relative(
            self._interval, lambda *_: self._tick()
        )

    def _end(self) -> None:
        finish, self._finish = self._finish, None
        if self._stopped or finish is None:
            return
        self._stopped = True
        self._timer.disposable = None
        finish()
