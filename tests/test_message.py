"""The final message: the reducer as plain code, the conversions checked by the official SDKs."""

from __future__ import annotations

from functools import reduce
from typing import Any

import anthropic.types
import openai.types.chat
import orjson
import pytest
import reactivex
from anthropic.lib.streaming._messages import accumulate_event
from openai.lib.streaming.chat import ChatCompletionStreamState
from openai.types.chat import ChatCompletionChunk
from reactivex.notification import OnError
from reactivex.testing import ReactiveTest, TestScheduler

from streamkit.errors import ToolCallError
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
from streamkit.fold.message_builder import MessageBuilder, accumulate, build_message
from streamkit.formats.anthropic import AnthropicDecoder
from streamkit.formats.openai import OpenAIDecoder
from streamkit.message import Choice, Message, ReasoningBlock, TextBlock
from streamkit.operators.final_message import to_message
from streamkit.operators.tool_calls import assemble_tool_calls
from streamkit.sse import SSEEvent

on_next, on_completed, subscribe = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.subscribe,
)

# --- Transcripts, as the format decoders produce them ---------------------------------------------

OPENAI_TOOLS: list[StreamEvent] = [
    StreamStart("chatcmpl-7", "gpt-4o"),
    TextDelta("Checking both. "),
    ToolCallDelta(0, id="call_a", name="get_weather", arguments=""),
    ToolCallDelta(0, arguments='{"city": "S\\u00e3o Pa'),
    ToolCallDelta(0, arguments='ulo"}'),
    ToolCallEnd(0),
    ToolCallDelta(1, id="call_b", name="get_time", arguments='{"tz": "\\ud83c'),
    ToolCallDelta(1, arguments='\\udf0d"}'),
    ToolCallEnd(1),
    Finish("tool_calls", raw_reason="tool_calls"),
    Usage(input_tokens=90, output_tokens=31),
]

ANTHROPIC_THINKING: list[StreamEvent] = [
    StreamStart("msg_01XY", "claude-sonnet-4"),
    Usage(input_tokens=412, output_tokens=1),
    ReasoningDelta("The user wants ", index=0),
    ReasoningDelta("the weather.", index=0),
    ReasoningDelta("c2lnbmF0dXJl", kind="signature", index=0),
    ReasoningDelta("ZW5jcnlwdGVk", kind="redacted", index=1),
    TextDelta("Let me look "),
    TextDelta("that up."),
    ToolCallDelta(3, id="toolu_01", name="get_weather", arguments=""),
    ToolCallDelta(3, arguments='{"location": '),
    ToolCallDelta(3, arguments='"Paris, FR"}'),
    ToolCallEnd(3),
    Finish("tool_calls", raw_reason="tool_use"),
    Usage(input_tokens=None, output_tokens=87),
]


def openai_sdk(message: Message, **options: Any) -> openai.types.chat.ChatCompletion:
    return openai.types.chat.ChatCompletion.model_validate(message.to_openai(**options))


def anthropic_sdk(message: Message) -> anthropic.types.Message:
    return anthropic.types.Message.model_validate(message.to_anthropic())


# --- The reducer ----------------------------------------------------------------------------------


def test_openai_stream_builds_text_tool_calls_finish_and_usage() -> None:
    message = build_message(OPENAI_TOOLS)
    assert (message.id, message.model, message.role) == ("chatcmpl-7", "gpt-4o", "assistant")
    assert message.text == "Checking both. "
    assert [(c.id, c.name, c.arguments) for c in message.tool_calls] == [
        ("call_a", "get_weather", {"city": "São Paulo"}),
        ("call_b", "get_time", {"tz": "🌍"}),
    ]
    assert message.finish_reason == "tool_calls"
    assert message.choices[0].raw_finish_reason == "tool_calls"
    assert message.usage == Usage(input_tokens=90, output_tokens=31)


def test_anthropic_stream_keeps_reasoning_blocks_with_signature_and_redacted_data() -> None:
    (choice,) = build_message(ANTHROPIC_THINKING).choices
    assert choice.text == "Let me look that up."
    assert choice.reasoning == "The user wants the weather."
    assert choice.reasoning_blocks == (
        ReasoningBlock(0, "thinking", "The user wants the weather.", "c2lnbmF0dXJl"),
        ReasoningBlock(1, "redacted", "ZW5jcnlwdGVk"),
    )
    assert [(c.index, c.arguments) for c in choice.tool_calls] == [(3, {"location": "Paris, FR"})]


