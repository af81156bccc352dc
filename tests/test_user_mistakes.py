"""Mistakes users make in their first hour get a clear, typed error at once, never a hang."""

from __future__ import annotations

import asyncio
import logging
from typing import Any

import pytest
import reactivex

import streamkit as sk
from streamkit import operators as sk_ops
from streamkit import sinks

BODY: dict[str, Any] = {"model": "m", "messages": [{"role": "user", "content": "Hi"}]}


def test_retry_must_be_a_policy() -> None:
    with pytest.raises(TypeError, match="RetryPolicy"):
        sk.stream_chat("http://127.0.0.1:1", BODY, retry=True)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="RetryPolicy"):
        sk_ops.retry_with_backoff(3)  # type: ignore[arg-type]


def test_resume_is_checked_even_without_retry() -> None:
    with pytest.raises(ValueError, match="resume"):
        sk.stream_chat("http://127.0.0.1:1", BODY, resume="again")  # type: ignore[arg-type]


async def test_passing_the_server_instead_of_its_url_says_so(
    embedded_server: sk.EmbeddedServer,
) -> None:
    with pytest.raises(TypeError, match=r"\.url"):
        sk.stream_chat(embedded_server, BODY)  # type: ignore[arg-type]


def test_an_unstarted_server_has_no_url() -> None:
    with pytest.raises(RuntimeError, match="not started"):
        sk.stream_chat(sk.EmbeddedServer().url, BODY)


@pytest.mark.parametrize(
    ("options", "match"),
    [
        ({"timeouts": 5}, "timeouts must be a Timeouts"),
        ({"headers": [("a", "b")]}, "headers must be a mapping"),
        ({"tap": "recording.jsonl"}, "tap must be callable"),
    ],
)
def test_options_of_the_wrong_type_are_named(options: dict[str, Any], match: str) -> None:
    with pytest.raises(TypeError, match=match):
        sk.stream_chat("http://127.0.0.1:1", BODY, **options)


def test_timeouts_are_seconds() -> None:
    with pytest.raises(TypeError, match=r"Timeouts\.connect must be seconds"):
        sk.Timeouts(connect="5")  # type: ignore[arg-type]


async def test_text_then_buffer_text_works_as_it_reads(embedded_server: sk.EmbeddedServer) -> None:
    events = sk.stream_chat(embedded_server.url, BODY)
    batches = await sk.collect(events.pipe(sk_ops.text(), sk_ops.buffer_text(count=5)))
    assert "".join(batches) == sk.server.answer_for(BODY)
    assert len(batches) > 1


def test_folding_strings_into_a_message_is_a_type_error() -> None:
    with pytest.raises(TypeError, match="StreamEvent values, got str"):
        sk.build_message(["Hello"])  # type: ignore[list-item]


def test_async_callbacks_are_refused() -> None:
    async def on_text(text: str) -> None: ...

    with pytest.raises(TypeError, match="on_text is a coroutine function"):
        sinks.on_events(reactivex.empty(), on_text=on_text)  # type: ignore[arg-type]


async def test_a_failure_nobody_handles_is_logged_once(
    embedded_server: sk.EmbeddedServer, caplog: pytest.LogCaptureFixture
) -> None:
    headers = {"x-streamkit-fault": "disconnect-after=3"}
    done = asyncio.Event()
    sk.stream_chat(embedded_server.url, BODY, headers=headers).pipe(
        reactivex.operators.finally_action(done.set)
    ).subscribe(lambda _: None)  # no on_error

    with caplog.at_level(logging.ERROR, logger="streamkit"):
        await asyncio.wait_for(done.wait(), timeout=5)
        await asyncio.sleep(0.05)

    (record,) = [r for r in caplog.records if r.name == "streamkit"]
    assert "has no on_error" in record.getMessage()
    assert "ConnectionLostError" in record.getMessage() or "connection broke" in record.getMessage()
