"""Benchmark 2: what streamkit's operators cost per event, against bare reactivex.

Every candidate pushes the same in-memory list of events through ``reactivex.from_iterable``
(synchronous, no event loop) into a subscriber that does nothing; the bare pipeline is the
baseline, so the ratio and the per-event overhead are the operator's own cost.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Any

import reactivex
from reactivex import Observable

from bench.data import text_deltas, tool_call_events
from bench.results import Row, Table, ratio
from bench.timing import time_many
from streamkit.events import StreamEvent

__all__ = ["bench_operators"]

#: An operator under test; None when its module is not available.
_Pipe = Callable[[Observable[StreamEvent]], Observable[Any]]

_BARE = "bare reactivex"
_COLUMNS = ("events", "events/s", "overhead µs/event", "vs bare (x)")


def bench_operators(*, events: int = 50_000, repeat: int = 5) -> Table:
    """Throughput of each operator on ``events`` events, relative to bare reactivex.

    Text operators get ``events`` ``TextDelta`` values; ``assemble_tool_calls`` gets a stream of
    about as many tool-call fragments (24 per call), with its own bare baseline.
    """
    text = text_deltas(events)
    tools = tool_call_events(events)
    rows = [
        *_group(text, "text deltas", _text_candidates(), repeat),
        *_group(tools, "tool-call fragments", _tool_candidates(), repeat),
    ]
    return Table(
        name="operators",
        title=f"Operator overhead: {events:,} events through reactivex.from_iterable, synchronous",
        columns=_COLUMNS,
        rows=tuple(rows),
        baseline=_BARE,
        notes=(
            "vs bare (x) = throughput relative to bare from_iterable + subscribe on the same "
            "events (below 1: the operator's cost); overhead = extra time per event over bare.",
        ),
    )


def _group(
    events: list[StreamEvent],
    kind: str,
    candidates: list[tuple[str, _Pipe | None, str]],
    repeat: int,
) -> list[Row]:
    runs = {_BARE: partial(_run, events, None)}
    for label, pipe, _ in candidates:
        if pipe is not None:
            _run(events, pipe)  # fails loudly if the pipeline does not complete
            runs[label] = partial(_run, events, pipe)
    timings = time_many(runs, repeat=repeat)
    bare = timings[_BARE].best
    rows: list[Row] = []
    for label, _, note in [(_BARE, None, ""), *candidates]:
        name = f"{kind}: {label}"
        timing = timings.get(label)
        if timing is None:
            rows.append(Row(name, {"events": len(events)}, note))
            continue
        values = {
            "events": len(events),
            "events/s": len(events) / timing.best,
            "overhead µs/event": max(0.0, timing.best - bare) / len(events) * 1e6,
            "vs bare (x)": ratio(bare, timing.best),
        }
        rows.append(Row(name, values, note))
    return rows


def _run(events: list[StreamEvent], pipe: _Pipe | None) -> int:
    """Push ``events`` through ``pipe``; return how many items came out.

    Raises:
        RuntimeError: the pipeline did not complete synchronously (or failed).
    """
    source: Observable[Any] = reactivex.from_iterable(events)
    if pipe is not None:
        source = source.pipe(pipe)
    received = 0
    completed = False

    def on_next(_: object) -> None:
        nonlocal received
        received += 1

    def on_completed() -> None:
        nonlocal completed
        completed = True

    def on_error(error: Exception) -> None:
        raise RuntimeError(f"pipeline failed: {error!r}") from error

    source.subscribe(on_next, on_error, on_completed).dispose()
    if not completed:
        raise RuntimeError("pipeline did not complete synchronously")
    return received


def _text_candidates() -> list[tuple[str, _Pipe | None, str]]:
    from streamkit.operators.final_message import to_message

    candidates: list[tuple[str, _Pipe | None, str]] = []
    try:
        from streamkit.operators.buffer import buffer_text
    except ImportError as exc:
        candidates.append(("buffer_text(count=10, seconds=None)", None, f"n/a: {exc}"))
    else:
        candidates.append(("buffer_text(count=10, seconds=None)", buffer_text(10, None), ""))
    try:
        from streamkit.operators.progress import measure_progress
    except ImportError as exc:
        candidates.append(("measure_progress()", None, f"n/a: {exc}"))
    else:
        candidates.append(("measure_progress()", measure_progress(), ""))
    candidates.append(("to_message()", to_message(), ""))
    return candidates


def _tool_candidates() -> list[tuple[str, _Pipe | None, str]]:
    from streamkit.operators.final_message import to_message
    from streamkit.operators.tool_calls import assemble_tool_calls

    return [
        ("assemble_tool_calls()", assemble_tool_calls(), ""),
        ("assemble_tool_calls(previews=True)", assemble_tool_calls(previews=True), ""),
        ("to_message()", to_message(), ""),
    ]
