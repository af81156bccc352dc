"""The relay over HTTP: the openai and anthropic SDKs as its clients, a closed client closing
the upstream request (asserted on the upstream server), and the Starlette/FastAPI helper."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import tracemalloc
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import anthropic
import openai
import pytest
import uvicorn
from aiohttp import web
from fastapi import FastAPI, Request
from fastapi.responses import StreamingResponse

import streamkit as sk
from streamkit.bridge import from_async_iterable
from streamkit.relay import RelayProtocol, relay_response
from streamkit.relay.asgi import relay_streaming_response
from streamkit.server import EmbeddedServer, answer_for
from tests.relay._wire import fold_ui_parts, ui_parts
from tests.relay.conftest import Serve

FAST_RETRY = sk.RetryPolicy(base_delay=0.01, max_delay=0.05)
PROMPT = [{"role": "user", "content": "Tell me about the lighthouse"}]
BODY = {"model": "gpt-4o-mini", "messages": PROMPT}


def relaying(
    upstream: EmbeddedServer,
    protocol: RelayProtocol,
    *,
    format: str = "openai",
    fault: str = "",
) -> Any:
    """A handler relaying the request body to ``upstream`` (with retries) in ``protocol``."""

    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        headers = {"x-streamkit-fault": fault} if fault else {}
        events = sk.stream_chat(
            upstream.url,
            body,
            format=format,
            headers=headers,
            retry=FAST_RETRY,  # type: ignore[arg-type]
        )
        return await relay_response(request, events, protocol=protocol)

    return handler


async def test_the_openai_sdk_sees_one_clean_stream_through_an_upstream_fault(
    embedded_server: EmbeddedServer, serve: Serve
) -> None:
    url = await serve(
        relaying(embedded_server, "openai", fault="disconnect-after=6; first-attempts=1")
    )
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=PROMPT,
            stream=True,  # type: ignore[arg-type]
        )
        chunks = [chunk async for chunk in stream]
    finally:
        await client.close()

    text = "".join(c.choices[0].delta.content or "" for c in chunks if c.choices)
    assert text == answer_for(PROMPT)
    assert chunks[-1].choices[0].finish_reason == "stop"
    assert len(embedded_server.requests) == 2  # the upstream failed once; the SDK never knew


async def test_the_openai_sdk_gets_an_api_error_when_the_upstream_gives_up(
    embedded_server: EmbeddedServer, serve: Serve
) -> None:
    url = await serve(relaying(embedded_server, "openai", fault="status=400"))
    client = openai.AsyncOpenAI(base_url=f"{url}/v1", api_key="unused", max_retries=0)
    try:
        stream = await client.chat.completions.create(
            model="gpt-4o-mini",
            messages=PROMPT,
            stream=True,  # type: ignore[arg-type]
        )
        with pytest.raises(openai.APIError):
            async for _ in stream:
                pass
    finally:
        await client.close()


async def test_the_anthropic_sdk_reads_the_anthropic_relay(
    embedded_server: EmbeddedServer, serve: Serve
) -> None:
    async def handler(request: web.Request) -> web.StreamResponse:
        body = await request.json()
        events = sk.stream_chat(embedded_server.url, body, format="anthropic", retry=FAST_RETRY)
        return await relay_response(request, events, protocol="anthropic")

    app_url = await serve(handler)
    client = anthropic.AsyncAnthropic(base_url=app_url, api_key="unused", max_retries=0)
    try:
        async with client.messages.stream(
            model="streamkit-echo",
            max_tokens=512,
            messages=PROMPT,  # type: ignore[arg-type]
        ) as stream:
            message = await stream.get_final_message()
    finally:
        await client.close()
    assert message.content[0].text == answer_for(PROMPT)  # type: ignore[union-attr]


async def read_until_text_then_close(url: str, path: str = "/relay") -> str:
    """POST, read until some answer text arrived, then drop the connection; return the text."""
    async with aiohttp.ClientSession() as session:
        response = await session.post(f"{url}{path}", json=BODY)
        received = b""
        async with asyncio.timeout(10):
            while b"text-delta" not in received:
                piece = await response.content.readany()
                assert piece, f"the relay ended before any text: {received!r}"
                received += piece
        response.close()  # the tab closes: the connection goes away mid-answer
    return fold_ui_parts(ui_parts(received.rpartition(b"\n\n")[0] + b"\n\n"))["text"]


@pytest.mark.parametrize("cancellation", [True, False], ids=["cancelled", "write-fails"])
async def test_a_client_that_goes_away_closes_the_upstream_request_within_a_second(
    serve: Serve, cancellation: bool
) -> None:
    async with EmbeddedServer(rate=40) as upstream:
        # Either aiohttp cancels the handler, or (its default) the next write fails.
        url = await serve(relaying(upstream, "ui-message"), handler_cancellation=cancellation)

        shown = await read_until_text_then_close(url)

        await upstream.wait_idle(timeout=1.0)  # raises if the upstream request is still open
        assert shown and len(shown) < len(answer_for(PROMPT))


# -- Starlette / FastAPI ---------------------------------------------------------------------


@contextlib.asynccontextmanager
async def uvicorn_app(app: FastAPI) -> AsyncIterator[str]:
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    task = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(10):
            while not server.started:
                await asyncio.sleep(0.01)
        port = server.servers[0].sockets[0].getsockname()[1]
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        async with asyncio.timeout(10):
            await task


def fastapi_relay(upstream: EmbeddedServer) -> FastAPI:
    app = FastAPI()

    @app.post("/relay")
    async def relay(request: Request) -> StreamingResponse:
        body = await request.json()
        return relay_streaming_response(sk.stream_chat(upstream.url, body, retry=FAST_RETRY))

    return app


async def test_fastapi_relays_a_whole_answer(embedded_server: EmbeddedServer) -> None:
    async with uvicorn_app(fastapi_relay(embedded_server)) as url, aiohttp.ClientSession() as s:
        async with s.post(f"{url}/relay", json=BODY) as response:
            assert response.headers["x-vercel-ai-ui-message-stream"] == "v1"
            parts = ui_parts(await response.read())
    assert fold_ui_parts(parts)["text"] == answer_for(PROMPT)
    assert parts[-1] == "[DONE]"


async def test_fastapi_closes_the_upstream_when_the_client_goes_away() -> None:
    async with EmbeddedServer(rate=40) as upstream, uvicorn_app(fastapi_relay(upstream)) as url:
        shown = await read_until_text_then_close(url)
        await upstream.wait_idle(timeout=1.0)
    assert shown and len(shown) < len(answer_for(PROMPT))


async def test_a_client_that_stops_reading_cannot_make_the_relay_hold_more_than_its_limit(
    serve: Serve,
) -> None:
    limit = 256 * 1024
    produced = asyncio.Event()
    sent = 0

    async def flood() -> AsyncIterator[object]:
        nonlocal sent
        try:
            for n in range(400_000):  # 20 MB of text: more than any socket buffer holds
                yield sk.TextDelta("x" * 50)
                sent += 1
                if n % 100 == 0:
                    await asyncio.sleep(0)
        finally:
            produced.set()

    async def handler(request: web.Request) -> web.StreamResponse:
        events = from_async_iterable(flood)
        return await relay_response(request, events, max_buffered_bytes=limit)

    url = await serve(handler)
    port = int(url.rsplit(":", 1)[1])
    client = socket.socket()
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)  # a slow, small reader
    client.setblocking(False)
    tracemalloc.start()
    try:
        await asyncio.get_running_loop().sock_connect(client, ("127.0.0.1", port))
        request = f"POST /relay HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nContent-Length: 2\r\n\r\n{{}}"
        await asyncio.get_running_loop().sock_sendall(client, request.encode())
        async with asyncio.timeout(30):
            await produced.wait()  # the relay gave up on the client and closed the upstream
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
        client.close()
    assert sent < 400_000
    assert peak < 4 * 1024 * 1024  # the relay's limit and aiohttp's write buffer, not 20 MB
