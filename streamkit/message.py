"""The final assembled message: everything a stream said, folded into one value.

``build_message(events)`` folds any sequence of ``StreamEvent`` into a ``Message``, and
``to_message()`` does the same at the end of an observable. Both rest on one pure reducer,
``accumulate(state, event) -> state`` over a ``MessageBuilder``, whose ``build()`` gives the
``Message``; tool calls are assembled by ``streamkit.operators.tool_calls``' reducer, the one
``assemble_tool_calls`` uses.

A ``Message`` converts to the non-streaming response body of either API, ``to_openai()`` (a
``ChatCompletion``) or ``to_anthropic()`` (a ``Message``), in the shapes the official SDKs parse;
the embedded server answers non-streaming requests with them.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import reduce
from typing import Any, Final, Literal, TypeAlias

import reactivex.operators as rx_ops
from reactivex import Observable

from streamkit._pieces import Pieces
from streamkit.errors import ToolCallError, truncate
from streamkit.events import (
    Finish,
    FinishReason,
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
from streamkit.operators._types import Operator
from streamkit.operators.tool_calls import (
    InvalidArguments,
    ToolCallPreview,
    ToolCallState,
    flush_tool_calls,
    step_tool_calls,
    validate_tool_call,
)

__all__ = [
    "Choice",
    "Message",
    "MessageBuilder",
    "ReasoningBlock",
    "accumulate",
    "build_message",
    "to_message",
]

_OPENAI_FINISH: Final = frozenset(
    {"stop", "length", "tool_calls", "content_filter", "function_call"}
)
_OPENAI_FROM_NORMALIZED: Final[dict[FinishReason, str]] = {
    "stop": "stop",
    "length": "length",
    "tool_calls": "tool_calls",
    "content_filter": "content_filter",
    "other": "stop",
}
_ANTHROPIC_STOP: Final = frozenset(
    {"end_turn", "max_tokens", "stop_sequence", "tool_use", "pause_turn", "refusal"}
)
_ANTHROPIC_FROM_NORMALIZED: Final[dict[FinishReason, str]] = {
    "stop": "end_turn",
    "length": "max_tokens",
    "tool_calls": "tool_use",
    "content_filter": "refusal",
    "other": "end_turn",
}


@dataclass(frozen=True, slots=True)
class ReasoningBlock:
    """One block of the model's reasoning, as Anthropic sends it back to be passed on unchanged.

    Attributes:
        index: the content block's index in the stream.
        kind: ``thinking`` (readable ``text``) or ``redacted`` (``text`` is the encrypted data of
            a ``redacted_thinking`` block).
        text: the thinking text, or the redacted block's data.
        signature: the thinking block's signature.
    """

    index: int
    kind: Literal["thinking", "redacted"] = "thinking"
    text: str = ""
    signature: str = ""


@dataclass(frozen=True, slots=True)
class Choice:
    """One complete answer; OpenAI's ``n > 1`` gives several, Anthropic always one.

    Attributes:
        index: the choice's index.
        text: the answer text.
        reasoning: the readable reasoning (Anthropic thinking), all blocks joined.
        refusal: the refusal message (OpenAI ``refusal``), or None.
        tool_calls: the tool calls, by index.
        finish_reason: why generation stopped, normalized; None if the stream never said.
        raw_finish_reason: the provider's own word for it.
        reasoning_blocks: the reasoning as separate blocks with their signatures, for passing
            back to Anthropic unchanged.
    """

    index: int
    text: str = ""
    reasoning: str = ""
    refusal: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()
    finish_reason: FinishReason | None = None
    raw_finish_reason: str | None = None
    reasoning_blocks: tuple[ReasoningBlock, ...] = ()


@dataclass(frozen=True, slots=True)
class Message:
    """A complete response: the provider's id, the model, and each choice.

    ``text``, ``tool_calls`` and ``finish_reason`` read choice 0, the only one unless OpenAI was
    asked for ``n > 1``.
    """

    id: str
    model: str
    role: str = "assistant"
    choices: tuple[Choice, ...] = ()
    usage: Usage | None = None

    @property
    def text(self) -> str:
        """Choice 0's text ("" when there is no choice)."""
        choice = self._first()
        return choice.text if choice else ""

    @property
    def tool_calls(self) -> tuple[ToolCall, ...]:
        """Choice 0's tool calls."""
        choice = self._first()
        return choice.tool_calls if choice else ()

    @property
    def finish_reason(self) -> FinishReason | None:
        """Why choice 0 stopped, normalized."""
        choice = self._first()
        return choice.finish_reason if choice else None

    def _first(self) -> Choice | None:
        return next((c for c in self.choices if c.index == 0), None)

    def to_openai(self, *, created: int = 0) -> dict[str, Any]:
        """This message as an OpenAI ``ChatCompletion`` body (``object: "chat.completion"``).

        ``content`` is None when the choice has no text but has tool calls or a refusal; each tool
        call's ``arguments`` is its raw JSON text, exactly as streamed, valid or not. The
        ``finish_reason`` is the provider's word when it is an OpenAI one, else the normalized
        reason in OpenAI's words; a choice that never finished says ``stop``, since the schema
        has no word for an unfinished choice. ``usage`` is left out when no usage was reported.

        Args:
            created: the ``created`` Unix time; a stream's chunks carry it, events do not.
        """
        body: dict[str, Any] = {
            "id": self.id,
            "object": "chat.completion",
            "created": created,
            "model": self.model,
            "choices": [_openai_choice(choice, self.role) for choice in self.choices],
        }
        if self.usage is not None:
            body["usage"] = {
                "prompt_tokens": self.usage.input_tokens or 0,
                "completion_tokens": self.usage.output_tokens or 0,
                "total_tokens": self.usage.total_tokens or 0,
            }
        return body

    def to_anthropic(self) -> dict[str, Any]:
        """This message as an Anthropic ``Message`` body (``type: "message"``), from choice 0.

        Content blocks come in the order reasoning, text, refusal text, tool calls: the events
        do not record how text and tool calls interleaved. ``stop_reason`` is the provider's
        word when it is an Anthropic one, else the normalized reason in Anthropic's words
        (``stop`` is ``end_turn``), or None for a choice that never finished. Missing token
        counts are 0.

        Raises:
            ToolCallError: a tool call's arguments are not valid JSON, or not a JSON object:
                ``tool_use.input`` must be an object, and nothing else would be faithful.
        """
        choice = self._first() or Choice(0)
        content: list[dict[str, Any]] = []
        reasoning = choice.reasoning_blocks
        if not reasoning and choice.reasoning:  # built by hand, without blocks
            reasoning = (ReasoningBlock(0, text=choice.reasoning),)
        for block in reasoning:
            if block.kind == "redacted":
                content.append({"type": "redacted_thinking", "data": block.text})
            else:
                content.append(
                    {"type": "thinking", "thinking": block.text, "signature": block.signature}
                )
        for text in (choice.text, choice.refusal):
            if text:
                content.append({"type": "text", "text": text})
        for call in choice.tool_calls:
            content.append(
                {"type": "tool_use", "id": call.id, "name": call.name, "input": _input(call)}
            )
        stop_reason: str | None = None
        if choice.raw_finish_reason in _ANTHROPIC_STOP:
            stop_reason = choice.raw_finish_reason
        elif choice.finish_reason is not None:
            stop_reason = _ANTHROPIC_FROM_NORMALIZED[choice.finish_reason]
        usage = self.usage or Usage()
        return {
            "id": self.id,
            "type": "message",
            "role": self.role,
            "model": self.model,
            "content": content,
            "stop_reason": stop_reason,
            "stop_sequence": None,
            "usage": {
                "input_tokens": usage.input_tokens or 0,
                "output_tokens": usage.output_tokens or 0,
            },
        }


