"""SSEDecoder against the WHATWG event-stream rules; split invariance; encoder round trip."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from streamkit.errors import ProtocolError
from streamkit.sse import SSEDecoder, SSEEvent, encode_comment, encode_event


def decode(*chunks: bytes, max_event_bytes: int | None = None) -> list[SSEEvent]:
    """Feed ``chunks`` one by one, then close; return every event dispatched."""
    decoder = (
        SSEDecoder() if max_event_bytes is None else SSEDecoder(max_event_bytes=max_event_bytes)
    )
    events: list[SSEEvent] = []
    for chunk in chunks:
        events.extend(decoder.feed(chunk))
    decoder.close()
    return events


# -- line ends -------------------------------------------------------------------------------


@pytest.mark.parametrize("eol", [b"\n", b"\r", b"\r\n"])
def test_every_line_end_kind_dispatches(eol: bytes) -> None:
    stream = b"data: a" + eol + b"data: b" + eol + eol + b"data: c" + eol + eol
    assert decode(stream) == [SSEEvent(data="a\nb"), SSEEvent(data="c")]


def test_mixed_line_ends_in_one_stream() -> None:
    stream = b"data: a\r\ndata: b\rdata: c\n\r\n"
    assert decode(stream) == [SSEEvent(data="a\nb\nc")]


def test_cr_then_lf_in_next_feed_is_one_line_end() -> None:
    # If the CRLF split across feeds counted as two line ends, "x" would dispatch alone.
    assert decode(b"data: x\r", b"\ndata: y\r\n\r\n") == [SSEEvent(data="x\ny")]


def test_cr_at_end_of_feed_then_blank_cr_dispatches_once() -> None:
    assert decode(b"data: x\r", b"\r") == [SSEEvent(data="x")]


def test_cr_lf_split_with_empty_feed_between() -> None:
    assert decode(b"data: x\r", b"", b"\n", b"data: y\n\n") == [SSEEvent(data="x\ny")]


def test_lf_after_cr_pair_is_a_new_line_end() -> None:
    # CR LF LF: the second LF is a blank line of its own.
    assert decode(b"data: x\r\n", b"\n") == [SSEEvent(data="x")]


# -- BOM ------------------------------------------------------------------------------------


def test_one_leading_bom_is_stripped() -> None:
    assert decode(b"\xef\xbb\xbfdata: a\n\n") == [SSEEvent(data="a")]


def test_bom_split_across_feeds_is_stripped() -> None:
    assert decode(b"\xef", b"\xbb", b"\xbfdata: a\n\n") == [SSEEvent(data="a")]


def test_only_one_bom_is_stripped() -> None:
    # After the first BOM the second belongs to the field name "\ufeffdata": an unknown field.
    assert decode(b"\xef\xbb\xbf\xef\xbb\xbfdata: a\n\ndata: b\n\n") == [SSEEvent(data="b")]


def test_bom_not_at_start_is_kept() -> None:
    assert decode(b"data: a\n\n\xef\xbb\xbfdata: b\n\ndata: c\n\n") == [
        SSEEvent(data="a"),
        SSEEvent(data="c"),
    ]
    assert decode(b"data: \xef\xbb\xbfx\n\n") == [SSEEvent(data="\ufeffx")]


# -- fields ---------------------------------------------------------------------------------


def test_comments_are_ignored_and_counted() -> None:
    decoder = SSEDecoder()
    events = decoder.feed(b": keep-alive\n\n:\ndata: a\n: inside\n\n")
    assert events == [SSEEvent(data="a")]
    assert decoder.comments == 3


def test_only_one_leading_space_is_removed() -> None:
    assert decode(b"data:  two\n\n") == [SSEEvent(data=" two")]
    assert decode(b"data:none\n\n") == [SSEEvent(data="none")]
    assert decode(b"data: trailing \n\n") == [SSEEvent(data="trailing ")]


def test_value_keeps_later_colons() -> None:
    assert decode(b'data: {"a": "b:c"}\n\n') == [SSEEvent(data='{"a": "b:c"}')]


def test_line_without_colon_is_field_with_empty_value() -> None:
    assert decode(b"data\n\n") == [SSEEvent(data="")]
    assert decode(b"data\ndata\n\n") == [SSEEvent(data="\n")]
    assert decode(b"event\ndata: x\n\n") == [SSEEvent(event="message", data="x")]


def test_multiple_data_lines_joined_with_lf() -> None:
    assert decode(b"data: a\ndata:\ndata: c\n\n") == [SSEEvent(data="a\n\nc")]


def test_event_type_applies_to_one_event_only() -> None:
    assert decode(b"event: ping\ndata: 1\n\ndata: 2\n\n") == [
        SSEEvent(event="ping", data="1"),
        SSEEvent(event="message", data="2"),
    ]


def test_id_persists_for_later_events() -> None:
    events = decode(b"id: 7\ndata: a\n\ndata: b\n\nid: 8\ndata: c\n\n")
    assert [e.id for e in events] == ["7", "7", "8"]


def test_id_set_in_event_without_data_persists() -> None:
    assert decode(b"id: 3\n\ndata: a\n\n") == [SSEEvent(data="a", id="3")]


def test_empty_id_resets_last_event_id() -> None:
    assert [e.id for e in decode(b"id: 1\ndata: a\n\nid\ndata: b\n\n")] == ["1", ""]


def test_id_with_nul_is_ignored() -> None:
    events = decode(b"id: 1\ndata: a\n\nid: 2\x003\ndata: b\n\n")
    assert [e.id for e in events] == ["1", "1"]


@pytest.mark.parametrize(
    ("line", "expected"),
    [
        (b"retry: 1500", 1500),
        (b"retry:0", 0),
        (b"retry: 15x", None),
        (b"retry: -1", None),
        (b"retry: 1.5", None),
        (b"retry: ", None),
        (b"retry: \xd9\xa3", None),  # ARABIC-INDIC DIGIT THREE: a digit, but not ASCII
        (b"retry:  15", None),  # the second space stays and is not a digit
    ],
)
def test_retry_only_ascii_digits(line: bytes, expected: int | None) -> None:
    assert decode(line + b"\ndata: a\n\n") == [SSEEvent(data="a", retry=expected)]


def test_unknown_fields_are_ignored() -> None:
    assert decode(b"foo: bar\nDATA: x\ndata: a\nEvent: y\n\n") == [SSEEvent(data="a")]


def test_no_dispatch_for_empty_data_buffer() -> None:
    assert decode(b"event: ping\n\n\n\nretry: 5\n\ndata: a\n\n") == [SSEEvent(data="a")]


def test_event_type_without_data_does_not_leak_into_next_event() -> None:
    assert decode(b"event: ping\n\ndata: a\n\n") == [SSEEvent(event="message", data="a")]


def test_unterminated_event_dropped_by_close() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: a\n\ndata: b\n") == [SSEEvent(data="a")]
    assert decoder.has_partial_event
    decoder.close()
    assert not decoder.has_partial_event
    with pytest.raises(RuntimeError):
        decoder.feed(b"\n")


def test_has_partial_event_false_between_events() -> None:
    decoder = SSEDecoder()
    decoder.feed(b"data: a\n\n")
    assert not decoder.has_partial_event
    decoder.feed(b"da")
    assert decoder.has_partial_event


def test_multibyte_character_split_across_feeds() -> None:
    encoded = "data: héllo €𝄞\n\n".encode()
    cut_points = [i for i in range(len(encoded)) if encoded[i] & 0xC0 == 0x80]
    assert cut_points  # the text does contain continuation bytes
    for cut in cut_points:
        assert decode(encoded[:cut], encoded[cut:]) == [SSEEvent(data="héllo €𝄞")]


def test_invalid_utf8_is_replaced_not_raised() -> None:
    assert decode(b"data: \xff\n\n") == [SSEEvent(data="\ufffd")]


# -- size limit -----------------------------------------------------------------------------


def test_oversized_event_raises_protocol_error() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    with pytest.raises(ProtocolError, match="max_event_bytes=64"):
        decoder.feed(b"data: " + b"x" * 100 + b"\n\n")


def test_oversized_line_in_pieces_raises_before_it_ends() -> None:
    decoder = SSEDecoder(max_event_bytes=64)
    decoder.feed(b"data: ")
    with pytest.raises(ProtocolError, match="larger than max_event_bytes"):
        for _ in range(20):
            decoder.feed(b"x" * 10)  # never a line end: must not grow without bound


def test_oversized_across_many_lines_raises() -> None:
    decoder = SSEDecoder(max_event_bytes=50)
    with pytest.raises(ProtocolError):
        for _ in range(20):
            decoder.feed(b"data: abc\n")


def test_limit_is_per_event() -> None:
    decoder = SSEDecoder(max_event_bytes=40)
    events: list[SSEEvent] = []
    for _ in range(50):
        events.extend(decoder.feed(b"data: 0123456789\n\n"))
    assert len(events) == 50


def test_max_event_bytes_must_be_positive() -> None:
    with pytest.raises(ValueError):
        SSEDecoder(max_event_bytes=0)


# -- encoder --------------------------------------------------------------------------------


def test_encode_event_shape() -> None:
    assert encode_event("a\nb", event="x", id="1") == b"event: x\nid: 1\ndata: a\ndata: b\n\n"
    assert encode_event(b"{}") == b"data: {}\n\n"


def test_encode_rejects_multiline_event_and_id() -> None:
    with pytest.raises(ValueError):
        encode_event("a", event="x\ny")
    with pytest.raises(ValueError):
        encode_event("a", id="1\r2")
    with pytest.raises(ValueError):
        encode_comment("a\nb")


def test_encode_comment_never_becomes_an_event() -> None:
    assert decode(encode_comment(), encode_comment("keep-alive")) == []


# -- properties -----------------------------------------------------------------------------

_text = st.text(
    alphabet=st.characters(codec="utf-8", blacklist_characters="\r\n\0"),
    max_size=12,
)
_name = st.text(alphabet="abcdefghijklmnopqrstuvwxyz_", min_size=1, max_size=8)


@st.composite
def _streams(draw: st.DrawFn) -> tuple[bytes, list[SSEEvent]]:
    """A random event stream and the events it must decode to."""
    eols = st.sampled_from(["\n", "\r", "\r\n"])
    out: list[str] = ["\ufeff"] if draw(st.booleans()) else []
    expected: list[SSEEvent] = []
    last_id: str | None = None
    for _ in range(draw(st.integers(0, 5))):
        if draw(st.booleans()):
            out.append(":" + draw(_text) + draw(eols))
        event = draw(st.none() | _name)
        if event is not None:
            out.append(f"event: {event}{draw(eols)}")
        event_id = draw(st.none() | _text)
        if event_id is not None:
            out.append(f"id: {event_id}{draw(eols)}")
            last_id = event_id
        data = draw(st.lists(_text, max_size=3))
        for line in data:
            out.append(f"data: {line}{draw(eols)}")
        # A blank line after a CR must not start with LF: CR LF would be one line end.
        blank = st.sampled_from(["\r", "\r\n"]) if out and out[-1].endswith("\r") else eols
        out.append(draw(blank))
        if data:
            expected.append(SSEEvent(event=event or "message", data="\n".join(data), id=last_id))
    return "".join(out).encode(), expected


@given(_streams(), st.lists(st.integers(0, 10_000), max_size=12))
@settings(max_examples=300, deadline=None)
def test_any_split_gives_the_same_events(
    stream: tuple[bytes, list[SSEEvent]], cuts: list[int]
) -> None:
    data, expected = stream
    assert decode(data) == expected
    points = sorted({c % (len(data) + 1) for c in cuts})
    chunks = [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]
    assert decode(*chunks) == expected


@given(_streams())
@settings(max_examples=100, deadline=None)
def test_byte_by_byte_gives_the_same_events(stream: tuple[bytes, list[SSEEvent]]) -> None:
    data, expected = stream
    assert decode(*(data[i : i + 1] for i in range(len(data)))) == expected


@given(
    st.lists(
        st.tuples(
            st.text(alphabet=st.characters(codec="utf-8"), max_size=30),
            st.none() | _name,
            st.none() | _text,
        ),
        max_size=5,
    )
)
@settings(max_examples=200, deadline=None)
def test_encode_event_round_trip(items: list[tuple[str, str | None, str | None]]) -> None:
    stream = b"".join(encode_event(data, event=event, id=id_) for data, event, id_ in items)
    events = decode(stream)
    normalized = [d.replace("\r\n", "\n").replace("\r", "\n") for d, _, _ in items]
    assert [e.data for e in events] == normalized
    assert [e.event for e in events] == [ev or "message" for _, ev, _ in items]
    last: str | None = None
    ids: list[str | None] = []
    for _, _, id_ in items:
        if id_ is not None:
            last = id_
        ids.append(last)
    assert [e.id for e in events] == ids


def test_only_cr_and_lf_end_lines() -> None:
    # Python's str.splitlines would also split on these; the event-stream format must not.
    text = "a\x0bb\x0cc\x1cd\x1de\x1ef\x85g\u2028h\u2029i"
    assert decode(f"data: {text}\n\n".encode()) == [SSEEvent(data=text)]


# -- the specification's own examples (WHATWG HTML, 9.2.6 "Interpreting an event stream") ----

#: Each example stream from the specification, and the events it says are dispatched.
SPEC_EXAMPLES: list[tuple[str, bytes, list[SSEEvent]]] = [
    (
        "three data lines make one message",
        b"data: YHOO\ndata: +2\ndata: 10\n\n",
        [SSEEvent(data="YHOO\n+2\n10")],
    ),
    (
        "a comment, ids that persist and reset, one leading space stripped",
        b": test stream\n\ndata: first event\nid: 1\n\ndata:second event\nid\n\n"
        b"data:  third event\n",
        # The third block is never dispatched: it is not followed by a blank line.
        [SSEEvent(data="first event", id="1"), SSEEvent(data="second event", id="")],
    ),
    (
        "empty data fields",
        b"data\n\ndata\ndata\n\ndata:",
        # The last block is discarded: it is not followed by a blank line.
        [SSEEvent(data=""), SSEEvent(data="\n")],
    ),
    (
        "a space after the colon is optional",
        b"data:test\n\ndata: test\n\n",
        [SSEEvent(data="test"), SSEEvent(data="test")],
    ),
]


def _splits(stream: bytes) -> list[list[bytes]]:
    """The stream whole, split at every offset, and one byte at a time."""
    at_every_offset = [[stream[:cut], stream[cut:]] for cut in range(1, len(stream))]
    byte_by_byte = [stream[i : i + 1] for i in range(len(stream))]
    return [[stream], *at_every_offset, byte_by_byte]


@pytest.mark.parametrize(
    ("stream", "expected"),
    [(stream, expected) for _, stream, expected in SPEC_EXAMPLES],
    ids=[name for name, _, _ in SPEC_EXAMPLES],
)
def test_the_specifications_examples_decode_as_it_says_whatever_the_split(
    stream: bytes, expected: list[SSEEvent]
) -> None:
    for chunks in _splits(stream):
        assert decode(*chunks) == expected, chunks


def test_a_retry_field_sets_the_reconnection_time_even_without_an_event() -> None:
    decoder = SSEDecoder()
    assert decoder.reconnection_time is None
    assert decoder.feed(b"retry: 1500\n\n") == []
    assert decoder.reconnection_time == 1500
    assert decoder.feed(b"retry: soon\ndata: x\n\n") == [SSEEvent(data="x")]
    assert decoder.reconnection_time == 1500  # an invalid value changes nothing
