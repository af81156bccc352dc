"""The sync door: plain ``for`` over a stream running on a background loop, one request."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

import streamkit as sk
from streamkit.server import EmbeddedServer, ThreadedServer, answer_for

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}
ANSWER = answer_for(BODY)


@pytest.fixture
def server() -> Iterator[ThreadedServer]:
    with EmbeddedServer().run_in_thread() as server:
        yield server


@pytest.fixture
def slow_server() -> Iterator[ThreadedServer]:
    with EmbeddedServer(rate=5).run_in_thread() as server:
        yield server


def test_for_text_then_final_message_in_one_request(server: ThreadedServer) -> None:
    stream = sk.open_stream_sync(server.url, {**BODY, "stream_options": {"include_usage": True}})
    pieces = list(stream.text_stream)
    message = stream.final_message()

    assert "".join(pieces) == ANSWER == message.text
    assert stream.usage is not None and stream.stats.ttft is not None
    assert len(server.server.requests) == 1


def test_final_message_alone_reads_the_stream(server: ThreadedServer) -> None:
    anthropic_body = {**BODY, "max_tokens": 1024}
    with sk.open_stream_sync(server.url, anthropic_body, format="anthropic") as stream:
        assert stream.final_message().text == ANSWER
    assert len(server.server.requests) == 1


def test_leaving_the_loop_closes_the_stream(slow_server: ThreadedServer) -> None:
    stream = sk.open_stream_sync(slow_server.url, BODY)
    for _text in stream.text_stream:
        break

    assert stream.done
    with pytest.raises(RuntimeError, match="closed before it ended"):
        stream.final_message()


def test_iterating_a_finished_stream_again_raises(server: ThreadedServer) -> None:
    stream = sk.open_stream_sync(server.url, BODY)
    list(stream)
    with pytest.raises(RuntimeError, match="second request"):
        list(stream)


def test_a_stream_error_is_raised_in_the_calling_thread(server: ThreadedServer) -> None:
    stream = sk.open_stream_sync(server.url, BODY, headers={"x-streamkit-fault": "status=401"})
    with pytest.raises(sk.AuthenticationError):
        list(stream.text_stream)


def test_argument_mistakes_raise_where_they_are_made() -> None:
    with pytest.raises(ValueError, match="http"):
        sk.open_stream_sync("127.0.0.1:8000", BODY)


async def test_inside_a_running_loop_it_refuses_to_block(server: ThreadedServer) -> None:
    with pytest.raises(RuntimeError, match="open_stream"):
        sk.open_stream_sync(server.url, BODY)
    await asyncio.sleep(0)