def test_later_usage_replaces_earlier_counts_except_where_it_has_none() -> None:
    assert build_message(ANTHROPIC_THINKING).usage == Usage(input_tokens=412, output_tokens=87)
    events = [Usage(input_tokens=5), Usage(output_tokens=7), Usage(input_tokens=6)]
    assert build_message(events).usage == Usage(input_tokens=6, output_tokens=7)
    assert build_message([StreamStart("x", "m")]).usage is None


def test_choices_of_n_greater_than_one_are_kept_apart_and_ordered() -> None:
    events: list[StreamEvent] = [
        StreamStart("c", "m", choice=1),
        StreamStart("c", "m", choice=0),
        TextDelta("B1", choice=1),
        TextDelta("A1", choice=0),
        ToolCallDelta(0, id="t1", name="f", arguments="{}", choice=1),
        TextDelta("A2", choice=0),
        Finish("stop", raw_reason="stop", choice=0),
        RefusalDelta("no", choice=2),
        Finish("tool_calls", raw_reason="tool_calls", choice=1),
        Finish("content_filter", raw_reason="content_filter", choice=2),
    ]
    message = build_message(events)
    assert [(c.index, c.text, c.refusal, c.finish_reason) for c in message.choices] == [
        (0, "A1A2", None, "stop"),
        (1, "B1", None, "tool_calls"),
        (2, "", "no", "content_filter"),
    ]
    assert [c.id for c in message.choices[1].tool_calls] == ["t1"]
    assert message.text == "A1A2"


def test_rewind_discards_content_then_the_resent_answer_builds_alone() -> None:
    events: list[StreamEvent] = [
        StreamStart("msg_1", "m"),
        Usage(input_tokens=10),
        TextDelta("The answer is 4"),
        ToolCallDelta(0, id="done", name="f", arguments='{"a": 1}'),
        ToolCallEnd(0),
        ToolCallDelta(1, id="open", name="f", arguments='{"partial": '),
        Retrying(attempt=2, delay=0.5, cause=ConnectionError()),
        Rewind(attempt=2),
        TextDelta("The answer is 42"),
        Finish("length", raw_reason="max_tokens"),
    ]
    message = build_message(events)
    assert (message.id, message.model, message.usage) == ("msg_1", "m", Usage(10, None))
    assert message.choices == (
        Choice(
            0,
            text="The answer is 42",
            finish_reason="length",
            raw_finish_reason="max_tokens",
            content=(TextBlock(0, "The answer is 42"),),
        ),
    )


def test_retrying_changes_nothing() -> None:
    state = accumulate(MessageBuilder(), TextDelta("hi"))
    assert accumulate(state, Retrying(attempt=2, delay=1.0, cause=OSError())) is state


def test_calls_open_at_the_end_are_completed_by_build() -> None:
    events = [ToolCallDelta(0, id="c", name="f", arguments='{"a": [1]}')]
    state = MessageBuilder()
    for event in events:
        state = accumulate(state, event)
    assert state.message.tool_calls == ()
    assert [c.arguments for c in state.build().tool_calls] == [{"a": [1]}]


def test_tool_calls_already_assembled_upstream_are_not_counted_twice() -> None:
    values: list[StreamEvent] = []
    reactivex.from_iterable(OPENAI_TOOLS).pipe(assemble_tool_calls()).subscribe(values.append)
    assert sum(isinstance(v, ToolCall) for v in values) == 2
    assert build_message(values) == build_message(OPENAI_TOOLS)


def test_a_stream_of_assembled_calls_alone_keeps_them_in_index_order() -> None:
    second = ToolCall(id="b", name="g", arguments={}, raw_arguments="{}", index=1)
    first = ToolCall(id="a", name="f", arguments={"x": 1}, raw_arguments='{"x": 1}', index=0)
    assert build_message([second, first]).tool_calls == (first, second)


def test_the_reducer_does_not_change_the_state_it_is_given() -> None:
    state = accumulate(MessageBuilder(), TextDelta("a"))
    accumulate(state, TextDelta("b"))
    accumulate(state, Rewind(attempt=2))
    assert state.build().text == "a"


