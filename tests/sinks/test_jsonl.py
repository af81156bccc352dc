"""The ``to_jsonl`` operator records a stream as it passes; ``read_events`` reads it back."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import reactivex
from reactivex.subject import Subject

from streamkit import errors, json_codec, jsonl_file, sinks
from streamkit.bridge import collect
from streamkit.errors import ConnectionLostError
from streamkit.events import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.sinks import jsonl
from streamkit.sinks.jsonl import message_from_dict, read_events, read_jsonl, to_jsonl

EVENTS: list[StreamEvent] = [
    StreamStart("msg_1", "m", raw={"type": "message_start"}, received_at=1.5, wire_bytes=40),
    ReasoningDelta("hmm", index=0),
    ReasoningDelta("sig", kind="signature", index=0),
    TextDelta("Grüße ", received_at=1.75, wire_bytes=12),
    RefusalDelta("no"),
    ToolCallDelta(1, id="c1", name="weather", arguments='{"city": "Z'),
    ToolCallDelta(1, arguments='ürich"}'),
    ToolCallEnd(1),
    ToolCall("c1", "weather", {"city": "Zürich"}, '{"city": "Zürich"}', index=1),
    Finish("tool_calls", "tool_use"),
    Usage(5, 9),
]


async def test_to_jsonl_records_events_as_they_pass(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    passed = await collect(reactivex.from_iterable(EVENTS).pipe(to_jsonl(path)))
    assert passed == EVENTS
    assert list(read_events(path)) == EVENTS


async def test_to_jsonl_messages_writes_one_line_per_stream(tmp_path: Path) -> None:
    path = tmp_path / "messages.jsonl"
    stream = reactivex.from_iterable(EVENTS[:-3]).pipe(to_jsonl(path, what="messages"))
    await collect(stream)
    await collect(stream)
    records = list(read_jsonl(path))
    assert [message_from_dict(r) for r in records] == [build_message(EVENTS[:-3])] * 2


async def test_to_jsonl_passes_errors_and_writes_no_message(tmp_path: Path) -> None:
    path = tmp_path / "failed.jsonl"
    source = reactivex.concat(
        reactivex.from_iterable(EVENTS[:2]), reactivex.throw(ConnectionLostError("cut"))
    )
    with pytest.raises(ConnectionLostError):
        await collect(source.pipe(to_jsonl(path, what="messages")))
    assert not path.exists()


async def test_to_jsonl_write_failure_ends_the_stream_and_disposes_the_source(
    tmp_path: Path,
) -> None:
    subject: Subject[StreamEvent] = Subject()
    errors_seen: list[Exception] = []
    subject.pipe(to_jsonl(tmp_path / "missing-dir" / "f.jsonl")).subscribe(
        on_error=errors_seen.append
    )
    subject.on_next(TextDelta("x"))
    assert [type(e) for e in errors_seen] == [FileNotFoundError]
    assert not subject.observers


async def test_disposing_closes_the_file(tmp_path: Path) -> None:
    path = tmp_path / "disposed.jsonl"
    subject: Subject[StreamEvent] = Subject()
    subscription = subject.pipe(to_jsonl(path)).subscribe()
    subject.on_next(TextDelta("x"))
    subscription.dispose()
    await asyncio.sleep(0)
    assert list(read_events(path)) == [TextDelta("x")]
    with pytest.raises(ValueError):
        to_jsonl(path, what="lines")  # type: ignore[arg-type]


async def test_to_jsonl_after_a_crash_appends_onto_a_clean_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    await collect(reactivex.from_iterable(EVENTS[:2]).pipe(to_jsonl(path)))
    with open(path, "ab") as file:
        file.write(b'{"type": "TextDelta", "te')  # a crash mid-write
    await collect(reactivex.from_iterable(EVENTS[2:4]).pipe(to_jsonl(path)))
    assert list(read_events(path)) == EVENTS[:4]


@pytest.mark.parametrize("name", sorted(set(jsonl.__all__) - {"to_jsonl", "read_events"}))
def test_moved_names_are_still_importable_from_the_sink(name: str) -> None:
    """The codec and the file primitive moved down a layer; the sink re-exports them unchanged."""
    home = next(m for m in (json_codec, jsonl_file, errors) if name in m.__all__)
    assert getattr(jsonl, name) is getattr(home, name)
    if name != "StrPath":
        assert getattr(sinks, name) is getattr(home, name)
