"""Plain text: the answer's text as UTF-8, the AI SDK's text stream protocol.

For clients that want nothing but the words (``useChat`` with ``TextStreamChatTransport``,
``useCompletion`` with ``streamProtocol: "text"``, ``curl``). Only choice 0's text (and refusal)
is written; everything else is dropped. The protocol has no way to report an error or a rewind, so
a failure simply ends the body: the text stops where the stream stopped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final

from streamkit.events import RefusalDelta, TextDelta

__all__ = ["TEXT_HEADERS", "PlainTextEncoder"]

#: The headers of a plain text stream response.
TEXT_HEADERS: Final[Mapping[str, str]] = {
    "content-type": "text/plain; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}


class PlainTextEncoder:
    """Write choice 0's text as UTF-8; see ``RelayEncoder``."""

    __slots__ = ()

    headers: Mapping[str, str] = TEXT_HEADERS

    def encode(self, item: object) -> bytes:
        if isinstance(item, str):
            return item.encode()
        if isinstance(item, TextDelta | RefusalDelta) and item.choice == 0:
            return item.text.encode()
        return b""

    def keep_alive(self) -> bytes:
        return b""  # any byte would be text

    def error(self, error: BaseException) -> bytes:
        return b""

    def finish(self) -> bytes:
        return b""
