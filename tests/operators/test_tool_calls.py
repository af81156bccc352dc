"""assemble_tool_calls: the partial-JSON parser and the reducer as plain code, then the operator."""

from __future__ import annotations

import json
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import orjson
import pytest
import reactivex
from hypothesis import given
from hypothesis import strategies as st
from reactivex import Observable
from reactivex.notification import OnError, OnNext
from reactivex.testing import ReactiveTest, TestScheduler

from streamkit.errors import ToolCallError
from streamkit.events import (
    Finish,
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
from streamkit.formats.anthropic import AnthropicDecoder
from streamkit.formats.openai import OpenAIDecoder
from streamkit.operators.tool_calls import (
    ToolCallOutput,
    ToolCallPreview,
    ToolCallState,
    assemble_tool_calls,
    flush_tool_calls,
    parse_arguments,
    step_tool_calls,
    validate_tool_call,
)
from streamkit.sse import SSEEvent
from tests.strategies import JSON_VALUES

on_next, on_completed, subscribe = (
    ReactiveTest.on_next,
    ReactiveTest.on_completed,
    ReactiveTest.subscribe,
)

# --- Transcripts, as the format decoders produce them ---------------------------------------------

# OpenAI, two parallel calls; arguments cut inside strings, inside a \u escape and between the two
# halves of a surrogate pair; each call ends before the Finish.
OPENAI_PARALLEL: list[StreamEvent] = [
    StreamStart("chatcmpl-1", "gpt-4o"),
    ToolCallDelta(0, id="call_weather", name="get_weather", arguments=""),
    ToolCallDelta(0, arguments='{"ci'),
    ToolCallDelta(0, arguments=r'ty": "Z\u00'),
    ToolCallDelta(0, arguments=r'fcrich", "mood": "\ud83d'),
    ToolCallDelta(0, arguments=r'\ude00"}'),
    ToolCallEnd(0),
    ToolCallDelta(1, id="call_time", name="get_time", arguments=""),
    ToolCallDelta(1, arguments='{"tz": "Europe/Zu'),
    ToolCallDelta(1, arguments='rich"}'),
    ToolCallEnd(1),
    Finish("tool_calls", raw_reason="tool_calls"),
    Usage(input_tokens=80, output_tokens=40),
]
WEATHER = ToolCall(
    id="call_weather",
    name="get_weather",
    arguments={"city": "Zürich", "mood": "😀"},
    raw_arguments=r'{"city": "Z\u00fcrich", "mood": "\ud83d\ude00"}',
    index=0,
)
TIME = ToolCall(
    id="call_time",
    name="get_time",
    arguments={"tz": "Europe/Zurich"},
    raw_arguments='{"tz": "Europe/Zurich"}',
    index=1,
)

# Anthropic: text in block 0, a tool_use in block 1 (input cut inside a key, a string, an array),
# an argumentless tool_use in block 2 (its input {} arrives with no delta at all).
ANTHROPIC_TOOL_USE: list[StreamEvent] = [
    StreamStart("msg_01", "claude-sonnet-4"),
    Usage(input_tokens=25, output_tokens=1),
    TextDelta("Let me check."),
    ToolCallDelta(1, id="toolu_01", name="get_forecast", arguments=""),
    ToolCallDelta(1, arguments='{"cit'),
    ToolCallDelta(1, arguments='y": "Par'),
    ToolCallDelta(1, arguments='is", "units": ["cel'),
    ToolCallDelta(1, arguments='sius"], "days": 3'),
    ToolCallDelta(1, arguments="}"),
    ToolCallEnd(1),
    ToolCallDelta(2, id="toolu_02", name="get_time", arguments=""),
    ToolCallEnd(2),
    Finish("tool_calls", raw_reason="tool_use"),
    Usage(input_tokens=25, output_tokens=60),
]
FORECAST = ToolCall(
    id="toolu_01",
    name="get_forecast",
    arguments={"city": "Paris", "units": ["celsius"], "days": 3},
    raw_arguments='{"city": "Paris", "units": ["celsius"], "days": 3}',
    index=1,
)
NO_ARGUMENTS = ToolCall(id="toolu_02", name="get_time", arguments={}, raw_arguments="", index=2)


def reduce_all(
    events: Sequence[StreamEvent], state: ToolCallState | None = None
) -> list[StreamEvent | ToolCallOutput]:
    """Run the reducer over ``events`` and the end of the stream, as the operator does."""
    state = state or ToolCallState()
    out: list[StreamEvent | ToolCallOutput] = []
    for event in events:
        state, outputs = step_tool_calls(state, event)
        out += [event, *outputs]
    state, calls = flush_tool_calls(state)
    return [*out, *calls]


def calls_in(items: Sequence[object]) -> list[ToolCall]:
    return [item for item in items if isinstance(item, ToolCall)]


def run(
    events: Sequence[StreamEvent], **options: Any
) -> tuple[list[object], list[Exception], bool]:
    """Subscribe to ``events`` through the operator: (values, errors, completed)."""
    values: list[object] = []
    errors: list[Exception] = []
    completed: list[bool] = []
    reactivex.from_iterable(events).pipe(assemble_tool_calls(**options)).subscribe(
        values.append, errors.append, lambda: completed.append(True)
    )
    return values, errors, bool(completed)


# --- parse_arguments and validate_tool_call -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", (True, {})),
        ("  \n", (True, {})),
        ('{"a": [1, "\\u00e9"]}', (True, {"a": [1, "é"]})),
        ('{"a": 1', (False, None)),
        ('{"a": NaN}', (False, None)),
        ('{"a": "\\ud83d"}', (False, None)),
    ],
)
def test_parse_arguments(text: str, expected: tuple[bool, Any]) -> None:
    assert parse_arguments(text) == expected


