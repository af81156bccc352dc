"""ChatStream: one request gives the live text, the events, the final message and the stats."""

from __future__ import annotations

import asyncio
import warnings

import pytest
import reactivex

import streamkit as sk
from streamkit.server import EmbeddedServer, answer_for

BODY = {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "Tell me a story"}]}
ANSWER = answer_for(BODY)


def usage_body(body: dict[str, object]) -> dict[str, object]:
    return {**body, "stream_options": {"include_usage": True}}


async def test_text_then_final_message_and_stats_make_exactly_one_request(
    embedded_server: EmbeddedServer,
) -> None:
    async with sk.open_stream(embedded_server.url, usage_body(BODY)) as stream:
        pieces = [text async for text in stream.text_stream]
    message = await stream

    assert "".join(pieces) == ANSWER
    assert message.text == ANSWER
    assert message.finish_reason == "stop"
    assert stream.usage is not None and stream.usage.output_tokens
    assert message.usage == stream.usage
    assert stream.stats.chunks == len(pieces)
    assert stream.stats.ttft is not None
    assert len(embedded_server.requests) == 1


async def test_events_then_final_message_make_exactly_one_request(
    embedded_server: EmbeddedServer,
) -> None:
    stream = sk.open_stream(embedded_server.url, {**BODY, "max_tokens": 1024}, format="anthropic")
    events = [event async for event in stream]
    message = await stream.final_message()

    assert isinstance(events[0], sk.StreamStart)
    assert "".join(e.text for e in events if isinstance(e, sk.TextDelta)) == message.text
    assert message.text == ANSWER
    assert len(embedded_server.requests) == 1


async def test_awaiting_without_iterating_reads_the_stream_once(
    embedded_server: EmbeddedServer,
) -> None:
    stream = sk.open_stream(embedded_server.url, BODY)
    assert not stream.started and embedded_server.requests == []

    message = await stream

    assert message.text == ANSWER
    assert await stream is message  # the outcome is kept, not fetched again
    assert len(embedded_server.requests) == 1


async def test_after_break_awaiting_reads_the_rest_of_the_same_answer(
    embedded_server: EmbeddedServer,
) -> None:
    stream = sk.open_stream(embedded_server.url, BODY)
    async for _text in stream.text_stream:
        break

    message = await stream

    assert message.text == ANSWER
    assert len(embedded_server.requests) == 1


async def test_reading_a_finished_stream_again_raises_instead_of_sending_a_request(
    embedded_server: EmbeddedServer,
) -> None:
    stream = sk.open_stream(embedded_server.url, BODY)
    await stream

    with pytest.raises(RuntimeError, match="second request"):
        async for _event in stream:
            pass
    assert len(embedded_server.requests) == 1


async def test_leaving_the_block_early_closes_the_stream(embedded_server: EmbeddedServer) -> None:
    async with sk.open_stream(embedded_server.url, BODY) as stream:
        async for _text in stream.text_stream:
            break

    assert stream.done
    with pytest.raises(RuntimeError, match="closed before it ended"):
        await stream


async def test_a_stream_error_is_raised_by_the_loop_and_again_by_await(
    embedded_server: EmbeddedServer,
) -> None:
    headers = {"x-streamkit-fault": "status=500"}
    stream = sk.open_stream(embedded_server.url, BODY, headers=headers)

    with pytest.raises(sk.ServerError):
        async for _event in stream:
            pass
    with pytest.raises(sk.ServerError):
        await stream


async def test_retries_pass_through_the_handle_and_the_text_is_whole(
    embedded_server: EmbeddedServer,
) -> None:
    headers = {
        "x-streamkit-fault": "disconnect-after=5;first-attempts=1",
        "x-streamkit-session": "handle-retry",
    }
    stream = sk.open_stream(
        embedded_server.url, BODY, headers=headers, retry=sk.RetryPolicy(base_delay=0.01)
    )
    events = [event async for event in stream]

    assert any(isinstance(e, sk.Retrying) for e in events)
    assert (await stream).text == ANSWER
    assert stream.stats.retries == 1


async def test_cancelling_the_loop_closes_the_stream(embedded_server: EmbeddedServer) -> None:
    slow = EmbeddedServer(rate=5)
    async with slow:
        stream = sk.open_stream(slow.url, BODY)
        started = asyncio.Event()

        async def consume() -> None:
            async for _text in stream.text_stream:
                started.set()

        task = asyncio.create_task(consume())
        await asyncio.wait_for(started.wait(), timeout=10)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert stream.done


async def test_a_chat_stream_wraps_any_observable_of_events() -> None:
    events = [sk.TextDelta(text="a"), sk.TextDelta(text="b")]
    stream = sk.ChatStream(reactivex.from_iterable(events))

    assert [t async for t in stream.text_stream] == ["a", "b"]
    assert (await stream).text == "ab"


async def test_subscribing_a_completed_chat_observable_again_warns(
    embedded_server: EmbeddedServer,
) -> None:
    events = sk.stream_chat(embedded_server.url, BODY)
    async for _event in sk.aiter_events(events):
        pass

    with pytest.warns(sk.RepeatedRequestWarning, match="open_stream"):
        message = await sk.collect_message(events)

    assert message.text == ANSWER
    assert len(embedded_server.requests) == 2


async def test_two_concurrent_subscriptions_of_one_chat_observable_warn(
    embedded_server: EmbeddedServer,
) -> None:
    events = sk.stream_chat(embedded_server.url, BODY)
    with pytest.warns(sk.RepeatedRequestWarning):
        await asyncio.gather(sk.collect(events), sk.collect(events))


async def test_a_retry_after_a_failure_is_not_a_repeat(embedded_server: EmbeddedServer) -> None:
    from streamkit import operators as sk_ops

    headers = {
        "x-streamkit-fault": "status=503;first-attempts=1",
        "x-streamkit-session": "not-a-repeat",
    }
    events = sk.stream_chat(embedded_server.url, BODY, headers=headers)
    retried = events.pipe(sk_ops.retry_with_backoff(sk.RetryPolicy(base_delay=0.01)))
    with warnings.catch_warnings():
        warnings.simplefilter("error", sk.RepeatedRequestWarning)
        message = await sk.collect_message(retried)
    assert message.text == ANSWER


async def test_tool_calls_come_whole_while_iterating_and_once_in_the_message(
    embedded_server: EmbeddedServer,
) -> None:
    tool = {
        "type": "function",
        "function": {"name": "get_weather", "parameters": {"type": "object"}},
    }
    body = {**BODY, "tools": [tool], "tool_choice": "required"}
    stream = sk.open_stream(embedded_server.url, body)
    calls = [event async for event in stream if isinstance(event, sk.ToolCall)]
    message = await stream

    assert [call.name for call in calls] == ["get_weather"]
    assert message.tool_calls == tuple(calls)
