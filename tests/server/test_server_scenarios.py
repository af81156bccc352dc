"""The server's scripts: deterministic answers, continuation, token limits, tool calls, and the
request fields they honour (n, stop, thinking, reasoning, tool choice), planned without a server."""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from streamkit.events import Finish, StreamStart, TextDelta, ToolCallDelta, ToolCallEnd, Usage
from streamkit.fold.message_builder import build_message
from streamkit.formats import get_format
from streamkit.server import answer_for, plan_reply, reply_events, split_partial, tokens


def _body(text: str = "Tell me about rivers.", **extra: Any) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": text}], **extra}


def test_same_conversation_same_answer_and_different_prompts_differ() -> None:
    assert answer_for(_body()) == answer_for(_body())
    assert answer_for(_body()) == answer_for(_body()["messages"])
    assert answer_for(_body("one")) != answer_for(_body("two"))


@pytest.mark.parametrize("prompt", ["a", "b", "Tell me about rivers.", "x" * 50, ""])
def test_answer_is_english_like_sentences_of_60_to_150_words(prompt: str) -> None:
    answer = answer_for(_body(prompt))
    words = answer.split()
    assert 60 <= len(words) <= 150
    assert answer[0].isupper()
    assert answer.endswith(".")
    assert answer == answer.strip()


def test_content_blocks_seed_like_plain_text() -> None:
    blocks = {"role": "user", "content": [{"type": "text", "text": "Tell me about rivers."}]}
    assert answer_for([blocks]) == answer_for(_body())


def test_tokens_keep_leading_whitespace_and_join_back() -> None:
    assert tokens("Hello big  world.") == ["Hello", " big", "  world."]
    assert tokens(" lead trail ") == [" lead", " trail", " "]
    assert tokens("") == []
    answer = answer_for(_body())
    assert "".join(tokens(answer)) == answer
    assert len(tokens(answer)) == len(answer.split())


@pytest.mark.parametrize("name", ["openai", "anthropic"])
@pytest.mark.parametrize("cut", [0, 1, 17, 40, -5, -1])
def test_continuation_body_continues_exactly(name: str, cut: int) -> None:
    fmt = get_format(name)
    body = _body()
    answer = answer_for(body)
    partial = answer[:cut]
    rest = answer_for(fmt.continuation_body(body, partial))
    assert partial + rest == answer
    assert rest == answer[len(partial) :]


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_repeated_continuation_still_continues_exactly(name: str) -> None:
    fmt = get_format(name)
    body = _body()
    answer = answer_for(body)
    second = fmt.continuation_body(body, answer[:30])
    # Anthropic merges a second prefill into the first; OpenAI restarts from the original body.
    third = (
        fmt.continuation_body(second, answer[30:50])
        if name == "anthropic"
        else fmt.continuation_body(body, answer[:50])
    )
    assert answer_for(third) == answer[50:]


def test_split_partial_recognizes_both_shapes() -> None:
    user = {"role": "user", "content": "q"}
    assert split_partial([user]) == ([user], "")
    assert split_partial([user, {"role": "assistant", "content": "Par"}]) == ([user], "Par")
    go_on = {"role": "user", "content": "Continue please"}
    assert split_partial([user, {"role": "assistant", "content": "Par"}, go_on]) == ([user], "Par")
    other = {"role": "user", "content": "thanks"}
    messages = [user, {"role": "assistant", "content": "Par"}, other]
    assert split_partial(messages) == (messages, "")


def test_partial_that_is_not_a_prefix_gets_the_whole_answer() -> None:
    body = _body()
    prefilled = {**body, "messages": [*body["messages"], {"role": "assistant", "content": "Zzz"}]}
    assert answer_for(prefilled) == answer_for(body)


@pytest.mark.parametrize(("name", "raw"), [("openai", "length"), ("anthropic", "max_tokens")])
@pytest.mark.parametrize("key", ["max_tokens", "max_completion_tokens"])
def test_max_tokens_cuts_words_and_finishes_with_length(name: str, raw: str, key: str) -> None:
    body = _body(**{key: 5})
    reply = plan_reply(body, format=name)  # type: ignore[arg-type]
    assert reply.text == "".join(tokens(answer_for(body))[:5])
    assert reply.finish == "length"
    assert reply.output_tokens == 5
    finish = [e for e in reply_events(reply, format=name) if isinstance(e, Finish)]  # type: ignore[arg-type]
    assert finish == [Finish("length", raw_reason=raw)]


def test_usage_counts_prompt_and_answer_words() -> None:
    body = {**_body("three small words"), "system": "be brief"}
    reply = plan_reply(body, format="anthropic")
    assert reply.input_tokens == 5
    assert reply.output_tokens == len(answer_for(body).split())


def test_openai_events_carry_usage_only_when_asked() -> None:
    reply = plan_reply(_body(), format="openai")
    assert not any(isinstance(e, Usage) for e in reply_events(reply, format="openai", usage=False))
    with_usage = reply_events(reply, format="openai", usage=True)
    assert with_usage[-1] == Usage(input_tokens=4, output_tokens=reply.output_tokens)
    assert with_usage[0] == StreamStart(id=reply.id, model="m")
    text = "".join(e.text for e in with_usage if isinstance(e, TextDelta))
    assert text == answer_for(_body())


def _tools(name: str) -> list[dict[str, Any]]:
    if name == "anthropic":
        return [{"name": n, "input_schema": {"type": "object"}} for n in ("weather", "time")]
    return [{"type": "function", "function": {"name": n}} for n in ("weather", "time")]


