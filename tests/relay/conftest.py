"""Relay fixtures: an aiohttp app on port 0 whose handler the test supplies."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable

import pytest_asyncio
from aiohttp import web

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
Serve = Callable[..., Awaitable[str]]


@pytest_asyncio.fixture
async def serve() -> AsyncIterator[Serve]:
    """Start an app routing ``POST /relay`` and the providers' chat paths to a handler on
    127.0.0.1:0 (``handler_cancellation`` as aiohttp's runner takes it); returns its root URL.
    Every app started is cleaned up after the test."""
    runners: list[web.AppRunner] = []

    async def start(handler: Handler, *, handler_cancellation: bool = True) -> str:
        app = web.Application()
        app.router.add_post("/relay", handler)
        app.router.add_post("/v1/chat/completions", handler)
        app.router.add_post("/v1/messages", handler)
        runner = web.AppRunner(app, access_log=None, handler_cancellation=handler_cancellation)
        runners.append(runner)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        return f"http://127.0.0.1:{runner.addresses[0][1]}"

    try:
        yield start
    finally:
        for runner in runners:
            await runner.cleanup()
