"""The embedded server's HTTP surface: routes, auth, errors, wire details, lifecycle."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from typing import Any

import aiohttp
import openai
import pytest

from streamkit.bridge import collect
from streamkit.client import stream_chat
from streamkit.errors import ConnectionLostError
from streamkit.events import StreamEvent
from streamkit.fold.message_builder import build_message
from streamkit.server import EmbeddedServer, answer_for

BODY: dict[str, Any] = {
    "model": "m",
    "max_tokens": 1000,
    "messages": [{"role": "user", "content": "Name a colour."}],
}
PATHS = {"openai": "/v1/chat/completions", "anthropic": "/v1/messages"}


async def _post(
    url: str, path: str, body: Any, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    async with (
        aiohttp.ClientSession() as session,
        session.post(url + path, data=data, headers=headers or {}) as response,
    ):
        headers = {k.lower(): v for k, v in response.headers.items()}
        return response.status, headers, await response.read()


async def test_auth_errors_have_each_apis_body() -> None:
    async with EmbeddedServer(api_key="secret") as server:
        status, headers, raw = await _post(server.url, PATHS["openai"], BODY)
        assert status == 401
        assert json.loads(raw) == {
            "error": {
                "message": "Incorrect API key provided.",
                "type": "invalid_request_error",
                "param": None,
                "code": "invalid_api_key",
            }
        }
        assert headers["x-request-id"].startswith("req_")
        status, headers, raw = await _post(
            server.url, PATHS["anthropic"], BODY, {"x-api-key": "nope"}
        )
        assert status == 401
        body = json.loads(raw)
        assert body["type"] == "error"
        assert body["error"]["type"] == "authentication_error"
        assert body["request_id"] == headers["request-id"]
        ok, _, _ = await _post(
            server.url, PATHS["openai"], BODY, {"authorization": "Bearer secret"}
        )
        ok2, _, _ = await _post(server.url, PATHS["anthropic"], BODY, {"x-api-key": "secret"})
        assert (ok, ok2) == (200, 200)
        # Recorded requests never keep the credentials.
        assert len(server.requests) == 4
        for recorded in server.requests:
            assert "authorization" not in recorded.headers
            assert "x-api-key" not in recorded.headers
            assert "secret" not in repr(recorded)
        async with aiohttp.ClientSession() as session:
            async with session.get(server.url + "/v1/models") as response:
                assert response.status == 401
            models_headers = {"authorization": "Bearer secret"}
            async with session.get(server.url + "/v1/models", headers=models_headers) as response:
                assert response.status == 200
        assert server.requests[0].path == "/v1/chat/completions"
        assert server.requests[0].body == BODY


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
@pytest.mark.parametrize(
    ("body", "headers", "needle"),
    [
        (b"{not json", {}, "JSON object"),
        ({"model": "m", "max_tokens": 10, "messages": []}, {}, "messages"),
        (BODY, {"x-streamkit-fault": "explode=1"}, "unknown fault 'explode'"),
        (BODY, {"x-streamkit-tool-calls": "many"}, "whole number"),
    ],
)
async def test_bad_requests_are_400_in_provider_shape(
    server_url: str, fmt: str, body: Any, headers: dict[str, str], needle: str
) -> None:
    status, _, raw = await _post(server_url, PATHS[fmt], body, headers)
    assert status == 400
    error = json.loads(raw)
    if fmt == "anthropic":
        assert error["type"] == "error"
    assert error["error"]["type"] == "invalid_request_error"
    assert needle in error["error"]["message"]


async def test_models_route(server_url: str) -> None:
    async with openai.AsyncOpenAI(
        base_url=f"{server_url}/v1", api_key="test", max_retries=0
    ) as client:
        models = [model.id async for model in client.models.list()]
    assert models[0] == "streamkit-echo"
    assert {"gpt-4o-mini", "o4-mini", "claude-sonnet-4-5"} <= set(models)


async def test_anthropic_stream_has_ping_after_message_start(server_url: str) -> None:
    status, headers, raw = await _post(server_url, PATHS["anthropic"], {**BODY, "stream": True})
    assert status == 200
    assert headers["content-type"].startswith("text/event-stream")
    kinds = [line[7:] for line in raw.decode().splitlines() if line.startswith("event: ")]
    assert kinds[:3] == ["message_start", "ping", "content_block_start"]
    assert kinds[-3:] == ["content_block_stop", "message_delta", "message_stop"]


async def test_openai_keep_alive_comments_and_done(server_url: str) -> None:
    status, _, raw = await _post(
        server_url,
        PATHS["openai"],
        {**BODY, "stream": True},
        {"x-streamkit-fault": "keepalive-every=5"},
    )
    text = raw.decode()
    assert status == 200
    assert ": keep-alive\n\n" in text
    assert text.endswith("data: [DONE]\n\n")


async def test_tool_calls_can_be_asked_for_in_metadata(server_url: str) -> None:
    tools = [{"name": "lookup", "input_schema": {"type": "object"}}]
    body = {**BODY, "tools": tools, "metadata": {"streamkit_tool_calls": 2}}
    events: list[StreamEvent] = await collect(stream_chat(server_url, body, format="anthropic"))
    message = build_message(events)
    assert [call.name for call in message.tool_calls] == ["lookup", "lookup"]
    assert message.text == "Let me look that up."


async def test_default_faults_apply_when_the_request_has_none() -> None:
    async with EmbeddedServer(faults="status=503") as server:
        status, _, _ = await _post(server.url, PATHS["openai"], BODY)
        assert status == 503
        # An explicit (empty) header overrides the default.
        status, _, _ = await _post(server.url, PATHS["openai"], BODY, {"x-streamkit-fault": ""})
        assert status == 200


async def test_lifecycle_start_once_close_idempotent() -> None:
    server = EmbeddedServer()
    with pytest.raises(RuntimeError, match="not started"):
        server.url  # noqa: B018
    assert server.open_connections == 0
    await server.start()
    assert server.url.startswith("http://127.0.0.1:")
    with pytest.raises(RuntimeError):
        await server.start()
    await server.aclose()
    await server.aclose()
    with pytest.raises(RuntimeError):
        await server.start()


def test_only_loopback_and_valid_faults() -> None:
    with pytest.raises(ValueError, match="loopback"):
        EmbeddedServer(host="0.0.0.0")
    with pytest.raises(ValueError, match="unknown fault"):
        EmbeddedServer(faults="nonsense=1")


def test_run_in_thread_serves_sync_clients() -> None:
    with EmbeddedServer().run_in_thread() as server:
        assert server.url.startswith("http://127.0.0.1:")
        request = urllib.request.Request(
            server.url + PATHS["anthropic"],
            data=json.dumps(BODY).encode(),
            headers={"content-type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=5) as response:
            body = json.loads(response.read())
        assert body["content"][0]["text"] == answer_for(BODY)
        client = openai.OpenAI(base_url=f"{server.url}/v1", api_key="test", max_retries=0)
        with client:
            completion = client.chat.completions.create(model="m", messages=BODY["messages"])
        assert completion.choices[0].message.content == answer_for(BODY)
        server.close()
        server.close()


@pytest.mark.parametrize(
    "prefill", ["Once upon a time ", "Once upon a time\n", [{"type": "text", "text": "Once "}]]
)
async def test_an_anthropic_prefill_ending_in_whitespace_is_a_400_as_in_the_real_api(
    server_url: str, prefill: Any
) -> None:
    body = {**BODY, "messages": [*BODY["messages"], {"role": "assistant", "content": prefill}]}
    status, _, raw = await _post(server_url, PATHS["anthropic"], body)
    assert status == 400
    assert "trailing whitespace" in json.loads(raw)["error"]["message"]

    stripped = {**body, "messages": [*BODY["messages"], {"role": "assistant", "content": "Once"}]}
    assert (await _post(server_url, PATHS["anthropic"], stripped))[0] == 200


async def test_a_cancelled_close_still_closes_every_connection() -> None:
    server = await EmbeddedServer(rate=50).start()
    reading = asyncio.create_task(collect(stream_chat(server.url, {**BODY, "stream": True})))
    while not server.open_connections:
        await asyncio.sleep(0.01)

    closing = asyncio.create_task(server.aclose())
    await asyncio.sleep(0)
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    await server.aclose()  # waits for the same close

    assert server.open_connections == 0
    with pytest.raises(ConnectionLostError):
        await asyncio.wait_for(reading, timeout=5)


async def test_recorded_requests_are_bounded_and_hold_no_credentials(
    embedded_server: EmbeddedServer,
) -> None:
    headers = {"api-key": "sk-azure-secret", "x-goog-api-key": "g-secret", "x-trace": "t1"}
    await _post(embedded_server.url, PATHS["openai"], BODY, headers)

    (recorded,) = embedded_server.requests
    assert recorded.headers["x-trace"] == "t1"
    assert "sk-azure-secret" not in str(recorded) and "g-secret" not in str(recorded)


async def test_recorded_requests_keep_the_most_recent(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("streamkit.server.app.MAX_RECORDED_REQUESTS", 3)
    async with EmbeddedServer() as server:
        for n in range(5):
            await _post(server.url, PATHS["openai"], {**BODY, "model": f"m{n}"})
        assert [r.body["model"] for r in server.requests] == ["m2", "m3", "m4"]


@pytest.mark.parametrize(
    ("fmt", "body", "needle"),
    [
        ("openai", {"model": "m", "messages": ["Hi"]}, "'messages[0]': expected an object"),
        ("anthropic", {**BODY, "messages": [{"content": "Hi"}]}, "messages.0.role"),
        ("anthropic", {k: v for k, v in BODY.items() if k != "max_tokens"}, "max_tokens"),
    ],
)
async def test_requests_the_real_apis_reject_are_rejected_too(
    server_url: str, fmt: str, body: dict[str, Any], needle: str
) -> None:
    status, _, raw = await _post(server_url, PATHS[fmt], body)
    assert status == 400
    assert needle in json.loads(raw)["error"]["message"]


@pytest.mark.parametrize(
    ("fmt", "tools", "choice", "expected"),
    [
        ("openai", "openai", "required", ["get_weather"]),
        ("openai", "openai", {"type": "function", "function": {"name": "get_time"}}, ["get_time"]),
        ("openai", "openai", "auto", []),
        ("anthropic", "anthropic", {"type": "any"}, ["get_weather"]),
        ("anthropic", "anthropic", {"type": "tool", "name": "get_time"}, ["get_time"]),
    ],
)
async def test_a_tool_choice_that_demands_a_tool_gets_one_call(
    server_url: str, fmt: str, tools: str, choice: Any, expected: list[str]
) -> None:
    names = ("get_weather", "get_time")
    offered = [
        {"type": "function", "function": {"name": n, "parameters": {"type": "object"}}}
        if tools == "openai"
        else {"name": n, "input_schema": {"type": "object"}}
        for n in names
    ]
    body = {**BODY, "tools": offered, "tool_choice": choice}
    events = await collect(stream_chat(server_url, body, format=fmt))  # type: ignore[arg-type]
    assert [call.name for call in build_message(events).tool_calls] == expected
