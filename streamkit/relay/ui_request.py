"""Read the request ``useChat`` sends and turn it into a provider's chat request body.

``useChat`` (``DefaultChatTransport``) POSTs ``{"id", "messages", "trigger", "messageId"}``, where
each message is a UI message: ``{"id", "role", "parts": [{"type": "text", "text": ...}, ...]}``.
A provider wants ``messages`` with ``role`` and ``content``. Text parts are joined per message;
other parts (reasoning, tool calls, files, step markers) are left out, and a message left with no
text is dropped. System messages go where the format wants them (Anthropic: ``system``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from streamkit.formats import FormatName

__all__ = ["chat_request"]

_ROLES = ("system", "user", "assistant")


def chat_request(
    ui_body: Mapping[str, Any],
    *,
    format: FormatName,
    model: str,
    max_tokens: int = 1024,
) -> dict[str, Any]:
    """The provider request body for the conversation in a ``useChat`` request body.

    ``stream`` is not set: the source adds it. Messages in the old ``content`` shape (AI SDK 4)
    are accepted too.

    Args:
        ui_body: the parsed JSON ``useChat`` sent.
        format: the upstream's wire format.
        model: the upstream model.
        max_tokens: the answer's token limit.

    Raises:
        ValueError: the body has no ``messages`` list, a message is not an object with a known
            ``role``, or no message has any text.
    """
    raw_messages = ui_body.get("messages") if isinstance(ui_body, Mapping) else None
    if not isinstance(raw_messages, list):
        raise ValueError("the body must be a JSON object with a 'messages' list")
    system: list[str] = []
    messages: list[dict[str, str]] = []
    for number, message in enumerate(raw_messages):
        if not isinstance(message, Mapping) or message.get("role") not in _ROLES:
            raise ValueError(f"messages.{number}: expected an object with role {_ROLES}")
        text = _text(message)
        if not text:
            continue
        if message["role"] == "system":
            system.append(text)
        else:
            messages.append({"role": message["role"], "content": text})
    if not messages:
        raise ValueError("the conversation has no user or assistant text")
    body: dict[str, Any] = {"model": model, "max_tokens": max_tokens}
    if format == "anthropic":
        if system:
            body["system"] = "\n\n".join(system)
    else:
        messages = [{"role": "system", "content": text} for text in system] + messages
        body["stream_options"] = {"include_usage": True}
    body["messages"] = messages
    return body


def _text(message: Mapping[str, Any]) -> str:
    parts = message.get("parts")
    if isinstance(parts, list):
        return "".join(
            part["text"]
            for part in parts
            if isinstance(part, Mapping)
            and part.get("type") == "text"
            and isinstance(part.get("text"), str)
        )
    content = message.get("content")
    return content if isinstance(content, str) else ""
