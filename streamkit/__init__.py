"""streamkit: streamed LLM responses (OpenAI and Anthropic SSE) as ReactiveX observables.

The names most programs need are here::

    import streamkit as sk
    from streamkit import operators as sk_ops

    async with sk.open_stream(url, body, format="anthropic") as stream:
        async for text in stream.text_stream:      # the live text ...
            print(text, end="")
    message = await stream                         # ... and the final message: one request

    for text in sk.open_stream_sync(url, body).text_stream:   # the same without asyncio
        print(text, end="")

``sk.stream_chat`` gives the plain cold observable for Rx pipelines.

Operators live in ``streamkit.operators``, sinks in ``streamkit.sinks``, the embedded LLM server
in ``streamkit.server``; the event model in ``streamkit.events``, errors in ``streamkit.errors``.
"""

from __future__ import annotations

import importlib.metadata as _metadata

from streamkit import operators as operators
from streamkit import record as record
from streamkit import server as server
from streamkit import sinks as sinks

# ``sk.batch`` is the function; the package's other names are imported with
# ``from streamkit.batch import RateLimiter`` (``import streamkit.batch as b`` gives the function).
from streamkit.batch import batch
from streamkit.bridge import aiter_events, collect
from streamkit.client import ChatEndpoint, RepeatedRequestWarning, open_stream, stream_chat
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
from streamkit.extras import DISTRIBUTION as _DISTRIBUTION
from streamkit.fold.message_builder import build_message
from streamkit.message import Message
from streamkit.operators.final_message import to_message
from streamkit.operators.retry import RetryPolicy
from streamkit.server import EmbeddedServer
from streamkit.sinks import collect_message, print_stream
from streamkit.stream_handle import ChatStream, StreamHandle
from streamkit.sync import SyncChatStream, open_stream_sync
from streamkit.transport import Timeouts

try:
    __version__ = _metadata.version(_DISTRIBUTION)
except _metadata.PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0"

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ChatEndpoint",
    "ChatStream",
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
    "RepeatedRequestWarning",
    "RetryExhaustedError",
    "RetryPolicy",
    "Retrying",
    "Rewind",
    "ServerError",
    "StreamEvent",
    "StreamHandle",
    "StreamStart",
    "StreamTimeoutError",
    "StreamkitError",
    "SyncChatStream",
    "TextDelta",
    "Timeouts",
    "ToolCall",
    "ToolCallDelta",
    "ToolCallEnd",
    "ToolCallError",
    "TransportError",
    "Usage",
    "aiter_events",
    "batch",
    "build_message",
    "collect",
    "collect_message",
    "open_stream",
    "open_stream_sync",
    "print_stream",
    "sse_source",
    "stream_chat",
    "to_message",
]