def test_a_long_stream_of_small_deltas_folds_into_the_whole_text() -> None:
    letters = [chr(ord("a") + i % 26) for i in range(200_000)]
    message = build_message([StreamStart("m", "x"), *map(TextDelta, letters)])
    assert message.text == "".join(letters)


def test_folds_that_share_a_long_state_keep_their_own_text() -> None:
    shared = reduce(accumulate, [TextDelta(str(i % 10)) for i in range(1_000)], MessageBuilder())
    before = shared.message
    left = reduce(accumulate, [TextDelta("L")] * 300, shared)
    right = reduce(
        accumulate, [ReasoningDelta("r"), TextDelta("R"), Rewind(attempt=2), TextDelta("!")], shared
    )
    prefix = "0123456789" * 100
    assert (shared.build().text, shared.message) == (prefix, before)
    assert left.build().text == prefix + "L" * 300
    assert (right.build().text, right.build().choices[0].reasoning) == ("!", "")


def test_every_kind_of_streamed_text_lands_in_its_place() -> None:
    events: list[StreamEvent] = [
        ReasoningDelta("think ", index=0),
        ReasoningDelta("more", index=0),
        ReasoningDelta("sig", kind="signature", index=0),
        ReasoningDelta("secret", kind="redacted", index=1),
        ReasoningDelta("again", index=2),
        TextDelta("a", choice=1),
        RefusalDelta("no", choice=1),
        TextDelta("b"),
        RefusalDelta(", sorry", choice=1),
        TextDelta("c", choice=1),
    ]
    state = reduce(accumulate, events, MessageBuilder())
    assert state.message == build_message(events)
    reasoning = (
        ReasoningBlock(0, text="think more", signature="sig"),
        ReasoningBlock(1, "redacted", text="secret"),
        ReasoningBlock(2, text="again"),
    )
    assert build_message(events).choices == (
        Choice(
            0,
            text="b",
            reasoning="think moreagain",
            reasoning_blocks=reasoning,
            content=(*reasoning, TextBlock(0, "b")),  # in the order the blocks opened
        ),
        Choice(1, text="ac", refusal="no, sorry", content=(TextBlock(0, "ac"),)),
    )


def test_an_empty_stream_builds_an_empty_message() -> None:
    assert build_message([]) == Message(id="", model="")
    assert build_message([]).text == ""
    assert build_message([]).finish_reason is None


INVALID: list[StreamEvent] = [
    StreamStart("chatcmpl-8", "gpt-4o"),
    ToolCallDelta(0, id="call_x", name="write_file", arguments='{"path": "a.txt", "body": "cut'),
    Finish("length", raw_reason="length"),
]


def test_invalid_arguments_raise_by_default() -> None:
    with pytest.raises(ToolCallError) as caught:
        build_message(INVALID)
    assert (caught.value.name, caught.value.call_id) == ("write_file", "call_x")
    assert caught.value.arguments == '{"path": "a.txt", "body": "cut'


def test_invalid_arguments_are_kept_as_invalid_calls_on_request() -> None:
    (call,) = build_message(INVALID, invalid="emit").tool_calls
    assert (call.valid, call.arguments, call.raw_arguments) == (
        False,
        None,
        '{"path": "a.txt", "body": "cut',
    )


# --- to_openai ------------------------------------------------------------------------------------


def test_to_openai_is_a_chat_completion_the_sdk_accepts() -> None:
    completion = openai_sdk(build_message(OPENAI_TOOLS), created=1_700_000_000)
    assert completion.object == "chat.completion"
    assert completion.created == 1_700_000_000
    assert (completion.id, completion.model) == ("chatcmpl-7", "gpt-4o")
    (choice,) = completion.choices
    assert choice.finish_reason == "tool_calls"
    assert choice.message.content == "Checking both. "
    calls = choice.message.tool_calls or []
    assert [(c.id, c.type, c.function.name) for c in calls] == [  # type: ignore[union-attr]
        ("call_a", "function", "get_weather"),
        ("call_b", "function", "get_time"),
    ]
    assert calls[0].function.arguments == '{"city": "S\\u00e3o Paulo"}'  # type: ignore[union-attr]
    assert completion.usage is not None
    assert (completion.usage.prompt_tokens, completion.usage.completion_tokens) == (90, 31)
    assert completion.usage.total_tokens == 121


