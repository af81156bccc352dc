"""Folding a stream's events into the final ``Message``: a pure reducer.

``accumulate(state, event) -> state`` over a ``MessageBuilder``, whose ``build()`` gives the
``Message``; ``build_message(events)`` folds a whole sequence (a recording, a list). Tool calls are
assembled by the reducer ``assemble_tool_calls`` uses (``streamkit.fold.tool_calls``), so both
agree on every call. The operator form is ``streamkit.operators.to_message``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Literal, TypeAlias

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
from streamkit.fold.text_pieces import Pieces
from streamkit.fold.tool_calls import (
    InvalidArguments,
    ToolCallPreview,
    ToolCallState,
    flush_tool_calls,
    step_tool_calls,
)
from streamkit.message import Choice, Message, ReasoningBlock
from streamkit.tool_arguments import validate_tool_call

__all__ = ["MessageBuilder", "accumulate", "build_message"]


#: Where a streamed text goes: a choice's ``text``, ``reasoning`` or ``refusal``, or the text or
#: signature of one of its reasoning blocks.
_Field: TypeAlias = Literal["text", "reasoning", "refusal", "block text", "block signature"]
#: ``(field, choice index, reasoning block index or None)``.
_TextKey: TypeAlias = tuple[_Field, int, int | None]


@dataclass(frozen=True, slots=True)
class MessageBuilder:
    """A message being folded from events: the reducer's state. Start from ``MessageBuilder()``.

    A builder is never changed, so one can be the seed of any number of folds. Building the
    message (``build()``, ``message``) takes time in proportion to its length; folding an event
    does not.

    Attributes:
        invalid: what to do with a tool call whose arguments are not valid JSON: ``raise``
            ``ToolCallError`` from ``accumulate``/``build``, or ``emit``: keep it, with
            ``valid=False``.
        tool_calls: the tool-call reducer's state (the calls still open).
    """

    invalid: InvalidArguments = "raise"
    tool_calls: ToolCallState = field(default_factory=ToolCallState)
    # The message so far with every streamed text left empty; the texts are kept apart.
    _outline: Message = field(default_factory=lambda: Message(id="", model=""))
    _texts: Mapping[_TextKey, Pieces] = field(default_factory=dict)

    @property
    def message(self) -> Message:
        """The message so far, without the tool calls still open."""
        return _fill_texts(self._outline, self._texts)

    def build(self) -> Message:
        """The complete message: calls still open are completed, as at the end of a stream.

        Raises:
            ToolCallError: with ``invalid="raise"``, a call completed here has invalid arguments.
        """
        _, calls = flush_tool_calls(self.tool_calls)
        outline = self._outline
        for call in calls:
            outline = _add_tool_call(outline, call, self.invalid)
        choices = tuple(
            replace(choice, tool_calls=tuple(sorted(choice.tool_calls, key=_by_index)))
            for choice in outline.choices
        )
        return _fill_texts(replace(outline, choices=choices), self._texts)


def accumulate(state: MessageBuilder, event: StreamEvent) -> MessageBuilder:
    """Fold one event into the message; pure, for ``functools.reduce`` or ``reactivex.reduce``.

    - ``StreamStart`` sets the id, model and role (a later non-empty value replaces an earlier).
    - ``TextDelta``, ``ReasoningDelta`` and ``RefusalDelta`` append to their choice; reasoning is
      kept per content block, signatures and redacted blocks included.
    - ``ToolCallDelta``/``ToolCallEnd``/``Finish`` go through the tool-call reducer; a
      ``ToolCall`` in the stream (from an upstream ``assemble_tool_calls``) is kept unless the
      builder already completed the call at that ``(choice, index)`` itself.
    - ``Finish`` records the choice's finish reason.
    - ``Usage``: a later report replaces the earlier counts, except where it has None.
    - ``Rewind`` discards the content, tool calls and finish reasons received so far (the retry
      layer voids them and sends the answer again); id, model, role and usage stay.
    - ``Retrying`` changes nothing.

    The cost of an event does not grow with the length of the message so far.

    Raises:
        ToolCallError: with ``state.invalid == "raise"``, a call completed by this event has
            invalid arguments.
    """
    if isinstance(event, Retrying):
        return state
    if isinstance(event, Rewind):
        blank = tuple(Choice(choice.index) for choice in state._outline.choices)
        return MessageBuilder(
            state.invalid, ToolCallState(), replace(state._outline, choices=blank)
        )
    tool_calls, completed = step_tool_calls(state.tool_calls, event)
    outline = _apply(state._outline, event, state.invalid)
    for call in completed:
        if isinstance(call, ToolCall):
            outline = _add_tool_call(outline, call, state.invalid)
    return MessageBuilder(state.invalid, tool_calls, outline, _add_text(state._texts, event))


def _apply(message: Message, event: StreamEvent, invalid: InvalidArguments) -> Message:
    """``message`` with what ``event`` says, except streamed text (see ``_add_text``)."""
    if isinstance(event, TextDelta | RefusalDelta | ToolCallDelta | ToolCallEnd):
        return _with_choice(message, event.choice)
    if isinstance(event, ReasoningDelta):
        return _with_block(message, event)
    if isinstance(event, Usage):
        return replace(message, usage=_merge_usage(message.usage, event))
    if isinstance(event, StreamStart):
        message = replace(
            message,
            id=event.id or message.id,
            model=event.model or message.model,
            role=event.role or message.role,
        )
        return _with_choice(message, event.choice)
    if isinstance(event, Finish):
        return _update(
            message,
            event.choice,
            lambda c: replace(c, finish_reason=event.reason, raw_finish_reason=event.raw_reason),
        )
    if isinstance(event, ToolCall):
        return _add_tool_call(message, event, invalid)
    if isinstance(event, ToolCallPreview):
        return message  # a view of fragments the builder assembles itself
    raise TypeError(
        f"the message is folded from StreamEvent values, got {type(event).__name__}: "
        "put operators that turn events into text or lists (text, buffer_*) after it"
    )


def _add_text(texts: Mapping[_TextKey, Pieces], event: StreamEvent) -> Mapping[_TextKey, Pieces]:
    """``texts`` with the text ``event`` streams appended where it belongs."""
    keys: tuple[_TextKey, ...]
    if isinstance(event, TextDelta):
        keys = (("text", event.choice, None),)
    elif isinstance(event, RefusalDelta):
        keys = (("refusal", event.choice, None),)
    elif isinstance(event, ReasoningDelta) and event.kind == "signature":
        keys = (("block signature", event.choice, event.index),)
    elif isinstance(event, ReasoningDelta) and event.kind == "thinking":
        keys = (("block text", event.choice, event.index), ("reasoning", event.choice, None))
    elif isinstance(event, ReasoningDelta):  # redacted: not readable reasoning
        keys = (("block text", event.choice, event.index),)
    else:
        return texts
    added = dict(texts)
    for key in keys:
        pieces = added.get(key)
        added[key] = Pieces(event.text) if pieces is None else pieces.append(event.text)
    return added


def _fill_texts(outline: Message, texts: Mapping[_TextKey, Pieces]) -> Message:
    """``outline`` with its streamed texts put in."""
    joined = {key: pieces.join() for key, pieces in texts.items()}

    def fill(choice: Choice) -> Choice:
        blocks = tuple(
            replace(
                block,
                text=joined.get(("block text", choice.index, block.index), ""),
                signature=joined.get(("block signature", choice.index, block.index), ""),
            )
            for block in choice.reasoning_blocks
        )
        return replace(
            choice,
            text=joined.get(("text", choice.index, None), ""),
            reasoning=joined.get(("reasoning", choice.index, None), ""),
            refusal=joined.get(("refusal", choice.index, None)),
            reasoning_blocks=blocks,
        )

    return replace(outline, choices=tuple(fill(choice) for choice in outline.choices))


def _with_choice(message: Message, index: int) -> Message:
    """``message`` with a choice ``index``, created empty if new."""
    for choice in message.choices:
        if choice.index == index:
            return message
    return _update(message, index, lambda choice: choice)


def _update(message: Message, index: int, change: Callable[[Choice], Choice]) -> Message:
    """``message`` with ``change`` applied to choice ``index``, created if new."""
    choices = list(message.choices)
    position = next((i for i, c in enumerate(choices) if c.index == index), None)
    if position is None:
        choices.append(change(Choice(index)))
        choices.sort(key=_by_index)
    else:
        choices[position] = change(choices[position])
    return replace(message, choices=tuple(choices))


def _by_index(item: Choice | ToolCall) -> int:
    return item.index


def _with_block(message: Message, event: ReasoningDelta) -> Message:
    """``message`` with the reasoning block ``event`` belongs to, created empty if new."""
    for choice in message.choices:
        if choice.index == event.choice:
            if any(block.index == event.index for block in choice.reasoning_blocks):
                return message
            break
    kind: Literal["thinking", "redacted"] = "redacted" if event.kind == "redacted" else "thinking"
    block = ReasoningBlock(event.index, kind)
    return _update(
        message,
        event.choice,
        lambda c: replace(c, reasoning_blocks=(*c.reasoning_blocks, block)),
    )


def _add_tool_call(message: Message, call: ToolCall, invalid: InvalidArguments) -> Message:
    if invalid == "raise":
        validate_tool_call(call)

    def add(choice: Choice) -> Choice:
        if any(known.index == call.index for known in choice.tool_calls):
            return choice  # completed already: the same call, assembled twice
        return replace(choice, tool_calls=(*choice.tool_calls, call))

    return _update(message, call.choice, add)


def _merge_usage(earlier: Usage | None, later: Usage) -> Usage:
    if earlier is None:
        return Usage(input_tokens=later.input_tokens, output_tokens=later.output_tokens)
    return Usage(
        input_tokens=later.input_tokens if later.input_tokens is not None else earlier.input_tokens,
        output_tokens=(
            later.output_tokens if later.output_tokens is not None else earlier.output_tokens
        ),
    )


def build_message(events: Iterable[StreamEvent], *, invalid: InvalidArguments = "raise") -> Message:
    """Fold a whole sequence of events (a recording, a list) into the final ``Message``.

    Calls still open at the end are completed, as at the end of a stream.

    Args:
        events: the stream's events, in order.
        invalid: ``raise`` ``ToolCallError`` for a tool call with invalid JSON arguments, or
            ``emit``: keep it in the message with ``valid=False``.

    Raises:
        ToolCallError: with ``invalid="raise"``, a tool call's arguments are not valid JSON.
    """
    return reduce(accumulate, events, MessageBuilder(invalid=invalid)).build()


