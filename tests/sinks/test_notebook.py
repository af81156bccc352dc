"""live_view: the cell is rewritten per batch, not per chunk, and ends with the whole answer."""

from __future__ import annotations

import sys

import pytest
import reactivex

from streamkit.client import stream_chat
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
from streamkit.message import Message
from streamkit.server import EmbeddedServer
from streamkit.sinks.notebook import live_view, render_markdown

WORDS = [f" word{i}" for i in range(30)]
TEXT_EVENTS: list[StreamEvent] = [
    StreamStart("m1", "m"),
    *(TextDelta(w) for w in WORDS),
    Finish("stop", "stop"),
]
TOOL_EVENTS: list[StreamEvent] = [
    StreamStart("m2", "m"),
    TextDelta("Checking."),
    ToolCallDelta(0, id="c1", name="weather", arguments='{"city": '),
    ToolCallDelta(0, arguments='"Zürich"}'),
    ToolCallEnd(0),
    Finish("tool_calls", "tool_calls"),
]


class FakeDisplay:
    """Records what a notebook would show: the first Markdown, then each update."""

    def __init__(self) -> None:
        self.shown: list[str] = []

    def __call__(self, markdown: str) -> FakeDisplay:
        self.shown.append(markdown)
        return self

    def update(self, markdown: str) -> None:
        self.shown.append(markdown)


async def test_updates_come_per_batch_and_end_with_the_text() -> None:
    display = FakeDisplay()
    message = await live_view(
        reactivex.from_iterable(TEXT_EVENTS), count=5, seconds=None, stats=False, display=display
    )
    assert message == build_message(TEXT_EVENTS)
    assert display.shown[0] == ""
    updates = display.shown[1:]
    assert 1 < len(updates) < len(WORDS)
    assert updates[-1] == "".join(WORDS)
    assert all("".join(WORDS).startswith(u) for u in updates)  # the text only grows


async def test_stats_line_and_tool_calls_are_shown() -> None:
    display = FakeDisplay()
    message = await live_view(reactivex.from_iterable(TOOL_EVENTS), count=2, display=display)
    final = display.shown[-1]
    assert final.startswith('Checking.\n\n- `weather({"city":"Zürich"})`\n\n---\n*')
    assert "tokens" in final and final.endswith("tool_calls*")
    assert message.tool_calls[0].arguments == {"city": "Zürich"}
    assert display.shown.count(final) == 1  # unchanged Markdown is not sent again


async def test_a_rewind_clears_the_text_shown() -> None:
    display = FakeDisplay()
    events: list[StreamEvent] = [TextDelta("draft"), Rewind(1), TextDelta("final")]
    await live_view(
        reactivex.from_iterable(events), count=1, seconds=None, stats=False, display=display
    )
    assert display.shown == ["", "draft", "", "final"]


async def test_an_error_is_shown_then_raised() -> None:
    display = FakeDisplay()
    source = reactivex.concat(
        reactivex.from_iterable(TEXT_EVENTS[:3]), reactivex.throw(ConnectionLostError("cut"))
    )
    with pytest.raises(ConnectionLostError):
        await live_view(source, count=100, stats=False, display=display)
    assert display.shown[-1] == " word0 word1\n\n**ConnectionLostError:** cut"


def test_render_markdown_is_the_text_alone_without_calls_or_stats() -> None:
    message = build_message(TEXT_EVENTS)
    assert render_markdown(message) == "".join(WORDS)
    assert render_markdown(Message(id="", model="")) == ""
    call = ToolCall("c", "f", {}, "{}")
    with_call = build_message([call])
    assert render_markdown(with_call, stats="1 tokens") == "- `f({})`\n\n---\n*1 tokens*"


async def test_ipython_is_used_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    message = await live_view(reactivex.from_iterable(TEXT_EVENTS[:3]), stats=False)
    assert message.text == " word0 word1"
    assert "Markdown" in capsys.readouterr().out  # outside a notebook IPython prints the repr


async def test_missing_ipython_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "IPython.display", None)
    with pytest.raises(ImportError, match=r"streamkit\[jupyter\]"):
        await live_view(reactivex.empty())


async def test_a_live_stream_is_shown_in_fewer_updates_than_chunks() -> None:
    display = FakeDisplay()
    body = {"model": "m", "messages": [{"role": "user", "content": "Tell me a story."}]}
    chunks: list[bytes] = []
    async with EmbeddedServer(rate=1000) as server:
        events = stream_chat(server.url, body, tap=lambda chunk, _: chunks.append(chunk))
        message = await live_view(events, count=8, seconds=0.02, display=display)
        await server.wait_idle()
    updates = display.shown[1:]
    assert 1 < len(updates) < len(chunks)
    assert updates[-1].startswith(message.text + "\n\n---\n*")
