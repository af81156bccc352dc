"""OpenAI Responses format: transcripts decoded to events (whole, split at every byte, byte by
byte), request building, response bodies, errors, round trip."""

from __future__ import annotations

import functools
from pathlib import Path

import orjson
import pytest

from streamkit.errors import (
    APIStatusError,
    ConnectionLostError,
    ProtocolError,
    RateLimitError,
    ServerError,
)
from streamkit.events import (
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
from streamkit.formats.openai import CONTINUE_PROMPT
from streamkit.formats.responses import ResponsesDecoder
from streamkit.sse import SSEDecoder, SSEEvent
from tests.formats._feeding import decode_every_way, feed

TRANSCRIPTS = Path(__file__).parent / "transcripts"
FMT = get_format("responses")


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


@functools.cache
def decoded(name: str) -> list[ContentEvent]:
    """The events of a transcript that ends cleanly, the same however its bytes are split."""
    events, error = decode_every_way("responses", transcript(name))
    assert error is None
    return events


def event(kind: str, **fields: object) -> SSEEvent:
    return SSEEvent(data=orjson.dumps({"type": kind, **fields}).decode(), event=kind)


CREATED = event("response.created", response={"id": "resp_1", "model": "m", "output": []})


# -- transcripts ------------------------------------------------------------------------------


def test_text_transcript() -> None:
    events = decoded("responses_text.sse")
    assert events == [
        StreamStart("resp_abc", "gpt-4.1-2025-04-14"),
        TextDelta("Hello"),
        TextDelta(", wörld"),
        TextDelta(" 👋"),
        Finish("stop", "completed"),
        Usage(input_tokens=9, output_tokens=4),
    ]
    assert all(e.received_at == 1.5 for e in events)
    assert events[1].raw["type"] == "response.output_text.delta"
    assert events[-1].raw["response"]["usage"]["total_tokens"] == 13


def test_parallel_function_calls_transcript() -> None:
    events = decoded("responses_tools.sse")
    assert events == [
        StreamStart("resp_abc", "gpt-4.1-2025-04-14"),
        ToolCallDelta(0, id="call_a", name="get_weather", arguments=""),
        ToolCallDelta(0, arguments='{"city": '),
        ToolCallDelta(0, arguments='"Paris"}'),
        ToolCallEnd(0),
        ToolCallDelta(1, id="call_b", name="get_time", arguments=""),
        ToolCallDelta(1, arguments='{"tz": "CET"}'),
        ToolCallEnd(1),
        Finish("tool_calls", "completed"),
        Usage(input_tokens=20, output_tokens=30),
    ]
    message = build_message(events)
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("call_a", "get_weather", {"city": "Paris"}),
        ("call_b", "get_time", {"tz": "CET"}),
    ]
    assert message.finish_reason == "tool_calls"


def test_reasoning_summary_transcript() -> None:
    events = decoded("responses_reasoning.sse")
    assert events == [
        StreamStart("resp_abc", "gpt-4.1-2025-04-14"),
        ReasoningDelta("**Counting** ", index=0),
        ReasoningDelta("the r's: three.", index=0),
        TextDelta("Three."),
        Finish("stop", "completed"),
        Usage(input_tokens=12, output_tokens=70),
    ]
    message = build_message(events)
    assert message.choices[0].reasoning == "**Counting** the r's: three."
    assert message.text == "Three."


def test_refusal_transcript() -> None:
    events = decoded("responses_refusal.sse")
    assert events[1:-2] == [RefusalDelta("I can't"), RefusalDelta(" help with that.")]
    assert build_message(events).choices[0].refusal == "I can't help with that."


def test_incomplete_response_finishes_with_length() -> None:
    events = decoded("responses_incomplete.sse")
    assert events[-2:] == [Finish("length", "max_output_tokens"), Usage(9, 2)]
    assert build_message(events).text == "Once upon"


def test_error_event_in_the_stream_after_the_text_before_it() -> None:
    events, error = decode_every_way("responses", transcript("responses_error.sse"))
    assert events == [StreamStart("resp_abc", "gpt-4.1-2025-04-14"), TextDelta("Hel")]
    assert isinstance(error, ServerError)
    assert (error.status, error.error_type, error.in_stream) == (503, "server_is_overloaded", True)
    assert error.message == "The server is overloaded."
    assert error.retryable


