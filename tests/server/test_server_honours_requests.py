"""The embedded server honours what requests ask for, as the official SDKs see it.

Each request field the README's table lists is driven through the ``openai`` or ``anthropic``
SDK against the in-process server; tool arguments and structured output are checked against
their schemas with ``jsonschema``.
"""

from __future__ import annotations

import json
from typing import Any, Literal

import anthropic
import jsonschema
import openai
import pytest
from pydantic import BaseModel

from streamkit.server import EmbeddedServer, answer_for, tokens

QUESTION: list[Any] = [{"role": "user", "content": "How do rivers find the sea?"}]
WEATHER_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "city": {"type": "string", "minLength": 2},
        "unit": {"type": "string", "enum": ["celsius", "fahrenheit"]},
        "days": {"type": "integer", "minimum": 1, "maximum": 14},
        "at": {
            "type": "object",
            "properties": {
                "lat": {"type": "number", "minimum": -90, "maximum": 90},
                "lon": {"type": "number", "minimum": -180, "maximum": 180},
            },
            "required": ["lat", "lon"],
            "additionalProperties": False,
        },
        "hours": {"type": "array", "items": {"type": "integer"}, "minItems": 3, "maxItems": 5},
        "alerts": {"type": ["boolean", "null"]},
    },
    "required": ["city", "unit", "at", "hours"],
    "additionalProperties": False,
}
TIME_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"zone": {"type": "string", "enum": ["UTC", "CET", "PST"]}},
    "required": ["zone"],
}
SCHEMAS = {"get_weather": WEATHER_SCHEMA, "get_time": TIME_SCHEMA}
OPENAI_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": name, "parameters": schema}}
    for name, schema in SCHEMAS.items()
]
ANTHROPIC_TOOLS: list[Any] = [
    {"name": name, "description": name, "input_schema": schema} for name, schema in SCHEMAS.items()
]


def _openai(url: str) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="test", max_retries=0)


def _anthropic(url: str) -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key="test", max_retries=0)


# -- n ------------------------------------------------------------------------------------------


async def test_n_gives_distinct_deterministic_choices(server_url: str) -> None:
    async with _openai(server_url) as client:
        first = await client.chat.completions.create(model="gpt-4o", messages=QUESTION, n=3)
        again = await client.chat.completions.create(model="gpt-4o", messages=QUESTION, n=3)
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, n=2, stream=True
        )
        streamed: dict[int, str] = {}
        async for chunk in stream:
            for choice in chunk.choices:
                streamed[choice.index] = streamed.get(choice.index, "") + (
                    choice.delta.content or ""
                )
    texts = [choice.message.content for choice in first.choices]
    assert [choice.index for choice in first.choices] == [0, 1, 2]
    assert texts[0] == answer_for(QUESTION)
    assert len(set(texts)) == 3
    assert texts == [choice.message.content for choice in again.choices]
    assert streamed == {0: texts[0], 1: texts[1]}
    assert first.usage is not None
    assert first.usage.completion_tokens == sum(len(t.split()) for t in texts)  # type: ignore[union-attr]


# -- stop sequences -----------------------------------------------------------------------------


def _stop_word() -> tuple[str, str]:
    """A word from the middle of the answer, and the answer's text before it."""
    answer = answer_for(QUESTION)
    word = tokens(answer)[10].strip()
    return word, answer[: answer.index(word)]


async def test_openai_stop_ends_the_text_before_the_sequence(server_url: str) -> None:
    word, before = _stop_word()
    async with _openai(server_url) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, stop=[word, "never in the answer"]
        )
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, stop=word, stream=True
        )
        chunks = [chunk async for chunk in stream]
    assert completion.choices[0].message.content == before
    assert completion.choices[0].finish_reason == "stop"
    assert "".join(c.choices[0].delta.content or "" for c in chunks if c.choices) == before
    assert [c.choices[0].finish_reason for c in chunks if c.choices][-1] == "stop"


async def test_anthropic_stop_sequence_is_reported(server_url: str) -> None:
    word, before = _stop_word()
    async with _anthropic(server_url) as client:
        message = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=500, messages=QUESTION, stop_sequences=[word]
        )
        async with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=500, messages=QUESTION, stop_sequences=[word]
        ) as stream:
            streamed = await stream.get_final_message()
    for result in (message, streamed):
        assert result.content[0].text == before  # type: ignore[union-attr]
        assert result.stop_reason == "stop_sequence"
        assert result.stop_sequence == word


