"""The embedded server's Responses and Gemini endpoints: requests read as chat requests, and the
official ``openai`` (Responses) and ``google-genai`` SDKs as clients."""

from __future__ import annotations

import json
from typing import Any

import openai
import pytest
from google import genai
from google.genai import errors as genai_errors
from google.genai import types as genai_types

from streamkit.server import EmbeddedServer, answer_for, tokens
from streamkit.server.chat_requests import gemini_chat_request, responses_chat_request

PROMPT = "How do rivers find the sea?"
QUESTION = [{"role": "user", "content": PROMPT}]
ARGUMENTS = [{"city": 'Zürich "Old town"', "days": d} for d in (1, 2, 3)]
RESPONSES_TOOLS: list[Any] = [
    {"type": "function", "name": n, "parameters": {"type": "object"}, "strict": False}
    for n in ("get_weather", "get_time")
]
GEMINI_TOOLS = [
    genai_types.Tool(
        function_declarations=[
            genai_types.FunctionDeclaration(name=n, parameters_json_schema={"type": "object"})
            for n in ("get_weather", "get_time")
        ]
    )
]
TOOL_CALLS = {"x-streamkit-tool-calls": "2"}
# google-genai subclasses aiohttp's ClientSession, which aiohttp warns about: not ours to fix.
pytestmark = pytest.mark.filterwarnings(
    "ignore:Inheritance class AiohttpClientSession from ClientSession:DeprecationWarning"
)


def _openai(url: str, api_key: str = "test") -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=f"{url}/v1", api_key=api_key, max_retries=0)


def _genai(url: str, api_key: str = "test", headers: dict[str, str] | None = None) -> Any:
    """google-genai's async client (``async with`` closes it), pointed at the server."""
    options = genai_types.HttpOptions(
        base_url=url, api_version="v1beta", headers=headers or {}, timeout=10_000
    )
    return genai.Client(api_key=api_key, http_options=options).aio


# -- requests read as chat requests -----------------------------------------------------------


def test_a_responses_request_reads_as_a_chat_request() -> None:
    body = {
        "model": "m",
        "instructions": "Be brief",
        "max_output_tokens": 7,
        "stream": True,
        "input": [
            {"role": "user", "content": [{"type": "input_text", "text": PROMPT}]},
            {"type": "function_call", "call_id": "c1", "name": "f", "arguments": "{}"},
            {"type": "function_call_output", "call_id": "c1", "output": "sunny"},
        ],
        "tools": RESPONSES_TOOLS,
        "tool_choice": "required",
    }
    chat = responses_chat_request(body)
    assert chat["messages"] == [
        {"role": "user", "content": PROMPT},
        {"role": "assistant", "content": ""},
        {"role": "tool", "content": "sunny"},
    ]
    assert (chat["system"], chat["max_tokens"], chat["stream"]) == ("Be brief", 7, True)
    assert chat["tools"] == [  # in chat completions' shape, so arguments follow the schema
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        for n in ("get_weather", "get_time")
    ]
    assert chat["tool_choice"] == "required"
    assert responses_chat_request({"input": PROMPT})["messages"] == QUESTION


def test_a_gemini_request_reads_as_a_chat_request() -> None:
    body = {
        "contents": [
            {"parts": [{"text": PROMPT}]},
            {"role": "model", "parts": [{"text": "Rivers "}]},
        ],
        "systemInstruction": {"parts": [{"text": "Be brief"}]},
        "generationConfig": {"maxOutputTokens": 7},
        "tools": [
            {
                "functionDeclarations": [
                    {"name": "get_weather", "parameters": {"type": "OBJECT"}},
                    {"name": "get_time"},
                ]
            }
        ],
        "toolConfig": {
            "functionCallingConfig": {"mode": "ANY", "allowedFunctionNames": ["get_time"]}
        },
    }
    chat = gemini_chat_request(body, model="gemini-x", stream=False)
    assert chat["messages"] == [*QUESTION, {"role": "assistant", "content": "Rivers "}]
    assert (chat["model"], chat["stream"], chat["system"], chat["max_tokens"]) == (
        "gemini-x",
        False,
        "Be brief",
        7,
    )
    assert chat["tools"] == [  # Gemini's OpenAPI types read as JSON Schema's
        {"type": "function", "function": {"name": "get_weather", "parameters": {"type": "object"}}},
        {"type": "function", "function": {"name": "get_time"}},
    ]
    assert chat["tool_choice"] == {"type": "function", "function": {"name": "get_time"}}
    # The continuation (a last model turn) gets the rest of the answer.
    assert answer_for(chat) == answer_for(QUESTION).removeprefix("Rivers ")