def test_failed_response_is_the_error_it_carries() -> None:
    events, error = decode_every_way("responses", transcript("responses_failed.sse"))
    assert events == [StreamStart("resp_abc", "gpt-4.1-2025-04-14")]
    assert isinstance(error, RateLimitError)
    assert (error.error_type, error.message, error.in_stream) == (
        "rate_limit_exceeded",
        "Rate limit reached.",
        True,
    )


def test_truncated_stream_is_a_lost_connection_at_every_cut() -> None:
    data = transcript("responses_text.sse")
    end = data.index(b"event: response.completed")
    for cut in (end, end + 30, len(data) - 1):
        # Every split of the first cut; the others whole (the decoder does not see the cut).
        how = decode_every_way if cut == end else lambda f, d: feed(f, [d])
        events, error = how("responses", data[:cut])
        assert isinstance(error, ConnectionLostError), cut
        assert [e for e in events if isinstance(e, TextDelta)] == [
            TextDelta("Hello"),
            TextDelta(", wörld"),
            TextDelta(" 👋"),
        ]


def test_what_follows_the_terminal_event_is_ignored() -> None:
    data = transcript("responses_text.sse") + b"event: response.output_text.delta\ndata: {oops\n\n"
    events, error = decode_every_way("responses", data)
    assert error is None
    assert events == decoded("responses_text.sse")


# -- decoder rules ----------------------------------------------------------------------------


def test_content_before_response_created_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match=r"before response\.created"):
        ResponsesDecoder().decode(
            event("response.output_text.delta", output_index=0, content_index=0, delta="x")
        )


def test_a_delta_for_an_item_never_added_is_a_protocol_error() -> None:
    decoder = ResponsesDecoder()
    decoder.decode(CREATED)
    with pytest.raises(ProtocolError, match="never added"):
        decoder.decode(event("response.output_text.delta", output_index=3, delta="x"))


def test_unknown_event_types_are_skipped() -> None:
    decoder = ResponsesDecoder()
    decoder.decode(CREATED)
    assert decoder.decode(event("response.web_search_call.searching", output_index=0)) == []
    assert decoder.decode(event("response.future_thing", anything=[1, 2])) == []


def test_done_marker_of_compatible_servers_ends_the_stream() -> None:
    decoder = ResponsesDecoder()
    decoder.decode(CREATED)
    assert decoder.decode(SSEEvent(data="[DONE]")) == []
    assert decoder.finished


def test_encrypted_reasoning_is_a_redacted_reasoning_delta() -> None:
    decoder = ResponsesDecoder()
    decoder.decode(CREATED)
    item = {"id": "rs_1", "type": "reasoning", "summary": []}
    decoder.decode(event("response.output_item.added", output_index=0, item=item))
    done = {**item, "encrypted_content": "gAAAA"}
    out = decoder.decode(event("response.output_item.done", output_index=0, item=done))
    assert out == [ReasoningDelta("gAAAA", kind="redacted", index=0)]


def test_reasoning_text_deltas_are_reasoning() -> None:
    decoder = ResponsesDecoder()
    decoder.decode(CREATED)
    item = {"id": "rs_1", "type": "reasoning", "summary": []}
    decoder.decode(event("response.output_item.added", output_index=0, item=item))
    out = decoder.decode(event("response.reasoning_text.delta", output_index=0, delta="hmm"))
    assert out == [ReasoningDelta("hmm", index=0)]


# -- requests ---------------------------------------------------------------------------------


def test_request_building() -> None:
    assert FMT.url_path({"model": "m"}) == "/v1/responses"
    assert FMT.headers("sk-x")["authorization"] == "Bearer sk-x"
    assert "authorization" not in FMT.headers(None)
    body = FMT.prompt_body("Hi", model="gpt-4o-mini", system="Be brief", max_tokens=50)
    assert body == {
        "model": "gpt-4o-mini",
        "max_output_tokens": 50,
        "instructions": "Be brief",
        "input": [{"role": "user", "content": "Hi"}],
    }
    assert FMT.stream_body(body)["stream"] is True


