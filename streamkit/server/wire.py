"""What a response says beyond the event model: fields the embedded server adds to what the
formats' encoders write.

The encoders (``streamkit.formats``) write everything the events carry; a few facts of a
planned reply have no event (token logprobs, the stop sequence that ended an Anthropic answer,
OpenAI's usage details with reasoning tokens, a non-streamed body's ``created`` time). A
``ReplyExtras`` adds them to each encoded SSE event, or to the non-streamed body, so the format
tables stay in one place and the server still says everything the request asked for. Pure: no
I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from streamkit.events import ContentEvent, TextDelta, Usage
from streamkit.formats import FormatName
from streamkit.server.logprobs import token_logprob
from streamkit.server.scenarios import Reply
from streamkit.sse import SSEDecoder, encode_event

__all__ = ["ReplyExtras"]

_Payload = dict[str, Any]


def _rewrite(data: bytes, change: Callable[[str, _Payload], None]) -> bytes:
    """``data`` (whole SSE events with JSON data) with ``change`` applied to each payload."""
    decoder = SSEDecoder()
    out = []
    for event in decoder.feed(data):
        if event.data == "[DONE]":
            out.append(encode_event(event.data))
            continue
        payload = orjson.loads(event.data)
        change(event.event, payload)
        name = None if event.event == "message" else event.event
        out.append(encode_event(orjson.dumps(payload), event=name))
    return b"".join(out)


class ReplyExtras:
    """Adds one reply's extra fields to its encoded events or its non-streamed body.

    One instance per response: it counts each choice's tokens to number their logprobs.
    """

    def __init__(self, reply: Reply, *, format: FormatName, created: int) -> None:
        self._reply = reply
        self._format = format
        self._created = created
        self._positions: dict[int, int] = {}

    def stream(self, event: ContentEvent, data: bytes) -> bytes:
        """The encoder's ``data`` for ``event``, with the extra fields it should carry."""
        if not data:
            return data
        reply = self._reply
        if self._format == "openai":
            if isinstance(event, TextDelta) and reply.top_logprobs is not None:
                entry = self._logprob(event.choice, event.text)

                def add_logprobs(_: str, chunk: _Payload) -> None:
                    for choice in chunk.get("choices", ()):
                        choice["logprobs"] = {"content": [entry], "refusal": None}

                return _rewrite(data, add_logprobs)
            if isinstance(event, Usage):
                return _rewrite(data, lambda _, chunk: self._openai_usage(chunk.get("usage")))
            return data
        if isinstance(event, Usage) and reply.stop_sequence is not None:

            def add_stop(name: str, payload: _Payload) -> None:
                if name == "message_delta":
                    payload["delta"]["stop_sequence"] = reply.stop_sequence

            return _rewrite(data, add_stop)
        return data

    def body(self, body: _Payload) -> _Payload:
        """The non-streamed response ``body`` with the extra fields."""
        reply = self._reply
        if self._format == "anthropic":
            return {**body, "stop_sequence": reply.stop_sequence}
        body = {**body, "created": self._created}
        if reply.top_logprobs is not None:
            for choice, planned in zip(body["choices"], reply.choices, strict=True):
                content = [self._logprob(planned.index, piece) for piece in planned.pieces]
                choice["logprobs"] = {"content": content, "refusal": None}
        self._openai_usage(body.get("usage"))
        return body

    def _logprob(self, choice: int, token: str) -> dict[str, Any]:
        position = self._positions.get(choice, 0)
        self._positions[choice] = position + 1
        return token_logprob(token, position, self._reply.top_logprobs or 0)

    def _openai_usage(self, usage: Any) -> None:
        if not isinstance(usage, dict):
            return
        usage["prompt_tokens_details"] = {"cached_tokens": 0, "audio_tokens": 0}
        usage["completion_tokens_details"] = {
            "reasoning_tokens": self._reply.reasoning_tokens,
            "audio_tokens": 0,
            "accepted_prediction_tokens": 0,
            "rejected_prediction_tokens": 0,
        }
