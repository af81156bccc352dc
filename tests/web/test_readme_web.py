"""The README's web snippets run as pasted: each serves ``/api/chat`` to a ``useChat`` body."""

from __future__ import annotations

import asyncio
import re
import socket
import sys
from pathlib import Path

import aiohttp
import pytest

from streamkit.server import answer_for
from tests.relay._wire import fold_ui_parts, ui_parts

README = Path(__file__).resolve().parent.parent.parent / "README.md"
PROMPT = "Tell me a story"
USE_CHAT_BODY = {
    "id": "chat-1",
    "trigger": "submit-message",
    "messages": [{"id": "u1", "role": "user", "parts": [{"type": "text", "text": PROMPT}]}],
}


def snippet(marker: str) -> str:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), flags=re.S)
    (found,) = [block for block in blocks if marker in block]
    return found


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


async def post_when_up(url: str) -> bytes:
    async with aiohttp.ClientSession() as session:
        async with asyncio.timeout(60):
            while True:
                try:
                    async with session.post(url, json=USE_CHAT_BODY) as response:
                        assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
                        return await response.read()
                except aiohttp.ClientConnectionError:
                    await asyncio.sleep(0.1)  # not listening yet


@pytest.mark.parametrize(
    ("marker", "port"), [("web.run_app", "port=8080"), ("uvicorn.run", "port=8000")]
)
async def test_the_readme_relay_snippet_serves_use_chat(marker: str, port: str) -> None:
    code = snippet(marker)
    assert port in code
    chosen = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        code.replace(port, f"port={chosen}"),
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        body = await post_when_up(f"http://127.0.0.1:{chosen}/api/chat")
    finally:
        process.terminate()
        async with asyncio.timeout(20):
            _, err = await process.communicate()
    parts = ui_parts(body)
    assert fold_ui_parts(parts)["text"] == answer_for([{"role": "user", "content": PROMPT}])
    assert parts[-1] == "[DONE]", err.decode()