# -- the openai SDK's Responses client --------------------------------------------------------


async def test_responses_create_stream_gives_the_answer_and_usage(server_url: str) -> None:
    async with _openai(server_url) as client:
        stream = await client.responses.create(model="gpt-test", input=PROMPT, stream=True)
        events = [event async for event in stream]
    text = "".join(e.delta for e in events if e.type == "response.output_text.delta")
    assert text == answer_for(QUESTION)
    assert events[0].type == "response.created"
    completed = events[-1]
    assert completed.type == "response.completed"
    assert completed.response.output_text == text
    assert completed.response.usage is not None
    assert completed.response.usage.output_tokens == len(tokens(text))
    assert completed.response.model == "gpt-test"
    assert [e.sequence_number for e in events] == list(range(len(events)))


async def test_responses_stream_helper_assembles_text(server_url: str) -> None:
    async with _openai(server_url) as client:
        async with client.responses.stream(
            model="gpt-test", input=PROMPT, instructions="Be brief"
        ) as stream:
            deltas = [e.delta async for e in stream if e.type == "response.output_text.delta"]
            final = await stream.get_final_response()
    assert "".join(deltas) == final.output_text == answer_for(QUESTION)
    assert final.status == "completed"


async def test_responses_stream_helper_assembles_parallel_function_calls(server_url: str) -> None:
    async with _openai(server_url) as client:
        async with client.responses.stream(
            model="gpt-test", input=PROMPT, tools=RESPONSES_TOOLS, extra_headers=TOOL_CALLS
        ) as stream:
            async for _ in stream:
                pass
            final = await stream.get_final_response()
    calls = [item for item in final.output if item.type == "function_call"]
    assert [(c.name, json.loads(c.arguments)) for c in calls] == [
        ("get_weather", ARGUMENTS[0]),
        ("get_time", ARGUMENTS[1]),
    ]
    assert all(c.call_id.startswith("call_") and c.id.startswith("fc_") for c in calls)


async def test_responses_create_stream_gives_parallel_function_calls(server_url: str) -> None:
    async with _openai(server_url) as client:
        stream = await client.responses.create(
            model="gpt-test",
            input=PROMPT,
            tools=RESPONSES_TOOLS,
            tool_choice="required",
            stream=True,
            extra_headers=TOOL_CALLS,
        )
        events = [event async for event in stream]
    added = [e.item for e in events if e.type == "response.output_item.added"]
    arguments: dict[int, str] = {}
    for e in events:
        if e.type == "response.function_call_arguments.delta":
            arguments[e.output_index] = arguments.get(e.output_index, "") + e.delta
    assert [(item.type, getattr(item, "name", None)) for item in added] == [
        ("function_call", "get_weather"),
        ("function_call", "get_time"),
    ]
    assert [json.loads(arguments[i]) for i in (0, 1)] == ARGUMENTS[:2]
    completed = events[-1]
    assert completed.type == "response.completed"
    assert [item.type for item in completed.response.output] == ["function_call"] * 2


async def test_responses_create_without_stream_and_the_token_limit(server_url: str) -> None:
    async with _openai(server_url) as client:
        response = await client.responses.create(
            model="gpt-test", input=PROMPT, max_output_tokens=5
        )
    assert response.output_text == "".join(tokens(answer_for(QUESTION))[:5])
    assert response.status == "incomplete"
    assert response.incomplete_details is not None
    assert response.incomplete_details.reason == "max_output_tokens"


async def test_responses_wrong_key_is_the_sdk_authentication_error() -> None:
    async with EmbeddedServer(api_key="right") as server, _openai(server.url, "wrong") as client:
        with pytest.raises(openai.AuthenticationError):
            await client.responses.create(model="gpt-test", input=PROMPT)


