"""Google Gemini format: transcripts decoded to events (whole, split at every byte, byte by
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
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.formats.gemini import GeminiDecoder
from streamkit.sse import SSEDecoder, SSEEvent
from tests.formats._feeding import decode_every_way, feed

TRANSCRIPTS = Path(__file__).parent / "transcripts"
FMT = get_format("gemini")
START = StreamStart("Abc123xyz", "gemini-2.5-flash")


def transcript(name: str) -> bytes:
    return (TRANSCRIPTS / name).read_bytes()


@functools.cache
def decoded(name: str) -> list[ContentEvent]:
    """The events of a transcript that ends cleanly, the same however its bytes are split."""
    events, error = decode_every_way("gemini", transcript(name))
    assert error is None
    return events


def chunk(candidates: list[dict[str, object]], **extra: object) -> SSEEvent:
    return SSEEvent(data=orjson.dumps({"candidates": candidates, **extra}).decode())


def candidate(parts: list[dict[str, object]], finish: str | None = None, index: int = 0) -> dict:
    body: dict[str, object] = {"content": {"parts": parts, "role": "model"}, "index": index}
    if finish:
        body["finishReason"] = finish
    return body


# -- transcripts ------------------------------------------------------------------------------


def test_text_transcript_with_crlf_framing() -> None:
    events = decoded("gemini_text.sse")
    assert events == [
        START,
        TextDelta("Hello"),
        Usage(input_tokens=9),
        TextDelta(", wörld"),
        Usage(input_tokens=9),
        TextDelta(" 👋"),
        Finish("stop", "STOP"),
        Usage(input_tokens=9, output_tokens=4),
    ]
    assert all(e.received_at == 1.5 for e in events)
    assert events[1].raw["candidates"][0]["content"]["parts"] == [{"text": "Hello"}]


def test_parallel_function_calls_transcript() -> None:
    events = decoded("gemini_tools.sse")
    assert events == [
        START,
        ToolCallDelta(0, id="call_0", name="get_weather", arguments='{"city":"Paris"}'),
        ToolCallEnd(0),
        ToolCallDelta(1, id="call_1", name="get_time", arguments='{"tz":"CET"}'),
        ToolCallEnd(1),
        Finish("tool_calls", "STOP"),
        Usage(input_tokens=20, output_tokens=30),
    ]
    message = build_message(events)
    assert [(c.name, c.arguments) for c in message.tool_calls] == [
        ("get_weather", {"city": "Paris"}),
        ("get_time", {"tz": "CET"}),
    ]


def test_thinking_transcript() -> None:
    events = decoded("gemini_thinking.sse")
    assert events == [
        START,
        ReasoningDelta("**Counting** the r's"),
        Usage(input_tokens=12),
        ReasoningDelta(": three."),
        Usage(input_tokens=12),
        TextDelta("Three."),
        ReasoningDelta("c2lnbmF0dXJl", kind="signature"),
        Finish("stop", "STOP"),
        Usage(input_tokens=12, output_tokens=2),
    ]
    message = build_message(events)
    assert message.choices[0].reasoning == "**Counting** the r's: three."
    assert message.choices[0].reasoning_blocks[0].signature == "c2lnbmF0dXJl"
    assert events[-1].raw["usageMetadata"]["thoughtsTokenCount"] == 64  # kept in raw


def test_error_object_in_the_stream_after_the_text_before_it() -> None:
    events, error = decode_every_way("gemini", transcript("gemini_error.sse"))
    assert events == [START, TextDelta("Hel"), Usage(input_tokens=9)]
    assert isinstance(error, ServerError)
    assert (error.status, error.error_type, error.in_stream) == (503, "UNAVAILABLE", True)
    assert error.retryable


def test_blocked_prompt_finishes_with_content_filter() -> None:
    events = decoded("gemini_blocked.sse")
    assert events == [START, Finish("content_filter", "SAFETY"), Usage(input_tokens=9)]


def test_truncated_stream_is_a_lost_connection() -> None:
    data = transcript("gemini_text.sse")
    last = data.rindex(b"data: ")
    # Not len - 1: "\r\n\r" ends the event all the same (a lone CR is a line end).
    for cut in (last, last + 20, len(data) - 3):
        how = decode_every_way if cut == last else lambda f, d: feed(f, [d])
        events, error = how("gemini", data[:cut])
        assert isinstance(error, ConnectionLostError), cut
        assert "".join(e.text for e in events if isinstance(e, TextDelta)) == "Hello, wörld"


def test_what_follows_the_last_finish_is_ignored() -> None:
    data = transcript("gemini_text.sse") + b"data: {broken\r\n\r\n"
    events, error = decode_every_way("gemini", data)
    assert error is None
    assert events == decoded("gemini_text.sse")


# -- decoder rules ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        ("STOP", "stop"),
        ("MAX_TOKENS", "length"),
        ("SAFETY", "content_filter"),
        ("RECITATION", "content_filter"),
        ("PROHIBITED_CONTENT", "content_filter"),
        ("MALFORMED_FUNCTION_CALL", "other"),
        ("SOMETHING_NEW", "other"),
    ],
)
def test_every_finish_reason(raw: str, reason: str) -> None:
    events = GeminiDecoder().decode(chunk([candidate([{"text": "x"}], raw)]))
    assert events[-1] == Finish(reason, raw)  # type: ignore[arg-type]


def test_candidates_are_choices_and_all_must_finish() -> None:
    decoder = GeminiDecoder()
    first = decoder.decode(
        chunk([candidate([{"text": "a"}], "STOP", 0), candidate([{"text": "b"}], None, 1)])
    )
    assert [e.choice for e in first if isinstance(e, StreamStart)] == [0, 1]
    assert not decoder.finished
    decoder.decode(chunk([candidate([{"text": "c"}], "MAX_TOKENS", 1)]))
    assert decoder.finished


def test_a_candidate_after_its_finish_is_a_protocol_error() -> None:
    decoder = GeminiDecoder()
    decoder.decode(chunk([candidate([], "STOP", 0), candidate([], None, 1)]))
    with pytest.raises(ProtocolError, match="after its finishReason"):
        decoder.decode(chunk([candidate([{"text": "x"}], None, 0)]))


def test_function_call_ids_are_kept_when_sent() -> None:
    call = {"functionCall": {"id": "fc-9", "name": "f", "args": {}}}
    events = GeminiDecoder().decode(chunk([candidate([call])]))
    assert ToolCallDelta(0, id="fc-9", name="f", arguments="{}") in events


def test_a_part_of_the_wrong_shape_is_a_protocol_error() -> None:
    with pytest.raises(ProtocolError, match="'text'"):
        GeminiDecoder().decode(chunk([candidate([{"text": 5}])]))


# -- requests ---------------------------------------------------------------------------------


def test_request_building() -> None:
    body = FMT.prompt_body("Hi", model="gemini-2.5-flash", system="Be brief", max_tokens=50)
    assert body == {
        "model": "gemini-2.5-flash",
        "systemInstruction": {"parts": [{"text": "Be brief"}]},
        "contents": [{"role": "user", "parts": [{"text": "Hi"}]}],
        "generationConfig": {"maxOutputTokens": 50},
    }
    assert FMT.url_path(body) == "/v1beta/models/gemini-2.5-flash:streamGenerateContent?alt=sse"
    assert FMT.url_path({"model": "models/x"}) == "/v1beta/models/x:streamGenerateContent?alt=sse"
    assert "model" not in FMT.stream_body(body)
    headers = FMT.headers("g-key")
    assert headers["x-goog-api-key"] == "g-key" and "authorization" not in headers


def test_a_body_without_model_has_no_url() -> None:
    with pytest.raises(ValueError, match="'model'"):
        FMT.url_path({"contents": []})


def test_continuation_carries_the_partial_answer_as_a_model_turn() -> None:
    body = FMT.prompt_body("Tell me a story", model="g", system=None, max_tokens=9)
    continued = FMT.continuation_body(body, "Once upon ")
    assert continued["contents"][-1] == {"role": "model", "parts": [{"text": "Once upon "}]}
    assert "model" not in continued
    again = FMT.continuation_body({**body, "contents": continued["contents"]}, "a time")
    assert again["contents"][-1] == {"role": "model", "parts": [{"text": "Once upon a time"}]}
    assert FMT.continuation_prefix("Once upon ") == "Once upon "


# -- response bodies and errors ---------------------------------------------------------------


WEATHER = {"city": "Paris"}


def test_response_body_is_a_generate_content_response() -> None:
    body = FMT.response_body(build_message(decoded("gemini_tools.sse")))
    assert body["candidates"] == [
        {
            "content": {
                "parts": [
                    {"functionCall": {"id": "call_0", "name": "get_weather", "args": WEATHER}},
                    {"functionCall": {"id": "call_1", "name": "get_time", "args": {"tz": "CET"}}},
                ],
                "role": "model",
            },
            "index": 0,
            "finishReason": "STOP",
        }
    ]
    assert body["usageMetadata"] == {
        "promptTokenCount": 20,
        "candidatesTokenCount": 30,
        "totalTokenCount": 50,
    }


def test_error_response_is_typed() -> None:
    error_body = {"code": 429, "message": "quota", "status": "RESOURCE_EXHAUSTED"}
    body = orjson.dumps({"error": error_body})
    error = FMT.error_from_response(429, body, {"retry-after": "3"})
    assert (error.status, error.error_type, error.message, error.retry_after) == (
        429,
        "RESOURCE_EXHAUSTED",
        "quota",
        3.0,
    )


def test_error_body_names_the_canonical_status() -> None:
    assert FMT.error_body(404, "not_found_error", "no") == {
        "error": {"code": 404, "message": "no", "status": "NOT_FOUND"}
    }


def test_error_event_decodes_to_typed_error() -> None:
    sse = SSEDecoder().feed(FMT.error_event("overloaded_error", "busy"))
    with pytest.raises(APIStatusError) as info:
        GeminiDecoder().decode(sse[0])
    assert (info.value.status, info.value.message, info.value.in_stream) == (503, "busy", True)


def test_keep_alive_makes_no_event() -> None:
    assert SSEDecoder().feed(FMT.keep_alive()) == []


# -- round trip -------------------------------------------------------------------------------

ROUND_TRIP: list[ContentEvent] = [
    StreamStart("r1", "gemini-x"),
    ReasoningDelta("think"),
    TextDelta("Hello "),
    TextDelta("wörld"),
    ToolCallDelta(0, id="call_1", name="f", arguments='{"a":'),
    ToolCallDelta(0, arguments=" 1}"),
    ToolCallEnd(0),
    ToolCallDelta(1, id="call_2", name="g", arguments="{}"),
    Finish("tool_calls", "STOP"),
    Usage(input_tokens=4, output_tokens=7),
]


def test_encoder_decoder_round_trip() -> None:
    encoder = FMT.encoder()
    data = b"".join(encoder.encode(e) for e in ROUND_TRIP) + encoder.finish()
    events, error = feed("gemini", [data])
    assert error is None
    assert events == [
        StreamStart("r1", "gemini-x"),
        ReasoningDelta("think"),
        TextDelta("Hello "),
        TextDelta("wörld"),
        ToolCallDelta(0, id="call_1", name="f", arguments='{"a":1}'),
        ToolCallEnd(0),
        ToolCallDelta(1, id="call_2", name="g", arguments="{}"),
        ToolCallEnd(1),
        Finish("tool_calls", "STOP"),
        Usage(input_tokens=4, output_tokens=7),
    ]


@pytest.mark.parametrize("name", ["gemini_text.sse", "gemini_tools.sse", "gemini_thinking.sse"])
def test_round_trip_keeps_the_message(name: str) -> None:
    events = decoded(name)
    encoder = FMT.encoder()
    data = b"".join(encoder.encode(e) for e in events) + encoder.finish()
    again, error = feed("gemini", [data])
    assert error is None
    assert build_message(again) == build_message(events)