def test_continuation_carries_the_partial_answer_as_an_assistant_message() -> None:
    body = {"model": "m", "input": "Tell me a story", "instructions": "x"}
    continued = FMT.continuation_body(body, "Once upon ")
    assert continued["input"] == [
        {"role": "user", "content": "Tell me a story"},
        {"role": "assistant", "content": "Once upon "},
        {"role": "user", "content": CONTINUE_PROMPT},
    ]
    assert continued["stream"] is True and continued["instructions"] == "x"
    assert FMT.continuation_prefix("Once upon ") == "Once upon "
    assert body["input"] == "Tell me a story"  # not changed


# -- response bodies and errors ---------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["responses_text.sse", "responses_tools.sse", "responses_reasoning.sse"]
)
def test_response_body_has_the_streamed_output(name: str) -> None:
    data = transcript(name)
    events = decoded(name)
    completed = orjson.loads(data[data.rindex(b"data: ") + 6 :])["response"]
    body = FMT.response_body(build_message(events), created=completed["created_at"])
    assert body["object"] == "response" and body["status"] == "completed"
    assert body["usage"]["input_tokens"] == completed["usage"]["input_tokens"]

    def content(output: list[dict[str, object]]) -> list[object]:
        keep = ("type", "content", "summary", "call_id", "name", "arguments")
        return [{k: v for k, v in item.items() if k in keep} for item in output]

    assert content(body["output"]) == content(completed["output"])


def test_response_body_of_a_cut_answer_is_incomplete() -> None:
    body = FMT.response_body(build_message(decoded("responses_incomplete.sse")))
    assert body["status"] == "incomplete"
    assert body["incomplete_details"] == {"reason": "max_output_tokens"}


def test_error_response_is_typed() -> None:
    body = orjson.dumps({"error": {"message": "slow down", "type": "rate_limit_error"}})
    error = FMT.error_from_response(429, body, {"x-request-id": "req_1", "retry-after": "2"})
    assert isinstance(error, RateLimitError)
    assert (error.message, error.request_id, error.retry_after) == ("slow down", "req_1", 2.0)


def test_error_event_decodes_to_typed_error() -> None:
    sse = SSEDecoder().feed(FMT.error_event("overloaded_error", "busy"))
    with pytest.raises(APIStatusError) as info:
        ResponsesDecoder().decode(sse[0])
    assert (info.value.status, info.value.message, info.value.in_stream) == (529, "busy", True)


def test_keep_alive_makes_no_event() -> None:
    assert SSEDecoder().feed(FMT.keep_alive()) == []


# -- round trip -------------------------------------------------------------------------------

ROUND_TRIP: list[ContentEvent] = [
    StreamStart("resp_1", "gpt-x"),
    ReasoningDelta("think"),
    TextDelta("Hello "),
    TextDelta("wörld"),
    RefusalDelta("no"),
    ToolCallDelta(0, id="call_1", name="f", arguments='{"a":'),
    ToolCallDelta(0, arguments=" 1}"),
    ToolCallEnd(0),
    ToolCallDelta(1, id="call_2", name="g", arguments="{}"),
    Finish("tool_calls", "completed"),
    Usage(input_tokens=4, output_tokens=7),
]


def test_encoder_decoder_round_trip() -> None:
    encoder = FMT.encoder()
    data = b"".join(encoder.encode(e) for e in ROUND_TRIP) + encoder.finish()
    events, error = feed("responses", [data])
    assert error is None
    message, expected = build_message(events), build_message(ROUND_TRIP)
    assert (message.text, message.choices[0].reasoning, message.choices[0].refusal) == (
        "Hello wörld",
        "think",
        "no",
    )
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        (c.id, c.name, c.arguments) for c in expected.tool_calls
    ]
    assert (message.finish_reason, message.usage) == ("tool_calls", expected.usage)
    # Output items are numbered as they open: reasoning 0, message 1, the calls 2 and 3.
    assert [e.index for e in events if isinstance(e, ToolCallEnd)] == [2, 3]


@pytest.mark.parametrize(
    "name",
    [
        "responses_text.sse",
        "responses_tools.sse",
        "responses_reasoning.sse",
        "responses_refusal.sse",
        "responses_incomplete.sse",
    ],
)
def test_round_trip_of_each_transcript_is_stable(name: str) -> None:
    events = decoded(name)
    encoder = FMT.encoder()
    data = b"".join(encoder.encode(e) for e in events) + encoder.finish()
    events_again, error = feed("responses", [data])
    assert error is None
    assert events_again == events
