"""The providers' own wire formats as relay protocols: OpenAI chunks and Anthropic events.

With these a client built for OpenAI or Anthropic (their SDKs, any OpenAI-compatible tool) can
sit behind a streamkit pipeline: retries, resume and limits happen in streamkit and the client
sees one clean stream. The bytes come from the formats' own encoders (``streamkit.formats``), the
same ones the embedded server writes, so there is one definition of each format.

- ``Retrying`` becomes an SSE comment, which clients ignore: a continued answer just goes on.
- ``Rewind`` cannot be said in either format (a client cannot take text back), so the body ends
  with the format's error event; relay with ``resume="continue"`` (the default) to avoid it.
- A failure ends the body with the format's error event, which the SDKs raise as an API error.
- Plain ``str`` items are relayed as text of choice 0; reasoning has no OpenAI form and is
  dropped there.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Final, get_args

from streamkit.errors import APIStatusError
from streamkit.events import ContentEvent, Retrying, Rewind, TextDelta
from streamkit.formats import FormatName, StreamEncoder, WireFormat, get_format
from streamkit.sse import encode_comment

__all__ = ["PROVIDER_HEADERS", "ProviderEncoder"]

#: The headers of a provider-format stream response.
PROVIDER_HEADERS: Final[Mapping[str, str]] = {
    "content-type": "text/event-stream; charset=utf-8",
    "cache-control": "no-cache",
    "x-accel-buffering": "no",
}
_CONTENT_TYPES: Final = get_args(ContentEvent)


class ProviderEncoder:
    """Write pipeline items in a provider's wire format; see ``RelayEncoder``.

    Args:
        format: ``"openai"`` or ``"anthropic"``.
    """

    __slots__ = ("_encoder", "_ended", "_format")

    headers: Mapping[str, str] = PROVIDER_HEADERS

    def __init__(self, format: FormatName) -> None:
        self._format: WireFormat = get_format(format)
        self._encoder: StreamEncoder = self._format.encoder()
        self._ended = False

    def encode(self, item: object) -> bytes:
        if self._ended:
            return b""
        if isinstance(item, str):
            return self._encoder.encode(TextDelta(item))
        if isinstance(item, _CONTENT_TYPES):
            return self._encoder.encode(item)
        if isinstance(item, Retrying):
            return encode_comment(f"streamkit: retrying, attempt {item.attempt}")
        if isinstance(item, Rewind):
            self._ended = True
            message = "the retried answer differs from what was already sent"
            return self._format.error_event("api_error", message)
        return b""  # assembled ToolCall values: their fragments were relayed already

    def keep_alive(self) -> bytes:
        return b"" if self._ended else self._format.keep_alive()

    def error(self, error: BaseException) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        error_type = "api_error"
        if isinstance(error, APIStatusError) and error.error_type:
            error_type = error.error_type
        return self._format.error_event(error_type, f"upstream stream failed: {error}")

    def finish(self) -> bytes:
        if self._ended:
            return b""
        self._ended = True
        return self._encoder.finish()
