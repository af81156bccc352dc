"""JSON Lines: events and messages round-trip, and a torn last line is all a crash can cost."""

from __future__ import annotations

import asyncio
from pathlib import Path

import orjson
import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex.subject import Subject

from streamkit.bridge import collect
from streamkit.errors import ConnectionLostError, ProtocolError, RateLimitError
from streamkit.events import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    Retrying,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.sinks.jsonl import (
    JSONLError,
    RecordedError,
    append_jsonl,
    event_from_dict,
    event_to_dict,
    message_from_dict,
    message_to_dict,
    read_events,
    read_jsonl,
    to_jsonl,
)

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


def test_every_event_type_round_trips_with_raw_time_and_bytes() -> None:
    for event in EVENTS:
        record = orjson.loads(orjson.dumps(event_to_dict(event)))
        back = event_from_dict(record)
        assert back == event
        assert (back.raw, back.received_at, back.wire_bytes) == (
            event.raw,
            event.received_at,
            event.wire_bytes,
        )
    assert event_to_dict(EVENTS[3]) == {
        "type": "TextDelta",
        "text": "Grüße ",
        "choice": 0,
        "raw": None,
        "received_at": 1.75,
        "wire_bytes": 12,
    }


def test_exceptions_are_recorded_by_class_name_and_message() -> None:
    event = Retrying(2, 0.5, RateLimitError("slow down", status=429), received_at=3.0)
    record = event_to_dict(event)
    assert record["cause"] == {"type": "RateLimitError", "message": str(event.cause)}
    back = event_from_dict(orjson.loads(orjson.dumps(record)))
    assert isinstance(back, Retrying) and (back.attempt, back.delay) == (2, 0.5)
    assert isinstance(back.cause, RecordedError)
    assert (back.cause.type_name, str(back.cause)) == ("RateLimitError", str(event.cause))
    assert event_to_dict(back)["cause"] == record["cause"]  # and again, unchanged
    assert event_from_dict({"type": "Rewind", "attempt": 3}) == Rewind(3)


@pytest.mark.parametrize(
    "record",
    [{"type": "Nope"}, {"text": "no type"}, {"type": "TextDelta", "bogus": 1}, {"type": "Finish"}],
)
def test_records_that_are_not_events_raise_protocol_error(record: dict[str, object]) -> None:
    with pytest.raises(ProtocolError):
        event_from_dict(record)


def test_message_round_trips_through_its_dict() -> None:
    message = build_message(EVENTS)
    record = orjson.loads(orjson.dumps(message_to_dict(message)))
    assert record["choices"][0]["tool_calls"][0]["arguments"] == {"city": "Zürich"}
    assert message_from_dict(record) == message
    with pytest.raises(ProtocolError):
        message_from_dict({"model": "m"})