async def test_the_token_limit_wins_when_it_comes_first(server_url: str) -> None:
    word, _ = _stop_word()
    async with _anthropic(server_url) as client:
        message = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=3, messages=QUESTION, stop_sequences=[word]
        )
    assert message.stop_reason == "max_tokens"
    assert message.stop_sequence is None


# -- response_format ----------------------------------------------------------------------------


class Forecast(BaseModel):
    """A structured answer for ``chat.completions.parse``."""

    city: str
    unit: Literal["celsius", "fahrenheit"]
    days: list[int]
    summary: str | None


async def test_parse_with_a_pydantic_model_gives_a_valid_instance(server_url: str) -> None:
    async with _openai(server_url) as client:
        completion = await client.chat.completions.parse(
            model="gpt-4o", messages=QUESTION, response_format=Forecast
        )
        again = await client.chat.completions.parse(
            model="gpt-4o", messages=QUESTION, response_format=Forecast
        )
    parsed = completion.choices[0].message.parsed
    assert isinstance(parsed, Forecast)
    assert parsed == again.choices[0].message.parsed  # deterministic


async def test_json_schema_is_streamed_in_pieces_and_validates(server_url: str) -> None:
    response_format: Any = {
        "type": "json_schema",
        "json_schema": {"name": "weather", "schema": WEATHER_SCHEMA, "strict": True},
    }
    async with _openai(server_url) as client:
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, response_format=response_format, stream=True
        )
        pieces = [c.choices[0].delta.content async for c in stream if c.choices]
    text = "".join(p or "" for p in pieces)
    assert len([p for p in pieces if p]) > 3
    jsonschema.validate(json.loads(text), WEATHER_SCHEMA)


async def test_json_object_is_a_json_object(server_url: str) -> None:
    messages: Any = [{"role": "user", "content": "Answer in JSON: how do rivers find the sea?"}]
    async with _openai(server_url) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", messages=messages, response_format={"type": "json_object"}
        )
    assert isinstance(json.loads(completion.choices[0].message.content or ""), dict)


# -- logprobs -----------------------------------------------------------------------------------


async def test_logprobs_in_openai_shape_streamed_and_not(server_url: str) -> None:
    async with _openai(server_url) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, logprobs=True, top_logprobs=3, max_tokens=8
        )
        stream = await client.chat.completions.create(
            model="gpt-4o",
            messages=QUESTION,
            logprobs=True,
            top_logprobs=3,
            max_tokens=8,
            stream=True,
        )
        streamed = [
            entry
            async for chunk in stream
            for choice in chunk.choices
            if choice.logprobs and choice.logprobs.content
            for entry in choice.logprobs.content
        ]
        plain = await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
    logprobs = completion.choices[0].logprobs
    assert logprobs is not None and logprobs.content is not None
    content = logprobs.content
    assert "".join(entry.token for entry in content) == completion.choices[0].message.content
    for entry in content:
        assert entry.logprob <= 0
        assert entry.bytes == list(entry.token.encode())
        assert len(entry.top_logprobs) == 3
        assert entry.top_logprobs[0].token == entry.token
        assert sorted(t.logprob for t in entry.top_logprobs) == [
            t.logprob for t in reversed(entry.top_logprobs)
        ]
    assert [e.model_dump() for e in streamed] == [e.model_dump() for e in content]
    assert plain.choices[0].logprobs is None


# -- thinking and reasoning ---------------------------------------------------------------------


async def test_anthropic_thinking_comes_first_with_a_signature(server_url: str) -> None:
    thinking: Any = {"type": "enabled", "budget_tokens": 1024}
    async with _anthropic(server_url) as client:
        async with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=2000,
            messages=QUESTION,
            thinking=thinking,
            tools=ANTHROPIC_TOOLS,
            extra_headers={"x-streamkit-tool-calls": "1"},
        ) as stream:
            kinds = [event.type async for event in stream]
            message = await stream.get_final_message()
        plain = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=2000, messages=QUESTION, thinking=thinking
        )
    assert "thinking" in kinds and "signature" in kinds
    assert [block.type for block in message.content] == ["thinking", "text", "tool_use"]
    block = message.content[0]
    assert block.type == "thinking"
    assert block.thinking and block.signature
    assert len(block.thinking.split()) <= 1024
    tool_use = message.content[2]
    assert tool_use.type == "tool_use"
    jsonschema.validate(tool_use.input, SCHEMAS[tool_use.name])
    assert [b.type for b in plain.content] == ["thinking", "text"]
    assert plain.content[1].text == answer_for(QUESTION)  # type: ignore[union-attr]
    assert plain.usage.output_tokens == len(block.thinking.split()) + len(
        answer_for(QUESTION).split()
    )


