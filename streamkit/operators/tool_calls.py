"""``assemble_tool_calls``: complete ``ToolCall`` values after the event that ends each call.

The assembly itself is the pure reducer in ``streamkit.fold.tool_calls``; this module wraps it
as an operator. The reducer's names are re-exported here, where earlier versions defined them.
"""

from __future__ import annotations

from typing import Literal, overload

from streamkit.events import StreamEvent, ToolCall
from streamkit.fold.partial_json import parse_partial_json
from streamkit.fold.tool_calls import (
    InvalidArguments,
    PartialToolCall,
    ToolCallOutput,
    ToolCallPreview,
    ToolCallState,
    flush_tool_calls,
    parse_arguments,
    step_tool_calls,
    validate_tool_call,
)
from streamkit.operators.base import Emit, Operator, check_event, stateful_operator

__all__ = [
    "InvalidArguments",
    "PartialToolCall",
    "ToolCallOutput",
    "ToolCallPreview",
    "ToolCallState",
    "assemble_tool_calls",
    "flush_tool_calls",
    "parse_arguments",
    "parse_partial_json",
    "step_tool_calls",
    "validate_tool_call",
]


@overload
def assemble_tool_calls(
    *, invalid: InvalidArguments = "raise", previews: Literal[False] = False
) -> Operator[StreamEvent, StreamEvent]: ...


@overload
def assemble_tool_calls(
    *, invalid: InvalidArguments = "raise", previews: bool
) -> Operator[StreamEvent, StreamEvent | ToolCallPreview]: ...


def assemble_tool_calls(
    *, invalid: InvalidArguments = "raise", previews: bool = False
) -> Operator[StreamEvent, StreamEvent] | Operator[StreamEvent, StreamEvent | ToolCallPreview]:
    """Add a ``ToolCall`` after the event that completes each streamed tool call.

    Every event passes through unchanged and in order; each ``ToolCall`` follows the
    ``ToolCallEnd`` or ``Finish`` that completed it, and calls still open when the source completes
    are emitted, in ``(choice, index)`` order, just before the completion. Use it when you act on
    whole calls (run the tool, show its arguments) rather than on fragments.

    When the source fails, the calls still open are not emitted: they are cut short, and the error
    that follows says why. A ``Rewind`` discards the open calls (calls already emitted stay
    emitted; the retry layer holds fragments back until a call completes, so it never rewinds
    one). State is made per subscription; disposing the subscription disposes the source's.

    Args:
        invalid: ``raise``: when a call's arguments are not valid JSON, send ``ToolCallError`` (its
            ``name``, ``call_id`` and whole ``arguments`` text as attributes) instead of that
            call, after the event that completed it and any valid calls completed before it, and
            unsubscribe from the source. ``emit``: pass ``ToolCall(valid=False, arguments=None)``.
        previews: also emit a ``ToolCallPreview`` after every ``ToolCallDelta``: the call's
            arguments so far, parsed best-effort by ``parse_partial_json``. Each preview parses all
            the text received so far, so the cost grows with the square of the arguments' length.

    Returns:
        An operator from events to the same events plus ``ToolCall`` values (and previews).

    Raises:
        ValueError: ``invalid`` is neither ``raise`` nor ``emit``.

    Example:
        >>> calls = events.pipe(  # doctest: +SKIP
        ...     ops.assemble_tool_calls(),
        ...     reactivex.operators.filter(lambda e: isinstance(e, sk.ToolCall)),
        ... )

    Marble (``d`` a ToolCallDelta, ``e`` its ToolCallEnd, ``c`` the ToolCall)::

        source:  -d-d-d-e---|
        result:  -d-d-d-(ec)|
    """
    if invalid not in ("raise", "emit"):
        raise ValueError(f"invalid must be 'raise' or 'emit', got {invalid!r}")

    def emit_all(
        outputs: tuple[ToolCallOutput, ...], emit: Emit[StreamEvent | ToolCallPreview]
    ) -> None:
        for output in outputs:
            if invalid == "raise" and isinstance(output, ToolCall):
                validate_tool_call(output)  # raises ToolCallError: the stream ends with it
            emit(output)

    def step(
        state: ToolCallState, event: StreamEvent, emit: Emit[StreamEvent | ToolCallPreview]
    ) -> ToolCallState:
        check_event(event, "assemble_tool_calls()")  # a foreign item ends the stream
        state, outputs = step_tool_calls(state, event)
        emit(event)
        emit_all(outputs, emit)
        return state

    def flush(state: ToolCallState, emit: Emit[StreamEvent | ToolCallPreview]) -> None:
        emit_all(flush_tool_calls(state)[1], emit)

    operator: Operator[StreamEvent, StreamEvent | ToolCallPreview] = stateful_operator(
        lambda: ToolCallState(previews=previews), step, flush=flush
    )
    return operator