def test_validate_tool_call_returns_a_valid_call_unchanged() -> None:
    assert validate_tool_call(WEATHER) is WEATHER


def test_tool_call_error_names_the_tool_and_call_and_keeps_the_whole_text() -> None:
    raw = '{"path": "/tmp/x", "content": "' + "x" * 500
    call = ToolCall(id="call_9", name="write_file", arguments=None, raw_arguments=raw, valid=False)
    with pytest.raises(ToolCallError) as caught:
        validate_tool_call(call)
    error = caught.value
    assert (error.name, error.call_id, error.arguments) == ("write_file", "call_9", raw)
    message = str(error)
    assert "'write_file'" in message
    assert "'call_9'" in message
    assert '{"path": "/tmp/x"' in message
    assert "more characters" in message
    assert len(message) < 400
    assert isinstance(error.__cause__, orjson.JSONDecodeError)
    assert isinstance(error, ValueError)


# --- The reducer ----------------------------------------------------------------------------------


def test_openai_parallel_calls_are_emitted_after_their_ends() -> None:
    out = reduce_all(OPENAI_PARALLEL)
    end_0, end_1 = out.index(ToolCallEnd(0)), out.index(ToolCallEnd(1))
    assert out[end_0 + 1] == WEATHER
    assert out[end_1 + 1] == TIME
    assert out[end_1 + 2] == Finish("tool_calls", raw_reason="tool_calls")
    assert calls_in(out) == [WEATHER, TIME]
    assert [e for e in out if not isinstance(e, ToolCall)] == OPENAI_PARALLEL


def test_anthropic_tool_use_blocks_assemble_and_empty_input_is_an_empty_object() -> None:
    assert calls_in(reduce_all(ANTHROPIC_TOOL_USE)) == [FORECAST, NO_ARGUMENTS]


def test_a_tool_call_carries_the_receive_time_of_the_event_that_completed_it() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="c", name="f", arguments="{}", received_at=1.0),
        ToolCallEnd(0, received_at=2.5),
    ]
    (call,) = calls_in(reduce_all(events))
    assert call.received_at == 2.5


def test_interleaved_fragments_of_parallel_calls_stay_apart() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="a", name="f", arguments='{"x": '),
        ToolCallDelta(1, id="b", name="g", arguments='{"y": '),
        ToolCallDelta(0, arguments='"first"}'),
        ToolCallDelta(1, arguments='"second"}'),
        ToolCallEnd(1),
        ToolCallEnd(0),
    ]
    assert [(c.id, c.arguments) for c in calls_in(reduce_all(events))] == [
        ("b", {"y": "second"}),
        ("a", {"x": "first"}),
    ]


