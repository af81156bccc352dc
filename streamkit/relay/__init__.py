"""Relay a processed stream to web clients: browsers, the AI SDK's ``useChat``, OpenAI and
Anthropic clients.

The core is framework-neutral: ``relay_body(events, protocol=...)`` is an async iterator of the
response body's bytes with the ``headers`` to send. ``relay_response`` serves it from aiohttp;
``streamkit.relay.asgi.relay_streaming_response`` from Starlette or FastAPI (the ``asgi`` extra).
``chat_request`` reads the body ``useChat`` sends. The protocols' encoders are pure and live in
``ui_message``, ``plain_text`` and ``provider``.

This is an edge layer: it imports the event model, the formats' encoders and the bridge, and
nothing below imports it.
"""

from __future__ import annotations

from streamkit.relay.aiohttp_response import relay_response
from streamkit.relay.body import DEFAULT_MAX_BUFFERED_BYTES, RelayBody, make_encoder, relay_body
from streamkit.relay.protocol import RelayEncoder, RelayProtocol, short_cause
from streamkit.relay.ui_request import chat_request

__all__ = [
    "DEFAULT_MAX_BUFFERED_BYTES",
    "RelayBody",
    "RelayEncoder",
    "RelayProtocol",
    "chat_request",
    "make_encoder",
    "relay_body",
    "relay_response",
    "short_cause",
]
