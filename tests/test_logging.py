"""Logging on ``streamkit.*``: request, status, retries with cause and delay, completion; no
secret in any record, and nothing at all unless the application configures logging."""

from __future__ import annotations

import logging
import subprocess
import sys

import pytest

import streamkit as sk
from streamkit.server import EmbeddedServer

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}
SECRET = "sk-test-never-in-a-log-0123456789"


async def test_a_retried_stream_logs_request_status_retry_and_completion(
    caplog: pytest.LogCaptureFixture,
) -> None:
    headers = {
        "x-streamkit-fault": "disconnect-after=5;first-attempts=1",
        "x-streamkit-session": "logging",
    }
    caplog.set_level(logging.DEBUG, logger="streamkit")
    async with EmbeddedServer(api_key=SECRET) as server:
        stream = sk.open_stream(
            server.url,
            {**BODY, "stream_options": {"include_usage": True}},
            api_key=SECRET,
            headers=headers,
            retry=sk.RetryPolicy(base_delay=0.01),
        )
        await stream

    records = [r for r in caplog.records if r.name.startswith("streamkit")]
    text = [r.getMessage() for r in records]
    assert any(
        r.name == "streamkit.client" and m.startswith("request: ")
        for r, m in zip(records, text, strict=True)
    )
    assert any("HTTP 200" in m for m in text)
    (retry,) = [r for r in records if "retrying" in r.getMessage()]
    assert retry.levelno == logging.INFO
    assert "attempt 2" in retry.getMessage() and "ConnectionLostError" in retry.getMessage()
    assert " in 0." in retry.getMessage()  # the delay
    assert "continuing the partial answer" in retry.getMessage()  # the resume decision
    (done,) = [r for r in records if " done in " in r.getMessage()]
    assert done.levelno == logging.INFO
    assert "TTFT 0." in done.getMessage() and "output tokens" in done.getMessage()
    assert "finish stop" in done.getMessage()
    assert all(SECRET not in m for m in text)


async def test_a_failed_stream_logs_its_error_without_the_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="streamkit")
    async with EmbeddedServer(api_key=SECRET) as server:
        with pytest.raises(sk.AuthenticationError):
            await sk.open_stream(server.url, BODY, api_key=SECRET + "-wrong")

    text = [r.getMessage() for r in caplog.records]
    assert any("HTTP 401" in m for m in text)
    assert any("failed after" in m and "AuthenticationError" in m for m in text)
    assert all(SECRET not in m for m in text)


def test_nothing_is_printed_unless_logging_is_configured() -> None:
    script = (
        "import asyncio, streamkit as sk\n"
        "async def main():\n"
        "    async with sk.EmbeddedServer() as server:\n"
        f"        await sk.open_stream(server.url, {BODY!r})\n"
        "asyncio.run(main())\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "" and result.stderr == ""
