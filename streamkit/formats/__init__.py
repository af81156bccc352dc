"""Wire formats: what each provider's streaming API sends, and how to build its requests.

A ``WireFormat`` bundles everything format-specific, so the source, the retry layer and the
embedded server share one definition of each format: the client decodes with ``decoder()`` what the
server writes with ``encoder()``. ``get_format(name)`` returns them: ``openai`` (chat
completions), ``anthropic`` (messages), ``responses`` (OpenAI Responses) and ``gemini`` (Google
Gemini ``streamGenerateContent``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal, Protocol, get_args

from streamkit.errors import APIStatusError
from streamkit.events import ContentEvent
from streamkit.message import Message
from streamkit.sse import SSEEvent

__all__ = ["FormatName", "StreamDecoder", "StreamEncoder", "WireFormat", "get_format"]

FormatName = Literal["openai", "anthropic", "responses", "gemini"]


class StreamDecoder(Protocol):
    """Turns one stream's SSE events into content events; one instance per stream."""

    @property
    def finished(self) -> bool:
        """True once the format's end marker was decoded (``[DONE]``, ``message_stop``,
        ``response.completed``, Gemini's last ``finishReason``)."""
        ...

    def decode(self, sse: SSEEvent, received_at: float = 0.0) -> list[ContentEvent]:
        """Decode one SSE event.

        Raises:
            ProtocolError: malformed JSON or an event the format does not allow here.
            APIStatusError: the stream carried an error event (``in_stream`` is True).
        """
        ...


class StreamEncoder(Protocol):
    """Writes content events as the format's SSE bytes; one instance per stream."""

    def encode(self, event: ContentEvent) -> bytes:
        """SSE bytes for ``event``; may be empty when the format folds it into a later event."""
        ...

    def finish(self) -> bytes:
        """The bytes that end the stream (anything held back, then the end marker)."""
        ...


class WireFormat(Protocol):
    """Everything specific to one provider's streaming API."""

    @property
    def name(self) -> FormatName: ...

    @property
    def path(self) -> str:
        """The endpoint's path, e.g. ``/v1/messages``; a template where the path names the model
        (Gemini: ``/v1beta/models/{model}:streamGenerateContent``)."""
        ...

    def url_path(self, body: Mapping[str, Any]) -> str:
        """The path (and query) to send ``body`` to: ``path``, filled in from the body where the
        API puts part of the request in the URL (Gemini's model).

        Raises:
            ValueError: the body lacks what the path needs.
        """
        ...

    def headers(self, api_key: str | None) -> dict[str, str]:
        """Request headers, authentication included."""
        ...

    def prompt_body(
        self, prompt: str, *, model: str, system: str | None, max_tokens: int
    ) -> dict[str, Any]:
        """The request body for one user ``prompt`` (and an optional ``system`` prompt)."""
        ...

    def stream_body(self, body: Mapping[str, Any]) -> dict[str, Any]:
        """A copy of ``body`` that asks for a stream."""
        ...

    def continuation_body(self, body: Mapping[str, Any], partial: str) -> dict[str, Any]:
        """A request that continues an answer whose first part, ``partial``, was received."""
        ...

    def continuation_prefix(self, partial: str) -> str:
        """How much of ``partial`` the continuation request carries; the model may say the rest
        (trailing whitespace an Anthropic prefill must leave out) again."""
        ...

    def decoder(self) -> StreamDecoder: ...

    def encoder(self) -> StreamEncoder: ...

    def keep_alive(self) -> bytes:
        """Bytes that keep an idle stream alive without adding content."""
        ...

    def error_event(self, error_type: str, message: str) -> bytes:
        """An error event inside a stream, as the provider sends it."""
        ...

    def error_body(self, status: int, error_type: str, message: str) -> dict[str, Any]:
        """The JSON body of an HTTP error response."""
        ...

    def error_from_response(
        self, status: int, body: bytes, headers: Mapping[str, str]
    ) -> APIStatusError:
        """The typed error for a non-2xx response."""
        ...

    def response_body(self, message: Message) -> dict[str, Any]:
        """The non-streaming response body for a complete message, as the API would send it."""
        ...


def get_format(name: str) -> WireFormat:
    """Return the wire format called ``name``: ``openai``, ``anthropic``, ``responses``, ``gemini``.

    Raises:
        ValueError: no format has that name.
    """
    from streamkit.formats import anthropic, gemini, openai, responses

    formats: dict[str, WireFormat] = {
        "openai": openai.FORMAT,
        "anthropic": anthropic.FORMAT,
        "responses": responses.FORMAT,
        "gemini": gemini.FORMAT,
    }
    try:
        return formats[name]
    except KeyError:
        valid = ", ".join(get_args(FormatName))
        raise ValueError(f"unknown format {name!r}: expected one of {valid}") from None
