"""Shared limits seen from the server's side: a 429 pauses every stream, rpm holds.

The embedded server runs in this process; its ``requests`` list is swapped for one that also
notes when each request arrived, so the assertions read the server's own clock.
"""

from __future__ import annotations

import time
from typing import Any

import streamkit as sk
from streamkit.batch import RateLimiter
from streamkit.server import EmbeddedServer, RecordedRequest, answer_for


class TimedRequests(list[RecordedRequest]):
    """The server's request log, with the monotonic arrival time of each request."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []

    def append(self, request: RecordedRequest) -> None:
        self.times.append(time.monotonic())
        super().append(request)


def body_for(row: dict[str, Any]) -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": row["prompt"]}]}


def rows(n: int) -> list[dict[str, Any]]:
    return [{"id": i, "prompt": f"question {i}"} for i in range(n)]


async def test_a_429_on_one_stream_pauses_every_stream_of_the_run() -> None:
    # The first request is refused with retry-after: 1; the others stream at 200 tokens/s, so
    # without a shared pause the next rows would start well within that second.
    async with EmbeddedServer(
        rate=200, faults="status=429;retry-after=1;first-attempts=1"
    ) as server:
        log = TimedRequests()
        server.requests = log
        limiter = RateLimiter()
        run = sk.batch(
            rows(12),
            request=body_for,
            endpoint=sk.ChatEndpoint(server.url),
            concurrency=4,
            limiter=limiter,
            retry=sk.RetryPolicy(max_attempts=3),
        )
        results = await run.collect()

    assert [r.status for r in results] == ["done"] * 12
    assert [r.text for r in results] == [answer_for(body_for(row)) for row in rows(12)]
    assert len(log) == 13  # twelve rows, one of them asked twice
    refused_at = log.times[0]
    # The first wave (4 requests) was sent before the 429 came back; nothing after it
    # started until the pause was over.
    later = [t - refused_at for t in log.times[4:]]
    assert min(later) >= 1.0, later
    assert limiter.pauses >= 1 and run.summary.paused >= 1.0
    retried = [r for r in results if r.record["attempts"] == 2]
    assert len(retried) == 1


async def test_rpm_holds_on_the_servers_clock() -> None:
    async with EmbeddedServer() as server:
        log = TimedRequests()
        server.requests = log
        rpm = 600.0  # one every 0.1 s; a burst of one
        await sk.batch(
            rows(15),
            request=body_for,
            endpoint=sk.ChatEndpoint(server.url),
            concurrency=8,
            limiter=RateLimiter(rpm=rpm, burst=0.1),
        ).run()

    assert len(log) == 15
    start = log.times[0]
    spacing = 60.0 / rpm
    tolerance = 0.05  # connection set-up and scheduling on a busy machine
    for i, arrived in enumerate(log.times):
        assert arrived - start >= i * spacing - tolerance, (i, arrived - start)
    # ...and the limiter is the only thing slowing the run down.
    assert log.times[-1] - start < 14 * spacing + 1.0


async def test_rate_limit_headers_of_every_response_reach_the_runs_limiter() -> None:
    from aiohttp import web

    async def refuse(request: web.Request) -> web.Response:
        headers = {"x-ratelimit-remaining-requests": "0", "x-ratelimit-reset-requests": "30s"}
        return web.json_response({"error": {"message": "no"}}, status=400, headers=headers)

    app = web.Application()
    app.router.add_post("/v1/chat/completions", refuse)
    runner = web.AppRunner(app)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        port = runner.addresses[0][1]
        limiter = RateLimiter(rpm=6000)
        (result,) = await sk.batch(
            rows(1),
            request=body_for,
            endpoint=sk.ChatEndpoint(f"http://127.0.0.1:{port}"),
            limiter=limiter,
        ).collect()
    finally:
        await runner.cleanup()
    assert result.status == "failed"
    assert limiter.wait(0) > 25  # the server said: no request before its reset in 30 s
