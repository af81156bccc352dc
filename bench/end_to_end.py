"""Benchmark 3: whole requests against the embedded server, streamkit against the official SDKs.

Each client streams the same requests from the embedded server (``rate=0``: as fast as it can
write) and reads every answer to its end: streamkit with ``stream_chat`` + ``collect``; the SDKs
with ``create(stream=True)`` consumed by ``async for``. The answers are checked against
``answer_for`` before timing. By default the server runs in a child process, so its CPU time is
not charged to the client being measured (on a one-core machine they compete anyway).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass
from typing import Any

import aiohttp

from bench.results import Row, Table, ratio
from bench.server_process import server_in_subprocess
from bench.timing import time_many_async
from streamkit.bridge import collect
from streamkit.client import stream_chat
from streamkit.events import TextDelta
from streamkit.formats import FormatName
from streamkit.server import answer_for, tokens

__all__ = ["bench_end_to_end", "run_end_to_end"]

#: One streamed request: body in, the answer's text out.
_Ask = Callable[[dict[str, Any]], Awaitable[str]]

_BASELINE = "streamkit (shared session)"
_COLUMNS = ("requests", "wall s", "requests/s", "tokens/s", "vs streamkit (x)")
_MODEL = "streamkit-echo"


@dataclass(frozen=True, slots=True)
class _Client:
    label: str
    ask: _Ask


def bench_end_to_end(
    *, requests: int = 100, concurrent: int = 50, limit: int = 10, repeat: int = 3
) -> Table:
    """Start the server in a child process and run ``run_end_to_end`` against it."""
    with server_in_subprocess() as url:
        return asyncio.run(
            run_end_to_end(
                url, requests=requests, concurrent=concurrent, limit=limit, repeat=repeat
            )
        )


async def run_end_to_end(
    url: str,
    *,
    requests: int = 100,
    concurrent: int = 50,
    limit: int = 10,
    repeat: int = 3,
    formats: Sequence[FormatName] = ("openai", "anthropic"),
) -> Table:
    """Time ``requests`` streamed requests one after another, then ``concurrent`` at once.

    The concurrent run keeps at most ``limit`` requests in flight (an ``asyncio.Semaphore``).

    Raises:
        AssertionError: a client's answer differs from the server's scripted one.
    """
    rows: list[Row] = []
    async with AsyncExitStack() as stack:
        for fmt in formats:
            clients = await _clients(stack, url, fmt)
            for scenario, count in (("sequential", requests), (f"{limit} in flight", concurrent)):
                bodies = [_body(fmt, i) for i in range(count)]
                rows.extend(await _scenario(f"{fmt}, {scenario}", clients, bodies, limit, repeat))
    return Table(
        name="end_to_end",
        title="End to end: streamed requests against the embedded server (rate=0)",
        columns=_COLUMNS,
        rows=tuple(rows),
        baseline=_BASELINE,
        notes=(
            "vs streamkit (x) = speed relative to streamkit with a shared aiohttp session on the "
            "same requests (above 1 is faster). Answers are 60-150 words; tokens = words.",
            "session per request = stream_chat without session=: each request opens and closes "
            "its own aiohttp session and connection.",
        ),
    )


async def _scenario(
    group: str,
    clients: list[_Client],
    bodies: list[dict[str, Any]],
    limit: int,
    repeat: int,
) -> list[Row]:
    sequential = group.endswith("sequential")
    words = sum(len(tokens(answer_for(body))) for body in bodies)

    def runner(client: _Client) -> Callable[[], Awaitable[None]]:
        async def run() -> None:
            if sequential:
                for body in bodies:
                    await client.ask(body)
            else:
                await _bounded(client.ask, bodies, limit)

        return run

    for client in clients:
        await _check(client, bodies[0])
    timings = await time_many_async(
        {client.label: runner(client) for client in clients}, repeat=repeat
    )
    base = timings[_BASELINE].best
    rows: list[Row] = []
    for client in clients:
        best = timings[client.label].best
        values = {
            "requests": len(bodies),
            "wall s": best,
            "requests/s": len(bodies) / best,
            "tokens/s": words / best,
            "vs streamkit (x)": ratio(base, best),
        }
        rows.append(Row(f"{group}: {client.label}", values))
    return rows


async def _bounded(ask: _Ask, bodies: list[dict[str, Any]], limit: int) -> None:
    semaphore = asyncio.Semaphore(limit)

    async def one(body: dict[str, Any]) -> None:
        async with semaphore:
            await ask(body)

    async with asyncio.TaskGroup() as group:
        for body in bodies:
            group.create_task(one(body))


async def _check(client: _Client, body: dict[str, Any]) -> None:
    text = await client.ask(body)
    expected = answer_for(body)
    assert text == expected, f"{client.label} read {text[:60]!r}, expected {expected[:60]!r}"


def _body(fmt: FormatName, i: int) -> dict[str, Any]:
    return {
        "model": _MODEL,
        "max_tokens": 1024,
        "messages": [{"role": "user", "content": f"Tell me story number {i} ({fmt})"}],
    }


# --- clients -------------------------------------------------------------------------------------


async def _clients(stack: AsyncExitStack, url: str, fmt: FormatName) -> list[_Client]:
    session = await stack.enter_async_context(aiohttp.ClientSession())

    async def shared(body: dict[str, Any]) -> str:
        return _text(
            await collect(stream_chat(url, body, format=fmt, api_key="x", session=session))
        )

    async def per_request(body: dict[str, Any]) -> str:
        return _text(await collect(stream_chat(url, body, format=fmt, api_key="x")))

    clients = [_Client(_BASELINE, shared), _Client("streamkit (session per request)", per_request)]
    sdk = await (_openai_client(stack, url) if fmt == "openai" else _anthropic_client(stack, url))
    clients.append(sdk)
    return clients


async def _openai_client(stack: AsyncExitStack, url: str) -> _Client:
    import openai

    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="x", max_retries=0)
    stack.push_async_callback(client.close)

    async def ask(body: dict[str, Any]) -> str:
        stream = await client.chat.completions.create(
            model=body["model"],
            messages=body["messages"],
            max_tokens=body["max_tokens"],
            stream=True,
        )
        parts: list[str] = []
        async for chunk in stream:
            if chunk.choices and chunk.choices[0].delta.content:
                parts.append(chunk.choices[0].delta.content)
        return "".join(parts)

    return _Client("openai SDK (AsyncOpenAI)", ask)


async def _anthropic_client(stack: AsyncExitStack, url: str) -> _Client:
    import anthropic

    client = anthropic.AsyncAnthropic(base_url=url, api_key="x", max_retries=0)
    stack.push_async_callback(client.close)

    async def ask(body: dict[str, Any]) -> str:
        stream = await client.messages.create(
            model=body["model"],
            messages=body["messages"],
            max_tokens=body["max_tokens"],
            stream=True,
        )
        parts: list[str] = []
        async for event in stream:
            if event.type == "content_block_delta" and event.delta.type == "text_delta":
                parts.append(event.delta.text)
        return "".join(parts)

    return _Client("anthropic SDK (AsyncAnthropic)", ask)


def _text(events: list[Any]) -> str:
    return "".join(event.text for event in events if isinstance(event, TextDelta))