def test_append_and_read_back_in_order(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    for i in range(3):
        append_jsonl(path, {"i": i, "text": "é\n"})
    assert path.read_bytes().count(b"\n") == 3
    assert list(read_jsonl(path)) == [{"i": i, "text": "é\n"} for i in range(3)]


def _records() -> list[dict[str, object]]:
    return [event_to_dict(event) for event in EVENTS]


def test_torn_last_line_at_every_offset_loses_only_that_record(tmp_path: Path) -> None:
    path = tmp_path / "torn.jsonl"
    records = _records()
    lines = [orjson.dumps(r) + b"\n" for r in records]
    head = b"".join(lines[:-1])
    for cut in range(len(lines[-1])):
        path.write_bytes(head + lines[-1][:cut])
        expected = records if cut == len(lines[-1]) - 1 else records[:-1]
        assert list(read_jsonl(path)) == expected, cut


@given(
    st.lists(st.dictionaries(st.text(), st.text() | st.integers(-(2**63), 2**63 - 1)), min_size=1),
    st.data(),
)
def test_a_crash_mid_write_never_costs_a_complete_record(
    tmp_path_factory: pytest.TempPathFactory,
    records: list[dict[str, object]],
    data: st.DataObject,
) -> None:
    path = tmp_path_factory.mktemp("crash") / "f.jsonl"
    for record in records:
        append_jsonl(path, record)
    content = path.read_bytes()
    cut = data.draw(st.integers(min_value=0, max_value=len(content)))
    path.write_bytes(content[:cut])
    complete = content[:cut].count(b"\n")
    got = list(read_jsonl(path))
    assert got[:complete] == records[:complete]
    assert len(got) in (complete, complete + 1)


def test_corruption_before_the_last_line_names_the_line(tmp_path: Path) -> None:
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"a": 1}\n\n{"a": \n{"a": 3}\n')
    with pytest.raises(JSONLError) as caught:
        list(read_jsonl(path))
    assert caught.value.line_number == 3
    assert "line 3" in str(caught.value)
    path.write_bytes(b'{"a": 1}\n[1, 2]\n')
    with pytest.raises(JSONLError, match="line 2"):
        list(read_jsonl(path))


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
    errors: list[Exception] = []
    subject.pipe(to_jsonl(tmp_path / "missing-dir" / "f.jsonl")).subscribe(on_error=errors.append)
    subject.on_next(TextDelta("x"))
    assert [type(e) for e in errors] == [FileNotFoundError]
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


def test_appending_after_a_torn_last_line_at_every_offset_keeps_the_file_readable(
    tmp_path: Path,
) -> None:
    path = tmp_path / "resume.jsonl"
    records = _records()
    lines = [orjson.dumps(r) + b"\n" for r in records]
    head = b"".join(lines[:-1])
    for cut in range(len(lines[-1])):
        path.write_bytes(head + lines[-1][:cut])
        append_jsonl(path, {"next": "run"})
        kept = records if cut == len(lines[-1]) - 1 else records[:-1]  # whole but no newline
        assert list(read_jsonl(path)) == [*kept, {"next": "run"}], cut
        assert path.read_bytes().endswith(b'{"next":"run"}\n')


async def test_to_jsonl_after_a_crash_appends_onto_a_clean_line(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    await collect(reactivex.from_iterable(EVENTS[:2]).pipe(to_jsonl(path)))
    with open(path, "ab") as file:
        file.write(b'{"type": "TextDelta", "te')  # a crash mid-write
    await collect(reactivex.from_iterable(EVENTS[2:4]).pipe(to_jsonl(path)))
    assert list(read_events(path)) == EVENTS[:4]


def test_a_torn_line_longer_than_a_read_block_is_cut_whole(tmp_path: Path) -> None:
    path = tmp_path / "long.jsonl"
    path.write_bytes(b'{"a": 1}\n{"b": "' + b"x" * 200_000)
    append_jsonl(path, {"c": 3})
    assert list(read_jsonl(path)) == [{"a": 1}, {"c": 3}]
    path.write_bytes(b'{"b": "' + b"x" * 200_000)  # no complete line at all
    append_jsonl(path, {"c": 3})
    assert path.read_bytes() == b'{"c":3}\n'


@pytest.mark.parametrize(
    ("record", "field"),
    [
        ({"type": "TextDelta", "text": 5}, "text"),
        ({"type": "Finish", "reason": "banana", "raw_reason": "x"}, "reason"),
        ({"type": "Finish", "reason": "stop", "raw_reason": 1}, "raw_reason"),
        ({"type": "Usage", "input_tokens": True}, "input_tokens"),
        ({"type": "Usage", "output_tokens": "9"}, "output_tokens"),
        ({"type": "TextDelta", "text": "a", "received_at": "soon"}, "received_at"),
        ({"type": "ReasoningDelta", "text": "a", "kind": "nope"}, "kind"),
        ({"type": "Retrying", "attempt": 1, "delay": 0.5, "cause": "x"}, "cause"),
        ({"type": "ToolCallDelta", "index": 1.5}, "index"),
    ],
)
def test_values_of_the_wrong_type_name_their_field(record: dict[str, object], field: str) -> None:
    with pytest.raises(ProtocolError, match=f"field '{field}'"):
        event_from_dict(record)


def test_integral_times_read_back_as_floats() -> None:
    event = event_from_dict({"type": "TextDelta", "text": "a", "received_at": 3})
    assert event.received_at == 3.0 and isinstance(event.received_at, float)
