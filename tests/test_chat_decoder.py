"""ChatDecoder: a streamed answer's bytes in, typed events out, with no socket.

Every transcript is fed whole, split at every byte offset, and one byte at a time; all must give
the same events (``wire_bytes`` aside: it counts the bytes of each read, so it follows the split).
"""

from __future__ import annotations

from dataclasses import replace

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.chat_decoder import ChatDecoder, is_content
from streamkit.errors import APIStatusError, ConnectionLostError, ProtocolError
from streamkit.events import ContentEvent, StreamStart, TextDelta, Usage
from streamkit.formats import FormatName
from tests.formats.transcript_files import TRANSCRIPTS, format_of

#: Transcripts that end with the format's end marker (the others end with an error event:
#: ``*_error.sse``, and a Responses ``response.failed``).
COMPLETE = sorted(
    path.name
    for path in TRANSCRIPTS.glob("*.sse")
    if not path.name.endswith(("_error.sse", "_failed.sse"))
)
OPENAI_END_MARKER = b"data: [DONE]\n\n"


def _decode(fmt: FormatName, chunks: list[bytes]) -> list[ContentEvent]:
    decoder = ChatDecoder(fmt)
    events: list[ContentEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    decoder.close()
    return [replace(event, wire_bytes=0) for event in events]


@pytest.mark.parametrize("name", COMPLETE)
def test_any_split_of_a_transcript_gives_the_same_events(name: str) -> None:
    body = (TRANSCRIPTS / name).read_bytes()
    fmt = format_of(name)
    whole = _decode(fmt, [body])
    assert whole, "the transcript decodes to events"
    assert _decode(fmt, [body[i : i + 1] for i in range(len(body))]) == whole
    for cut in range(1, len(body)):
        assert _decode(fmt, [body[:cut], body[cut:]]) == whole, cut


@pytest.mark.parametrize("name", COMPLETE)
def test_bytes_after_the_end_marker_are_ignored_whatever_the_split(name: str) -> None:
    body = (TRANSCRIPTS / name).read_bytes()
    fmt = format_of(name)
    trailing = b'data: {"not": "part of the answer"}\n\ndata: [DONE]\n\n: late\n\n'
    whole = _decode(fmt, [body])
    for cut in (len(body) - 3, len(body), len(body) + 5):
        stream = body + trailing
        assert _decode(fmt, [stream[:cut], stream[cut:]]) == whole


@pytest.mark.parametrize("fmt", ["openai", "anthropic"])
def test_every_event_carries_the_bytes_read_since_the_one_before(fmt: FormatName) -> None:
    body = (TRANSCRIPTS / f"{fmt}_text.sse").read_bytes()
    decoder = ChatDecoder(fmt)
    events = decoder.feed(body)
    decoder.close()
    assert sum(event.wire_bytes for event in events) <= len(body)
    assert events[0].wire_bytes > 0 and all(event.wire_bytes >= 0 for event in events)


def test_a_body_that_ends_before_the_end_marker_is_a_lost_connection() -> None:
    body = (TRANSCRIPTS / "openai_text.sse").read_bytes()
    cut = body.index(OPENAI_END_MARKER)
    decoder = ChatDecoder("openai")
    events = decoder.feed(body[: cut + 5])
    assert any(isinstance(event, TextDelta) for event in events)
    with pytest.raises(ConnectionLostError, match="inside an event"):
        decoder.close()


def test_events_before_a_malformed_one_are_returned_and_the_error_comes_next() -> None:
    good = (TRANSCRIPTS / "openai_text.sse").read_bytes().split(b"\n\n")[:2]
    body = b"\n\n".join(good) + b"\n\ndata: {not json\n\n"
    decoder = ChatDecoder("openai")
    events = decoder.feed(body)
    assert [type(event) for event in events][:2] == [StreamStart, TextDelta]
    with pytest.raises(ProtocolError):
        decoder.check()
    with pytest.raises(ValueError, match="closed"):
        decoder.feed(b"")


def test_an_error_event_is_the_typed_error() -> None:
    decoder = ChatDecoder("anthropic")
    with pytest.raises(APIStatusError) as info:
        decoder.feed((TRANSCRIPTS / "anthropic_error.sse").read_bytes())
        decoder.check()
    assert info.value.in_stream


def test_an_unknown_format_name_is_refused_at_once() -> None:
    with pytest.raises(ValueError, match="unknown format"):
        ChatDecoder("gopher")  # type: ignore[arg-type]


def test_openings_and_usage_are_not_content() -> None:
    assert not is_content(StreamStart("id", "model"))
    assert not is_content(Usage(input_tokens=1))
    assert is_content(TextDelta("hi"))


@given(st.lists(st.integers(min_value=1, max_value=60), min_size=1, max_size=40))
def test_random_splits_of_a_tool_transcript_agree(sizes: list[int]) -> None:
    body = (TRANSCRIPTS / "anthropic_tools.sse").read_bytes()
    chunks, position = [], 0
    for size in sizes:
        chunks.append(body[position : position + size])
        position += size
    chunks.append(body[position:])
    assert _decode("anthropic", chunks) == _decode("anthropic", [body])
