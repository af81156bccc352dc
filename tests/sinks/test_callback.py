"""on_events: plain callbacks in stream order, one ending, errors that never vanish."""

from __future__ import annotations

import asyncio
import gc
import logging

import pytest
import reactivex
from reactivex import Observable
from reactivex.subject import Subject

from streamkit.errors import ConnectionLostError, ToolCallError
from streamkit.events import (
    Finish,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.message import Message
from streamkit.operators.tool_calls import assemble_tool_calls
from streamkit.sinks.callback import on_events
from streamkit.sinks.collect import collect_message

EVENTS: list[StreamEvent] = [
    StreamStart("msg_1", "m"),
    TextDelta("Hello "),
    TextDelta("other choice", choice=1),
    TextDelta("world."),
    ToolCallDelta(0, id="call_a", name="weather", arguments='{"city": '),
    ToolCallDelta(0, arguments='"Z\\u00fcrich"}'),
    ToolCallEnd(0),
    Finish("tool_calls", "tool_calls"),
    Usage(3, 7),
]
BROKEN_CALL: list[StreamEvent] = [
    StreamStart("msg_2", "m"),
    ToolCallDelta(0, id="call_b", name="weather", arguments='{"city": '),
    ToolCallEnd(0),
    Finish("tool_calls", "tool_calls"),
]


def failing(events: list[StreamEvent], error: Exception) -> Observable[StreamEvent]:
    return reactivex.concat(reactivex.from_iterable(events), reactivex.throw(error))


async def test_callbacks_run_in_stream_order_and_end_with_the_message() -> None:
    log: list[object] = []
    handle = on_events(
        reactivex.from_iterable(EVENTS),
        on_text=lambda text: log.append(("text", text)),
        on_tool_call=lambda call: log.append(("call", call.name, call.arguments)),
        on_done=lambda message: log.append(("done", message.text)),
        on_error=lambda exc: log.append(("error", exc)),
    )
    assert log == [
        ("text", "Hello "),
        ("text", "world."),
        ("call", "weather", {"city": "Zürich"}),
        ("done", "Hello world."),
    ]
    message = await handle.wait()
    assert message == build_message(EVENTS)
    assert handle.done and handle.message == message and handle.error is None


async def test_on_event_sees_every_event_and_the_assembled_call() -> None:
    seen: list[StreamEvent] = []
    on_events(reactivex.from_iterable(EVENTS), on_event=seen.append)
    calls = [e for e in seen if isinstance(e, ToolCall)]
    assert [e for e in seen if not isinstance(e, ToolCall)] == EVENTS
    assert [(c.id, c.arguments) for c in calls] == [("call_a", {"city": "Zürich"})]
    assert seen.index(calls[0]) == EVENTS.index(ToolCallEnd(0)) + 1


async def test_a_call_assembled_upstream_too_is_reported_once() -> None:
    calls: list[ToolCall] = []
    source = reactivex.from_iterable(EVENTS).pipe(assemble_tool_calls())
    handle = on_events(source, on_tool_call=calls.append)
    assert [c.id for c in calls] == ["call_a"]
    assert (await handle.wait()).tool_calls == tuple(calls)


async def test_stream_error_goes_to_on_error_once_and_wait_raises_it() -> None:
    errors: list[Exception] = []
    done: list[Message] = []
    error = ConnectionLostError("gone")
    handle = on_events(failing(EVENTS[:2], error), on_error=errors.append, on_done=done.append)
    assert errors == [error] and done == []
    with pytest.raises(ConnectionLostError):
        await handle.wait()
    assert handle.error is error


async def test_exception_in_a_callback_stops_the_stream_and_reaches_on_error() -> None:
    subject: Subject[StreamEvent] = Subject()
    texts: list[str] = []
    errors: list[Exception] = []

    def on_text(text: str) -> None:
        texts.append(text)
        if text == "boom":
            raise RuntimeError("callback failed")

    handle = on_events(subject, on_text=on_text, on_error=errors.append)
    for text in ("a", "boom", "after"):
        subject.on_next(TextDelta(text))
    subject.on_completed()
    assert texts == ["a", "boom"]
    assert [str(e) for e in errors] == ["callback failed"]
    assert not subject.observers  # the callback's failure disposed the subscription
    with pytest.raises(RuntimeError, match="callback failed"):
        await handle.wait()


async def test_exception_in_on_done_reaches_on_error() -> None:
    errors: list[Exception] = []

    def on_done(message: Message) -> None:
        raise ValueError(message.text)

    handle = on_events(reactivex.from_iterable(EVENTS), on_done=on_done, on_error=errors.append)
    assert [str(e) for e in errors] == ["Hello world."]
    assert handle.message is None


async def test_invalid_tool_arguments_raise_by_default_and_pass_with_emit() -> None:
    with pytest.raises(ToolCallError):
        await on_events(reactivex.from_iterable(BROKEN_CALL)).wait()
    calls: list[ToolCall] = []
    handle = on_events(
        reactivex.from_iterable(BROKEN_CALL), on_tool_call=calls.append, invalid="emit"
    )
    assert [c.valid for c in calls] == [False]
    assert (await handle.wait()).tool_calls[0].raw_arguments == '{"city": '


async def test_an_error_nobody_retrieves_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    handle = on_events(failing([], RuntimeError("lost")))
    assert handle.done
    del handle
    gc.collect()
    assert any(
        record.levelno == logging.ERROR and "lost" in str(record.exc_info[1])
        for record in caplog.records
        if record.exc_info
    )


async def test_a_retrieved_error_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    handle = on_events(failing([], RuntimeError("lost")), on_error=lambda exc: None)
    del handle
    gc.collect()
    assert not caplog.records


async def test_wait_before_the_end_and_dispose_cancels_the_waiter() -> None:
    subject: Subject[StreamEvent] = Subject()
    handle = on_events(subject)
    waiter = asyncio.ensure_future(handle.wait())
    await asyncio.sleep(0)
    subject.on_next(TextDelta("x"))
    handle.dispose()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert not subject.observers
    handle.dispose()  # idempotent


async def test_wait_resolves_when_the_stream_completes_later() -> None:
    subject: Subject[StreamEvent] = Subject()
    handle = on_events(subject)
    waiter = asyncio.ensure_future(handle.wait())
    await asyncio.sleep(0)
    for event in EVENTS:
        subject.on_next(event)
    subject.on_completed()
    assert (await waiter).text == "Hello world."


async def test_collect_message_awaits_the_final_message() -> None:
    assert await collect_message(reactivex.from_iterable(EVENTS)) == build_message(EVENTS)
    assert await collect_message(reactivex.empty()) == Message(id="", model="")
    with pytest.raises(ToolCallError):
        await collect_message(reactivex.from_iterable(BROKEN_CALL))
    emitted = await collect_message(reactivex.from_iterable(BROKEN_CALL), invalid="emit")
    assert emitted.tool_calls[0].valid is False
    with pytest.raises(ConnectionLostError):
        await collect_message(failing(EVENTS[:3], ConnectionLostError("cut")))


async def test_the_outcome_is_set_before_done_while_upstream_is_still_disposing() -> None:
    import threading

    from reactivex.disposable import Disposable

    disposing = threading.Event()
    release = threading.Event()

    def slow_dispose() -> None:
        disposing.set()
        release.wait(5)

    def subscribe(observer: object, scheduler: object = None) -> Disposable:
        def run() -> None:
            observer.on_next(TextDelta("hi"))  # type: ignore[attr-defined]
            observer.on_completed()  # type: ignore[attr-defined]

        threading.Thread(target=run).start()
        return Disposable(slow_dispose)

    handle = on_events(reactivex.create(subscribe))  # type: ignore[arg-type]
    try:
        assert await asyncio.to_thread(disposing.wait, 5)
        assert handle.done  # the worker is still disposing upstream
        message = await handle.wait()
        assert message.text == "hi"
    finally:
        release.set()
