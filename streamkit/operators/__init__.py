"""Composable operators over streamkit events, for ``Observable.pipe``.

Each is a plain callable ``Observable -> Observable`` in the style of ``reactivex.operators``, and
works on the normalized events, so a pipeline is the same for both wire formats::

    from streamkit import operators as sk_ops

    events.pipe(sk_ops.retry_with_backoff(), sk_ops.assemble_tool_calls(), sk_ops.buffer_text())
"""

from __future__ import annotations

from streamkit.operators.buffer import buffer_events, buffer_text
from streamkit.operators.final_message import to_message
from streamkit.operators.progress import (
    ProgressMeter,
    StreamStats,
    estimate_tokens,
    format_stats,
    measure_progress,
)
from streamkit.operators.retry import ResumeMode, RetryPolicy, is_retryable, retry_with_backoff
from streamkit.operators.text import smooth, text
from streamkit.operators.tool_calls import (
    ToolCallPreview,
    assemble_tool_calls,
    parse_partial_json,
)

__all__ = [
    "ProgressMeter",
    "ResumeMode",
    "RetryPolicy",
    "StreamStats",
    "ToolCallPreview",
    "assemble_tool_calls",
    "buffer_events",
    "buffer_text",
    "estimate_tokens",
    "format_stats",
    "is_retryable",
    "measure_progress",
    "parse_partial_json",
    "retry_with_backoff",
    "smooth",
    "text",
    "to_message",
]