async def test_openai_reasoning_models_report_reasoning_tokens(server_url: str) -> None:
    async with _openai(server_url) as client:
        low = await client.chat.completions.create(
            model="o4-mini", messages=QUESTION, reasoning_effort="low"
        )
        high = await client.chat.completions.create(
            model="o4-mini", messages=QUESTION, reasoning_effort="high"
        )
        chat = await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        stream = await client.chat.completions.create(
            model="o4-mini",
            messages=QUESTION,
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    details = [u.completion_tokens_details for u in (low.usage, high.usage, chat.usage) if u]
    reasoning = [d.reasoning_tokens if d else None for d in details]
    assert 0 < reasoning[0] < reasoning[1]  # type: ignore[operator]
    assert reasoning[2] == 0
    assert low.usage is not None
    visible = len((low.choices[0].message.content or "").split())
    assert low.usage.completion_tokens == visible + reasoning[0]  # type: ignore[operator]
    streamed = chunks[-1].usage
    assert streamed is not None and streamed.completion_tokens_details is not None
    assert streamed.completion_tokens_details.reasoning_tokens > 0  # type: ignore[operator]


# -- tools --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "header", "expected"),
    [
        ({"tool_choice": "none"}, "3", []),
        ({"parallel_tool_calls": False}, "3", ["get_weather"]),
        ({"tool_choice": "required", "parallel_tool_calls": False}, "3", ["get_weather"]),
        ({"tool_choice": "required"}, None, ["get_weather"]),
        ({"tool_choice": {"type": "function", "function": {"name": "get_time"}}}, "2", None),
        ({"tool_choice": "auto"}, None, []),
        ({}, "3", ["get_weather", "get_time", "get_weather"]),
    ],
)
async def test_openai_tool_choice_precedence(
    server_url: str, extra: dict[str, Any], header: str | None, expected: list[str] | None
) -> None:
    headers = {"x-streamkit-tool-calls": header} if header else {}
    async with _openai(server_url) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o",
            messages=QUESTION,
            tools=OPENAI_TOOLS,
            extra_headers=headers,
            **extra,
        )
    calls = completion.choices[0].message.tool_calls or []
    names = [call.function.name for call in calls]  # type: ignore[union-attr]
    assert names == (expected if expected is not None else ["get_time", "get_time"])
    for call in calls:
        jsonschema.validate(json.loads(call.function.arguments), SCHEMAS[call.function.name])  # type: ignore[union-attr]
    if not calls:
        assert completion.choices[0].message.content == answer_for(QUESTION)


@pytest.mark.parametrize(
    ("choice", "header", "expected"),
    [
        ({"type": "none"}, "2", []),
        ({"type": "auto", "disable_parallel_tool_use": True}, "3", ["get_weather"]),
        ({"type": "any", "disable_parallel_tool_use": True}, None, ["get_weather"]),
        ({"type": "tool", "name": "get_time"}, None, ["get_time"]),
        ({"type": "any"}, "2", ["get_weather", "get_time"]),
    ],
)
async def test_anthropic_tool_choice_precedence(
    server_url: str, choice: Any, header: str | None, expected: list[str]
) -> None:
    headers = {"x-streamkit-tool-calls": header} if header else {}
    async with _anthropic(server_url) as client:
        async with client.messages.stream(
            model="claude-sonnet-4-6",
            max_tokens=1000,
            messages=QUESTION,
            tools=ANTHROPIC_TOOLS,
            tool_choice=choice,
            extra_headers=headers,
        ) as stream:
            message = await stream.get_final_message()
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [use.name for use in uses] == expected  # type: ignore[union-attr]
    for use in uses:
        jsonschema.validate(use.input, SCHEMAS[use.name])  # type: ignore[union-attr]
    assert message.stop_reason == ("tool_use" if expected else "end_turn")


async def test_tool_arguments_follow_nested_schemas_refs_and_enums(server_url: str) -> None:
    class Stop(BaseModel):
        name: str
        minutes: int

    class Route(BaseModel):
        mode: Literal["train", "boat"]
        stops: list[Stop]
        note: str | None = None

    schema = Route.model_json_schema()  # $defs and $ref, as pydantic writes them
    tools: Any = [{"type": "function", "function": {"name": "plan_route", "parameters": schema}}]
    async with _openai(server_url) as client:
        completion = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, tools=tools, tool_choice="required"
        )
    (call,) = completion.choices[0].message.tool_calls or []
    arguments = json.loads(call.function.arguments)  # type: ignore[union-attr]
    jsonschema.validate(arguments, schema)
    Route.model_validate(arguments)