def _openai_choice(choice: Choice, role: str) -> dict[str, Any]:
    message: dict[str, Any] = {
        "role": role,
        "content": choice.text or (None if choice.tool_calls or choice.refusal else ""),
        "refusal": choice.refusal,
    }
    if choice.tool_calls:
        message["tool_calls"] = [
            {
                "id": call.id,
                "type": "function",
                "function": {"name": call.name, "arguments": call.raw_arguments},
            }
            for call in choice.tool_calls
        ]
    if choice.raw_finish_reason in _OPENAI_FINISH:
        finish_reason = choice.raw_finish_reason
    else:
        finish_reason = _OPENAI_FROM_NORMALIZED[choice.finish_reason or "stop"]
    return {
        "index": choice.index,
        "message": message,
        "logprobs": None,
        "finish_reason": finish_reason,
    }


def _input(call: ToolCall) -> dict[str, Any]:
    validate_tool_call(call)
    if not isinstance(call.arguments, dict):
        raise ToolCallError(
            f"tool call {call.name!r} (id {call.id!r}): arguments are not a JSON object, "
            f"so they cannot be an Anthropic tool_use input: {truncate(call.raw_arguments)!r}",
            name=call.name,
            call_id=call.id,
            arguments=call.raw_arguments,
        )
    return call.arguments


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


def to_message(*, invalid: InvalidArguments = "raise") -> Operator[StreamEvent, Message]:
    """Collect a stream of events into one ``Message``, emitted when the stream completes.

    Use it when only the whole answer matters: a non-streaming result from a streaming request.
    An empty stream gives an empty ``Message``. An error from the source is passed on and no
    message is emitted; so is a ``ToolCallError`` (``invalid="raise"``), which also unsubscribes
    from the source. The fold is pure, so subscriptions share nothing.

    Pass the same ``invalid`` as an upstream ``assemble_tool_calls``: the builder assembles calls
    from their fragments itself, and with ``raise`` it fails on a call that upstream let through.

    Args:
        invalid: ``raise`` or ``emit``, as for ``build_message``.

    Raises:
        ValueError: ``invalid`` is neither ``raise`` nor ``emit``.

    Example:
        >>> message = events.pipe(sk.to_message())  # doctest: +SKIP
        >>> message.subscribe(lambda m: print(m.text, m.tool_calls))  # doctest: +SKIP

    Marble::

        source:  -a-b-c-|
        result:  -------(m|)      (m = the Message built from a, b, c)
    """
    if invalid not in ("raise", "emit"):
        raise ValueError(f"invalid must be 'raise' or 'emit', got {invalid!r}")
    seed = MessageBuilder(invalid=invalid)

    def operator(source: Observable[StreamEvent]) -> Observable[Message]:
        return source.pipe(rx_ops.reduce(accumulate, seed), rx_ops.map(MessageBuilder.build))

    return operator
