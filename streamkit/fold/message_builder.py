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
from typing import Any, Literal, TypeAlias

from streamkit.events import (
    BlockDelta,
    BlockStart,
    Citation,
    Finish,
    Logprobs,
    ProviderData,
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
from streamkit.exact_json import join_surrogates
from streamkit.fold.append_log import AppendLog
from streamkit.fold.text_pieces import Pieces
from streamkit.fold.tool_calls import (
    InvalidArguments,
    ToolCallPreview,
    ToolCallState,
    flush_tool_calls,
    step_tool_calls,
)
from streamkit.message import (
    Choice,
    ContentBlock,
    Message,
    OtherBlock,
    ReasoningBlock,
    TextBlock,
    TokenLogprobs,
)
from streamkit.tool_arguments import parse_arguments, validate_tool_call

__all__ = ["MessageBuilder", "accumulate", "build_message"]


#: Where a streamed text goes: a choice's ``text``, ``reasoning`` or ``refusal``, the text or
#: signature of one of its reasoning blocks, the text of one of its text blocks, or the streamed
#: input JSON of one of its other blocks (a server tool's).
_Field: TypeAlias = Literal[
    "text", "reasoning", "refusal", "block text", "block signature", "text block", "block input"
]
#: ``(field, choice index, content block index or None)``.
_TextKey: TypeAlias = tuple[_Field, int, int | None]
#: A content block of a choice, by family and index: the families number their blocks apart
#: (OpenAI's text is block 0 and so is its first tool call).
_BlockKey: TypeAlias = tuple[Literal["text", "reasoning", "tool", "other"], int]
#: Lists that grow by event: ``(kind, choice, block index or None)``; kinds are ``citations``,
#: ``logprobs content``, ``logprobs refusal``.
_ListKey: TypeAlias = tuple[str, int, int | None]


@dataclass(frozen=True, slots=True)
class _Items:
    """A list built by appending, sharing what came before (``Pieces`` for any items)."""

    last: tuple[Any, ...]
    before: _Items | None = None

    def append(self, items: tuple[Any, ...]) -> _Items:
        return _Items(items, self)

    def items(self) -> tuple[Any, ...]:
        runs: list[tuple[Any, ...]] = []
        node: _Items | None = self
        while node is not None:
            runs.append(node.last)
            node = node.before
        return tuple(item for run in reversed(runs) for item in run)


@dataclass(frozen=True, slots=True)
class _Content:
    """What the builder keeps beside the outline: block order, lists, other blocks' openings."""

    order: Mapping[int, AppendLog[_BlockKey, None]] = field(default_factory=dict)  # by choice
    lists: Mapping[_ListKey, _Items] = field(default_factory=dict)
    others: Mapping[tuple[int, int], BlockStart] = field(default_factory=dict)
    logprobs: frozenset[int] = frozenset()  # choices that received a Logprobs event


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
    _content: _Content = field(default_factory=_Content)
    # The completed tool calls of each choice, by call index; put into the outline when built.
    _calls: Mapping[int, AppendLog[int, ToolCall]] = field(default_factory=dict)

    @property
    def message(self) -> Message:
        """The message so far, without the tool calls still open."""
        return _fill_texts(self._outline, self._texts, self._content, self._calls)

    def build(self) -> Message:
        """The complete message: calls still open are completed, as at the end of a stream.

        Raises:
            ToolCallError: with ``invalid="raise"``, a call completed here has invalid arguments.
        """
        _, flushed = flush_tool_calls(self.tool_calls)
        outline, calls = self._outline, self._calls
        for call in flushed:
            outline = _with_choice(outline, call.choice)
            calls = _add_call(calls, call, self.invalid)
        return _fill_texts(outline, self._texts, self._content, calls)


def accumulate(state: MessageBuilder, event: StreamEvent) -> MessageBuilder:
    """Fold one event into the message; pure, for ``functools.reduce`` or ``reactivex.reduce``.

    - ``StreamStart`` sets the id, model, role, creation time, fingerprint and service tier (a
      later non-empty value replaces an earlier).
    - ``TextDelta``, ``ReasoningDelta`` and ``RefusalDelta`` append to their choice; text and
      reasoning are also kept per content block, signatures (each the whole value: the last
      one counts) and redacted blocks included.
    - ``BlockStart`` places a content block in its choice's ``content`` (an empty one too);
      ``Citation`` adds to its text block; ``BlockDelta`` with streamed input JSON fills a
      server tool block's ``input``; ``Logprobs`` extend the choice's as the OpenAI SDK does
      (the first report sets them, later non-empty ones add).
    - ``ProviderData`` is kept in ``message.provider_data``.
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
    outline = _apply(state._outline, event)
    calls = state._calls
    if isinstance(event, ToolCall):
        calls = _add_call(calls, event, state.invalid)
    for call in completed:
        if isinstance(call, ToolCall):
            outline = _with_choice(outline, call.choice)
            calls = _add_call(calls, call, state.invalid)
    return MessageBuilder(
        state.invalid,
        tool_calls,
        outline,
        _add_text(state._texts, event),
        _add_content(state._content, event),
        calls,
    )


def _apply(message: Message, event: StreamEvent) -> Message:
    """``message`` with what ``event`` says, except streamed text (see ``_add_text``)."""
    if isinstance(
        event,
        TextDelta | RefusalDelta | ToolCallDelta | ToolCallEnd | Citation | BlockDelta | Logprobs,
    ):
        return _with_choice(message, event.choice)
    if isinstance(event, ReasoningDelta):
        return _with_block(message, event.choice, event.index, event.kind == "redacted")
    if isinstance(event, BlockStart):
        if event.kind in ("thinking", "redacted_thinking"):
            return _with_block(message, event.choice, event.index, event.kind != "thinking")
        return _with_choice(message, event.choice)
    if isinstance(event, Usage):
        return replace(message, usage=_merge_usage(message.usage, event))
    if isinstance(event, ProviderData):
        return replace(message, provider_data=(*message.provider_data, event))
    if isinstance(event, StreamStart):
        message = replace(
            message,
            id=event.id or message.id,
            model=event.model or message.model,
            role=event.role or message.role,
            created=event.created if event.created is not None else message.created,
            system_fingerprint=event.system_fingerprint or message.system_fingerprint,
            service_tier=event.service_tier or message.service_tier,
        )
        return _with_choice(message, event.choice)
    if isinstance(event, Finish):
        return _update(
            message,
            event.choice,
            lambda c: replace(
                c,
                finish_reason=event.reason,
                raw_finish_reason=event.raw_reason,
                stop_sequence=event.stop_sequence,
            ),
        )
    if isinstance(event, ToolCall):
        return _with_choice(message, event.choice)  # the call itself: see _add_call
    if isinstance(event, ToolCallPreview):
        return message  # a view of fragments the builder assembles itself
    raise TypeError(
        f"the message is folded from StreamEvent values, got {type(event).__name__}: "
        "put operators that turn events into text or lists (text, buffer_*) after it"
    )


def _add_text(texts: Mapping[_TextKey, Pieces], event: StreamEvent) -> Mapping[_TextKey, Pieces]:
    """``texts`` with the text ``event`` streams appended where it belongs."""
    keys: tuple[_TextKey, ...]
    text = ""
    if isinstance(event, TextDelta):
        keys = (("text", event.choice, None), ("text block", event.choice, event.index))
    elif isinstance(event, RefusalDelta):
        keys = (("refusal", event.choice, None),)
    elif isinstance(event, ReasoningDelta) and event.kind == "signature":
        # Each signature is the whole value (the SDKs keep the last): replace, do not append.
        return {**texts, ("block signature", event.choice, event.index): Pieces(event.text)}
    elif isinstance(event, BlockDelta) and event.delta.get("type") == "input_json_delta":
        text = event.delta.get("partial_json")
        if not isinstance(text, str):
            return texts
        keys = (("block input", event.choice, event.index),)
    elif isinstance(event, ReasoningDelta) and event.kind == "thinking":
        keys = (("block text", event.choice, event.index), ("reasoning", event.choice, None))
    elif isinstance(event, ReasoningDelta):  # redacted: not readable reasoning
        keys = (("block text", event.choice, event.index),)
    else:
        return texts
    if not isinstance(event, BlockDelta):
        text = event.text
    added = dict(texts)
    for key in keys:
        pieces = added.get(key)
        added[key] = Pieces(text) if pieces is None else pieces.append(text)
    return added


def _add_content(content: _Content, event: StreamEvent) -> _Content:
    """``content`` with the block order and the lists ``event`` adds to."""
    block: _BlockKey | None = None
    lists: dict[_ListKey, tuple[Any, ...]] = {}
    if isinstance(event, TextDelta):
        block = ("text", event.index)
    elif isinstance(event, ReasoningDelta):
        block = ("reasoning", event.index)
    elif isinstance(event, ToolCallDelta):
        block = ("tool", event.index)
    elif isinstance(event, BlockStart):
        block = (_FAMILIES.get(event.kind, "other"), event.index)
        if block[0] == "other":
            content = replace(
                content, others={**content.others, (event.choice, event.index): event}
            )
    elif isinstance(event, Citation):
        block = ("text", event.index)
        lists[("citations", event.choice, event.index)] = (event.citation,)
    elif isinstance(event, Logprobs):
        first = event.choice not in content.logprobs
        for name, items in (
            ("logprobs content", event.content),
            ("logprobs refusal", event.refusal),
        ):
            # As the OpenAI SDK: the first report sets each list (an empty one too), later
            # reports extend it when they bring tokens.
            if items is not None and (first or items):
                lists[(name, event.choice, None)] = items
        if first:
            content = replace(content, logprobs=content.logprobs | {event.choice})
    else:
        return content
    if block is not None:
        choice = getattr(event, "choice", 0)
        order = content.order.get(choice)
        if order is None or block not in order:
            blocks: AppendLog[_BlockKey, None] = AppendLog() if order is None else order
            content = replace(content, order={**content.order, choice: blocks.add(block, None)})
    if lists:
        merged = dict(content.lists)
        for key, items in lists.items():
            known = merged.get(key)
            merged[key] = _Items(items) if known is None else known.append(items)
        content = replace(content, lists=merged)
    return content


# The block family of each Anthropic block type with typed events; any other is "other".
_FAMILIES: Mapping[str, Literal["text", "reasoning", "tool"]] = {
    "text": "text",
    "thinking": "reasoning",
    "redacted_thinking": "reasoning",
    "tool_use": "tool",
}


def _fill_texts(
    outline: Message,
    texts: Mapping[_TextKey, Pieces],
    content: _Content,
    calls: Mapping[int, AppendLog[int, ToolCall]],
) -> Message:
    """``outline`` with its streamed texts, tool calls, block order and lists put in."""
    joined = {key: join_surrogates(pieces.join()) for key, pieces in texts.items()}
    lists = {key: items.items() for key, items in content.lists.items()}

    def fill(choice: Choice) -> Choice:
        n = choice.index
        blocks = tuple(
            replace(
                block,
                text=joined.get(("block text", n, block.index), ""),
                signature=joined.get(("block signature", n, block.index), ""),
            )
            for block in choice.reasoning_blocks
        )
        logprobs = None
        if n in content.logprobs:
            logprobs = TokenLogprobs(
                lists.get(("logprobs content", n, None)), lists.get(("logprobs refusal", n, None))
            )
        filled = replace(
            choice,
            text=joined.get(("text", n, None), ""),
            reasoning=joined.get(("reasoning", n, None), ""),
            refusal=joined.get(("refusal", n, None)),
            reasoning_blocks=blocks,
            logprobs=logprobs,
            tool_calls=tuple(sorted(calls[n].values(), key=_by_index)) if n in calls else (),
        )
        return replace(filled, content=_blocks(filled, content, joined, lists))

    return replace(outline, choices=tuple(fill(choice) for choice in outline.choices))


def _blocks(
    choice: Choice,
    content: _Content,
    joined: Mapping[_TextKey, str],
    lists: Mapping[_ListKey, tuple[Any, ...]],
) -> tuple[ContentBlock, ...]:
    """The choice's content blocks, in the order they opened."""
    n = choice.index
    reasoning = {block.index: block for block in choice.reasoning_blocks}
    calls = {call.index: call for call in choice.tool_calls}
    out: list[ContentBlock] = []
    for family, index in content.order.get(n, ()):
        if family == "text":
            text = joined.get(("text block", n, index), "")
            out.append(TextBlock(index, text, lists.get(("citations", n, index), ())))
        elif family == "reasoning" and index in reasoning:
            out.append(reasoning[index])
        elif family == "tool" and index in calls:
            out.append(calls[index])
        elif family == "other" and (n, index) in content.others:
            out.append(
                _other_block(content.others[(n, index)], joined.get(("block input", n, index)))
            )
    return tuple(out)


def _other_block(start: BlockStart, streamed_input: str | None) -> OtherBlock:
    """A block without typed events, as the non-streaming API returns it."""
    data = dict(start.block) if isinstance(start.block, Mapping) else start.block
    if streamed_input is not None and isinstance(data, dict):
        valid, value = parse_arguments(streamed_input)
        data["input"] = value if valid else streamed_input
    return OtherBlock(start.index, start.kind, data)


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


def _with_block(message: Message, choice_index: int, index: int, redacted: bool) -> Message:
    """``message`` with reasoning block ``index`` of a choice, created empty if new."""
    for choice in message.choices:
        if choice.index == choice_index:
            if any(block.index == index for block in choice.reasoning_blocks):
                return message
            break
    kind: Literal["thinking", "redacted"] = "redacted" if redacted else "thinking"
    block = ReasoningBlock(index, kind)
    return _update(
        message,
        choice_index,
        lambda c: replace(c, reasoning_blocks=(*c.reasoning_blocks, block)),
    )


def _add_call(
    calls: Mapping[int, AppendLog[int, ToolCall]], call: ToolCall, invalid: InvalidArguments
) -> Mapping[int, AppendLog[int, ToolCall]]:
    """``calls`` with ``call`` added to its choice's, in constant time (a message of n calls
    folds in O(n)); a call completed already (assembled twice) is not added again."""
    if invalid == "raise":
        validate_tool_call(call)
    known = calls.get(call.choice)
    if known is None:
        known = AppendLog()
    elif call.index in known:
        return calls
    return {**calls, call.choice: known.add(call.index, call)}


def _merge_usage(earlier: Usage | None, later: Usage) -> Usage:
    """``later``'s counts, with ``earlier``'s where ``later`` has None (and no event fields)."""

    def pick(name: str) -> Any:
        value = getattr(later, name)
        return value if value is not None or earlier is None else getattr(earlier, name)

    return Usage(
        input_tokens=pick("input_tokens"),
        output_tokens=pick("output_tokens"),
        cached_input_tokens=pick("cached_input_tokens"),
        cache_creation_input_tokens=pick("cache_creation_input_tokens"),
        reasoning_tokens=pick("reasoning_tokens"),
        details=pick("details"),
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
