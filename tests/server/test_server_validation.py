"""The embedded server rejects what the real APIs reject, with each API's 400 naming the field.

Driven through the official SDKs: a bad request raises the SDK's ``BadRequestError``; OpenAI's
carries ``param`` and ``code``, Anthropic's message starts with the field's path.
"""

from __future__ import annotations

from typing import Any

import anthropic
import openai
import pytest

from streamkit.server.validation import validate_count_tokens, validate_request

QUESTION: list[Any] = [{"role": "user", "content": "How do rivers find the sea?"}]
OPENAI_OK: dict[str, Any] = {"model": "gpt-4o", "messages": QUESTION}
ANTHROPIC_OK: dict[str, Any] = {
    "model": "claude-sonnet-4-6",
    "max_tokens": 50,
    "messages": QUESTION,
}
TOOL: dict[str, Any] = {"type": "function", "function": {"name": "f", "parameters": {}}}


def _without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


@pytest.mark.parametrize(
    ("body", "param", "code"),
    [
        (_without(OPENAI_OK, "model"), "model", "missing_required_parameter"),
        (_without(OPENAI_OK, "messages"), "messages", "missing_required_parameter"),
        ({**OPENAI_OK, "messages": []}, "messages", "empty_array"),
        ({**OPENAI_OK, "messages": [{"role": "robot", "content": "x"}]}, "messages[0].role", None),
        ({**OPENAI_OK, "stream": "yes"}, "stream", "invalid_type"),
        ({**OPENAI_OK, "max_tokens": 0}, "max_tokens", "integer_below_min_value"),
        ({**OPENAI_OK, "max_tokens": "5"}, "max_tokens", "invalid_type"),
        ({**OPENAI_OK, "max_completion_tokens": -1}, "max_completion_tokens", None),
        ({**OPENAI_OK, "temperature": 2.5}, "temperature", "decimal_above_max_value"),
        ({**OPENAI_OK, "top_p": -0.1}, "top_p", "decimal_below_min_value"),
        ({**OPENAI_OK, "n": 0}, "n", "integer_below_min_value"),
        ({**OPENAI_OK, "n": 1.5}, "n", "invalid_type"),
        ({**OPENAI_OK, "stop": ["a", "b", "c", "d", "e"]}, "stop", "array_above_max_length"),
        ({**OPENAI_OK, "stop": 5}, "stop", "invalid_type"),
        ({**OPENAI_OK, "tools": {"name": "f"}}, "tools", "invalid_type"),
        (
            {**OPENAI_OK, "tools": [{"type": "function", "function": {"name": "bad name"}}]},
            None,
            None,
        ),
        ({**OPENAI_OK, "tool_choice": "required"}, "tool_choice", None),
        ({**OPENAI_OK, "tools": [TOOL], "tool_choice": "sometimes"}, "tool_choice", None),
        (
            {
                **OPENAI_OK,
                "tools": [TOOL],
                "tool_choice": {"type": "function", "function": {"name": "g"}},
            },
            "tool_choice",
            None,
        ),
        ({**OPENAI_OK, "response_format": {"type": "yaml"}}, "response_format.type", None),
        ({**OPENAI_OK, "response_format": {"type": "json_object"}}, "messages", None),
        ({**OPENAI_OK, "top_logprobs": 3}, "top_logprobs", None),
        ({**OPENAI_OK, "logprobs": True, "top_logprobs": 21}, "top_logprobs", None),
        ({**OPENAI_OK, "stream_options": {"include_usage": True}}, "stream_options", None),
        ({**OPENAI_OK, "reasoning_effort": "low"}, "reasoning_effort", "unsupported_parameter"),
        ({**OPENAI_OK, "model": "o4-mini", "max_tokens": 5}, "max_tokens", None),
        ({**OPENAI_OK, "model": "o4-mini", "temperature": 0.2}, "temperature", None),
        ({**OPENAI_OK, "model": "o4-mini", "reasoning_effort": "huge"}, "reasoning_effort", None),
    ],
)
async def test_openai_bad_requests_are_bad_request_errors_naming_the_field(
    server_url: str, body: dict[str, Any], param: str | None, code: str | None
) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{server_url}/v1", api_key="test", max_retries=0
    ) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.post("/chat/completions", cast_to=object, body=body)
    error = info.value
    assert error.type == "invalid_request_error"
    if param is None:  # a nested field: named in the message
        assert error.param and error.param.startswith("tools[0]")
    else:
        assert error.param == param
        assert param.split("[")[0].split(".")[0] in error.message
    if code is not None:
        assert error.code == code


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (_without(ANTHROPIC_OK, "model"), "model: Field required"),
        (_without(ANTHROPIC_OK, "max_tokens"), "max_tokens: Field required"),
        ({**ANTHROPIC_OK, "max_tokens": "5"}, "max_tokens: Input should be a valid integer"),
        (
            {**ANTHROPIC_OK, "max_tokens": 0},
            "max_tokens: Input should be greater than or equal to 1",
        ),
        (_without(ANTHROPIC_OK, "messages"), "messages: Field required"),
        ({**ANTHROPIC_OK, "messages": []}, "messages"),
        ({**ANTHROPIC_OK, "messages": [{"role": "system", "content": "x"}]}, "messages.0.role"),
        ({**ANTHROPIC_OK, "messages": [{"role": "user"}]}, "messages.0.content: Field required"),
        ({**ANTHROPIC_OK, "stream": "yes"}, "stream: Input should be a valid boolean"),
        ({**ANTHROPIC_OK, "temperature": 1.5}, "temperature: Input should be less than or equal"),
        ({**ANTHROPIC_OK, "top_p": 2}, "top_p"),
        ({**ANTHROPIC_OK, "top_k": -1}, "top_k"),
        ({**ANTHROPIC_OK, "stop_sequences": "END"}, "stop_sequences: Input should be a valid list"),
        ({**ANTHROPIC_OK, "tools": [{"name": "f"}]}, "tools.0.custom.input_schema"),
        ({**ANTHROPIC_OK, "tool_choice": {"type": "any"}}, "tool_choice"),
        ({**ANTHROPIC_OK, "tool_choice": {"type": "maybe"}}, "tool_choice.type"),
        (
            {**ANTHROPIC_OK, "thinking": {"type": "enabled", "budget_tokens": 100}},
            "thinking.enabled.budget_tokens: Input should be greater than or equal to 1024",
        ),
        (
            {**ANTHROPIC_OK, "thinking": {"type": "enabled", "budget_tokens": 2048}},
            "max_tokens: `max_tokens` must be greater than `thinking.budget_tokens`",
        ),
        (
            {
                **ANTHROPIC_OK,
                "max_tokens": 4000,
                "temperature": 0.5,
                "thinking": {"type": "enabled", "budget_tokens": 2048},
            },
            "temperature",
        ),
        (
            {**ANTHROPIC_OK, "messages": [*QUESTION, {"role": "assistant", "content": "So "}]},
            "messages: final assistant content cannot end with trailing whitespace",
        ),
    ],
)
async def test_anthropic_bad_requests_are_bad_request_errors_naming_the_field(
    server_url: str, body: dict[str, Any], field: str
) -> None:
    async with anthropic.AsyncAnthropic(
        base_url=server_url, api_key="test", max_retries=0
    ) as client:
        with pytest.raises(anthropic.BadRequestError) as info:
            await client.post("/v1/messages", cast_to=object, body=body)
    error = info.value.body
    assert isinstance(error, dict)
    assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert error["error"]["message"].startswith(field.split(":")[0])
    assert field in error["error"]["message"]


