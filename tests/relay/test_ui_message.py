"""The UI message stream encoder: events in, the AI SDK's v1 parts out; pure, no I/O."""

from __future__ import annotations

import orjson

from streamkit import build_message
from streamkit.errors import APIStatusError, ConnectionLostError
from streamkit.events import (
    Finish,
    ReasoningDelta,
    Retrying,
    Rewind,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.relay.ui_message import UIMessageEncoder
from tests.relay._wire import fold_ui_parts, transcript_events, ui_parts


def encode_all(items: list[object], *, error: BaseException | None = None) -> list[object]:
    encoder = UIMessageEncoder()
    body = b"".join(encoder.encode(item) for item in items)
    body += encoder.error(error) if error is not None else encoder.finish()
    return ui_parts(body)


def finish_part(parts: list[object]) -> dict[str, object]:
    (finish,) = [p for p in parts if isinstance(p, dict) and p["type"] == "finish"]
    return finish


def test_a_text_answer_is_start_text_block_finish_done() -> None:
    parts = encode_all(
        [
            StreamStart("msg_1", "m"),
            TextDelta("Hel"),
            TextDelta("lo"),
            Finish("stop", "end_turn"),
            Usage(input_tokens=3, output_tokens=2),
        ]
    )

    assert parts == [
        {"type": "start", "messageId": "msg_1"},
        {"type": "start-step"},
        {"type": "text-start", "id": "text-1"},
        {"type": "text-delta", "id": "text-1", "delta": "Hel"},
        {"type": "text-delta", "id": "text-1", "delta": "lo"},
        {"type": "text-end", "id": "text-1"},
        {"type": "finish-step"},
        {
            "type": "finish",
            "finishReason": "stop",
            "messageMetadata": {"usage": {"inputTokens": 3, "outputTokens": 2, "totalTokens": 5}},
        },
        "[DONE]",
    ]


def test_the_headers_name_the_protocol_version() -> None:
    headers = UIMessageEncoder().headers
    assert headers["x-vercel-ai-ui-message-stream"] == "v1"
    assert headers["content-type"].startswith("text/event-stream")


def test_thinking_becomes_reasoning_blocks_and_matches_the_message() -> None:
    events = transcript_events("anthropic_thinking.sse")
    message = build_message(events)

    parts = encode_all(list(events))
    folded = fold_ui_parts(parts)

    kinds = [p["type"] for p in parts if p != "[DONE]"]
    assert kinds.index("reasoning-start") < kinds.index("reasoning-end") < kinds.index("text-start")
    assert folded["reasoning"] == "Let me think step by step."
    assert folded["text"] == message.text
    assert finish_part(parts)["finishReason"] == "length"


def test_tool_calls_stream_their_input_and_arrive_parsed() -> None:
    events = transcript_events("anthropic_tools.sse")
    message = build_message(events)

    parts = encode_all(list(events))
    folded = fold_ui_parts(parts)

    assert folded["text"] == message.text
    assert folded["tools"] == {c.id: (c.name, c.arguments) for c in message.tool_calls}
    starts = [p for p in parts if p != "[DONE]" and p["type"] == "tool-input-start"]
    deltas = [p for p in parts if p != "[DONE]" and p["type"] == "tool-input-delta"]
    assert len(starts) == len(message.tool_calls) and deltas
    assert finish_part(parts)["finishReason"] == "tool-calls"


def test_an_assembled_tool_call_after_its_fragments_is_not_sent_twice() -> None:
    call = ToolCall("call_1", "get_weather", {"city": "Paris"}, '{"city": "Paris"}')
    parts = encode_all(
        [
            StreamStart("m1", "m"),
            ToolCallDelta(0, id="call_1", name="get_weather", arguments='{"city": '),
            ToolCallDelta(0, arguments='"Paris"}'),
            ToolCallEnd(0),
            call,
        ]
    )

    available = [p for p in parts if p != "[DONE]" and p["type"] == "tool-input-available"]
    assert available == [
        {
            "type": "tool-input-available",
            "toolCallId": "call_1",
            "toolName": "get_weather",
            "input": {"city": "Paris"},
        }
    ]


def test_an_assembled_tool_call_alone_is_started_and_made_available() -> None:
    call = ToolCall("call_9", "lookup", {"q": 1}, '{"q": 1}')
    kinds = [p["type"] for p in encode_all([call]) if p != "[DONE]"]
    assert kinds == [
        "start",
        "start-step",
        "tool-input-start",
        "tool-input-available",
        "finish-step",
        "finish",
    ]


def test_arguments_that_are_not_json_give_a_tool_input_error() -> None:
    parts = encode_all([ToolCallDelta(0, id="c", name="f", arguments="{oops"), ToolCallEnd(0)])
    (error,) = [p for p in parts if p != "[DONE]" and p["type"] == "tool-input-error"]
    assert error["input"] == "{oops" and error["toolName"] == "f"


def test_a_tool_call_left_open_at_the_end_is_completed() -> None:
    parts = encode_all([ToolCallDelta(0, id="c", name="f", arguments="{}")])
    assert {"type": "tool-input-available", "toolCallId": "c", "toolName": "f", "input": {}} in (
        parts
    )


def test_retrying_is_a_transient_data_part_that_leaks_no_message() -> None:
    cause = APIStatusError.for_status(529, "secret detail sk-live-123", body="sk-live-123")
    parts = encode_all([TextDelta("a"), Retrying(2, 0.5, cause), TextDelta("b")])

    (retry,) = [p for p in parts if p != "[DONE]" and p["type"] == "data-retry"]
    assert retry["transient"] is True
    assert retry["data"]["attempt"] == 2 and retry["data"]["delay"] == 0.5
    assert "sk-live" not in orjson.dumps(parts).decode()
    assert fold_ui_parts(parts)["text"] == "ab"


def test_rewind_ends_the_block_and_says_so() -> None:
    parts = encode_all([TextDelta("old"), Rewind(2), TextDelta("new")])
    kinds = [p["type"] for p in parts if p != "[DONE]"]
    assert kinds[kinds.index("data-rewind") - 1] == "text-end"
    texts = [p for p in parts if p != "[DONE]" and p["type"] == "text-start"]
    assert len(texts) == 2 and texts[0]["id"] != texts[1]["id"]


def test_a_failure_ends_with_an_error_part_and_done() -> None:
    parts = encode_all([TextDelta("partial")], error=ConnectionLostError("socket closed"))
    assert parts[-3:] == [
        {"type": "text-end", "id": "text-1"},
        {"type": "error", "errorText": "ConnectionLostError"},
        "[DONE]",
    ]
    assert parts[0]["type"] == "start"


def test_a_custom_error_text_is_used() -> None:
    encoder = UIMessageEncoder(error_text=lambda error: f"sorry: {error}")
    parts = ui_parts(encoder.error(ValueError("x")))
    assert {"type": "error", "errorText": "sorry: x"} in parts


def test_strings_are_text_and_other_choices_and_unknown_items_are_ignored() -> None:
    parts = encode_all(["plain ", TextDelta("other", choice=1), object(), "text"])
    assert fold_ui_parts(parts)["text"] == "plain text"


def test_signatures_and_redacted_thinking_are_not_shown() -> None:
    parts = encode_all(
        [ReasoningDelta("sig", kind="signature"), ReasoningDelta("xx", kind="redacted")]
    )
    assert fold_ui_parts(parts)["reasoning"] == ""
