"""The official OpenAI and Anthropic SDKs, used as clients, accept what the server speaks."""

from __future__ import annotations

import json
from typing import Any

import anthropic
import openai
import pytest

from streamkit.server import EmbeddedServer, answer_for, tokens

QUESTION = [{"role": "user", "content": "How do rivers find the sea?"}]
OPENAI_TOOLS: list[Any] = [
    {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
    for n in ("get_weather", "get_time")
]
ANTHROPIC_TOOLS: list[Any] = [
    {"name": n, "description": n, "input_schema": {"type": "object"}}
    for n in ("get_weather", "get_time")
]
ARGUMENTS = [{"city": 'Zürich "Old town"', "days": d} for d in (1, 2, 3)]


def _openai(url: str, api_key: str = "test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)


def _anthropic(url: str, api_key: str = "test") -> anthropic.AsyncAnthropic:
    return anthropic.AsyncAnthropic(base_url=url, api_key=api_key, max_retries=0)


async def test_openai_streamed_text_and_usage(server_url: str) -> None:
    async with _openai(server_url) as client:
        stream = await client.chat.completions.create(
            model="gpt-test",
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
            stream_options={"include_usage": True},
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_for(QUESTION)
    finish = [c.choices[0].finish_reason for c in chunks if c.choices]
    assert finish[-1] == "stop"
    usage = chunks[-1].usage
    assert usage is not None
    assert usage.prompt_tokens == 6
    assert usage.completion_tokens == len(text.split())
    assert chunks[0].model == "gpt-test"


async def test_openai_stream_without_include_usage_has_no_usage(server_url: str) -> None:
    async with _openai(server_url) as client:
        stream = await client.chat.completions.create(
            model="gpt-test",
            messages=QUESTION,  # type: ignore[arg-type]
            stream=True,
        )
        chunks = [chunk async for chunk in stream]
    assert all(c.usage is None for c in chunks)
    assert all(c.choices for c in chunks)


async def test_openai_non_streamed(server_url: str) -> None:
    async with _openai(server_url) as client:
        completion = await client.chat.completions.create(
            model="gpt-test",
            messages=QUESTION,  # type: ignore[arg-type]
            max_tokens=7,
        )
    choice = completion.choices[0]
    assert choice.message.content == "".join(tokens(answer_for(QUESTION))[:7])
    assert len(choice.message.content.split()) == 7  # type: ignore[union-attr]
    assert choice.finish_reason == "length"
    assert completion.usage is not None
    assert completion.usage.completion_tokens == 7


async def test_openai_parallel_tool_calls_with_stream_helper(server_url: str) -> None:
    async with (
        _openai(server_url) as client,
        client.chat.completions.stream(
            model="gpt-test",
            messages=QUESTION,  # type: ignore[arg-type]
            tools=OPENAI_TOOLS,
            extra_headers={"x-streamkit-tool-calls": "3"},
        ) as stream,
    ):
        completion = await stream.get_final_completion()
    choice = completion.choices[0]
    assert choice.finish_reason == "tool_calls"
    calls = choice.message.tool_calls or []
    names = [call.function.name for call in calls]  # type: ignore[union-attr]
    assert names == ["get_weather", "get_time", "get_weather"]
    assert [json.loads(call.function.arguments) for call in calls] == ARGUMENTS  # type: ignore[union-attr]


async def test_anthropic_streamed_text_usage_and_final_message(server_url: str) -> None:
    async with (
        _anthropic(server_url) as client,
        client.messages.stream(
            model="claude-test",
            max_tokens=1000,
            messages=QUESTION,  # type: ignore[arg-type]
        ) as stream,
    ):
        text = "".join([piece async for piece in stream.text_stream])
        message = await stream.get_final_message()
    assert text == answer_for(QUESTION)
    assert message.content[0].type == "text"
    assert message.stop_reason == "end_turn"
    assert message.usage.input_tokens == 6
    assert message.usage.output_tokens == len(text.split())
    assert message.model == "claude-test"


async def test_anthropic_non_streamed(server_url: str) -> None:
    async with _anthropic(server_url) as client:
        message = await client.messages.create(
            model="claude-test",
            max_tokens=1000,
            messages=QUESTION,  # type: ignore[arg-type]
        )
    assert message.content[0].text == answer_for(QUESTION)  # type: ignore[union-attr]
    assert message.stop_reason == "end_turn"


async def test_anthropic_prefill_is_continued(server_url: str) -> None:
    answer = answer_for(QUESTION)
    messages = [*QUESTION, {"role": "assistant", "content": answer[:25]}]
    async with _anthropic(server_url) as client:
        message = await client.messages.create(
            model="claude-test",
            max_tokens=1000,
            messages=messages,  # type: ignore[arg-type]
        )
    assert answer[:25] + message.content[0].text == answer  # type: ignore[union-attr]


async def test_anthropic_parallel_tool_calls(server_url: str) -> None:
    async with (
        _anthropic(server_url) as client,
        client.messages.stream(
            model="claude-test",
            max_tokens=1000,
            messages=QUESTION,  # type: ignore[arg-type]
            tools=ANTHROPIC_TOOLS,
            extra_headers={"x-streamkit-tool-calls": "3"},
        ) as stream,
    ):
        message = await stream.get_final_message()
    assert message.stop_reason == "tool_use"
    uses = [block for block in message.content if block.type == "tool_use"]
    assert [u.name for u in uses] == ["get_weather", "get_time", "get_weather"]  # type: ignore[union-attr]
    assert [u.input for u in uses] == ARGUMENTS  # type: ignore[union-attr]


async def test_wrong_api_key_is_an_authentication_error() -> None:
    async with EmbeddedServer(api_key="right") as server:
        async with _openai(server.url, "wrong") as client:
            with pytest.raises(openai.AuthenticationError) as oa:
                await client.chat.completions.create(model="m", messages=QUESTION)  # type: ignore[arg-type]
        async with _anthropic(server.url, "wrong") as client:
            with pytest.raises(anthropic.AuthenticationError) as an:
                await client.messages.create(model="m", max_tokens=10, messages=QUESTION)  # type: ignore[arg-type]
        async with _anthropic(server.url, "right") as client:
            message = await client.messages.create(model="m", max_tokens=10, messages=QUESTION)  # type: ignore[arg-type]
    assert oa.value.code == "invalid_api_key"
    assert an.value.status_code == 401
    assert message.stop_reason == "max_tokens"


async def test_rate_limit_status_is_a_rate_limit_error(server_url: str) -> None:
    headers = {"x-streamkit-fault": "status=429;retry-after=2"}
    async with _openai(server_url) as client:
        with pytest.raises(openai.RateLimitError) as oa:
            await client.chat.completions.create(
                model="m",
                messages=QUESTION,
                extra_headers=headers,  # type: ignore[arg-type]
            )
    async with _anthropic(server_url) as client:
        with pytest.raises(anthropic.RateLimitError) as an:
            await client.messages.create(
                model="m",
                max_tokens=10,
                messages=QUESTION,
                extra_headers=headers,  # type: ignore[arg-type]
            )
    assert oa.value.response.headers["retry-after"] == "2"
    assert an.value.body["error"]["type"] == "rate_limit_error"  # type: ignore[index]


async def test_overloaded_status_is_a_server_error_for_anthropic(server_url: str) -> None:
    async with _anthropic(server_url) as client:
        with pytest.raises(anthropic.InternalServerError) as info:
            await client.messages.create(
                model="m",
                max_tokens=10,
                messages=QUESTION,  # type: ignore[arg-type]
                extra_headers={"x-streamkit-fault": "status=529"},
            )
    assert info.value.status_code == 529
    assert info.value.body["error"]["type"] == "overloaded_error"  # type: ignore[index]


async def test_mid_stream_error_event_raises_api_error(server_url: str) -> None:
    headers = {"x-streamkit-fault": "error-event-after=3:overloaded_error"}
    async with _openai(server_url) as client:
        stream = await client.chat.completions.create(
            model="m",
            messages=QUESTION,
            stream=True,
            extra_headers=headers,  # type: ignore[arg-type]
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
    async with _anthropic(server_url) as client:
        with pytest.raises(anthropic.APIError) as info:
            async with client.messages.stream(
                model="m",
                max_tokens=1000,
                messages=QUESTION,
                extra_headers=headers,  # type: ignore[arg-type]
            ) as stream2:
                async for _ in stream2:
                    pass
    assert "overloaded" in str(info.value)
