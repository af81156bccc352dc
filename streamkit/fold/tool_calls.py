"""Assembling streamed tool-call fragments into complete ``ToolCall`` values: a pure reducer.

Both formats stream a tool call as pieces of JSON text: OpenAI as
``tool_calls[].function.arguments`` fragments keyed by ``index``, Anthropic as ``input_json_delta``
pieces of a ``tool_use`` content block. The decoders turn them into ``ToolCallDelta`` events and
mark the end of each call with ``ToolCallEnd``. This module joins the pieces per call, keyed by
``(choice, index)`` so parallel calls and ``n > 1`` choices stay apart, and parses the JSON once
the call is complete.

A call is complete at, whichever comes first:

- its ``ToolCallEnd``;
- the ``Finish`` of its choice (a finished choice sends no more fragments);
- the end of the stream (a call still open then is as complete as it will ever be).

So no call is ever dropped silently: each one becomes a ``ToolCall``, valid or not. Empty arguments
parse as ``{}`` (Anthropic sends no fragments for a tool that takes no arguments).

``step_tool_calls(state, event) -> (state, outputs)`` and ``flush_tool_calls(state)`` for the end
of the stream are tested without Rx; ``streamkit.operators.assemble_tool_calls`` wraps them as an
operator, and the message fold (``streamkit.fold.message_builder``) reuses them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, TypeAlias

from streamkit.events import (
    Finish,
    Rewind,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
)
from streamkit.exact_json import join_surrogates
from streamkit.fold.partial_json import parse_partial_json
from streamkit.fold.text_pieces import Pieces
from streamkit.fold.versioned_map import VersionedMap
from streamkit.tool_arguments import parse_arguments, validate_tool_call

__all__ = [
    "InvalidArguments",
    "PartialToolCall",
    "ToolCallOutput",
    "ToolCallPreview",
    "ToolCallState",
    "flush_tool_calls",
    "parse_arguments",
    "step_tool_calls",
    "validate_tool_call",
]

#: What to do with a call whose arguments are not valid JSON when it completes: ``raise`` sends
#: ``ToolCallError`` down the pipeline, ``emit`` passes a ``ToolCall`` with ``valid=False``.
InvalidArguments = Literal["raise", "emit"]


@dataclass(frozen=True, slots=True)
class ToolCallPreview:
    """A tool call still being streamed: its arguments so far, parsed as well as they can be.

    ``arguments`` is ``parse_partial_json(raw_arguments)``: open strings, arrays and objects are
    closed, a dangling key and an unfinished number or escape are left out, and it is ``None``
    while nothing is parseable. It only grows as fragments arrive (a number appears once it is
    followed by a delimiter), so a UI can render it as it is.
    """

    index: int
    choice: int
    id: str
    name: str
    arguments: Any
    raw_arguments: str = ""


#: What the reducer emits besides the events it is given.
ToolCallOutput: TypeAlias = ToolCall | ToolCallPreview


@dataclass(frozen=True, slots=True)
class PartialToolCall:
    """One call whose fragments are still arriving.

    Attributes:
        index: the call's ``ToolCallDelta.index``.
        choice: the choice it belongs to.
        id: the call id, from the first fragment that carried one.
        name: the tool name, from the first fragment that carried one.
        received_at: when its latest fragment arrived.
        arguments: (property) the JSON text received so far.
    """

    index: int
    choice: int
    id: str = ""
    name: str = ""
    received_at: float = 0.0
    fragments: Pieces = field(default_factory=lambda: Pieces(""), repr=False)

    @property
    def arguments(self) -> str:
        """The JSON text received so far (surrogate halves sent apart joined again)."""
        return join_surrogates(self.fragments.join())

    def extend(self, delta: ToolCallDelta) -> PartialToolCall:
        """This call with ``delta`` appended; ``id`` and ``name`` keep their first non-empty value.

        Some OpenAI-compatible servers repeat ``id`` and ``name`` on every fragment, so a later
        value never overrides or extends an earlier one. Appending takes constant time, however
        long the arguments grow.
        """
        return replace(
            self,
            id=self.id or delta.id or "",
            name=self.name or delta.name or "",
            fragments=self.fragments.append(delta.arguments),
            received_at=delta.received_at,
        )

    def complete(self, received_at: float) -> ToolCall:
        """The finished call, with its arguments parsed (``valid=False`` when they do not parse)."""
        raw_arguments = self.arguments
        valid, arguments = parse_arguments(raw_arguments)
        return ToolCall(
            id=self.id,
            name=self.name,
            arguments=arguments,
            raw_arguments=raw_arguments,
            index=self.index,
            choice=self.choice,
            valid=valid,
            received_at=received_at,
        )

    def preview(self) -> ToolCallPreview:
        """What is known of the call so far."""
        raw_arguments = self.arguments
        return ToolCallPreview(
            index=self.index,
            choice=self.choice,
            id=self.id,
            name=self.name,
            arguments=parse_partial_json(raw_arguments),
            raw_arguments=raw_arguments,
        )


_Key: TypeAlias = tuple[int, int]  # (choice, index)


@dataclass(frozen=True, slots=True)
class ToolCallState:
    """The reducer's state: the calls still open. Start from ``ToolCallState()``.

    Attributes:
        previews: emit a ``ToolCallPreview`` after every fragment.
        open_calls: the calls whose fragments are still arriving, by ``(choice, index)``.
    """

    previews: bool = False
    open_calls: Mapping[_Key, PartialToolCall] = field(default_factory=VersionedMap)


def step_tool_calls(
    state: ToolCallState, event: StreamEvent
) -> tuple[ToolCallState, tuple[ToolCallOutput, ...]]:
    """Take one event; return the new state and the values to emit after that event.

    - ``ToolCallDelta``: extends (or opens) the call at ``(event.choice, event.index)``; with
      ``state.previews``, outputs its ``ToolCallPreview``.
    - ``ToolCallEnd``: completes that call; outputs its ``ToolCall``. An end for a call that is not
      open (nothing was received for it) outputs nothing.
    - ``Finish``: completes every call of that choice still open, in ``index`` order.
    - ``Rewind``: forgets the open calls; their fragments belong to a discarded answer.
    - anything else: no change.

    The reducer never raises: invalid arguments give a ``ToolCall`` with ``valid=False``; the
    caller applies its ``InvalidArguments`` policy (see ``validate_tool_call``).
    """
    if isinstance(event, ToolCallDelta):
        key = (event.choice, event.index)
        call = state.open_calls.get(key) or PartialToolCall(event.index, event.choice)
        call = call.extend(event)
        state = replace(state, open_calls=_versioned(state.open_calls).set(key, call))
        return state, (call.preview(),) if state.previews else ()
    if isinstance(event, ToolCallEnd):
        return _complete(state, [(event.choice, event.index)], event.received_at)
    if isinstance(event, Finish):
        keys = sorted(key for key in state.open_calls if key[0] == event.choice)
        return _complete(state, keys, event.received_at)
    if isinstance(event, Rewind) and state.open_calls:
        return replace(state, open_calls=VersionedMap()), ()
    return state, ()


def flush_tool_calls(state: ToolCallState) -> tuple[ToolCallState, tuple[ToolCall, ...]]:
    """The stream completed: complete every call still open, by ``(choice, index)``.

    Each keeps the receive time of its last fragment.
    """
    calls = tuple(state.open_calls[key] for key in sorted(state.open_calls))
    completed = tuple(call.complete(call.received_at) for call in calls)
    return replace(state, open_calls=VersionedMap()), completed


def _complete(
    state: ToolCallState, keys: list[_Key], received_at: float
) -> tuple[ToolCallState, tuple[ToolCall, ...]]:
    calls = [state.open_calls[key] for key in keys if key in state.open_calls]
    if not calls:
        return state, ()
    remaining = _versioned(state.open_calls)
    for key in keys:
        remaining = remaining.remove(key)
    return replace(state, open_calls=remaining), tuple(c.complete(received_at) for c in calls)


def _versioned(calls: Mapping[_Key, PartialToolCall]) -> VersionedMap[_Key, PartialToolCall]:
    """``calls`` as a map changed in O(1) a step (a state may be built with a plain dict)."""
    return calls if isinstance(calls, VersionedMap) else VersionedMap(calls)