def test_to_openai_content_is_null_with_tool_calls_and_no_text() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="c", name="f", arguments="{}"),
        Finish("tool_calls", "tool_use"),
    ]
    body = build_message(events).to_openai()
    assert body["choices"][0]["message"]["content"] is None
    assert "usage" not in body
    assert body["created"] == 0
    assert openai_sdk(build_message(events)).choices[0].message.content is None


def test_to_openai_content_is_an_empty_string_without_tool_calls() -> None:
    message = build_message([StreamStart("c", "m"), Finish("stop", raw_reason="stop")])
    assert openai_sdk(message).choices[0].message.content == ""


def test_to_openai_carries_a_refusal() -> None:
    message = build_message([RefusalDelta("I can't "), RefusalDelta("help with that.")])
    choice = openai_sdk(message).choices[0]
    assert (choice.message.content, choice.message.refusal) == (None, "I can't help with that.")


def test_to_openai_keeps_the_raw_text_of_invalid_arguments() -> None:
    completion = openai_sdk(build_message(INVALID, invalid="emit"))
    (call,) = completion.choices[0].message.tool_calls or []
    assert call.function.arguments == '{"path": "a.txt", "body": "cut'  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("reason", "raw", "expected"),
    [
        ("stop", "stop", "stop"),
        ("tool_calls", "function_call", "function_call"),
        ("stop", "end_turn", "stop"),
        ("stop", "stop_sequence", "stop"),
        ("length", "max_tokens", "length"),
        ("tool_calls", "tool_use", "tool_calls"),
        ("content_filter", "refusal", "content_filter"),
        ("other", "pause_turn", "stop"),
        (None, None, "stop"),
    ],
)
def test_to_openai_finish_reason_is_an_openai_word(
    reason: Any, raw: str | None, expected: str
) -> None:
    message = Message(
        "c", "m", choices=(Choice(0, "x", finish_reason=reason, raw_finish_reason=raw),)
    )
    assert openai_sdk(message).choices[0].finish_reason == expected


def test_to_openai_writes_every_choice() -> None:
    events: list[StreamEvent] = [TextDelta("a", choice=0), TextDelta("b", choice=1), Usage(3)]
    completion = openai_sdk(build_message(events))
    assert [(c.index, c.message.content) for c in completion.choices] == [(0, "a"), (1, "b")]
    assert completion.usage is not None
    assert (completion.usage.completion_tokens, completion.usage.total_tokens) == (0, 3)


# --- to_anthropic ---------------------------------------------------------------------------------


def test_to_anthropic_is_a_message_the_sdk_accepts_with_blocks_in_order() -> None:
    result = anthropic_sdk(build_message(ANTHROPIC_THINKING))
    assert (result.id, result.type, result.role, result.model) == (
        "msg_01XY",
        "message",
        "assistant",
        "claude-sonnet-4",
    )
    assert [block.model_dump(exclude_none=True) for block in result.content] == [
        {
            "type": "thinking",
            "thinking": "The user wants the weather.",
            "signature": "c2lnbmF0dXJl",
        },
        {"type": "redacted_thinking", "data": "ZW5jcnlwdGVk"},
        {"type": "text", "text": "Let me look that up."},
        {
            "type": "tool_use",
            "id": "toolu_01",
            "name": "get_weather",
            "input": {"location": "Paris, FR"},
        },
    ]
    assert (result.stop_reason, result.stop_sequence) == ("tool_use", None)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (412, 87)


@pytest.mark.parametrize(
    ("reason", "raw", "expected"),
    [
        ("stop", "end_turn", "end_turn"),
        ("stop", "stop_sequence", "stop_sequence"),
        ("stop", "stop", "end_turn"),
        ("length", "length", "max_tokens"),
        ("tool_calls", "tool_calls", "tool_use"),
        ("tool_calls", "function_call", "tool_use"),
        ("content_filter", "content_filter", "refusal"),
        ("other", "pause_turn", "pause_turn"),
        ("other", "something_new", "end_turn"),
        (None, None, None),
    ],
)
def test_to_anthropic_stop_reason_is_an_anthropic_word(
    reason: Any, raw: str | None, expected: str | None
) -> None:
    message = Message(
        "m", "c", choices=(Choice(0, "x", finish_reason=reason, raw_finish_reason=raw),)
    )
    assert anthropic_sdk(message).stop_reason == expected


