"""What a relay protocol is: a per-response encoder from pipeline items to body bytes.

A relay writes one HTTP response body from one pipeline. Each protocol (``ui-message``, ``text``,
``openai``, ``anthropic``) is a ``RelayEncoder``: pure, bytes out, no I/O, one instance per
response, so the protocols are tested by feeding them events. ``RelayBody`` does the I/O.

Pipeline items are ``StreamEvent`` values, plain ``str`` (what ``operators.text()`` emits: answer
text), or anything else, which an encoder ignores (``ToolCallPreview``, a user's own values).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Literal, Protocol, get_args

from streamkit.errors import APIStatusError

__all__ = ["RelayEncoder", "RelayProtocol", "check_protocol", "short_cause"]

#: The protocols a relay speaks.
#:
#: - ``ui-message``: the Vercel AI SDK's UI message stream, v1 (``useChat``,
#:   ``readUIMessageStream``);
#: - ``text``: plain UTF-8 text, the AI SDK's text stream protocol (``streamProtocol: "text"``);
#: - ``openai``: OpenAI ``chat.completion.chunk`` SSE, ended by ``data: [DONE]``;
#: - ``anthropic``: Anthropic messages stream events.
RelayProtocol = Literal["ui-message", "text", "openai", "anthropic"]


class RelayEncoder(Protocol):
    """Turns one pipeline's items into one response body, in one protocol."""

    @property
    def headers(self) -> Mapping[str, str]:
        """The response headers the protocol needs (content type included)."""
        ...

    def encode(self, item: object) -> bytes:
        """The bytes for ``item``; empty when the protocol has nothing to say for it."""
        ...

    def keep_alive(self) -> bytes:
        """Bytes that keep an idle response open without adding content (may be empty)."""
        ...

    def error(self, error: BaseException) -> bytes:
        """The bytes that end the body after the pipeline failed with ``error``."""
        ...

    def finish(self) -> bytes:
        """The bytes that end the body after the pipeline completed."""
        ...


def check_protocol(name: str) -> RelayProtocol:
    """Return ``name`` as a ``RelayProtocol``.

    Raises:
        ValueError: ``name`` is not one of the protocols.
    """
    valid: tuple[RelayProtocol, ...] = get_args(RelayProtocol)
    for candidate in valid:
        if candidate == name:
            return candidate
    raise ValueError(f"unknown relay protocol {name!r}: expected one of {', '.join(valid)}")


def short_cause(error: BaseException) -> str:
    """A few words on what went wrong, safe to show a browser: the error type, and the status for
    HTTP errors (never the message, which may quote a server's body)."""
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status} {error.error_type or ''}".rstrip()
    return type(error).__name__
