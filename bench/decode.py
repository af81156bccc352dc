"""Benchmark 1: decoding throughput, SSE alone and SSE plus the format's event decoding.

Candidates get the same stream, already cut into network-sized feeds (1-4 KiB), and must produce
every event. The official SDKs' decoders are private APIs (``openai._streaming``,
``anthropic._streaming``): when they move, their rows say n/a instead of failing the run.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from functools import partial
from typing import Any

from bench.data import answer_events, encode_stream, split_feeds
from bench.results import Row, Table, ratio
from bench.timing import time_many
from streamkit.formats import FormatName, get_format
from streamkit.sse import SSEDecoder

__all__ = ["bench_event_decode", "bench_sse_decode"]

#: A decoding run: feeds in, number of events out.
Decode = Callable[[list[bytes]], int]

_STREAMKIT = "streamkit"


@dataclass(frozen=True, slots=True)
class _Candidate:
    label: str
    run: Decode | None
    note: str = ""


def bench_sse_decode(*, tokens: int = 2000, repeat: int = 7) -> Table:
    """SSE decoding alone (bytes to events) for an OpenAI and an Anthropic stream of ``tokens``.

    Candidates: ``streamkit.sse.SSEDecoder``, the openai and anthropic SDKs' ``SSEDecoder``, and a
    naive incremental ``bytes.split(b"\\n\\n")`` (not spec-correct: a floor, not a rival).
    """
    rows: list[Row] = []
    for fmt in ("openai", "anthropic"):
        feeds = _feeds(fmt, tokens)
        candidates = [
            _Candidate(_STREAMKIT, _streamkit_sse),
            _sdk_candidate("openai SDK", "openai"),
            _sdk_candidate("anthropic SDK", "anthropic"),
            _Candidate("naive split (floor)", _naive_split),
        ]
        rows.extend(_measure(fmt, feeds, candidates, repeat))
    return Table(
        name="sse_decode",
        title=f"SSE decoding: bytes to SSE events ({tokens:,}-token answers, 1-4 KiB feeds)",
        columns=("MB/s", "events/s", "vs streamkit (x)"),
        rows=tuple(rows),
        baseline=_STREAMKIT,
        notes=(
            "vs streamkit (x) = throughput relative to streamkit's decoder on the same stream "
            "(above 1 is faster).",
            "naive split: an incremental bytes.split(b'\\n\\n') that ignores CR line ends, "
            "comments, multi-line data and field parsing; not spec-correct, a floor.",
        ),
    )


def bench_event_decode(*, tokens: int = 2000, repeat: int = 7) -> Table:
    """Full decoding: bytes to typed events, streamkit against the SDKs' own pipelines.

    streamkit: ``SSEDecoder`` then the format's ``decoder().decode``. The SDKs: their SSE decoder,
    then ``json.loads`` and ``construct_type`` into the SDK's chunk/event model, as their ``Stream``
    classes do; for OpenAI also ``ChatCompletionChunk.model_validate_json`` (validated parsing).
    """
    rows: list[Row] = []
    for fmt in ("openai", "anthropic"):
        feeds = _feeds(fmt, tokens)
        candidates = [_Candidate(_STREAMKIT, _streamkit_events(fmt)), *_sdk_event_candidates(fmt)]
        rows.extend(_measure(fmt, feeds, candidates, repeat))
    return Table(
        name="event_decode",
        title=f"Full decoding: bytes to typed events ({tokens:,}-token answers, 1-4 KiB feeds)",
        columns=("MB/s", "events/s", "vs streamkit (x)"),
        rows=tuple(rows),
        baseline=_STREAMKIT,
        notes=(
            "events/s counts SSE events decoded (the same number for every candidate).",
            "vs streamkit (x) = throughput relative to streamkit on the same stream.",
        ),
    )


def _feeds(fmt: FormatName, tokens: int) -> list[bytes]:
    return split_feeds(encode_stream(answer_events(tokens), fmt))


def _measure(
    fmt: FormatName, feeds: list[bytes], candidates: list[_Candidate], repeat: int
) -> list[Row]:
    size = sum(map(len, feeds))
    expected = _streamkit_sse(feeds)
    notes = {c.label: c.note for c in candidates}
    runs = {c.label: partial(c.run, feeds) for c in candidates if c.run is not None}
    for label, run in runs.items():
        got = run()
        if got != expected:
            notes[label] = f"{notes[label]}; gave {got} events, expected {expected}".lstrip("; ")
    timings = time_many(runs, repeat=repeat)
    base = timings[_STREAMKIT].best
    rows: list[Row] = []
    for candidate in candidates:
        label = f"{fmt}: {candidate.label}"
        timing = timings.get(candidate.label)
        if timing is None:
            rows.append(Row(label, {"MB/s": None, "events/s": None}, notes[candidate.label]))
            continue
        values = {
            "MB/s": size / timing.best / 1e6,
            "events/s": expected / timing.best,
            "vs streamkit (x)": ratio(base, timing.best),
        }
        rows.append(Row(label, values, notes[candidate.label]))
    return rows


# --- candidates --------------------------------------------------------------------------------


def _streamkit_sse(feeds: list[bytes]) -> int:
    decoder = SSEDecoder()
    count = 0
    for feed in feeds:
        count += len(decoder.feed(feed))
    decoder.close()
    return count


def _naive_split(feeds: list[bytes]) -> int:
    buffer = b""
    count = 0
    for feed in feeds:
        buffer += feed
        parts = buffer.split(b"\n\n")
        buffer = parts.pop()
        for part in parts:
            if b"data:" in part:
                part.decode()
                count += 1
    return count


def _sdk_candidate(label: str, package: str) -> _Candidate:
    try:
        if package == "openai":
            from openai._streaming import SSEDecoder as SDKDecoder
        else:
            from anthropic._streaming import SSEDecoder as SDKDecoder  # type: ignore[assignment]
        SDKDecoder().iter_bytes  # noqa: B018 (the private API we rely on)
    except (ImportError, AttributeError) as exc:
        return _Candidate(label, None, f"private API unavailable: {exc}")

    def run(feeds: list[bytes]) -> int:
        return sum(1 for _ in SDKDecoder().iter_bytes(iter(feeds)))

    return _Candidate(label, run)


def _streamkit_events(fmt: FormatName) -> Decode:
    wire_format = get_format(fmt)

    def run(feeds: list[bytes]) -> int:
        sse_decoder = SSEDecoder()
        decoder = wire_format.decoder()
        count = 0
        for feed in feeds:
            for sse in sse_decoder.feed(feed):
                decoder.decode(sse)
                count += 1
        sse_decoder.close()
        return count

    return run


def _sdk_event_candidates(fmt: FormatName) -> list[_Candidate]:
    if fmt == "openai":
        return [_openai_construct(), _openai_validate()]
    return [_anthropic_construct()]


def _openai_construct() -> _Candidate:
    label = "openai SDK (json + construct_type, as its Stream)"
    try:
        from openai._models import construct_type
        from openai._streaming import SSEDecoder as SDKDecoder
        from openai.types.chat import ChatCompletionChunk
    except ImportError as exc:
        return _Candidate(label, None, f"private API unavailable: {exc}")
    return _Candidate(
        label,
        _sdk_parsing(
            SDKDecoder,
            lambda data: construct_type(type_=ChatCompletionChunk, value=json.loads(data)),
        ),
    )


def _openai_validate() -> _Candidate:
    label = "openai SDK (model_validate_json)"
    try:
        from openai._streaming import SSEDecoder as SDKDecoder
        from openai.types.chat import ChatCompletionChunk
    except ImportError as exc:
        return _Candidate(label, None, f"private API unavailable: {exc}")
    return _Candidate(label, _sdk_parsing(SDKDecoder, ChatCompletionChunk.model_validate_json))


def _anthropic_construct() -> _Candidate:
    label = "anthropic SDK (json + construct_type, as its Stream)"
    try:
        from anthropic._models import construct_type
        from anthropic._streaming import SSEDecoder as SDKDecoder
        from anthropic.types import RawMessageStreamEvent
    except ImportError as exc:
        return _Candidate(label, None, f"private API unavailable: {exc}")
    return _Candidate(
        label,
        _sdk_parsing(
            SDKDecoder,
            lambda data: construct_type(type_=RawMessageStreamEvent, value=json.loads(data)),
        ),
    )


def _sdk_parsing(sdk_decoder: Callable[[], Any], parse: Callable[[str], object]) -> Decode:
    """An SDK's SSE decoder followed by its parsing of each event's data (``[DONE]`` skipped)."""

    def run(feeds: list[bytes]) -> int:
        count = 0
        for sse in sdk_decoder().iter_bytes(iter(feeds)):
            count += 1
            if not sse.data.startswith("[DONE]"):
                parse(sse.data)
        return count

    return run