def test_to_anthropic_of_an_empty_message_has_no_content_and_zero_usage() -> None:
    result = anthropic_sdk(build_message([]))
    assert (result.content, result.stop_reason) == ([], None)
    assert (result.usage.input_tokens, result.usage.output_tokens) == (0, 0)


def test_to_anthropic_writes_reasoning_set_by_hand_as_one_thinking_block() -> None:
    message = Message("m", "c", choices=(Choice(0, "answer", reasoning="because"),))
    assert message.to_anthropic()["content"] == [
        {"type": "thinking", "thinking": "because", "signature": ""},
        {"type": "text", "text": "answer"},
    ]


@pytest.mark.parametrize("raw", ['{"a": ', "[1, 2]"])
def test_to_anthropic_refuses_arguments_that_cannot_be_a_tool_use_input(raw: str) -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="toolu_9", name="f", arguments=raw),
        ToolCallEnd(0),
    ]
    message = build_message(events, invalid="emit")
    with pytest.raises(ToolCallError) as caught:
        message.to_anthropic()
    assert (caught.value.name, caught.value.call_id, caught.value.arguments) == (
        "f",
        "toolu_9",
        raw,
    )


# --- Agreement with the SDKs' own accumulators ----------------------------------------------------


def test_openai_transcript_builds_what_the_openai_sdk_accumulates() -> None:
    def chunk(choices: list[dict[str, Any]], **extra: Any) -> dict[str, Any]:
        return {
            "id": "chatcmpl-42",
            "object": "chat.completion.chunk",
            "created": 1_700_000_000,
            "model": "gpt-4o-mini",
            "choices": choices,
            **extra,
        }

    def delta(n: int, **fields: Any) -> dict[str, Any]:
        return {"index": n, "delta": fields, "finish_reason": None}

    def call(index: int, arguments: str, **first: str) -> dict[str, Any]:
        piece: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
        if first:
            piece.update(id=first["id"], type="function")
            piece["function"]["name"] = first["name"]
        return piece

    chunks = [
        chunk([delta(0, role="assistant", content=""), delta(1, role="assistant", content="")]),
        chunk([delta(0, content="Hel"), delta(1, content="Sure: ")]),
        chunk(
            [
                delta(0, content="lo \\ud83d\\ude00 ok"),
                delta(1, tool_calls=[call(0, "", id="c0", name="f")]),
            ]
        ),
        chunk([delta(1, tool_calls=[call(0, '{"q": "caf\\u00')])]),
        chunk([delta(1, tool_calls=[call(0, 'e9"}')])]),
        chunk([delta(1, tool_calls=[call(1, '{"n": 2}', id="c1", name="g")])]),
        chunk([{"index": 0, "delta": {}, "finish_reason": "stop"}]),
        chunk([{"index": 1, "delta": {}, "finish_reason": "tool_calls"}]),
        chunk([], usage={"prompt_tokens": 12, "completion_tokens": 34, "total_tokens": 46}),
    ]
    decoder = OpenAIDecoder()
    events = [e for c in chunks for e in decoder.decode(SSEEvent(data=orjson.dumps(c).decode()))]
    ours = build_message(events).to_openai(created=1_700_000_000)

    state: ChatCompletionStreamState[Any] = ChatCompletionStreamState()
    for c in chunks:
        state.handle_chunk(ChatCompletionChunk.model_validate(c))
    theirs = state.get_final_completion().model_dump(mode="json")

    def essentials(completion: dict[str, Any]) -> Any:
        choices = [
            (
                c["index"],
                c["finish_reason"],
                c["message"]["content"] or None,
                [
                    (t["id"], t["function"]["name"], t["function"]["arguments"])
                    for t in c["message"].get("tool_calls") or []
                ],
            )
            for c in completion["choices"]
        ]
        usage = {k: completion["usage"][k] for k in ("prompt_tokens", "completion_tokens")}
        return completion["id"], completion["model"], choices, usage

    assert essentials(ours) == essentials(theirs)


