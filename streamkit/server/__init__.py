"""The embedded LLM server: a local OpenAI (chat completions and Responses), Anthropic and Gemini
compatible API for tests and demos.

``EmbeddedServer`` serves deterministic answers (``answer_for``) with tool calls, continuation
and injected faults (``parse_faults`` / ``FaultPlan``); see ``streamkit.server.app``.
"""

from __future__ import annotations

from streamkit.server.app import EmbeddedServer, RecordedRequest, ThreadedServer
from streamkit.server.faults import FAULT_HEADER, FaultPlan, FaultSpecError, parse_faults
from streamkit.server.limits import ServerLimits
from streamkit.server.scenarios import (
    PlannedToolCall,
    Reply,
    answer_for,
    full_answer,
    plan_reply,
    reply_events,
    split_partial,
    tokens,
)

__all__ = [
    "FAULT_HEADER",
    "EmbeddedServer",
    "FaultPlan",
    "FaultSpecError",
    "PlannedToolCall",
    "RecordedRequest",
    "Reply",
    "ServerLimits",
    "ThreadedServer",
    "answer_for",
    "full_answer",
    "parse_faults",
    "plan_reply",
    "reply_events",
    "split_partial",
    "tokens",
]
