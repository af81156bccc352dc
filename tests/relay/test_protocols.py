"""The plain text and provider protocols: pure encoders, checked by decoding what they write."""

from __future__ import annotations

import pytest

from streamkit import build_message
from streamkit.errors import APIStatusError
from streamkit.events import Retrying, Rewind, TextDelta
from streamkit.formats import get_format
from streamkit.relay import make_encoder
from streamkit.sse import SSEDecoder
from tests.relay._wire import transcript_events


def decode(format_name: str, body: bytes) -> list[object]:
    decoder = get_format(format_name).decoder()
    events: list[object] = []
    for sse in SSEDecoder().feed(body):
        events.extend(decoder.decode(sse))
    return events


@pytest.mark.parametrize(
    ("protocol", "transcript"),
    [
        ("openai", "openai_tools.sse"),
        ("openai", "openai_text.sse"),
        ("anthropic", "anthropic_tools.sse"),
        ("anthropic", "anthropic_thinking.sse"),
    ],
)
def test_a_provider_relay_decodes_back_to_the_same_message(protocol: str, transcript: str) -> None:
    events = transcript_events(transcript)
    encoder = make_encoder(protocol)  # type: ignore[arg-type]
    body = b"".join(encoder.encode(e) for e in events) + encoder.finish()
    assert build_message(decode(protocol, body)) == build_message(events)  # type: ignore[arg-type]


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_retry_is_a_comment_clients_ignore(protocol: str) -> None:
    encoder = make_encoder(protocol)  # type: ignore[arg-type]
    comment = encoder.encode(Retrying(2, 0.1, ConnectionError()))
    assert comment.startswith(b":") and SSEDecoder().feed(comment) == []


@pytest.mark.parametrize("protocol", ["openai", "anthropic"])
def test_a_failure_or_a_rewind_ends_with_the_format_s_error_event(protocol: str) -> None:
    failed = make_encoder(protocol)  # type: ignore[arg-type]
    with pytest.raises(APIStatusError) as info:
        decode(protocol, failed.error(APIStatusError.for_status(529, "busy")))
    assert info.value.in_stream
    assert failed.finish() == b""  # nothing after the error

    rewound = make_encoder(protocol)  # type: ignore[arg-type]
    with pytest.raises(APIStatusError):
        decode(protocol, rewound.encode(Rewind(2)))
    assert rewound.encode(TextDelta("more")) == b"" and rewound.finish() == b""


def test_plain_text_is_the_words_only() -> None:
    encoder = make_encoder("text")
    events = transcript_events("openai_tools.sse")
    body = b"".join(encoder.encode(e) for e in [*events, "!"]) + encoder.finish()
    assert body.decode() == build_message(events).text + "!"
    assert encoder.error(ValueError()) == b"" and encoder.keep_alive() == b""
    assert encoder.headers["content-type"].startswith("text/plain")
