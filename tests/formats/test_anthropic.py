"""Anthropic messages format: transcripts decoded to events, request building, round trip."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    MalformedEventError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from streamkit.events import (
    BlockDelta,
    BlockStart,
    Citation,
    ContentEvent,
    Finish,
    ProviderData,
    ReasoningDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.formats.anthropic import API_VERSION, AnthropicDecoder
from streamkit.sse import SSEDecoder, SSEEvent
from tests.formats._json_mutations import DELETE, JSON, json_paths, mutate

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


def without_blocks(events: list[ContentEvent]) -> list[ContentEvent]:
    """``events`` without the ``BlockStart`` that opens every content block."""
    return [e for e in events if not isinstance(e, BlockStart)]


def block_kinds(events: list[ContentEvent]) -> list[tuple[int, str]]:
    return [(e.index, e.kind) for e in events if isinstance(e, BlockStart)]


def started() -> AnthropicDecoder:
    decoder = AnthropicDecoder()
    decoder.decode(event("message_start", message={"id": "m", "model": "c"}))
    return decoder


# -- transcripts ------------------------------------------------------------------------------


def test_text_transcript() -> None:
    decoder = AnthropicDecoder()
    events = decode_bytes(transcript("anthropic_text.sse"), decoder)
    assert block_kinds(events) == [(0, "text")]
    assert without_blocks(events) == [
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
    assert block_kinds(events) == [(0, "text"), (1, "tool_use"), (2, "tool_use")]
    assert without_blocks(events) == [
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


def test_server_tool_blocks_make_no_client_tool_calls() -> None:
    events = decode_bytes(transcript("anthropic_server_tools.sse"))
    # Server tool blocks keep their input deltas, untyped; the citation is typed.
    assert {(e.index, e.delta["type"]) for e in events if isinstance(e, BlockDelta)} == {
        (1, "input_json_delta"),
        (4, "input_json_delta"),
        (6, "input_json_delta"),
        (6, "future_delta"),
    }
    assert [(e.index, e.citation["cited_text"]) for e in events if isinstance(e, Citation)] == [
        (3, "Sunny, 21 C")
    ]
    assert [e for e in without_blocks(events) if not isinstance(e, BlockDelta | Citation)] == [
        StreamStart("msg_02", "claude-sonnet-4-5"),
        START_USAGE,
        TextDelta("Let me search."),
        TextDelta(" It is sunny.", index=3),
        ToolCallDelta(7, id="toolu_c", name="get_time", arguments=""),
        ToolCallDelta(7, arguments='{"tz": "CET"}'),
        ToolCallEnd(7),
        Finish("tool_calls", "tool_use"),
        Usage(input_tokens=25, output_tokens=140),
    ]
    message = build_message(events)
    assert message.text == "Let me search. It is sunny."
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("toolu_c", "get_time", {"tz": "CET"})
    ]


@pytest.mark.parametrize(
    "block",
    [
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {"q": 1}},
        {"type": "mcp_tool_use", "id": "mcptoolu_1", "name": "lookup", "server_name": "kb"},
        {"type": "web_search_tool_result", "tool_use_id": "srvtoolu_1", "content": []},
        {"type": "mcp_tool_result", "tool_use_id": "mcptoolu_1", "content": []},
        {"type": "block_from_the_future", "input": {"a": 1}},
    ],
)
def test_non_client_blocks_are_kept_but_never_tool_calls(block: dict[str, Any]) -> None:
    decoder = started()
    assert decoder.decode(event("content_block_start", index=0, content_block=block)) == [
        BlockStart(0, block["type"], block)
    ]
    for delta in (
        {"type": "input_json_delta", "partial_json": '{"query": "x"}'},
        {"type": "delta_from_the_future", "payload": [1]},
    ):
        assert decoder.decode(event("content_block_delta", index=0, delta=delta)) == [
            BlockDelta(0, delta)
        ]
    assert decoder.decode(event("content_block_stop", index=0)) == []


def test_thinking_transcript() -> None:
    events = decode_bytes(transcript("anthropic_thinking.sse"))
    assert block_kinds(events) == [(0, "thinking"), (1, "redacted_thinking"), (2, "text")]
    assert without_blocks(events) == [
        START,
        START_USAGE,
        ReasoningDelta("Let me think", index=0),
        ReasoningDelta(" step by step.", index=0),
        ReasoningDelta("EqQBCgIYAh", kind="signature", index=0),
        ReasoningDelta("EmwKAhgBEgy3va", kind="redacted", index=1),
        TextDelta("42", index=2),
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
    events = decoder.decode(
        event("content_block_start", index=0, content_block={"type": "text", "text": "pre"})
    )
    assert without_blocks(events) == [TextDelta("pre")]


def test_tool_use_block_start_with_input_emits_json() -> None:
    decoder = started()
    block = {"type": "tool_use", "id": "t", "name": "f", "input": {"a": 1}}
    events = decoder.decode(event("content_block_start", index=0, content_block=block))
    assert without_blocks(events) == [ToolCallDelta(0, id="t", name="f", arguments='{"a":1}')]


def test_ping_anywhere_and_after_stop() -> None:
    decoder = AnthropicDecoder()
    assert decoder.decode(event("ping")) == []  # before message_start: fine
    decoder = started()
    decoder.decode(event("message_stop"))
    assert decoder.finished
    assert decoder.decode(event("ping")) == []
    with pytest.raises(ProtocolError, match="after message_stop"):
        decoder.decode(event("message_delta", delta={}))


def test_unknown_event_and_delta_types_are_kept_uninterpreted() -> None:
    decoder = started()
    new = decoder.decode(event("brand_new_event", foo=1))
    assert new == [ProviderData("brand_new_event", {"type": "brand_new_event", "foo": 1})]
    decoder.decode(event("content_block_start", index=0, content_block={"type": "text"}))
    delta = {"type": "citations"}
    assert decoder.decode(event("content_block_delta", index=0, delta=delta)) == [
        BlockDelta(0, delta)
    ]
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


def opened() -> AnthropicDecoder:
    """A started decoder with blocks open: 0 text, 1 tool_use, 2 thinking, 3 server_tool_use."""
    decoder = started()
    blocks: list[dict[str, Any]] = [
        {"type": "text", "text": ""},
        {"type": "tool_use", "id": "toolu_1", "name": "f", "input": {}},
        {"type": "thinking", "thinking": ""},
        {"type": "server_tool_use", "id": "srvtoolu_1", "name": "web_search", "input": {}},
    ]
    for index, block in enumerate(blocks):
        decoder.decode(event("content_block_start", index=index, content_block=block))
    return decoder


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (event("message_delta", delta={"stop_reason": {"a": 1}}), "stop_reason"),
        (event("message_delta", delta={"stop_reason": ["end_turn"]}), "stop_reason"),
        (event("message_delta", delta={"stop_reason": 5}), "stop_reason"),
        (event("message_delta", delta={}, usage={"output_tokens": "3"}), "output_tokens"),
        (event("message_delta", delta={}, usage={"input_tokens": True}), "input_tokens"),
        (event("message_delta", delta={}, usage=[1]), "usage"),
        (event("content_block_start", index=9, content_block={"type": "text", "text": 5}), "text"),
        (event("content_block_start", index=9, content_block={"type": "tool_use", "id": 5}), "id"),
        (
            event("content_block_start", index=9, content_block={"type": "tool_use", "name": []}),
            "name",
        ),
        (
            event(
                "content_block_start", index=9, content_block={"type": "thinking", "thinking": 1}
            ),
            "thinking",
        ),
        (
            event(
                "content_block_start",
                index=9,
                content_block={"type": "redacted_thinking", "data": {}},
            ),
            "data",
        ),
        (event("content_block_delta", index=0, delta={"type": "text_delta", "text": 5}), "text"),
        (
            event(
                "content_block_delta",
                index=1,
                delta={"type": "input_json_delta", "partial_json": {}},
            ),
            "partial_json",
        ),
        (
            event(
                "content_block_delta", index=2, delta={"type": "thinking_delta", "thinking": [1]}
            ),
            "thinking",
        ),
        (
            event(
                "content_block_delta", index=2, delta={"type": "signature_delta", "signature": 1}
            ),
            "signature",
        ),
    ],
)
def test_malformed_shapes_are_protocol_errors_naming_the_field(bad: SSEEvent, field: str) -> None:
    with pytest.raises(ProtocolError) as info:
        opened().decode(bad)
    assert f"{field!r}" in str(info.value)
    assert len(str(info.value)) < 1000


@pytest.mark.parametrize(
    ("message", "field"),
    [
        ({"id": 5, "model": "c"}, "id"),
        ({"id": "m", "model": ["c"]}, "model"),
        ({"id": "m", "model": "c", "role": {}}, "role"),
        ({"id": "m", "model": "c", "usage": {"input_tokens": "25"}}, "input_tokens"),
        ({"id": "m", "model": "c", "usage": {"output_tokens": 1.5}}, "output_tokens"),
        ({"id": "m", "model": "c", "usage": "lots"}, "usage"),
    ],
)
def test_malformed_message_start_is_protocol_error_naming_the_field(
    message: dict[str, Any], field: str
) -> None:
    with pytest.raises(ProtocolError) as info:
        AnthropicDecoder().decode(event("message_start", message=message))
    assert f"{field!r}" in str(info.value)


def test_error_event_with_odd_fields_is_still_typed() -> None:
    bad = event("error", error={"type": ["x"], "message": {"m": 1}}, request_id=5)
    with pytest.raises(ServerError) as info:
        started().decode(bad)
    assert info.value.request_id is None and info.value.error_type is None


_MESSAGE_START: dict[str, Any] = {
    "type": "message_start",
    "message": {
        "id": "m",
        "model": "c",
        "role": "assistant",
        "usage": {"input_tokens": 1, "output_tokens": 1},
    },
}
_TEMPLATES: list[dict[str, Any]] = [
    *(
        {"type": "content_block_start", "index": 9, "content_block": block}
        for block in (
            {"type": "text", "text": "t"},
            {"type": "tool_use", "id": "toolu_9", "name": "f", "input": {"a": [1]}},
            {"type": "thinking", "thinking": "hm"},
            {"type": "redacted_thinking", "data": "xx"},
            {"type": "server_tool_use", "id": "srvtoolu_9", "name": "web_search", "input": {}},
        )
    ),
    *(
        {"type": "content_block_delta", "index": index, "delta": delta}
        for index in range(4)
        for delta in (
            {"type": "text_delta", "text": "t"},
            {"type": "input_json_delta", "partial_json": "{"},
            {"type": "thinking_delta", "thinking": "hm"},
            {"type": "signature_delta", "signature": "sig"},
        )
    ),
    *({"type": "content_block_stop", "index": index} for index in range(4)),
    {
        "type": "message_delta",
        "delta": {"stop_reason": "end_turn", "stop_sequence": None},
        "usage": {"input_tokens": 3, "output_tokens": 4},
    },
    {"type": "error", "error": {"type": "overloaded_error", "message": "busy"}, "request_id": "r"},
]


def assert_well_typed(decoded: ContentEvent) -> None:
    """Every field of a decoded event has its declared type."""
    if isinstance(decoded, StreamStart):
        assert all(isinstance(v, str) for v in (decoded.id, decoded.model, decoded.role))
    elif isinstance(decoded, TextDelta | ReasoningDelta):
        assert isinstance(decoded.text, str)
    elif isinstance(decoded, ToolCallDelta):
        assert isinstance(decoded.arguments, str)
        assert decoded.id is None or isinstance(decoded.id, str)
        assert decoded.name is None or isinstance(decoded.name, str)
    elif isinstance(decoded, Finish):
        assert isinstance(decoded.raw_reason, str)
    elif isinstance(decoded, Usage):
        for tokens in (decoded.input_tokens, decoded.output_tokens):
            assert tokens is None or (isinstance(tokens, int) and not isinstance(tokens, bool))


_CASES = [(_MESSAGE_START, path) for path in json_paths(_MESSAGE_START)] + [
    (template, path) for template in _TEMPLATES for path in json_paths(template)
]


@given(case=st.sampled_from(_CASES), value=JSON | st.just(DELETE), named=st.booleans())
def test_any_json_in_any_position_gives_events_or_protocol_error(
    case: tuple[dict[str, Any], tuple[Any, ...]], value: Any, named: bool
) -> None:
    template, path = case
    if not path and value is DELETE:
        return
    decoder = AnthropicDecoder() if template is _MESSAGE_START else opened()
    mutated = mutate(template, path, value)
    data = orjson.dumps(mutated).decode()
    sse = SSEEvent(event=template["type"] if named else "message", data=data)
    try:
        events = decoder.decode(sse)
    except (ProtocolError, APIStatusError):
        return
    tool_use_blocks = {1}  # the one opened() starts
    if template["type"] == "content_block_start" and isinstance(mutated, dict):
        block = mutated.get("content_block")
        if isinstance(block, dict) and block.get("type") == "tool_use":
            tool_use_blocks.add(mutated.get("index"))
    for decoded in events:
        assert_well_typed(decoded)
        if isinstance(decoded, ToolCallDelta | ToolCallEnd):  # only client tool_use blocks
            assert decoded.index in tool_use_blocks


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
        if isinstance(e, BlockStart):
            continue  # the encoder opens blocks itself, numbering them as they come
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
        TextDelta("Hello ", index=1),
        TextDelta("wörld", index=1),
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
    assert without_blocks(decoded)[6] == ToolCallDelta(2, id="toolu_1", name="f")


def test_round_trip_of_each_transcript_is_stable() -> None:
    for name in ("anthropic_text.sse", "anthropic_tools.sse", "anthropic_thinking.sse"):
        events = decode_bytes(transcript(name))
        assert canonical(decode_bytes(encode_all(events))) == canonical(events), name


def test_a_negative_block_index_is_a_protocol_error() -> None:
    start = {"type": "content_block_start", "index": -1, "content_block": {"type": "text"}}
    with pytest.raises(ProtocolError, match="negative 'index'"):
        started().decode(SSEEvent(event="content_block_start", data=orjson.dumps(start).decode()))