# -- the google-genai SDK ---------------------------------------------------------------------


async def test_gemini_generate_content_stream_gives_the_answer_and_usage(server_url: str) -> None:
    async with _genai(server_url) as client:
        stream = await client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=PROMPT
        )
        chunks = [chunk async for chunk in stream]
    text = "".join(chunk.text or "" for chunk in chunks)
    assert text == answer_for(QUESTION)
    last = chunks[-1]
    assert last.candidates is not None
    assert last.candidates[0].finish_reason == genai_types.FinishReason.STOP
    assert last.usage_metadata is not None
    assert last.usage_metadata.candidates_token_count == len(tokens(text))
    assert last.model_version == "gemini-2.5-flash"


async def test_gemini_stream_gives_parallel_function_calls(server_url: str) -> None:
    config = genai_types.GenerateContentConfig(
        tools=GEMINI_TOOLS,
        automatic_function_calling=genai_types.AutomaticFunctionCallingConfig(disable=True),
    )
    async with _genai(server_url, headers=TOOL_CALLS) as client:
        stream = await client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=PROMPT, config=config
        )
        calls = [call async for chunk in stream for call in chunk.function_calls or ()]
    assert [(c.name, c.args) for c in calls] == [
        ("get_weather", ARGUMENTS[0]),
        ("get_time", ARGUMENTS[1]),
    ]


async def test_gemini_generate_content_and_the_token_limit(server_url: str) -> None:
    config = genai_types.GenerateContentConfig(max_output_tokens=5, system_instruction="Brief")
    async with _genai(server_url) as client:
        response = await client.models.generate_content(
            model="gemini-2.5-flash", contents=PROMPT, config=config
        )
    assert response.text == "".join(tokens(answer_for(QUESTION))[:5])
    assert response.candidates is not None
    assert response.candidates[0].finish_reason == genai_types.FinishReason.MAX_TOKENS


async def test_gemini_wrong_key_is_a_client_error() -> None:
    async with EmbeddedServer(api_key="right") as server:
        async with _genai(server.url, api_key="wrong") as client:
            with pytest.raises(genai_errors.ClientError) as info:
                await client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    assert info.value.code == 400
    assert info.value.status == "INVALID_ARGUMENT"


async def test_requests_are_recorded_without_the_gemini_key(
    embedded_server: EmbeddedServer,
) -> None:
    async with _genai(embedded_server.url, api_key="g-secret") as client:
        await client.models.generate_content(model="gemini-2.5-flash", contents=PROMPT)
    [request] = embedded_server.requests
    assert request.path == "/v1beta/models/gemini-2.5-flash:generateContent"
    assert "g-secret" not in repr(request)


async def test_the_right_key_is_accepted_in_each_api_s_header() -> None:
    async with EmbeddedServer(api_key="right") as server:
        async with _genai(server.url, api_key="right") as client:
            gemini = await client.models.generate_content(model="gemini-x", contents=PROMPT)
        async with _openai(server.url, "right") as openai_client:
            responses = await openai_client.responses.create(model="gpt-test", input=PROMPT)
    assert gemini.text == responses.output_text == answer_for(QUESTION)


async def test_gemini_keep_alives_are_lines_the_sdk_skips(server_url: str) -> None:
    async with _genai(server_url, headers={"x-streamkit-fault": "keepalive-every=1"}) as client:
        stream = await client.models.generate_content_stream(
            model="gemini-2.5-flash", contents=PROMPT
        )
        text = "".join([chunk.text or "" async for chunk in stream])
    assert text == answer_for(QUESTION)


async def test_an_injected_error_event_reaches_the_responses_sdk(server_url: str) -> None:
    headers = {"x-streamkit-fault": "error-event-after=6:server_error"}
    async with _openai(server_url) as client:
        stream = await client.responses.create(
            model="gpt-test", input=PROMPT, stream=True, extra_headers=headers
        )
        events = [event async for event in stream]
    assert events[-1].type == "error"
    assert events[-1].code == "server_error"