def test_calls_with_the_same_index_in_different_choices_stay_apart() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="c0", name="f", arguments='{"n": ', choice=0),
        ToolCallDelta(0, id="c1", name="f", arguments='{"n": ', choice=1),
        ToolCallDelta(0, arguments="0}", choice=0),
        ToolCallDelta(0, arguments="1}", choice=1),
        Finish("tool_calls", raw_reason="tool_calls", choice=1),
        Finish("tool_calls", raw_reason="tool_calls", choice=0),
    ]
    out = reduce_all(events)
    assert [(c.choice, c.id, c.arguments) for c in calls_in(out)] == [
        (1, "c1", {"n": 1}),
        (0, "c0", {"n": 0}),
    ]
    assert out.index(calls_in(out)[0]) == out.index(events[4]) + 1


def test_finish_completes_every_open_call_of_its_choice_in_index_order_only() -> None:
    state = ToolCallState()
    for event in [
        ToolCallDelta(2, id="late", name="f", arguments="{}"),
        ToolCallDelta(1, id="early", name="f", arguments="{}"),
        ToolCallDelta(0, id="other", name="f", arguments="{}", choice=1),
    ]:
        state, _ = step_tool_calls(state, event)
    state, outputs = step_tool_calls(state, Finish("tool_calls", raw_reason="tool_calls"))
    assert [c.id for c in calls_in(outputs)] == ["early", "late"]
    assert list(state.open_calls) == [(1, 0)]


def test_calls_still_open_at_the_end_of_the_stream_are_completed_not_dropped() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(1, id="b", name="g", arguments='{"y": 2}', choice=1, received_at=3.0),
        ToolCallDelta(0, id="a", name="f", arguments='{"x": 1}', received_at=4.0),
    ]
    calls = calls_in(reduce_all(events))
    assert [(c.choice, c.id, c.arguments, c.received_at) for c in calls] == [
        (0, "a", {"x": 1}, 4.0),
        (1, "b", {"y": 2}, 3.0),
    ]


def test_an_end_for_a_call_never_opened_emits_nothing() -> None:
    assert reduce_all([ToolCallEnd(3), Finish("stop", raw_reason="stop")]) == [
        ToolCallEnd(3),
        Finish("stop", raw_reason="stop"),
    ]


def test_invalid_arguments_give_an_invalid_call_with_the_raw_text() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="c", name="f", arguments='{"a": '),
        ToolCallEnd(0),
    ]
    assert calls_in(reduce_all(events)) == [
        ToolCall(id="c", name="f", arguments=None, raw_arguments='{"a": ', valid=False)
    ]


def test_the_first_id_and_name_win_over_repeated_ones() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="", name="", arguments=""),
        ToolCallDelta(0, id="call_1", name="lookup", arguments='{"q":'),
        ToolCallDelta(0, id="call_1", name="lookup", arguments=' "x"}'),
        ToolCallEnd(0),
    ]
    (call,) = calls_in(reduce_all(events))
    assert (call.id, call.name, call.arguments) == ("call_1", "lookup", {"q": "x"})


def test_rewind_forgets_open_calls_and_a_new_call_at_the_same_index_starts_clean() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="old", name="f", arguments='{"stale": tr'),
        Rewind(attempt=2),
        ToolCallDelta(0, id="new", name="f", arguments='{"fresh": true}'),
        ToolCallEnd(0),
    ]
    assert [(c.id, c.arguments) for c in calls_in(reduce_all(events))] == [("new", {"fresh": True})]


def test_other_events_leave_the_state_alone() -> None:
    state = ToolCallState()
    others: list[StreamEvent] = [
        StreamStart("x", "m"),
        TextDelta("hi"),
        Usage(1, 2),
        Retrying(2, 1.0, OSError()),
    ]
    for event in others:
        assert step_tool_calls(state, event) == (state, ())


def test_the_reducer_does_not_change_the_state_it_is_given() -> None:
    state, _ = step_tool_calls(ToolCallState(), ToolCallDelta(0, id="c", name="f", arguments="{"))
    before = dict(state.open_calls)
    step_tool_calls(state, ToolCallDelta(0, arguments="}"))
    step_tool_calls(state, ToolCallEnd(0))
    flush_tool_calls(state)
    assert dict(state.open_calls) == before


