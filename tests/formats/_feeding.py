"""Feeding a transcript to ``ChatDecoder`` whole, split at every byte offset, and byte by byte."""

from __future__ import annotations

from collections.abc import Iterable

from streamkit.chat_decoder import ChatDecoder
from streamkit.events import ContentEvent
from streamkit.formats import FormatName

Outcome = tuple[list[ContentEvent], BaseException | None]


def feed(format: FormatName, pieces: Iterable[bytes]) -> Outcome:
    """The events the pieces decode to, and the error that ended decoding (None: none)."""
    decoder = ChatDecoder(format)
    events: list[ContentEvent] = []
    try:
        for piece in pieces:
            events.extend(decoder.feed(piece, received_at=1.5))
        decoder.close()
    except Exception as exc:  # the outcome under test, compared across splits
        return events, exc
    return events, None


def _same(first: Outcome, other: Outcome, how: str) -> None:
    assert other[0] == first[0], how
    assert [e.raw for e in other[0]] == [e.raw for e in first[0]], how
    assert type(other[1]) is type(first[1]), how
    assert str(other[1]) == str(first[1]), how


def decode_every_way(format: FormatName, data: bytes) -> Outcome:
    """Decode ``data`` whole, in two pieces split at every offset, and one byte at a time.

    Every way must give the same events (raw payloads included) and the same error; the whole
    run's outcome is returned.
    """
    whole = feed(format, [data])
    for cut in range(1, len(data)):
        _same(whole, feed(format, [data[:cut], data[cut:]]), f"split at byte {cut}")
    _same(whole, feed(format, [data[i : i + 1] for i in range(len(data))]), "byte by byte")
    return whole
