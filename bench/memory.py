"""Benchmark 4: memory while folding a stream into a ``Message``, for two answer lengths.

The stream's bytes are encoded and cut into feeds before measuring; tracemalloc then sees only
what decoding and folding allocate: SSE decoder, format decoder, events, the growing message. If
memory is proportional to the answer, ``peak / text`` stays flat as the answer grows; retaining
raw payloads or bytes would show up as a ratio that climbs (or as ``peak / wire`` near 1).
"""

from __future__ import annotations

import gc
import tracemalloc
from collections.abc import Iterator, Sequence

import reactivex

from bench.data import answer_events, encode_stream, split_feeds
from bench.results import Row, Table, ratio
from bench.timing import time_call
from streamkit.events import StreamEvent
from streamkit.formats import FormatName, get_format
from streamkit.message import Message
from streamkit.operators.final_message import to_message
from streamkit.sse import SSEDecoder

__all__ = ["bench_memory", "fold_message"]

_COLUMNS = (
    "tokens",
    "wire KiB",
    "text KiB",
    "peak KiB",
    "peak / text (x)",
    "peak / wire (x)",
    "µs/token",
    "decode only µs/token",
)


def bench_memory(
    *,
    lengths: Sequence[int] = (10_000, 100_000),
    formats: Sequence[FormatName] = ("openai", "anthropic"),
    repeat: int = 3,
) -> Table:
    """Peak traced memory and time of folding answers of each length into a ``Message``."""
    rows: list[Row] = []
    notes: list[str] = []
    for fmt in formats:
        measured = [_measure(fmt, tokens, repeat) for tokens in lengths]
        rows.extend(measured)
        first, last = measured[0].values, measured[-1].values
        growth = ratio(_number(last["tokens"]), _number(first["tokens"]))
        peak_growth = ratio(_number(last["peak KiB"]), _number(first["peak KiB"]))
        time_growth = ratio(_number(last["µs/token"]), _number(first["µs/token"]))
        if growth and peak_growth and time_growth and len(measured) > 1:
            notes.append(
                f"{fmt}: {growth:.0f}x the tokens gave {peak_growth:.1f}x the peak memory and "
                f"{time_growth:.2f}x the time per token (linear: {growth:.0f}x and 1.00x)."
            )
    notes.append(
        "peak = tracemalloc peak while SSE-decoding pre-encoded 1-4 KiB feeds and folding them "
        "with reactivex.from_iterable(...).pipe(to_message()); the input bytes are not counted. "
        "µs/token is timed separately, without tracemalloc; decode only = the same decoding "
        "without the fold, so the difference is to_message's own cost."
    )
    return Table(
        name="memory",
        title="Memory: folding a stream into a Message",
        columns=_COLUMNS,
        rows=tuple(rows),
        notes=tuple(notes),
    )


def fold_message(feeds: Sequence[bytes], fmt: FormatName) -> Message:
    """Decode ``feeds`` lazily and fold them with ``to_message()``, as a live stream would be.

    Raises:
        RuntimeError: the pipeline gave no message.
    """
    messages: list[Message] = []
    reactivex.from_iterable(_events(feeds, fmt)).pipe(to_message()).subscribe(messages.append)
    if not messages:
        raise RuntimeError("to_message() gave no message")
    return messages[0]


def _events(feeds: Sequence[bytes], fmt: FormatName) -> Iterator[StreamEvent]:
    sse_decoder = SSEDecoder()
    decoder = get_format(fmt).decoder()
    for feed in feeds:
        for sse in sse_decoder.feed(feed):
            yield from decoder.decode(sse)
    sse_decoder.close()


def _measure(fmt: FormatName, tokens: int, repeat: int) -> Row:
    feeds = split_feeds(encode_stream(answer_events(tokens), fmt))
    wire = sum(map(len, feeds))
    fold_message(feeds, fmt)  # first-use allocations (caches, interned names) are not the fold's
    gc.collect()
    tracemalloc.start()
    try:
        tracemalloc.reset_peak()
        message = fold_message(feeds, fmt)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    text = len(message.text.encode())
    best = time_call(lambda: fold_message(feeds, fmt), repeat=repeat, warmup=0).best
    decode_only = time_call(lambda: _drain(_events(feeds, fmt)), repeat=repeat, warmup=0).best
    return Row(
        f"{fmt}: {tokens:,} tokens",
        {
            "tokens": tokens,
            "wire KiB": wire / 1024,
            "text KiB": text / 1024,
            "peak KiB": peak / 1024,
            "peak / text (x)": ratio(peak, text),
            "peak / wire (x)": ratio(peak, wire),
            "µs/token": best / tokens * 1e6,
            "decode only µs/token": decode_only / tokens * 1e6,
        },
    )


def _drain(events: Iterator[StreamEvent]) -> None:
    for _ in events:
        pass


def _number(value: object) -> float | None:
    return float(value) if isinstance(value, int | float) else None
