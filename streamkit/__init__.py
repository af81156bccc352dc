"""streamkit: streamed LLM responses (OpenAI and Anthropic SSE) as ReactiveX observables.

The names most programs need are here::

    import streamkit as sk
    from streamkit import operators as sk_ops

    events = sk.stream_chat(url, body, format="anthropic", retry=sk.RetryPolicy())
    message = await sk.collect_message(events)

Operators live in ``streamkit.operators``, sinks in ``streamkit.sinks``, the embedded LLM server
in ``streamkit.server``; the event model in ``streamkit.events``, errors in ``streamkit.errors``.
"""

from __future__ import annotations

import importlib.metadata as _metadata

from streamkit import operators as operators
from streamkit import record as record
from streamkit import server as server
from streamkit import sinks as sinks
from streamkit.bridge import aiter_events, collect
from streamkit.client import ChatEndpoint, stream_chat
from streamkit.errors import (
    APIStatusError,
    AuthenticationError,
    ConnectionLostError,
    MalformedEventError,
    ProtocolError,
    RateLimitError,
    RetryExhaustedError,
    ServerError,
    StreamkitError,
    StreamTimeoutError,
    ToolCallError,
    TransportError,
)
from streamkit.event_source import ReconnectPolicy, sse_source
from streamkit.events import (
    Finish,
    ReasoningDelta,
    RefusalDelta,
    Retrying,
    Rewind,
    StreamEvent,
    StreamStart,
    TextDelta,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
    Usage,
)
from streamkit.fold.message_builder import build_message
from streamkit.message import Message
from streamkit.operators.final_message import to_message
from streamkit.operators.retry import RetryPolicy
from streamkit.server import EmbeddedServer
from streamkit.sinks import collect_message, print_stream
from streamkit.transport import Timeouts

try:
    __version__ = _metadata.version("streamkit")
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ChatEndpoint",
    "ConnectionLostError",
    "EmbeddedServer",
    "Finish",
    "MalformedEventError",
    "Message",
    "ProtocolError",
    "RateLimitError",
    "ReasoningDelta",
    "ReconnectPolicy",
    "RefusalDelta",
    "RetryExhaustedError",
    "RetryPolicy",
    "Retrying",
    "Rewind",
    "ServerError",
    "StreamEvent",
    "StreamStart",
    "StreamTimeoutError",
    "StreamkitError",
    "TextDelta",
    "Timeouts",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallError",
    "TransportError",
    "Usage",
    "aiter_events",
    "build_message",
    "collect",
    "collect_message",
    "print_stream",
    "sse_source",
    "stream_chat",
    "to_message",
]
