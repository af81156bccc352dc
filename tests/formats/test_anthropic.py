"""Anthropic messages format: transcripts decoded to events, request building, round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    MalformedEventError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from streamkit.events import (
    ContentEvent,
    Finish,
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.formats import get_format
from streamkit.formats.anthropic import API_VERSION, AnthropicDecoder
from streamkit.sse import SSEDecoder, SSEEvent

TRANSCRIPTS = Path(__file__).parent / "transcripts"
FMT = get_format("anthropic")
START = StreamStart("msg_01", "claude-sonnet-4-5")
START_USAGE = Usage(input_tokens=25, output_tokens=1)


def decode_bytes(data: bytes, decoder: AnthropicDecoder | None = None) -> list[ContentEvent]:
    """Decode a whole transcript with the pure SSE and Anthropic decoders."""
    decoder = decoder or AnthropicDecoder()
    sse = SSEDecoder()
    events = [event for s in sse.feed(data) for event in decoder.decode(s, received_at=2.0)]
    sse.close()
    return events


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


def event(kind: str, **fields: Any) -> SSEEvent:
    return SSEEvent(event=kind, data=orjson.dumps({"type": kind, **fields}).decode())


def started() -> AnthropicDecoder:
    decoder = AnthropicDecoder()
    decoder.decode(event("message_start", message={"id": "m", "model": "c"}))
    return decoder


# -- transcripts ------------------------------------------------------------------------------


def test_text_transcript() -> None:
    decoder = AnthropicDecoder()
    events = decode_bytes(transcript("anthropic_text.sse"), decoder)
    assert events == [
        START,
        START_USAGE,
        TextDelta("Hello"),
        TextDelta(", wörld 👋"),
        Finish("stop", "end_turn"),
        Usage(input_tokens=25, output_tokens=15),
    ]
    assert decoder.finished
    assert all(e.received_at == 2.0 for e in events)
    assert events[0].raw["message"]["usage"] == {"input_tokens": 25, "output_tokens": 1}


def test_tool_use_transcript() -> None:
    events = decode_bytes(transcript("anthropic_tools.sse"))
    assert events == [
        START,
        START_USAGE,
        TextDelta("Checking."),
        ToolCallDelta(1, id="toolu_a", name="get_weather", arguments=""),
        ToolCallDelta(1, arguments=""),
        ToolCallDelta(1, arguments='{"city": "Pa'),
        ToolCallDelta(1, arguments='ris"}'),
        ToolCallEnd(1),
        ToolCallDelta(2, id="toolu_b", name="get_time", arguments=""),
        ToolCallDelta(2, arguments='{"tz": "CET"}'),
        ToolCallEnd(2),
        Finish("tool_calls", "tool_use"),
        Usage(input_tokens=25, output_tokens=89),
    ]


def test_thinking_transcript() -> None:
    events = decode_bytes(transcript("anthropic_thinking.sse"))
    assert events == [
        START,
        START_USAGE,
        ReasoningDelta("Let me think", index=0),
        ReasoningDelta(" step by step.", index=0),
        ReasoningDelta("EqQBCgIYAh", kind="signature", index=0),
        ReasoningDelta("EmwKAhgBEgy3va", kind="redacted", index=1),
        TextDelta("42"),
        Finish("length", "max_tokens"),
        Usage(input_tokens=25, output_tokens=120),
    ]


def test_overloaded_error_event_is_typed() -> None:
    with pytest.raises(ServerError) as info:
        decode_bytes(transcript("anthropic_error.sse"))
    error = info.value
    assert error.status == 529
    assert error.error_type == "overloaded_error"
    assert error.message == "Overloaded"
    assert error.in_stream
    assert error.retryable


@pytest.mark.parametrize(
    ("error_type", "cls", "status"),
    [
        ("rate_limit_error", RateLimitError, 429),
        ("authentication_error", AuthenticationError, 401),
        ("invalid_request_error", APIStatusError, 400),
        ("api_error", ServerError, 500),
        ("brand_new_error", ServerError, 500),
    ],
)
def test_error_event_types(error_type: str, cls: type[APIStatusError], status: int) -> None:
    with pytest.raises(cls) as info:
        AnthropicDecoder().decode(event("error", error={"type": error_type, "message": "m"}))
    assert type(info.value) is cls
    assert info.value.status == status and info.value.in_stream


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("stop_sequence", "stop"),
        ("tool_use", "tool_calls"),
        ("refusal", "content_filter"),
        ("pause_turn", "other"),
    ],
)
def test_every_stop_reason(raw: str, reason: str) -> None:
    events = started().decode(
        event("message_delta", delta={"stop_reason": raw}, usage={"output_tokens": 3})
    )
    assert events == [Finish(reason, raw), Usage(input_tokens=None, output_tokens=3)]  # type: ignore[arg-type]


def test_message_delta_input_tokens_supersede_message_start() -> None:
    decoder = AnthropicDecoder()
    decoder.decode(
        event("message_start", message={"id": "m", "model": "c", "usage": {"input_tokens": 5}})
    )
    same = decoder.decode(event("message_delta", delta={}, usage={"output_tokens": 1}))
    assert same == [Usage(input_tokens=5, output_tokens=1)]
    new = decoder.decode(
        event("message_delta", delta={}, usage={"input_tokens": 9, "output_tokens": 2})
    )
    assert new == [Usage(input_tokens=9, output_tokens=2)]


def test_text_block_start_with_text_emits_it() -> None:
    decoder = started()
    assert decoder.decode(
        event("content_block_start", index=0, content_block={"type": "text", "text": "pre"})
    ) == [TextDelta("pre")]


def test_tool_use_block_start_with_input_emits_json() -> None:
    decoder = started()
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}
    assert decoder.decode(event("content_block_start", index=0, content_block=block)) == [
        ToolCallDelta(0, id="t", name="f", arguments='{"a":1}')
    ]


def test_ping_anywhere_and_after_stop() -> None:
    decoder = AnthropicDecoder()
    assert decoder.decode(event("ping")) == []  # before message_start: fine
    decoder = started()
    decoder.decode(event("message_stop"))
    assert decoder.finished
    assert decoder.decode(event("ping")) == []
    with pytest.raises(ProtocolError, match="after message_stop"):
        decoder.decode(event("message_delta", delta={}))


def test_unknown_event_and_delta_types_are_skipped() -> None:
    decoder = started()
    assert decoder.decode(event("brand_new_event", foo=1)) == []
    decoder.decode(event("content_block_start", index=0, content_block={"type": "text"}))
    assert decoder.decode(event("content_block_delta", index=0, delta={"type": "citations"})) == []
    assert decoder.decode(event("content_block_stop", index=0)) == []


def test_data_only_events_use_the_payload_type() -> None:
    decoder = AnthropicDecoder()
    message = SSEEvent(data='{"type": "message_start", "message": {"id": "m", "model": "c"}}')
    assert decoder.decode(message) == [StreamStart("m", "c")]


@pytest.mark.parametrize(
    "bad",
    [
        event("content_block_delta", index=0, delta={"type": "text_delta", "text": "x"}),
        event("content_block_stop", index=0),
    ],
)
def test_block_events_before_message_start_or_block_start(bad: SSEEvent) -> None:
    with pytest.raises(ProtocolError, match="before message_start"):
        AnthropicDecoder().decode(bad)
    with pytest.raises(ProtocolError, match="not open"):
        started().decode(bad)


def test_second_message_start_and_reopened_block_are_protocol_errors() -> None:
    decoder = started()
    with pytest.raises(ProtocolError):
        decoder.decode(event("message_start", message={"id": "m", "model": "c"}))
    decoder.decode(event("content_block_start", index=0, content_block={"type": "text"}))
    with pytest.raises(ProtocolError, match="already open"):
        decoder.decode(event("content_block_start", index=0, content_block={"type": "text"}))


@pytest.mark.parametrize(
    "bad",
    [
        event("content_block_start", index="0", content_block={"type": "text"}),
        event("content_block_start", index=True, content_block={"type": "text"}),
        event("content_block_start", index=0),
        event("content_block_delta", index=0, delta="x"),
        event("message_delta", delta=None),
    ],
)
def test_missing_or_wrong_fields_are_protocol_errors(bad: SSEEvent) -> None:
    with pytest.raises(ProtocolError):
        started().decode(bad)


def test_malformed_json_is_protocol_error_naming_the_event() -> None:
    with pytest.raises(MalformedEventError) as info:
        AnthropicDecoder().decode(SSEEvent(event="content_block_delta", data="{" + "y" * 3000))
    message = str(info.value)
    assert "'content_block_delta'" in message
    assert "more characters" in message and len(message) < 1000


# -- requests ---------------------------------------------------------------------------------


def test_path_and_headers() -> None:
    assert FMT.name == "anthropic"
    assert FMT.path == "/v1/messages"
    headers = FMT.headers("sk-ant-secret")
    assert headers["x-api-key"] == "sk-ant-secret"
    assert headers["anthropic-version"] == API_VERSION == "2023-06-01"
    assert headers["accept"] == "text/event-stream"
    assert "authorization" not in headers
    assert "x-api-key" not in FMT.headers(None)


def test_stream_body() -> None:
    body = {"model": "c", "max_tokens": 10, "messages": [{"role": "user", "content": "hi"}]}
    assert FMT.stream_body(body) == {**body, "stream": True}
    assert "stream" not in body


def test_continuation_body_prefills_assistant() -> None:
    body: dict[str, Any] = {
        "model": "c",
        "max_tokens": 10,
        "messages": [{"role": "user", "content": "count"}],
    }
    cont = FMT.continuation_body(body, "1 2")
    assert cont["stream"] is True and cont["max_tokens"] == 10
    assert cont["messages"] == [
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": "1 2"},
    ]
    assert len(body["messages"]) == 1


def test_continuation_body_extends_an_existing_prefill() -> None:
    body: dict[str, Any] = {
        "model": "c",
        "messages": [
            {"role": "user", "content": "count"},
            {"role": "assistant", "content": [{"type": "text", "text": "Sure: "}]},
        ],
    }
    cont = FMT.continuation_body(body, "1 2")
    assert cont["messages"] == [
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": "Sure: 1 2"},
    ]
    assert len(body["messages"]) == 2


def test_error_from_response() -> None:
    body = orjson.dumps(FMT.error_body(529, "overloaded_error", "Overloaded"))
    error = FMT.error_from_response(529, body, {"request-id": "req_9", "retry-after-ms": "1500"})
    assert isinstance(error, ServerError)
    assert (error.status, error.error_type, error.message) == (
        529,
        "overloaded_error",
        "Overloaded",
    )
    assert error.request_id == "req_9"
    assert error.retry_after == 1.5


def test_keep_alive_is_a_ping() -> None:
    sse = SSEDecoder().feed(FMT.keep_alive())
    assert [s.event for s in sse] == ["ping"]
    assert started().decode(sse[0]) == []


def test_error_event_round_trip() -> None:
    sse = SSEDecoder().feed(FMT.error_event("rate_limit_error", "slow"))
    with pytest.raises(RateLimitError) as info:
        AnthropicDecoder().decode(sse[0])
    assert info.value.message == "slow" and info.value.in_stream


# -- round trip -------------------------------------------------------------------------------


def canonical(events: list[ContentEvent]) -> list[ContentEvent]:
    """Tool call fragments in the one shape the wire allows: the block start carries id and name
    without arguments, and every later delta carries some arguments."""
    out: list[ContentEvent] = []
    for e in events:
        if isinstance(e, ToolCallDelta) and e.id is not None:
            out.append(ToolCallDelta(e.index, id=e.id, name=e.name, arguments=""))
            e = ToolCallDelta(e.index, arguments=e.arguments)
        if isinstance(e, ToolCallDelta) and e.id is None and not e.arguments:
            continue
        out.append(e)
    return out


def encode_all(events: list[ContentEvent]) -> bytes:
    encoder = FMT.encoder()
    return b"".join(encoder.encode(e) for e in events) + encoder.finish()


def test_encoder_decoder_round_trip() -> None:
    events: list[ContentEvent] = [
        StreamStart("msg_1", "claude-x"),
        Usage(input_tokens=10, output_tokens=1),
        ReasoningDelta("hmm", index=0),
        ReasoningDelta("sig", kind="signature", index=0),
        TextDelta("Hello "),
        TextDelta("wörld"),
        ToolCallDelta(2, id="toolu_1", name="f", arguments='{"a": '),
        ToolCallDelta(2, arguments="1}"),
        ToolCallEnd(2),
        Finish("tool_calls", "tool_use"),
        Usage(input_tokens=10, output_tokens=42),
    ]
    decoder = AnthropicDecoder()
    decoded = decode_bytes(encode_all(events), decoder)
    assert decoder.finished
    # The encoder numbers blocks as they open: thinking 0, text 1, tool 2.
    assert canonical(decoded) == canonical(events)
    assert decoded[6] == ToolCallDelta(2, id="toolu_1", name="f")


def test_round_trip_of_each_transcript_is_stable() -> None:
    for name in ("anthropic_text.sse", "anthropic_tools.sse", "anthropic_thinking.sse"):
        events = decode_bytes(transcript(name))
        assert canonical(decode_bytes(encode_all(events))) == canonical(events), name