def test_anthropic_transcript_builds_what_the_anthropic_sdk_accumulates() -> None:
    def block(index: int, **content_block: Any) -> dict[str, Any]:
        return {"type": "content_block_start", "index": index, "content_block": content_block}

    def delta(index: int, **fields: Any) -> dict[str, Any]:
        return {"type": "content_block_delta", "index": index, "delta": fields}

    def stop(index: int) -> dict[str, Any]:
        return {"type": "content_block_stop", "index": index}

    message = {"id": "msg_7", "type": "message", "role": "assistant", "model": "claude-opus-4"}
    usage = {"input_tokens": 30, "output_tokens": 1}
    events = [
        {"type": "message_start", "message": {**message, "content": [], "usage": usage}},
        block(0, type="thinking", thinking=""),
        delta(0, type="thinking_delta", thinking="Hmm, "),
        delta(0, type="thinking_delta", thinking="tools."),
        delta(0, type="signature_delta", signature="sig=="),
        stop(0),
        block(1, type="text", text=""),
        delta(1, type="text_delta", text="On it."),
        stop(1),
        block(2, type="tool_use", id="toolu_a", name="lookup", input={}),
        delta(2, type="input_json_delta", partial_json=""),
        delta(2, type="input_json_delta", partial_json='{"terms": ["\\ud83d'),
        delta(2, type="input_json_delta", partial_json='\\udc4b", "hi"], "max": 5}'),
        stop(2),
        block(3, type="tool_use", id="toolu_b", name="now", input={}),
        stop(3),
        {
            "type": "message_delta",
            "delta": {"stop_reason": "tool_use", "stop_sequence": None},
            "usage": {"output_tokens": 77},
        },
        {"type": "message_stop"},
    ]
    decoder = AnthropicDecoder()
    decoded = [
        e
        for raw in events
        for e in decoder.decode(SSEEvent(event=raw["type"], data=orjson.dumps(raw).decode()))
    ]
    ours = build_message(decoded).to_anthropic()

    snapshot = None
    buffers: dict[int, bytes] = {}
    for raw in events:
        snapshot = accumulate_event(
            event=raw,  # type: ignore[arg-type]
            current_snapshot=snapshot,
            json_bufs=buffers,
        )
    assert snapshot is not None
    theirs = snapshot.model_dump(mode="json", exclude_none=True)

    assert ours["content"] == theirs["content"]
    assert (ours["id"], ours["stop_reason"]) == ("msg_7", "tool_use")
    assert ours["usage"] == {k: theirs["usage"][k] for k in ("input_tokens", "output_tokens")}


# --- to_message -----------------------------------------------------------------------------------


def test_to_message_emits_one_message_when_the_stream_completes() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_cold_observable(
        *[on_next(10 * (i + 1), event) for i, event in enumerate(OPENAI_TOOLS)],
        on_completed(200),
    )
    results = scheduler.start(lambda: source.pipe(to_message()))
    assert results.messages == [on_next(400, build_message(OPENAI_TOOLS)), on_completed(400)]


def test_to_message_of_an_empty_stream_is_an_empty_message() -> None:
    messages: list[Message] = []
    reactivex.empty().pipe(to_message()).subscribe(messages.append)
    assert messages == [Message(id="", model="")]


def test_to_message_sends_a_tool_call_error_and_unsubscribes() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        *[on_next(210 + i, event) for i, event in enumerate(INVALID)],
        on_next(250, TextDelta("more")),
        on_completed(260),
    )
    results = scheduler.start(lambda: source.pipe(to_message()))
    (notification,) = results.messages
    assert notification.time == 212
    assert isinstance(notification.value, OnError)
    assert isinstance(notification.value.exception, ToolCallError)
    assert source.subscriptions == [subscribe(200, 212)]


def test_to_message_keeps_invalid_calls_on_request() -> None:
    messages: list[Message] = []
    reactivex.from_iterable(INVALID).pipe(to_message(invalid="emit")).subscribe(messages.append)
    assert [c.valid for c in messages[0].tool_calls] == [False]


def test_to_message_passes_a_source_error_on() -> None:
    failure = ConnectionError("lost")
    errors: list[Exception] = []
    messages: list[Message] = []
    source = reactivex.concat(reactivex.from_iterable(OPENAI_TOOLS[:3]), reactivex.throw(failure))
    source.pipe(to_message()).subscribe(messages.append, errors.append)
    assert (messages, errors) == ([], [failure])


def test_to_message_rejects_an_unknown_invalid_policy() -> None:
    with pytest.raises(ValueError, match="invalid must be"):
        to_message(invalid="skip")  # type: ignore[arg-type]