# -- identity -----------------------------------------------------------------------------------


async def test_ids_are_unique_per_response_and_created_is_real(server_url: str) -> None:
    async with _openai(server_url) as client:
        first = await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        second = await client.chat.completions.create(model="gpt-4o", messages=QUESTION)
        stream = await client.chat.completions.create(
            model="gpt-4o", messages=QUESTION, stream=True
        )
        chunk = await anext(aiter(stream))
        await stream.close()
    async with _anthropic(server_url) as client:
        third = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=QUESTION
        )
        fourth = await client.messages.create(
            model="claude-sonnet-4-6", max_tokens=10, messages=QUESTION
        )
    assert first.id != second.id and first.id.startswith("chatcmpl-")
    assert third.id != fourth.id and third.id.startswith("msg_01")
    assert first.choices[0].message.content == second.choices[0].message.content
    assert first.created > 1_700_000_000
    assert chunk.created > 1_700_000_000


async def test_a_seed_repeats_the_ids() -> None:
    async def ids(seed: int) -> list[str]:
        async with EmbeddedServer(seed=seed) as server, _openai(server.url) as client:
            made = []
            for _ in range(2):
                done = await client.chat.completions.create(
                    model="gpt-4o", messages=QUESTION, tools=OPENAI_TOOLS, tool_choice="required"
                )
                calls = done.choices[0].message.tool_calls or []
                made += [done.id, *[call.id for call in calls]]
            return made

    first, again, other = await ids(7), await ids(7), await ids(8)
    assert first == again
    assert len(set(first)) == len(first)
    assert first != other


async def test_models_list_and_retrieve_in_both_apis(server_url: str) -> None:
    async with _openai(server_url) as client:
        listed = [model.id async for model in client.models.list()]
        retrieved = await client.models.retrieve("o4-mini")
        with pytest.raises(openai.NotFoundError) as missing:
            await client.models.retrieve("no-such-model")
    async with _anthropic(server_url) as client:
        anthropic_listed = [model.id async for model in client.models.list()]
        claude = await client.models.retrieve("claude-sonnet-4-6")
        with pytest.raises(anthropic.NotFoundError) as anthropic_missing:
            await client.models.retrieve("no-such-model")
    assert "o4-mini" in listed and "claude-sonnet-4-6" in listed
    assert listed == anthropic_listed
    assert retrieved.owned_by == "openai" and retrieved.created > 0
    assert claude.display_name == "Claude Sonnet 4.6"
    assert missing.value.code == "model_not_found"
    assert anthropic_missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


async def test_unknown_paths_and_methods_are_json_errors(server_url: str) -> None:
    async with _openai(server_url) as client:
        with pytest.raises(openai.NotFoundError) as missing:
            await client.post("/nowhere", cast_to=object, body={})
        with pytest.raises(openai.APIStatusError) as method:
            await client.get("/chat/completions", cast_to=object)
    assert missing.value.body["message"].startswith("Invalid URL")  # type: ignore[index]
    assert method.value.status_code == 405
    assert method.value.body["type"] == "invalid_request_error"  # type: ignore[index]
    async with _anthropic(server_url) as client:
        with pytest.raises(anthropic.NotFoundError) as anthropic_missing:
            await client.post("/v1/messages/nowhere", cast_to=object, body={})
    assert anthropic_missing.value.body["error"]["type"] == "not_found_error"  # type: ignore[index]


# -- count_tokens -------------------------------------------------------------------------------


async def test_count_tokens_agrees_with_the_streamed_usage(server_url: str) -> None:
    system = "Answer briefly and kindly."
    async with _anthropic(server_url) as client:
        counted = await client.messages.count_tokens(
            model="claude-sonnet-4-6", messages=QUESTION, system=system
        )
        async with client.messages.stream(
            model="claude-sonnet-4-6", max_tokens=100, messages=QUESTION, system=system
        ) as stream:
            message = await stream.get_final_message()
        with pytest.raises(anthropic.BadRequestError) as bad:
            await client.messages.count_tokens(model="claude-sonnet-4-6", messages=[])
    assert counted.input_tokens == message.usage.input_tokens == 10
    assert "messages" in str(bad.value)
