"""OpenAI chat completions format: transcripts decoded to events, request building, round trip."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.errors import (
    APIStatusError,
    MalformedEventError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from streamkit.events import (
    BlockStart,
    ContentEvent,
    Finish,
    ReasoningDelta,
    RefusalDelta,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.formats.openai import OpenAIDecoder
from streamkit.sse import SSEDecoder, SSEEvent
from tests.formats._json_mutations import DELETE, JSON, json_paths, mutate

TRANSCRIPTS = Path(__file__).parent / "transcripts"
FMT = get_format("openai")


def decode_bytes(data: bytes, decoder: OpenAIDecoder | None = None) -> list[ContentEvent]:
    """Decode a whole transcript with the pure SSE and OpenAI decoders."""
    decoder = decoder or OpenAIDecoder()
    sse = SSEDecoder()
    events = [event for s in sse.feed(data) for event in decoder.decode(s, received_at=1.5)]
    sse.close()
    return events


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


def chunk(choices: list[dict[str, Any]], **extra: Any) -> SSEEvent:
    body = {"id": "c1", "object": "chat.completion.chunk", "model": "m", "choices": choices}
    return SSEEvent(data=orjson.dumps({**body, **extra}).decode())


def choice(delta: dict[str, Any], finish: str | None = None, index: int = 0) -> dict[str, Any]:
    return {"index": index, "delta": delta, "finish_reason": finish}


def after_start(events: list[ContentEvent]) -> list[ContentEvent]:
    """``events`` without the ``StreamStart`` a decoder emits at each choice's first piece (and
    the ``BlockStart`` at its first content)."""
    return [event for event in events if not isinstance(event, StreamStart | BlockStart)]


def without_blocks(events: list[ContentEvent]) -> list[ContentEvent]:
    return [event for event in events if not isinstance(event, BlockStart)]


START = StreamStart("chatcmpl-abc", "gpt-4o-mini", created=1700000000, system_fingerprint="fp_1")


# -- transcripts ------------------------------------------------------------------------------


def test_text_transcript() -> None:
    decoder = OpenAIDecoder()
    events = decode_bytes(transcript("openai_text.sse"), decoder)
    assert events == [
        START,
        TextDelta("Hello"),
        TextDelta(", wörld"),
        TextDelta(" 👋"),
        Finish("stop", "stop"),
        Usage(input_tokens=9, output_tokens=4),
    ]
    assert decoder.finished
    assert all(e.received_at == 1.5 for e in events)
    assert events[1].raw["choices"][0]["delta"] == {"content": "Hello"}


def test_parallel_tool_calls_transcript() -> None:
    events = decode_bytes(transcript("openai_tools.sse"))
    assert events == [
        START,
        ToolCallDelta(0, id="call_a", name="get_weather", arguments=""),
        ToolCallDelta(0, arguments='{"city": '),
        ToolCallDelta(0, arguments='"Paris"}'),
        ToolCallDelta(1, id="call_b", name="get_time", arguments=""),
        ToolCallDelta(1, arguments='{"tz": "CET"}'),
        ToolCallEnd(0),  # a call ends with its choice, not when another call's piece comes
        ToolCallEnd(1),
        Finish("tool_calls", "tool_calls"),
        Usage(input_tokens=20, output_tokens=30),
    ]


def test_n_choices_kept_apart() -> None:
    events = decode_bytes(transcript("openai_n2.sse"))
    assert events == [
        replace(START, choice=0),
        replace(START, choice=1),
        TextDelta("A", choice=0),
        TextDelta("B", choice=1),
        TextDelta("a", choice=0),
        TextDelta("b", choice=1),
        Finish("stop", "stop", choice=1),
        Finish("length", "length", choice=0),
    ]


def test_refusal_transcript() -> None:
    events = decode_bytes(transcript("openai_refusal.sse"))
    assert events == [
        START,
        RefusalDelta("I can't"),
        RefusalDelta(" help with that."),
        Finish("content_filter", "content_filter"),
    ]


def test_error_in_stream_is_typed() -> None:
    with pytest.raises(RateLimitError) as info:
        decode_bytes(transcript("openai_error.sse"))
    error = info.value
    assert error.in_stream
    assert error.status == 429
    assert error.error_type == "rate_limit_exceeded"
    assert error.message == "Rate limit reached"
    assert error.retryable


def test_error_in_stream_unknown_type_is_server_error() -> None:
    decoder = OpenAIDecoder()
    with pytest.raises(ServerError) as info:
        decoder.decode(SSEEvent(data='{"error": {"message": "boom"}}'))
    assert info.value.status == 500 and info.value.in_stream and info.value.message == "boom"


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("content_filter", "content_filter"),
        ("function_call", "tool_calls"),
        ("something_new", "other"),
    ],
)
def test_every_finish_reason(raw: str, reason: str) -> None:
    events = after_start(OpenAIDecoder().decode(chunk([choice({}, raw)])))
    assert events == [Finish(reason, raw)]  # type: ignore[arg-type]


def test_legacy_function_call_is_a_tool_call() -> None:
    decoder = OpenAIDecoder()
    first = decoder.decode(chunk([choice({"function_call": {"name": "f", "arguments": ""}})]))
    second = decoder.decode(chunk([choice({"function_call": {"arguments": "{}"}})]))
    last = decoder.decode(chunk([choice({}, "function_call")]))
    assert after_start(first) == [ToolCallDelta(0, name="f")]
    assert second == [ToolCallDelta(0, arguments="{}")]
    assert last == [ToolCallEnd(0), Finish("tool_calls", "function_call")]


def test_tool_call_end_is_per_choice() -> None:
    decoder = OpenAIDecoder()
    call = {"index": 0, "id": "x", "function": {"name": "f", "arguments": "{}"}}
    decoder.decode(chunk([choice({"tool_calls": [call]}, index=0)]))
    decoder.decode(chunk([choice({"tool_calls": [call]}, index=1)]))
    assert decoder.decode(chunk([choice({}, "tool_calls", index=1)])) == [
        ToolCallEnd(0, choice=1),
        Finish("tool_calls", "tool_calls", choice=1),
    ]


def test_usage_chunk_with_empty_choices() -> None:
    events = OpenAIDecoder().decode(chunk([], usage={"prompt_tokens": 3, "completion_tokens": 5}))
    assert events == [Usage(input_tokens=3, output_tokens=5)]
    assert events[0].total_tokens == 8  # type: ignore[union-attr]


def test_null_usage_is_no_event() -> None:
    events = OpenAIDecoder().decode(chunk([choice({"content": "x"})], usage=None))
    assert after_start(events) == [TextDelta("x")]


def test_done_finishes_and_later_event_is_protocol_error() -> None:
    decoder = OpenAIDecoder()
    assert not decoder.finished
    assert decoder.decode(SSEEvent(data="[DONE]")) == []
    assert decoder.finished
    with pytest.raises(ProtocolError, match="after"):
        decoder.decode(chunk([choice({"content": "late"})]))


def test_malformed_json_is_protocol_error_naming_the_event() -> None:
    data = '{"choices": [' + "x" * 5000
    with pytest.raises(MalformedEventError) as info:
        OpenAIDecoder().decode(SSEEvent(event="message", data=data))
    message = str(info.value)
    assert "'message'" in message and "malformed JSON" in message
    assert len(message) < 1000  # the data is truncated
    assert "more characters" in message
    assert not isinstance(info.value, orjson.JSONDecodeError)


@pytest.mark.parametrize("data", ["[1, 2]", '"text"', "42", "null"])
def test_non_object_json_is_protocol_error(data: str) -> None:
    with pytest.raises(ProtocolError):
        OpenAIDecoder().decode(SSEEvent(data=data))


def test_malformed_choice_and_tool_call_are_protocol_errors() -> None:
    with pytest.raises(ProtocolError):
        OpenAIDecoder().decode(chunk(["nope"]))  # type: ignore[list-item]
    with pytest.raises(ProtocolError):
        OpenAIDecoder().decode(chunk([choice({"tool_calls": [{"index": "0"}]})]))


def test_empty_content_and_null_fields_make_no_events() -> None:
    events = OpenAIDecoder().decode(chunk([choice({"content": "", "refusal": None})]))
    assert after_start(events) == []


def call(index: int | None = 0, **fields: Any) -> dict[str, Any]:
    return {"index": index, **fields} if index is not None else fields


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"choices": 5}, "choices"),
        ({"choices": {"index": 0}}, "choices"),
        ({"choices": [{"index": "0", "delta": {}}]}, "index"),
        ({"choices": [{"index": {"n": 0}, "delta": {}}]}, "index"),
        ({"choices": [{"index": True, "delta": {}}]}, "index"),
        ({"choices": [choice("x")]}, "delta"),  # type: ignore[arg-type]
        ({"choices": [choice([1])]}, "delta"),  # type: ignore[arg-type]
        ({"choices": [choice({"role": 5})]}, "role"),
        ({"choices": [choice({"content": 5})]}, "content"),
        ({"choices": [choice({"content": ["a"]})]}, "content"),
        ({"choices": [choice({"refusal": {"a": 1}})]}, "refusal"),
        ({"choices": [choice({"tool_calls": 3})]}, "tool_calls"),
        ({"choices": [choice({"tool_calls": "ab"})]}, "tool_calls"),
        ({"choices": [choice({"tool_calls": [5]})]}, "tool_calls"),
        ({"choices": [choice({"tool_calls": [call(function="f")]})]}, "function"),
        ({"choices": [choice({"tool_calls": [call(id=5)]})]}, "id"),
        ({"choices": [choice({"tool_calls": [call(function={"name": 1})]})]}, "name"),
        ({"choices": [choice({"tool_calls": [call(function={"arguments": {}})]})]}, "arguments"),
        ({"choices": [choice({"function_call": "f"})]}, "function_call"),
        ({"choices": [choice({"function_call": {"name": ["f"]}})]}, "name"),
        ({"choices": [choice({}, {"a": 1})]}, "finish_reason"),  # type: ignore[arg-type]
        ({"choices": [choice({}, ["stop"])]}, "finish_reason"),  # type: ignore[arg-type]
        ({"choices": [choice({}, 5)]}, "finish_reason"),  # type: ignore[arg-type]
        ({"choices": [choice({"role": "assistant"})], "id": 5}, "id"),
        ({"choices": [choice({"role": "assistant"})], "model": ["m"]}, "model"),
        ({"choices": [], "usage": {"prompt_tokens": "3"}}, "prompt_tokens"),
        ({"choices": [], "usage": {"completion_tokens": 1.5}}, "completion_tokens"),
        ({"choices": [], "usage": 5}, "usage"),
    ],
)
def test_malformed_shapes_are_protocol_errors_naming_the_field(
    body: dict[str, Any], field: str
) -> None:
    sse = SSEEvent(data=orjson.dumps({"id": "c1", "model": "m", **body}).decode())
    with pytest.raises(ProtocolError) as info:
        OpenAIDecoder().decode(sse)
    assert f"{field!r}" in str(info.value)
    assert len(str(info.value)) < 1000


def test_malformed_shape_message_is_truncated() -> None:
    sse = chunk([choice({"content": 5, "padding": "x" * 5000})])
    with pytest.raises(ProtocolError) as info:
        OpenAIDecoder().decode(sse)
    assert "'content'" in str(info.value) and "more characters" in str(info.value)
    assert len(str(info.value)) < 1000


_TEMPLATE: dict[str, Any] = {
    "id": "c1",
    "model": "m",
    "choices": [
        {
            "index": 0,
            "delta": {
                "role": "assistant",
                "content": "hi",
                "refusal": "no",
                "tool_calls": [
                    {"index": 0, "id": "a", "function": {"name": "f", "arguments": "{}"}},
                    {"index": 1, "id": "b", "function": {"name": "g", "arguments": "{}"}},
                ],
                "function_call": {"name": "h", "arguments": "{}"},
            },
            "finish_reason": "stop",
        }
    ],
    "usage": {"prompt_tokens": 1, "completion_tokens": 2},
}


def assert_well_typed(event: ContentEvent) -> None:
    """Every field of a decoded event has its declared type."""
    choice = getattr(event, "choice", 0)
    assert isinstance(choice, int) and not isinstance(choice, bool)
    if isinstance(event, StreamStart):
        assert all(isinstance(v, str) for v in (event.id, event.model, event.role))
    elif isinstance(event, TextDelta | RefusalDelta):
        assert isinstance(event.text, str)
    elif isinstance(event, ToolCallDelta):
        assert isinstance(event.index, int) and isinstance(event.arguments, str)
        assert event.id is None or isinstance(event.id, str)
        assert event.name is None or isinstance(event.name, str)
    elif isinstance(event, ToolCallEnd):
        assert isinstance(event.index, int)
    elif isinstance(event, Finish):
        assert isinstance(event.raw_reason, str)
    elif isinstance(event, Usage):
        for tokens in (event.input_tokens, event.output_tokens):
            assert tokens is None or (isinstance(tokens, int) and not isinstance(tokens, bool))


@given(
    path=st.sampled_from(json_paths(_TEMPLATE)),
    value=JSON | st.just(DELETE),
    warm=st.booleans(),
)
def test_any_json_in_any_position_gives_events_or_protocol_error(
    path: tuple[Any, ...], value: Any, warm: bool
) -> None:
    decoder = OpenAIDecoder()
    if warm:  # a call already open at index 0, so the piece continues or replaces it
        decoder.decode(chunk([choice({"tool_calls": [call(id="z", function={"name": "f"})]})]))
    if not path and value is DELETE:
        return
    sse = SSEEvent(data=orjson.dumps(mutate(_TEMPLATE, path, value)).decode())
    try:
        events = decoder.decode(sse)
    except (ProtocolError, APIStatusError):
        return
    for event in events:
        assert_well_typed(event)


# -- OpenAI-compatible endpoints that reuse or omit the tool call index --------------------------


def test_repeated_or_missing_index_with_new_ids_opens_new_calls() -> None:
    events = decode_bytes(transcript("openai_gemini_tools.sse"))
    assert after_start(events) == [
        ToolCallDelta(0, id="function-call-1", name="get_weather", arguments='{"city":"Paris"}'),
        ToolCallDelta(1, id="function-call-2", name="get_time", arguments='{"tz":"UTC"}'),
        ToolCallDelta(2, id="function-call-3", name="get_date", arguments=""),
        ToolCallDelta(2, arguments="{}"),
        ToolCallEnd(0),
        ToolCallEnd(1),
        ToolCallEnd(2),
        Finish("tool_calls", "tool_calls"),
        Usage(input_tokens=12, output_tokens=20),
    ]
    message = build_message(events)  # invalid="raise": every call is valid JSON
    assert [(c.id, c.name, c.arguments, c.index) for c in message.tool_calls] == [
        ("function-call-1", "get_weather", {"city": "Paris"}, 0),
        ("function-call-2", "get_time", {"tz": "UTC"}, 1),
        ("function-call-3", "get_date", {}, 2),
    ]


def test_two_calls_without_index_in_one_chunk_stay_apart() -> None:
    pieces = [
        call(None, id="c1", function={"name": "f", "arguments": '{"a": 1}'}),
        call(None, id="c2", function={"name": "g", "arguments": '{"b": 2}'}),
    ]
    decoder = OpenAIDecoder()
    events = decoder.decode(chunk([choice({"tool_calls": pieces})]))
    events += decoder.decode(chunk([choice({}, "tool_calls")]))
    assert after_start(events) == [
        ToolCallDelta(0, id="c1", name="f", arguments='{"a": 1}'),
        ToolCallDelta(1, id="c2", name="g", arguments='{"b": 2}'),
        ToolCallEnd(0),
        ToolCallEnd(1),
        Finish("tool_calls", "tool_calls"),
    ]


def test_pieces_after_a_remapped_call_follow_it() -> None:
    decoder = OpenAIDecoder()
    events = decoder.decode(chunk([choice({"tool_calls": [call(0, id="a", function={})]})]))
    events += decoder.decode(chunk([choice({"tool_calls": [call(0, id="b", function={})]})]))
    # by its wire index, and with no index at all, a piece continues the call it was mapped to
    events += decoder.decode(
        chunk([choice({"tool_calls": [call(0, function={"arguments": "["})]})])
    )
    events += decoder.decode(
        chunk([choice({"tool_calls": [call(None, function={"arguments": "]"})]})])
    )
    # repeating the same id is the same call
    events += decoder.decode(chunk([choice({"tool_calls": [call(0, id="b")]})]))
    # a wire index whose number is taken by a remapped call gets the next free one
    events += decoder.decode(chunk([choice({"tool_calls": [call(1, id="c")]})]))
    events = after_start(events)
    assert [(e.index, getattr(e, "id", None)) for e in events] == [  # type: ignore[union-attr]
        (0, "a"),
        (1, "b"),
        (1, None),
        (1, None),
        (1, "b"),
        (2, "c"),
    ]
    assert all(isinstance(e, ToolCallDelta) for e in events)


def test_index_mapping_is_per_choice() -> None:
    decoder = OpenAIDecoder()
    for n in (0, 1):
        decoder.decode(chunk([choice({"tool_calls": [call(0, id=f"a{n}")]}, index=n)]))
    events = decoder.decode(chunk([choice({"tool_calls": [call(0, id="b1")]}, index=1)]))
    events += decoder.decode(chunk([choice({"tool_calls": [call(0, id="b0")]}, index=0)]))
    assert events == [
        ToolCallDelta(1, id="b1", choice=1),
        ToolCallDelta(1, id="b0", choice=0),
    ]


# -- requests ---------------------------------------------------------------------------------


def test_path_and_headers() -> None:
    assert FMT.name == "openai"
    assert FMT.path == "/v1/chat/completions"
    headers = FMT.headers("sk-secret")
    assert headers["authorization"] == "Bearer sk-secret"
    assert headers["accept"] == "text/event-stream"
    assert headers["content-type"] == "application/json"
    assert "x-api-key" not in headers
    assert "authorization" not in FMT.headers(None)
    assert "sk-" not in repr(FMT)


def test_stream_body_adds_stream_and_copies() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}]}
    streamed = FMT.stream_body(body)
    assert streamed == {**body, "stream": True}
    assert "stream" not in body


def test_continuation_body_appends_partial_and_continue_prompt() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "count"}]}
    cont = FMT.continuation_body(body, "1 2 3")
    assert cont["stream"] is True
    assert cont["model"] == "m"
    assert cont["messages"][:2] == [
        {"role": "user", "content": "count"},
        {"role": "assistant", "content": "1 2 3"},
    ]
    assert cont["messages"][2]["role"] == "user"
    assert "continue" in cont["messages"][2]["content"]
    assert len(body["messages"]) == 1  # the caller's body is untouched


def test_error_from_response() -> None:
    body = orjson.dumps(FMT.error_body(429, "rate_limit_exceeded", "slow down"))
    error = FMT.error_from_response(429, body, {"x-request-id": "req_1", "retry-after": "3"})
    assert isinstance(error, RateLimitError)
    assert (error.status, error.error_type, error.message) == (
        429,
        "rate_limit_exceeded",
        "slow down",
    )
    assert error.request_id == "req_1"
    assert error.retry_after == 3.0
    assert not error.in_stream


def test_error_from_non_json_response() -> None:
    error = FMT.error_from_response(502, b"<html>Bad gateway</html>", {})
    assert isinstance(error, ServerError)
    assert error.message == "<html>Bad gateway</html>"
    assert error.body == "<html>Bad gateway</html>"
    assert error.error_type is None


def test_error_event_decodes_to_typed_error() -> None:
    sse = SSEDecoder().feed(FMT.error_event("server_error", "oops"))
    with pytest.raises(APIStatusError) as info:
        OpenAIDecoder().decode(sse[0])
    assert info.value.status == 500 and info.value.message == "oops" and info.value.in_stream


def test_keep_alive_makes_no_event() -> None:
    assert SSEDecoder().feed(FMT.keep_alive()) == []


# -- round trip -------------------------------------------------------------------------------

ROUND_TRIP: list[ContentEvent] = [
    StreamStart("chatcmpl-1", "gpt-x"),
    TextDelta("Hello "),
    TextDelta("wörld\nline two"),
    RefusalDelta("no"),
    ToolCallDelta(0, id="call_1", name="f", arguments='{"a":'),
    ToolCallDelta(0, arguments=" 1}"),
    ToolCallDelta(1, id="call_2", name="g", arguments="{}"),
    Finish("tool_calls", "tool_calls"),
    Usage(input_tokens=4, output_tokens=7),
]


def test_encoder_decoder_round_trip() -> None:
    encoder = FMT.encoder(created=7)
    data = b"".join(encoder.encode(e) for e in ROUND_TRIP) + encoder.finish()
    decoder = OpenAIDecoder()
    decoded = without_blocks(decode_bytes(data, decoder))
    assert decoder.finished
    # ToolCallEnd has no OpenAI wire form: the decoder infers it from the finish.
    expected = [*ROUND_TRIP[:7], ToolCallEnd(0), ToolCallEnd(1), *ROUND_TRIP[7:]]
    expected[0] = replace(ROUND_TRIP[0], created=7)  # the chunks carry the encoder's time
    assert decoded == expected


def test_round_trip_of_each_transcript_is_stable() -> None:
    names = ("openai_text.sse", "openai_tools.sse", "openai_n2.sse", "openai_refusal.sse")
    for name in (*names, "openai_gemini_tools.sse"):
        events = decode_bytes(transcript(name))
        encoder = FMT.encoder()
        data = b"".join(encoder.encode(e) for e in events) + encoder.finish()
        # Content blocks have no OpenAI wire form of their own: every start says content "".
        assert without_blocks(decode_bytes(data)) == without_blocks(events), name


def test_a_negative_choice_index_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="negative 'index'"):
        OpenAIDecoder().decode(chunk([{"index": -2, "delta": {"content": "x"}}]))


@pytest.mark.parametrize("field", ["reasoning_content", "reasoning"])
def test_reasoning_of_compatible_servers_is_reasoning(field: str) -> None:
    """DeepSeek and vLLM send ``reasoning_content``; OpenRouter, Ollama, newer vLLM
    ``reasoning``: both are the choice's reasoning, kept in the message."""
    decoder = OpenAIDecoder()
    events = [
        *decoder.decode(chunk([choice({"role": "assistant", field: "Let me "})])),
        *decoder.decode(chunk([choice({field: "think."})])),
        *decoder.decode(chunk([choice({"content": "42"}, "stop")])),
    ]
    assert events == [
        StreamStart("c1", "m"),
        ReasoningDelta("Let me "),
        ReasoningDelta("think."),
        TextDelta("42"),
        Finish("stop", "stop"),
    ]
    message = build_message(events)
    assert (message.choices[0].reasoning, message.text) == ("Let me think.", "42")


def test_reasoning_sent_in_both_fields_is_read_once() -> None:
    delta = {"reasoning_content": "hm", "reasoning": "hm"}
    assert OpenAIDecoder().decode(chunk([choice(delta)])) == [
        StreamStart("c1", "m"),
        ReasoningDelta("hm"),
    ]