async def test_sdk_calls_with_bad_values_raise_bad_request_errors(server_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{server_url}/v1", api_key="test", max_retries=0
    ) as client:
        with pytest.raises(openai.BadRequestError) as info:
            await client.chat.completions.create(model="gpt-4o", messages=QUESTION, max_tokens=0)
    assert info.value.param == "max_tokens"
    async with anthropic.AsyncAnthropic(
        base_url=server_url, api_key="test", max_retries=0
    ) as client:
        with pytest.raises(anthropic.BadRequestError) as info2:
            await client.messages.create(
                model="claude-sonnet-4-6",
                max_tokens=100,
                messages=QUESTION,
                extra_body={"max_tokens": "5"},  # the SDK itself needs a number
            )
    assert "max_tokens: Input should be a valid integer" in str(info2.value)


def test_valid_requests_pass() -> None:
    assert validate_request("openai", OPENAI_OK) is None
    assert validate_request("anthropic", ANTHROPIC_OK) is None
    full_openai = {
        **OPENAI_OK,
        "max_completion_tokens": 10,
        "temperature": 0,
        "top_p": 1,
        "n": 2,
        "stream": True,
        "stream_options": {"include_usage": True},
        "stop": "END",
        "tools": [TOOL],
        "tool_choice": {"type": "function", "function": {"name": "f"}},
        "parallel_tool_calls": False,
        "logprobs": True,
        "top_logprobs": 20,
        "response_format": {"type": "json_schema", "json_schema": {"name": "x", "schema": {}}},
        "unknown_field": "let through",
    }
    assert validate_request("openai", full_openai) is None
    full_anthropic = {
        **ANTHROPIC_OK,
        "max_tokens": 3000,
        "system": [{"type": "text", "text": "Be kind."}],
        "stop_sequences": ["END"],
        "tools": [{"name": "f", "input_schema": {"type": "object"}}],
        "tool_choice": {"type": "auto", "disable_parallel_tool_use": True},
        "thinking": {"type": "enabled", "budget_tokens": 1024},
        "temperature": 1,
    }
    assert validate_request("anthropic", full_anthropic) is None
    assert validate_count_tokens(_without(ANTHROPIC_OK, "max_tokens")) is None
