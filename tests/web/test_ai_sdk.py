"""The real AI SDK (``ai`` on npm, driven by Node) reads streamkit's UI message stream relay:
text, reasoning and tool calls arrive as the streamkit ``Message`` has them."""

from __future__ import annotations

import asyncio
import shutil
from pathlib import Path
from typing import Any

import orjson
import pytest
import reactivex
from aiohttp import web

from streamkit import Message, build_message
from streamkit.relay import relay_response
from streamkit.server import answer_for
from streamkit.web import WebChat
from tests.relay._wire import transcript_events
from tests.relay.conftest import Serve


async def read_with_ai_sdk(folder: Path, url: str, prompt: str) -> dict[str, Any]:
    node = shutil.which("node")
    assert node is not None
    process = await asyncio.create_subprocess_exec(
        node,
        "read_ui_stream.mjs",
        url,
        prompt,
        cwd=folder,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        async with asyncio.timeout(60):
            out, err = await process.communicate()
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()
    assert process.returncode == 0, err.decode()
    message: dict[str, Any] = orjson.loads(out)
    return message


def parts_of(message: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [part for part in message["parts"] if part["type"] == kind]


def assert_same_answer(ui: dict[str, Any], message: Message) -> None:
    assert ui["role"] == "assistant"
    assert "".join(p["text"] for p in parts_of(ui, "text")) == message.text
    assert "".join(p["text"] for p in parts_of(ui, "reasoning")) == message.choices[0].reasoning
    tools = [p for p in ui["parts"] if p["type"].startswith("tool-")]
    assert [(p["type"], p["toolCallId"], p["state"], p["input"]) for p in tools] == [
        (f"tool-{c.name}", c.id, "input-available", c.arguments) for c in message.tool_calls
    ]


@pytest.mark.parametrize(
    "transcript", ["anthropic_thinking.sse", "anthropic_tools.sse", "openai_tools.sse"]
)
async def test_the_ai_sdk_reads_text_reasoning_and_tool_calls(
    ai_sdk: Path, serve: Serve, transcript: str
) -> None:
    events = transcript_events(transcript)
    requests: list[Any] = []

    async def handler(request: web.Request) -> web.StreamResponse:
        requests.append(await request.json())
        return await relay_response(request, reactivex.from_iterable(events))

    url = await serve(handler)

    ui = await read_with_ai_sdk(ai_sdk, f"{url}/relay", "What's the weather?")

    assert_same_answer(ui, build_message(events))
    assert requests[0]["messages"][0]["parts"] == [{"type": "text", "text": "What's the weather?"}]


async def test_the_ai_sdk_chats_with_the_web_command_s_endpoint(ai_sdk: Path) -> None:
    async with WebChat(rate=0) as chat:
        ui = await read_with_ai_sdk(ai_sdk, f"{chat.url}/api/chat", "Tell me a story")
    assert "".join(p["text"] for p in parts_of(ui, "text")) == answer_for(
        [{"role": "user", "content": "Tell me a story"}]
    )
