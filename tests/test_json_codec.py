"""The JSON codec: every event and the message round-trip, and bad records name their field."""

from __future__ import annotations

import orjson
import pytest

from streamkit.errors import ProtocolError, RateLimitError, RecordedError, StreamkitError
from streamkit.events import (
    BlockDelta,
    BlockStart,
    Citation,
    Finish,
    Logprobs,
    ProviderData,
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
from streamkit.json_codec import event_from_dict, event_to_dict, message_from_dict, message_to_dict

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
        "index": 0,
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


def test_a_recorded_error_is_a_streamkit_error_that_is_not_retryable() -> None:
    error = RecordedError("RateLimitError", "slow down")
    assert isinstance(error, StreamkitError)
    assert not error.retryable
    assert repr(error) == "RecordedError('RateLimitError', 'slow down')"


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


def test_the_events_issue_11_added_round_trip() -> None:
    events = [
        BlockStart(2, "server_tool_use", {"type": "server_tool_use", "id": "s", "input": {}}),
        BlockDelta(2, {"type": "input_json_delta", "partial_json": '{"q": 1}'}),
        Citation({"type": "char_location", "cited_text": "x"}, index=1),
        Logprobs(content=({"token": "a", "logprob": -0.5},), refusal=None, choice=1),
        ProviderData("prompt_filter_results", [{"prompt_index": 0}]),
        StreamStart("c", "m", created=5, system_fingerprint="fp", service_tier="default"),
        Usage(3, 4, cached_input_tokens=1, reasoning_tokens=2, details={"prompt_tokens": 3}),
        Finish("stop", "stop_sequence", stop_sequence="###"),
    ]
    for event in events:
        back = event_from_dict(orjson.loads(orjson.dumps(event_to_dict(event))))
        assert back == event
    usage = event_from_dict(orjson.loads(orjson.dumps(event_to_dict(events[6]))))
    assert usage.details == {"prompt_tokens": 3}  # type: ignore[union-attr]


def test_a_message_with_every_kind_of_block_round_trips() -> None:
    from pathlib import Path

    from streamkit.chat_decoder import ChatDecoder

    transcripts = Path(__file__).parent / "formats" / "transcripts"
    for name in ("anthropic_server_tools.sse", "openai_metadata_and_logprobs.sse"):
        decoder = ChatDecoder("anthropic" if name.startswith("anthropic") else "openai")
        message = build_message(decoder.feed((transcripts / name).read_bytes()))
        record = orjson.loads(orjson.dumps(message_to_dict(message)))
        assert message_from_dict(record) == message, name
