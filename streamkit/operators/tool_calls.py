"""Assemble streamed tool-call fragments into complete ``ToolCall`` values.

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

The logic is a pure reducer, ``step_tool_calls(state, event) -> (state, outputs)`` with
``flush_tool_calls(state)`` for the end of the stream, tested without Rx; ``assemble_tool_calls``
wraps it as an operator, and ``streamkit.message`` reuses it to build the final message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Final, Literal, TypeAlias, overload

import orjson
from reactivex import Observable, abc
from reactivex.disposable import SingleAssignmentDisposable

from streamkit._pieces import Pieces
from streamkit.errors import ToolCallError, truncate
from streamkit.events import (
    Finish,
    Rewind,
    StreamEvent,
    ToolCall,
    ToolCallDelta,
    ToolCallEnd,
)
from streamkit.operators._types import Operator

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
        """The JSON text received so far."""
        return self.fragments.join()

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
    open_calls: Mapping[_Key, PartialToolCall] = field(default_factory=dict)


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
        state = replace(state, open_calls={**state.open_calls, key: call})
        return state, (call.preview(),) if state.previews else ()
    if isinstance(event, ToolCallEnd):
        return _complete(state, [(event.choice, event.index)], event.received_at)
    if isinstance(event, Finish):
        keys = sorted(key for key in state.open_calls if key[0] == event.choice)
        return _complete(state, keys, event.received_at)
    if isinstance(event, Rewind) and state.open_calls:
        return replace(state, open_calls={}), ()
    return state, ()


def flush_tool_calls(state: ToolCallState) -> tuple[ToolCallState, tuple[ToolCall, ...]]:
    """The stream completed: complete every call still open, by ``(choice, index)``.

    Each keeps the receive time of its last fragment.
    """
    calls = tuple(state.open_calls[key] for key in sorted(state.open_calls))
    return replace(state, open_calls={}), tuple(call.complete(call.received_at) for call in calls)


def _complete(
    state: ToolCallState, keys: list[_Key], received_at: float
) -> tuple[ToolCallState, tuple[ToolCall, ...]]:
    calls = [state.open_calls[key] for key in keys if key in state.open_calls]
    if not calls:
        return state, ()
    remaining = {key: call for key, call in state.open_calls.items() if key not in keys}
    return replace(state, open_calls=remaining), tuple(c.complete(received_at) for c in calls)


def parse_arguments(text: str) -> tuple[bool, Any]:
    """Parse a complete call's JSON arguments: ``(True, value)``, or ``(False, None)`` if invalid.

    Empty (or all-whitespace) text is ``{}``: a tool called without arguments.
    """
    if not text.strip():
        return True, {}
    try:
        return True, orjson.loads(text)
    except orjson.JSONDecodeError:
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
        orjson.loads(call.raw_arguments)
    except orjson.JSONDecodeError as exc:
        raise ToolCallError(
            f"{intro} ({exc}): {snippet!r}",
            name=call.name,
            call_id=call.id,
            arguments=call.raw_arguments,
        ) from exc
    raise ToolCallError(  # marked invalid by whoever built it, though the text parses
        f"{intro}: {snippet!r}", name=call.name, call_id=call.id, arguments=call.raw_arguments
    )


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

    def operator(source: Observable[StreamEvent]) -> Observable[StreamEvent | ToolCallPreview]:
        def subscribe(
            observer: abc.ObserverBase[StreamEvent | ToolCallPreview],
            scheduler: abc.SchedulerBase | None = None,
        ) -> abc.DisposableBase:
            state = ToolCallState(previews=previews)
            stopped = False
            subscription = SingleAssignmentDisposable()

            def fail(error: Exception) -> None:
                nonlocal stopped
                stopped = True
                observer.on_error(error)
                subscription.dispose()

            def emit(outputs: tuple[ToolCallOutput, ...]) -> bool:
                for output in outputs:
                    if invalid == "raise" and isinstance(output, ToolCall):
                        try:
                            validate_tool_call(output)
                        except ToolCallError as exc:
                            fail(exc)
                            return False
                    observer.on_next(output)
                return True

            def on_next(event: StreamEvent) -> None:
                nonlocal state
                if stopped:
                    return
                try:
                    state, outputs = step_tool_calls(state, event)
                except Exception as exc:  # a bug in the reducer must still end the stream
                    fail(exc)
                    return
                observer.on_next(event)
                emit(outputs)

            def on_error(error: Exception) -> None:
                if not stopped:
                    fail(error)

            def on_completed() -> None:
                nonlocal state
                if stopped:
                    return
                state, calls = flush_tool_calls(state)
                if emit(calls):
                    observer.on_completed()

            subscription.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=scheduler
            )
            return subscription

        return Observable(subscribe)

    return operator


# --- Best-effort parsing of a JSON prefix -------------------------------------------------------

_WHITESPACE: Final = re.compile(r"[ \t\n\r]*+")
# A string whose closing quote may be missing. Each unit is one character or one whole escape; a
# surrogate escape counts only as a complete high-low pair, so the match stops before an escape
# that is cut short (``\``, ``\u00``, ``\ud83d`` without its low half).
_STRING: Final = re.compile(
    r'"(?:[^"\\\x00-\x1f]++'
    r'|\\["\\/bfnrt]'
    r"|\\u(?![dD][89a-fA-F])[0-9a-fA-F]{4}"
    r"|\\u[dD][89abAB][0-9a-fA-F]{2}\\u[dD][c-fC-F][0-9a-fA-F]{2}"
    r')*+(")?'
)
_NUMBER_CHARS: Final = re.compile(r"[-+0-9.eE]+")
_NUMBER: Final = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_LITERALS: Final[Mapping[str, tuple[str, Any]]] = {
    "t": ("true", True),
    "f": ("false", False),
    "n": ("null", None),
}
_NOTHING: Final = object()  # no value could be read here

# What the parser expects next.
_VALUE: Final = 0  # a value (after ``:`` or ``,`` in an array, or at the top)
_VALUE_OR_CLOSE: Final = 1  # a value or ``]`` (just after ``[``)
_KEY: Final = 2  # a key (after ``,`` in an object)
_KEY_OR_CLOSE: Final = 3  # a key or ``}`` (just after ``{``)
_AFTER_VALUE: Final = 4  # ``,`` or the closing bracket


def parse_partial_json(text: str) -> Any:
    """Parse the beginning of a JSON text as far as it goes, closing what is still open.

    Meant for tool-call arguments that are still streaming: ``{"city": "Par`` gives
    ``{"city": "Par"}``. The rules keep every result a prefix of the final value, so a display
    never shows something that later changes into something else:

    - an open string is closed after its last complete character; an escape cut short (``\\``,
      ``\\u00``, or the first half of a surrogate pair such as ``\\ud83d``) is left out;
    - open arrays and objects are closed; a key without a value (``{"a": 1, "b"``, ``{"b":``) is
      left out, and so is a trailing comma;
    - a number at the very end is left out, since more digits may follow (``[1, 2`` gives
      ``[1]``); so is an unfinished ``true``, ``false`` or ``null``.

    Parsing stops at the first character that cannot continue valid JSON, and what was read
    before it is returned, as at the end of the text. Nesting depth is not limited by Python's
    recursion limit: the parser keeps its own stack.

    Args:
        text: the JSON text received so far.

    Returns:
        The value read so far, or ``None`` if no value could be read (``""``, ``"tr"``, ``"12"``).
    """
    root: Any = None
    stack: list[Any] = []  # the open arrays and objects, innermost last
    key = ""  # the key whose value comes next, in the innermost object
    expect = _VALUE
    end = len(text)
    pos = 0

    def attach(value: Any) -> None:
        nonlocal root
        if not stack:
            root = value
        elif isinstance(stack[-1], list):
            stack[-1].append(value)
        else:
            stack[-1][key] = value

    while True:
        pos = _skip_whitespace(text, pos)
        if pos >= end:
            break
        char = text[pos]
        if expect == _AFTER_VALUE:
            if not stack:
                break  # a complete value; whatever follows is not ours to read
            in_array = isinstance(stack[-1], list)
            if char == ",":
                expect = _VALUE if in_array else _KEY
            elif char == ("]" if in_array else "}"):
                stack.pop()
            else:
                break
            pos += 1
        elif expect in (_KEY, _KEY_OR_CLOSE):
            if char == "}" and expect == _KEY_OR_CLOSE:
                stack.pop()
                expect = _AFTER_VALUE
                pos += 1
                continue
            if char != '"':
                break
            name, pos, complete = _string(text, pos)
            if not complete:
                break
            pos = _skip_whitespace(text, pos)
            if pos >= end or text[pos] != ":":
                break
            key = name
            expect = _VALUE
            pos += 1
        else:
            if char == "]" and expect == _VALUE_OR_CLOSE:
                stack.pop()
                expect = _AFTER_VALUE
                pos += 1
            elif char in "[{":
                container: Any = [] if char == "[" else {}
                attach(container)
                stack.append(container)
                expect = _VALUE_OR_CLOSE if char == "[" else _KEY_OR_CLOSE
                pos += 1
            else:
                value, pos, complete = _scalar(text, pos)
                if value is _NOTHING:
                    break
                attach(value)
                if not complete:
                    break
                expect = _AFTER_VALUE
    return root


def _skip_whitespace(text: str, pos: int) -> int:
    match = _WHITESPACE.match(text, pos)
    return match.end() if match else pos


def _string(text: str, pos: int) -> tuple[Any, int, bool]:
    """Read the string at ``pos``: (value, end, whether its closing quote was there)."""
    match = _STRING.match(text, pos)
    if match is None:
        return _NOTHING, pos, False
    complete = match.group(1) is not None
    literal = match.group() if complete else match.group() + '"'
    try:
        return orjson.loads(literal), match.end(), complete
    except orjson.JSONDecodeError:  # not expected: the pattern admits only valid units
        return _NOTHING, pos, False


def _scalar(text: str, pos: int) -> tuple[Any, int, bool]:
    """Read the string, number or literal at ``pos``: (value or _NOTHING, end, complete)."""
    char = text[pos]
    if char == '"':
        return _string(text, pos)
    if char in _LITERALS:
        word, value = _LITERALS[char]
        if text.startswith(word, pos):
            return value, pos + len(word), True
        return _NOTHING, pos, False
    match = _NUMBER_CHARS.match(text, pos)
    if match is None or match.end() == len(text) or not _NUMBER.fullmatch(match.group()):
        return _NOTHING, pos, False
    try:
        return orjson.loads(match.group()), match.end(), True
    except orjson.JSONDecodeError:  # e.g. 1e999, out of a double's range
        return _NOTHING, pos, False
