"""print_stream and console_observer: text as it comes, calls as lines, the final message."""

from __future__ import annotations

import asyncio
import io

import pytest
import reactivex
from reactivex.subject import Subject

from streamkit.errors import ConnectionLostError
from streamkit.events import (
    Finish,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
)
from streamkit.fold.message_builder import build_message
from streamkit.sinks.console import console_observer, format_tool_call, print_stream

EVENTS: list[StreamEvent] = [
    StreamStart("msg_1", "m"),
    TextDelta("Let me "),
    TextDelta("check."),
    ToolCallDelta(0, id="c1", name="weather", arguments='{"city": "Z\\u00fcrich",'),
    ToolCallDelta(0, arguments=' "days": 3}'),
    ToolCallEnd(0),
    Finish("tool_calls", "tool_calls"),
]


class FlushCounter(io.StringIO):
    def __init__(self) -> None:
        super().__init__()
        self.flushed: list[str] = []

    def flush(self) -> None:
        self.flushed.append(self.getvalue())


def test_format_tool_call_is_compact_and_marks_invalid_json() -> None:
    call = ToolCall("c1", "weather", {"city": "Zürich", "days": 3}, "...")
    assert format_tool_call(call) == 'weather({"city":"Zürich","days":3})'
    broken = ToolCall("c2", "weather", None, '{"city": ', valid=False)
    assert format_tool_call(broken) == 'weather({"city": ) (invalid JSON)'
    long_call = ToolCall("c3", "f", {"a": "x" * 500}, "")
    assert len(format_tool_call(long_call)) < 300


async def test_print_stream_prints_text_then_the_call_and_returns_the_message() -> None:
    out = FlushCounter()
    message = await print_stream(reactivex.from_iterable(EVENTS), file=out)
    assert out.getvalue() == 'Let me check.\n-> weather({"city":"Zürich","days":3})\n'
    assert out.flushed[:2] == ["Let me ", "Let me check."]  # each piece shows at once
    assert message == build_message(EVENTS)


async def test_print_stream_uses_stdout_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    await print_stream(reactivex.from_iterable([TextDelta("hi")]))
    assert capsys.readouterr().out == "hi\n"


async def test_print_stream_raises_the_error_after_ending_the_line() -> None:
    out = io.StringIO()
    source = reactivex.concat(
        reactivex.from_iterable(EVENTS[:2]), reactivex.throw(ConnectionLostError("cut"))
    )
    with pytest.raises(ConnectionLostError):
        await print_stream(source, file=out)
    assert out.getvalue() == "Let me \n"


async def test_console_observer_prints_choice_text_rewinds_and_errors() -> None:
    out = io.StringIO()
    subject: Subject[StreamEvent] = Subject()
    subject.subscribe(console_observer(out))
    subject.on_next(TextDelta("draft"))
    subject.on_next(TextDelta("other", choice=1))
    subject.on_next(Rewind(1))
    subject.on_next(TextDelta("final"))
    subject.on_error(ConnectionLostError("cut"))
    assert (
        out.getvalue() == "draft\n[the answer restarts]\nfinal\n[error] ConnectionLostError: cut\n"
    )


def test_console_observer_ends_the_line_on_completion() -> None:
    out = io.StringIO()
    reactivex.from_iterable([TextDelta("a"), TextDelta("b")]).subscribe(console_observer(out))
    assert out.getvalue() == "ab\n"


async def test_footer_prints_the_stats_line_to_its_own_file() -> None:
    out, err = io.StringIO(), io.StringIO()
    events = [*EVENTS[:3], Finish("stop", "stop")]
    await print_stream(reactivex.from_iterable(events), file=out, footer=True, footer_file=err)
    assert out.getvalue() == "Let me check.\n"
    line = err.getvalue()
    assert line.endswith(" · stop\n") and line.count("\n") == 1
    assert line.split(" ")[1] == "tokens"


async def test_footer_goes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    await print_stream(reactivex.from_iterable([TextDelta("hi")]), footer=True)
    captured = capsys.readouterr()
    assert captured.out == "hi\n"
    assert "tokens" in captured.err


async def test_cancelling_print_stream_disposes_the_stream() -> None:
    subject: Subject[StreamEvent] = Subject()
    out = io.StringIO()
    task = asyncio.ensure_future(print_stream(subject, file=out))
    await asyncio.sleep(0)
    subject.on_next(TextDelta("partial"))
    assert subject.observers
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert not subject.observers
    assert out.getvalue() == "partial\n"
