"""Synthetic but realistic inputs: encoded streams, network-sized feeds, event lists.

Streams are written by streamkit's own format encoders (the ones the embedded server uses), so
their bytes have the providers' real shapes. Everything is seeded: every run sees the same input.
"""

from __future__ import annotations

import random
from collections.abc import Iterator

from streamkit.events import (
    ContentEvent,
    Finish,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.formats import FormatName
from streamkit.formats.anthropic import AnthropicEncoder
from streamkit.formats.openai import OpenAIEncoder

__all__ = [
    "answer_events",
    "encode_stream",
    "split_feeds",
    "text_deltas",
    "token_texts",
    "tool_call_events",
]

_WORDS = (
    "the stream of tokens arrives over a long lived connection and each chunk carries a small "
    "piece of text, sometimes one word, sometimes a fragment; résumé, naïve café, Zürich! "
    "Models answer questions about reactive programming, observables, backpressure and retries."
).split()


def token_texts(count: int, *, seed: int = 0) -> list[str]:
    """``count`` word tokens, each with its leading space, like an LLM's text deltas."""
    rng = random.Random(seed)
    return [" " + rng.choice(_WORDS) for _ in range(count)]


def answer_events(tokens: int, *, seed: int = 0) -> list[ContentEvent]:
    """A whole text answer as content events: start, ``tokens`` text deltas, finish, usage."""
    events: list[ContentEvent] = [StreamStart(id="chatcmpl-bench", model="bench-model")]
    events.extend(TextDelta(text) for text in token_texts(tokens, seed=seed))
    events.append(Finish("stop", raw_reason="stop"))
    events.append(Usage(input_tokens=12, output_tokens=tokens))
    return events


def encode_stream(events: list[ContentEvent], format: FormatName) -> bytes:
    """The wire bytes of ``events`` in ``format``, end marker included."""
    encoder = OpenAIEncoder(created=1_700_000_000) if format == "openai" else AnthropicEncoder()
    return b"".join(encoder.encode(event) for event in events) + encoder.finish()


def split_feeds(data: bytes, *, low: int = 1024, high: int = 4096, seed: int = 0) -> list[bytes]:
    """Cut ``data`` into pieces of ``low`` to ``high`` bytes, as network reads deliver them.

    The cuts fall anywhere: inside lines, inside multi-byte characters, between CR and LF.
    """
    rng = random.Random(seed)
    feeds: list[bytes] = []
    position = 0
    while position < len(data):
        size = rng.randint(low, high)
        feeds.append(data[position : position + size])
        position += size
    return feeds


def text_deltas(count: int, *, seed: int = 0) -> list[StreamEvent]:
    """``count`` ``TextDelta`` events (choice 0), nothing else."""
    return [TextDelta(text) for text in token_texts(count, seed=seed)]


def tool_call_events(count: int, *, fragments: int = 24, seed: int = 0) -> list[StreamEvent]:
    """About ``count`` tool-call events: each call is ``fragments`` argument pieces, then its end.

    Every call's arguments are one valid JSON object, streamed a few characters at a time.
    """
    events: list[StreamEvent] = [StreamStart(id="chatcmpl-tools", model="bench-model")]
    calls = max(1, count // (fragments + 1))
    texts = iter(token_texts(calls * fragments, seed=seed))
    for index in range(calls):
        pieces = list(_argument_pieces(texts, fragments))
        events.append(ToolCallDelta(index, id=f"call_{index}", name="search", arguments=pieces[0]))
        events.extend(ToolCallDelta(index, arguments=piece) for piece in pieces[1:])
        events.append(ToolCallEnd(index))
    events.append(Finish("tool_calls", raw_reason="tool_calls"))
    return events


def _argument_pieces(texts: Iterator[str], fragments: int) -> Iterator[str]:
    """``fragments`` pieces that join to ``{"query": "<words>", "limit": 10}``."""
    yield '{"query": "'
    for _ in range(fragments - 2):
        yield next(texts).replace('"', "")
    yield '", "limit": 10}'