def test_previews_follow_each_fragment_with_the_arguments_so_far() -> None:
    out = reduce_all(OPENAI_PARALLEL[:7], ToolCallState(previews=True))
    previews = [item for item in out if isinstance(item, ToolCallPreview)]
    assert [p.arguments for p in previews] == [
        None,
        {},
        {"city": "Z"},
        {"city": "Zürich", "mood": ""},
        {"city": "Zürich", "mood": "😀"},
    ]
    assert previews[1] == ToolCallPreview(
        index=0, choice=0, id="call_weather", name="get_weather", arguments={}, raw_arguments='{"ci'
    )
    deltas = [i for i, item in enumerate(out) if isinstance(item, ToolCallDelta)]
    assert all(isinstance(out[i + 1], ToolCallPreview) for i in deltas)


def test_no_previews_unless_asked() -> None:
    out = reduce_all(OPENAI_PARALLEL)
    assert not any(isinstance(item, ToolCallPreview) for item in out)


@st.composite
def _interleaved_calls(draw: st.DrawFn) -> tuple[list[StreamEvent], dict[tuple[int, int], str]]:
    """Several calls, their fragments shuffled together (each call's in order), some ended."""
    keys = draw(
        st.lists(
            st.tuples(st.integers(0, 2), st.integers(0, 3)), min_size=1, max_size=5, unique=True
        )
    )
    texts: dict[tuple[int, int], str] = {}
    pieces: dict[tuple[int, int], list[str]] = {}
    for key in keys:
        text = json.dumps(draw(st.dictionaries(st.text(max_size=4), JSON_VALUES, max_size=3)))
        cuts = sorted(draw(st.lists(st.integers(0, len(text)), max_size=6)))
        bounds = [0, *cuts, len(text)]
        texts[key] = text
        pieces[key] = [text[a:b] for a, b in pairwise(bounds)]
    order = draw(st.permutations([key for key in keys for _ in pieces[key]]))
    ended = draw(st.sets(st.sampled_from(keys)))
    finished = draw(st.sets(st.integers(0, 2)))
    events: list[StreamEvent] = []
    taken = dict.fromkeys(keys, 0)
    for key in order:
        choice, index = key
        first = taken[key] == 0
        events.append(
            ToolCallDelta(
                index,
                id=f"id{choice}{index}" if first else None,
                name="tool" if first else None,
                arguments=pieces[key][taken[key]],
                choice=choice,
            )
        )
        taken[key] += 1
        if taken[key] == len(pieces[key]) and key in ended:
            events.append(ToolCallEnd(index, choice=choice))
    events += [Finish("tool_calls", raw_reason="tool_calls", choice=c) for c in sorted(finished)]
    return events, texts


@given(_interleaved_calls())
def test_every_call_is_emitted_exactly_once_whatever_closes_it(
    case: tuple[list[StreamEvent], dict[tuple[int, int], str]],
) -> None:
    events, texts = case
    calls = calls_in(reduce_all(events))
    assert sorted((c.choice, c.index) for c in calls) == sorted(texts)
    for call in calls:
        assert call.id == f"id{call.choice}{call.index}"
        assert call.raw_arguments == texts[call.choice, call.index]
        assert call.arguments == orjson.loads(call.raw_arguments)


# --- The operator ---------------------------------------------------------------------------------


def test_operator_passes_every_event_through_and_adds_the_calls() -> None:
    values, errors, completed = run(ANTHROPIC_TOOL_USE)
    assert values == reduce_all(ANTHROPIC_TOOL_USE)
    assert (errors, completed) == ([], True)


def test_operator_emits_a_call_in_the_same_tick_as_its_end() -> None:
    scheduler = TestScheduler()
    delta = ToolCallDelta(0, id="c", name="f", arguments='{"a": 1}')
    source = scheduler.create_cold_observable(
        on_next(10, delta), on_next(20, ToolCallEnd(0)), on_completed(40)
    )
    results = scheduler.start(lambda: source.pipe(assemble_tool_calls()))
    call = ToolCall(id="c", name="f", arguments={"a": 1}, raw_arguments='{"a": 1}')
    assert results.messages == [
        on_next(210, delta),
        on_next(220, ToolCallEnd(0)),
        on_next(220, call),
        on_completed(240),
    ]


def test_operator_emits_open_calls_just_before_completing() -> None:
    scheduler = TestScheduler()
    delta = ToolCallDelta(0, id="c", name="f", arguments="[1]")
    source = scheduler.create_cold_observable(on_next(10, delta), on_completed(30))
    results = scheduler.start(lambda: source.pipe(assemble_tool_calls()))
    call = ToolCall(id="c", name="f", arguments=[1], raw_arguments="[1]")
    assert results.messages == [on_next(210, delta), on_next(230, call), on_completed(230)]


