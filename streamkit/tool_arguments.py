"""Tool-call arguments: parsing a complete call's JSON text, and the policy for invalid text.

Pure functions over values, shared by the tool-call fold and by the formats that write a
``tool_use.input`` object back.
"""

from __future__ import annotations

from typing import Any

from streamkit.errors import ToolCallError, truncate
from streamkit.events import ToolCall
from streamkit.exact_json import JSONDecodeError, loads

__all__ = ["parse_arguments", "validate_tool_call"]


def parse_arguments(text: str) -> tuple[bool, Any]:
    """Parse a complete call's JSON arguments: ``(True, value)``, or ``(False, None)`` if invalid.

    Empty (or all-whitespace) text is ``{}``: a tool called without arguments. Parsing is exact
    (``streamkit.exact_json``): an integer beyond 64 bits stays an ``int``.
    """
    if not text.strip():
        return True, {}
    try:
        return True, loads(text)
    except JSONDecodeError:
        return False, None


def validate_tool_call(call: ToolCall) -> ToolCall:
    """Return ``call`` if its arguments parsed, else raise ``ToolCallError``.

    This is the ``invalid="raise"`` policy, for callers that received calls with ``invalid="emit"``.

    Raises:
        ToolCallError: naming the tool and the call id, with the raw text truncated in the message
            and whole in ``.arguments``; chained from the JSON parser's error.
    """
    if call.valid:
        return call
    intro = f"tool call {call.name!r} (id {call.id!r}): arguments are not valid JSON"
    snippet = truncate(call.raw_arguments)
    try:
        loads(call.raw_arguments)
    except JSONDecodeError as exc:
        raise ToolCallError(
            f"{intro} ({exc}): {snippet!r}",
            name=call.name,
            call_id=call.id,
            arguments=call.raw_arguments,
        ) from exc
    raise ToolCallError(  # marked invalid by whoever built it, though the text parses
        f"{intro}: {snippet!r}", name=call.name, call_id=call.id, arguments=call.raw_arguments
    )