@pytest.mark.parametrize("name", ["openai", "anthropic"])
def test_tool_calls_cycle_names_and_stream_arguments_in_fragments(name: str) -> None:
    reply = plan_reply(_body(tools=_tools(name)), format=name, tool_calls=3)  # type: ignore[arg-type]
    assert [call.name for call in reply.tool_calls] == ["weather", "time", "weather"]
    assert len({call.id for call in reply.tool_calls}) == 3
    assert orjson.loads(reply.tool_calls[2].arguments) == {"city": 'Zürich "Old town"', "days": 3}
    assert reply.finish == "tool_calls"
    events = reply_events(reply, format=name)  # type: ignore[arg-type]
    deltas = [e for e in events if isinstance(e, ToolCallDelta)]
    assert all(len(d.arguments) <= 7 for d in deltas)
    assert len([e for e in events if isinstance(e, ToolCallEnd)]) == 3
    message = build_message(events)
    assert [c.arguments["days"] for c in message.tool_calls] == [1, 2, 3]
    assert message.finish_reason == "tool_calls"


def test_tool_calls_need_offered_tools() -> None:
    reply = plan_reply(_body(), format="openai", tool_calls=2)
    assert reply.tool_calls == ()
    assert reply.text == answer_for(_body())


def test_anthropic_tool_preamble_is_continued_after_a_prefill() -> None:
    fmt = get_format("anthropic")
    body = _body(tools=_tools("anthropic"))
    whole = plan_reply(body, format="anthropic", tool_calls=1)
    rest = plan_reply(fmt.continuation_body(body, whole.text[:6]), format="anthropic", tool_calls=1)
    assert whole.text[:6] + rest.text == whole.text
    assert rest.tool_calls == whole.tool_calls  # same ids: the conversation is the same
    assert rest.id == whole.id


# -- what requests ask for, planned without a server ----------------------------------------------


@pytest.mark.parametrize(
    ("name", "extra", "asked", "expected"),
    [
        ("openai", {"tool_choice": "none"}, 3, 0),
        ("anthropic", {"tool_choice": {"type": "none"}}, 3, 0),
        ("openai", {"parallel_tool_calls": False}, 3, 1),
        ("anthropic", {"tool_choice": {"type": "auto", "disable_parallel_tool_use": True}}, 3, 1),
        ("openai", {"tool_choice": "required"}, None, 1),
        ("openai", {"tool_choice": "required"}, 0, 1),
        ("anthropic", {"tool_choice": {"type": "any"}}, 2, 2),
        ("openai", {"tool_choice": "auto"}, None, 0),
        ("openai", {}, 2, 2),
    ],
)
def test_tool_choice_decides_before_the_header(
    name: str, extra: dict[str, Any], asked: int | None, expected: int
) -> None:
    body = _body(tools=_tools(name), **extra)
    reply = plan_reply(body, format=name, tool_calls=asked)  # type: ignore[arg-type]
    assert len(reply.tool_calls) == expected
    assert reply.finish == ("tool_calls" if expected else "stop")


def test_n_choices_differ_and_choice_zero_is_the_answer() -> None:
    reply = plan_reply(_body(n=3), format="openai")
    assert [c.index for c in reply.choices] == [0, 1, 2]
    assert reply.text == answer_for(_body())
    assert len({c.text for c in reply.choices}) == 3
    assert reply.output_tokens == sum(len(c.pieces) for c in reply.choices)
    events = reply_events(reply, format="openai")
    assert [e.choice for e in events if isinstance(e, StreamStart)] == [0, 1, 2]
    message = build_message(events)
    assert [c.text for c in message.choices] == [c.text for c in reply.choices]


@pytest.mark.parametrize(("name", "raw"), [("openai", "stop"), ("anthropic", "stop_sequence")])
def test_a_stop_sequence_ends_the_text_before_it(name: str, raw: str) -> None:
    answer = answer_for(_body())
    word = tokens(answer)[6].strip()
    key = "stop" if name == "openai" else "stop_sequences"
    reply = plan_reply(_body(**{key: ["zzz", word]}), format=name)  # type: ignore[arg-type]
    assert reply.text == answer[: answer.index(word)]
    assert reply.stop_sequence == word
    assert reply.choices[0].raw_finish == raw
    assert reply.finish == "stop"


def test_thinking_comes_before_the_text_and_counts_as_output() -> None:
    body = _body(max_tokens=2000, thinking={"type": "enabled", "budget_tokens": 1024})
    reply = plan_reply(body, format="anthropic")
    assert reply.thinking and reply.signature
    events = reply_events(reply, format="anthropic")
    kinds = [type(e).__name__ for e in events]
    assert kinds.index("ReasoningDelta") < kinds.index("TextDelta")
    assert reply.output_tokens == len(reply.thinking) + len(tokens(reply.text))
    assert plan_reply(body, format="anthropic").signature == reply.signature  # deterministic


def test_reasoning_tokens_come_out_of_the_completion_budget() -> None:
    body = _body(model="o4-mini", reasoning_effort="high", max_completion_tokens=500)
    reply = plan_reply(body, format="openai")
    assert 448 <= reply.reasoning_tokens < 500
    assert len(reply.choices[0].pieces) == 500 - reply.reasoning_tokens
    assert reply.finish == "length"
    assert reply.output_tokens == 500
    assert plan_reply(_body(model="gpt-4o"), format="openai").reasoning_tokens == 0


def test_a_nonce_changes_ids_but_not_content() -> None:
    body = _body(tools=_tools("openai"))
    first = plan_reply(body, format="openai", tool_calls=2, nonce="a" * 29)
    second = plan_reply(body, format="openai", tool_calls=2, nonce="b" * 29)
    assert first.id != second.id
    assert [c.id for c in first.tool_calls] != [c.id for c in second.tool_calls]
    assert [(c.name, c.arguments) for c in first.tool_calls] == [
        (c.name, c.arguments) for c in second.tool_calls
    ]