def test_invalid_arguments_raise_after_the_completing_event_and_unsubscribe() -> None:
    scheduler = TestScheduler()
    source = scheduler.create_hot_observable(
        on_next(210, ToolCallDelta(0, id="call_1", name="search", arguments='{"q": "unterminated')),
        on_next(220, ToolCallEnd(0)),
        on_next(230, TextDelta("never seen")),
        on_completed(240),
    )
    results = scheduler.start(lambda: source.pipe(assemble_tool_calls()))
    kinds = [(m.time, type(m.value)) for m in results.messages]
    assert kinds == [(210, OnNext), (220, OnNext), (220, OnError)]
    failure = results.messages[-1].value
    assert isinstance(failure, OnError)
    error = failure.exception
    assert isinstance(error, ToolCallError)
    assert (error.name, error.call_id, error.arguments) == (
        "search",
        "call_1",
        '{"q": "unterminated',
    )
    assert source.subscriptions == [subscribe(200, 220)]


def test_raise_mode_emits_the_valid_calls_completed_before_the_invalid_one() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="ok", name="f", arguments="{}"),
        ToolCallDelta(1, id="bad", name="g", arguments="{"),
        Finish("tool_calls", raw_reason="tool_use"),
        Usage(1, 2),
    ]
    values, errors, completed = run(events)
    assert values == [*events[:3], ToolCall(id="ok", name="f", arguments={}, raw_arguments="{}")]
    assert [type(e) for e in errors] == [ToolCallError]
    assert not completed


def test_raise_mode_fails_for_an_invalid_call_open_at_completion() -> None:
    values, errors, completed = run([ToolCallDelta(0, id="c", name="f", arguments='{"a"')])
    assert len(values) == 1
    assert isinstance(errors[0], ToolCallError)
    assert not completed


def test_emit_mode_passes_invalid_calls_on_and_continues() -> None:
    events: list[StreamEvent] = [
        ToolCallDelta(0, id="c", name="f", arguments='{"a": tru'),
        ToolCallEnd(0),
        TextDelta("after"),
    ]
    values, errors, completed = run(events, invalid="emit")
    invalid = ToolCall(id="c", name="f", arguments=None, raw_arguments='{"a": tru', valid=False)
    assert values == [events[0], events[1], invalid, events[2]]
    assert (errors, completed) == ([], True)


def test_a_source_error_is_passed_on_without_emitting_the_cut_calls() -> None:
    failure = ConnectionError("lost")
    source: Observable[StreamEvent] = reactivex.concat(
        reactivex.from_iterable([ToolCallDelta(0, id="c", name="f", arguments='{"a": 1}')]),
        reactivex.throw(failure),
    )
    values: list[object] = []
    errors: list[Exception] = []
    source.pipe(assemble_tool_calls()).subscribe(values.append, errors.append)
    assert not calls_in(values)
    assert errors == [failure]


def test_operator_previews_come_between_the_deltas() -> None:
    values, _, _ = run(ANTHROPIC_TOOL_USE[:6], previews=True, invalid="emit")
    assert [type(v).__name__ for v in values] == [
        "StreamStart",
        "Usage",
        "TextDelta",
        "ToolCallDelta",
        "ToolCallPreview",
        "ToolCallDelta",
        "ToolCallPreview",
        "ToolCallDelta",
        "ToolCallPreview",
        "ToolCall",
    ]
    assert [v.arguments for v in values if isinstance(v, ToolCallPreview)] == [
        None,
        {},
        {"city": "Par"},
    ]
    assert values[-1] == ToolCall(
        id="toolu_01",
        name="get_forecast",
        arguments=None,
        raw_arguments='{"city": "Par',
        index=1,
        valid=False,
    )


def test_each_subscription_assembles_its_own_calls() -> None:
    source = reactivex.from_iterable(OPENAI_PARALLEL).pipe(assemble_tool_calls())
    first: list[object] = []
    second: list[object] = []
    source.subscribe(first.append)
    source.subscribe(second.append)
    assert calls_in(first) == calls_in(second) == [WEATHER, TIME]


def test_an_unknown_invalid_policy_is_rejected_at_once() -> None:
    with pytest.raises(ValueError, match="invalid must be"):
        assemble_tool_calls(invalid="ignore")  # type: ignore[call-overload]


# --- Against the real decoders --------------------------------------------------------------------


def _chunk(choices: list[dict[str, Any]]) -> SSEEvent:
    body = {"id": "chatcmpl-9", "object": "chat.completion.chunk", "created": 1, "model": "gpt-4o"}
    return SSEEvent(data=orjson.dumps({**body, "choices": choices}).decode())


def _tool_piece(n: int, index: int, arguments: str, **first: str) -> dict[str, Any]:
    call: dict[str, Any] = {"index": index, "function": {"arguments": arguments}}
    if first:
        call["id"], call["type"] = first["id"], "function"
        call["function"]["name"] = first["name"]
    return {"index": n, "delta": {"tool_calls": [call]}, "finish_reason": None}


def test_openai_decoder_output_assembles_parallel_calls_of_two_choices() -> None:
    stream = [
        _chunk(
            [{"index": n, "delta": {"role": "assistant"}, "finish_reason": None} for n in (0, 1)]
        ),
        _chunk(
            [_tool_piece(0, 0, "", id="a0", name="f"), _tool_piece(1, 0, '{"n"', id="b0", name="f")]
        ),
        _chunk([_tool_piece(0, 0, '{"n": "\\ud83d'), _tool_piece(1, 0, ": 1}")]),
        _chunk([_tool_piece(0, 0, '\\ude00"}'), _tool_piece(1, 1, "{}", id="b1", name="g")]),
        _chunk([_tool_piece(0, 1, '{"m": [1, 2]}', id="a1", name="g")]),
        _chunk([{"index": n, "delta": {}, "finish_reason": "tool_calls"} for n in (0, 1)]),
        SSEEvent(data="[DONE]"),
    ]
    decoder = OpenAIDecoder()
    events = [event for sse in stream for event in decoder.decode(sse)]
    values, errors, completed = run(events)
    assert (errors, completed) == ([], True)
    # Each call completes when its choice finishes, never when another call's piece arrives.
    assert [(c.choice, c.index, c.id, c.name, c.arguments) for c in calls_in(values)] == [
        (0, 0, "a0", "f", {"n": "😀"}),
        (0, 1, "a1", "g", {"m": [1, 2]}),
        (1, 0, "b0", "f", {"n": 1}),
        (1, 1, "b1", "g", {}),
    ]


def test_anthropic_decoder_output_assembles_tool_use_blocks() -> None:
    def sse(kind: str, **fields: Any) -> SSEEvent:
        return SSEEvent(event=kind, data=orjson.dumps({"type": kind, **fields}).decode())

    def json_delta(index: int, partial: str) -> SSEEvent:
        delta = {"type": "input_json_delta", "partial_json": partial}
        return sse("content_block_delta", index=index, delta=delta)

    message = {"id": "msg_1", "type": "message", "role": "assistant", "model": "claude"}
    tool = {"type": "tool_use", "id": "toolu_1", "name": "search", "input": {}}
    stream = [
        sse("message_start", message={**message, "content": [], "usage": {"input_tokens": 3}}),
        sse("content_block_start", index=0, content_block={"type": "text", "text": ""}),
        sse("content_block_delta", index=0, delta={"type": "text_delta", "text": "Searching."}),
        sse("content_block_stop", index=0),
        sse("content_block_start", index=1, content_block=tool),
        json_delta(1, '{"query": "caf\\u00'),
        json_delta(1, 'e9", "limit": 1'),
        json_delta(1, "0}"),
        sse("content_block_stop", index=1),
        sse("content_block_start", index=2, content_block={**tool, "id": "toolu_2", "name": "now"}),
        sse("content_block_stop", index=2),
        sse("message_delta", delta={"stop_reason": "tool_use"}, usage={"output_tokens": 9}),
        sse("message_stop"),
    ]
    decoder = AnthropicDecoder()
    events = [event for item in stream for event in decoder.decode(item)]
    values, errors, completed = run(events)
    assert (errors, completed) == ([], True)
    assert [(c.index, c.id, c.arguments) for c in calls_in(values)] == [
        (1, "toolu_1", {"query": "café", "limit": 10}),
        (2, "toolu_2", {}),
    ]
