"""JSON codec for streamkit values: events and messages to and from JSON-ready dicts.

Pure: no files, no I/O. ``event_to_dict`` writes a ``type`` tag and every field (``raw``,
``received_at`` and ``wire_bytes`` included); ``event_from_dict`` checks each value against the
field's declared type before building the event, so a bad record raises ``ProtocolError`` naming
the field instead of building an event that breaks later. ``message_to_dict`` /
``message_from_dict`` do the same for a final ``Message``, in neither provider's shape.

An exception inside an event (``Retrying.cause``) is written as its class name and message and
comes back as ``RecordedError``. The files these dicts go to are ``streamkit.jsonl_file``'s job.
"""

from __future__ import annotations

import types
from collections.abc import Mapping
from dataclasses import fields
from typing import Any, Final, Literal, Union, get_args, get_origin, get_type_hints

from streamkit.errors import ProtocolError, RecordedError, truncate
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
from streamkit.message import (
    Choice,
    ContentBlock,
    Message,
    OtherBlock,
    ReasoningBlock,
    TextBlock,
    TokenLogprobs,
)

__all__ = [
    "RecordedError",
    "event_from_dict",
    "event_to_dict",
    "message_from_dict",
    "message_to_dict",
]

_EVENT_TYPES: Final[dict[str, type[StreamEvent]]] = {
    cls.__name__: cls
    for cls in (
        StreamStart,
        TextDelta,
        ReasoningDelta,
        RefusalDelta,
        ToolCallDelta,
        ToolCallEnd,
        ToolCall,
        Usage,
        Finish,
        Retrying,
        Rewind,
        BlockStart,
        BlockDelta,
        Citation,
        Logprobs,
        ProviderData,
    )
}

#: The declared type of each field, per event type.
_FIELD_TYPES: Final[dict[str, dict[str, Any]]] = {
    name: get_type_hints(cls) for name, cls in _EVENT_TYPES.items()
}


def event_to_dict(event: StreamEvent) -> dict[str, Any]:
    """A JSON-ready dict of ``event``: ``{"type": "TextDelta", ...every field}``.

    ``raw``, ``received_at`` and ``wire_bytes`` are kept. An exception (``Retrying.cause``)
    becomes ``{"type": class name, "message": str(exc)}``.
    """
    record: dict[str, Any] = {"type": type(event).__name__}
    for item in fields(event):
        value = getattr(event, item.name)
        if isinstance(value, BaseException):
            value = {"type": _error_type(value), "message": str(value)}
        record[item.name] = value
    return record


def _error_type(error: BaseException) -> str:
    return error.type_name if isinstance(error, RecordedError) else type(error).__name__


def event_from_dict(record: Mapping[str, Any]) -> StreamEvent:
    """The event ``event_to_dict`` made ``record`` from; exceptions come back as ``RecordedError``.

    Fields left out take their defaults; every value given must have its field's type
    (``FinishReason`` and the other ``Literal`` fields: one of their words).

    Raises:
        ProtocolError: no known ``type``, fields the event does not have or lacks, or a value
            of the wrong type (the message names the field).
    """
    kind = record.get("type")
    cls = _EVENT_TYPES.get(kind) if isinstance(kind, str) else None
    if cls is None:
        raise ProtocolError(f"not a streamkit event record: type {truncate(repr(kind))}")
    values = {key: value for key, value in record.items() if key != "type"}
    cause = values.get("cause")
    if cls is Retrying and isinstance(cause, Mapping):
        values["cause"] = RecordedError(str(cause.get("type", "")), str(cause.get("message", "")))
    hints = _FIELD_TYPES[cls.__name__]
    for name, value in values.items():
        hint = hints.get(name)
        if hint is None:
            continue  # an unknown field: the constructor names it
        if not _conforms(value, hint):
            raise ProtocolError(
                f"bad {kind} record: field {name!r} must be {_describe(hint)}, "
                f"got {truncate(repr(value))}"
            )
        if hint is float and isinstance(value, int):
            values[name] = float(value)
        if isinstance(value, list) and _is_tuple_hint(hint):
            values[name] = tuple(value)  # JSON has arrays only
    try:
        return cls(**values)
    except TypeError as exc:
        raise ProtocolError(f"bad {kind} record: {exc}") from exc


def _conforms(value: Any, hint: Any) -> bool:
    """Whether a value read from JSON fits a field's declared type (``int`` is no ``bool``)."""
    if hint is Any:
        return True
    origin = get_origin(hint)
    if origin is Literal:
        return any(type(value) is type(allowed) and value == allowed for allowed in get_args(hint))
    if origin is Union or origin is types.UnionType:
        return any(_conforms(value, option) for option in get_args(hint))
    if hint is type(None):
        return value is None
    if hint is float:
        return isinstance(value, int | float) and not isinstance(value, bool)
    if hint is int:
        return isinstance(value, int) and not isinstance(value, bool)
    if isinstance(hint, type):
        return isinstance(value, hint)
    return True


def _is_tuple_hint(hint: Any) -> bool:
    """Whether a field's type is a tuple (or a tuple or None)."""
    if get_origin(hint) is tuple:
        return True
    if get_origin(hint) in (Union, types.UnionType):
        return any(get_origin(option) is tuple for option in get_args(hint))
    return False


def _describe(hint: Any) -> str:
    """A field type in words: ``str``, ``int or None``, ``one of 'stop', 'length'``."""
    origin = get_origin(hint)
    if origin is Literal:
        return "one of " + ", ".join(repr(allowed) for allowed in get_args(hint))
    if origin is Union or origin is types.UnionType:
        return " or ".join(_describe(option) for option in get_args(hint))
    if hint is type(None):
        return "None"
    return getattr(hint, "__name__", str(hint))


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-ready dict of every fact in ``message``, in neither provider's shape.

    For the providers' own shapes use ``message.to_openai()`` or ``message.to_anthropic()``.
    """
    usage = message.usage
    return {
        "id": message.id,
        "model": message.model,
        "role": message.role,
        "choices": [_choice_to_dict(choice) for choice in message.choices],
        "usage": None if usage is None else _usage_to_dict(usage),
        "created": message.created,
        "system_fingerprint": message.system_fingerprint,
        "service_tier": message.service_tier,
        "provider_data": [{"kind": d.kind, "data": d.data} for d in message.provider_data],
    }


def _usage_to_dict(usage: Usage) -> dict[str, Any]:
    return {
        "input_tokens": usage.input_tokens,
        "output_tokens": usage.output_tokens,
        "cached_input_tokens": usage.cached_input_tokens,
        "cache_creation_input_tokens": usage.cache_creation_input_tokens,
        "reasoning_tokens": usage.reasoning_tokens,
        "details": usage.details,
    }


def _call_to_dict(call: ToolCall) -> dict[str, Any]:
    return {
        "id": call.id,
        "name": call.name,
        "arguments": call.arguments,
        "raw_arguments": call.raw_arguments,
        "index": call.index,
        "valid": call.valid,
    }


def _reasoning_to_dict(block: ReasoningBlock) -> dict[str, Any]:
    return {
        "index": block.index,
        "kind": block.kind,
        "text": block.text,
        "signature": block.signature,
    }


def _block_to_dict(block: ContentBlock) -> dict[str, Any]:
    if isinstance(block, TextBlock):
        return {
            "block": "text",
            "index": block.index,
            "text": block.text,
            "citations": list(block.citations),
        }
    if isinstance(block, ReasoningBlock):
        return {"block": "reasoning", **_reasoning_to_dict(block)}
    if isinstance(block, ToolCall):
        return {"block": "tool_call", **_call_to_dict(block)}
    return {"block": "other", "index": block.index, "kind": block.kind, "data": block.data}


def _choice_to_dict(choice: Choice) -> dict[str, Any]:
    return {
        "index": choice.index,
        "text": choice.text,
        "reasoning": choice.reasoning,
        "refusal": choice.refusal,
        "tool_calls": [_call_to_dict(call) for call in choice.tool_calls],
        "finish_reason": choice.finish_reason,
        "raw_finish_reason": choice.raw_finish_reason,
        "reasoning_blocks": [_reasoning_to_dict(b) for b in choice.reasoning_blocks],
        "content": [_block_to_dict(block) for block in choice.content],
        "logprobs": None
        if choice.logprobs is None
        else {
            "content": _list_or_none(choice.logprobs.content),
            "refusal": _list_or_none(choice.logprobs.refusal),
        },
        "stop_sequence": choice.stop_sequence,
    }


def _list_or_none(items: tuple[Any, ...] | None) -> list[Any] | None:
    return None if items is None else list(items)


def _tuple_or_none(items: Any) -> tuple[Any, ...] | None:
    return None if items is None else tuple(items)


def message_from_dict(record: Mapping[str, Any]) -> Message:
    """The message ``message_to_dict`` made ``record`` from.

    Raises:
        ProtocolError: a field is missing or has the wrong shape.
    """
    try:
        usage = record.get("usage")
        return Message(
            id=record["id"],
            model=record["model"],
            role=record.get("role", "assistant"),
            choices=tuple(_choice_from_dict(choice) for choice in record.get("choices", ())),
            usage=None if usage is None else Usage(**usage),
            created=record.get("created"),
            system_fingerprint=record.get("system_fingerprint"),
            service_tier=record.get("service_tier"),
            provider_data=tuple(
                ProviderData(item["kind"], item["data"]) for item in record.get("provider_data", ())
            ),
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"bad message record: {exc!r}") from exc


def _block_from_dict(record: Mapping[str, Any], choice: int) -> ContentBlock:
    fields = {key: value for key, value in record.items() if key != "block"}
    kind = record["block"]
    if kind == "text":
        return TextBlock(fields["index"], fields["text"], tuple(fields.get("citations", ())))
    if kind == "reasoning":
        return ReasoningBlock(**fields)
    if kind == "tool_call":
        return ToolCall(**fields, choice=choice)
    if kind == "other":
        return OtherBlock(**fields)
    raise ProtocolError(f"bad message record: a content block of kind {truncate(repr(kind))}")


def _choice_from_dict(record: Mapping[str, Any]) -> Choice:
    index = record["index"]
    logprobs = record.get("logprobs")
    return Choice(
        index=index,
        text=record.get("text", ""),
        reasoning=record.get("reasoning", ""),
        refusal=record.get("refusal"),
        tool_calls=tuple(ToolCall(**call, choice=index) for call in record.get("tool_calls", ())),
        finish_reason=record.get("finish_reason"),
        raw_finish_reason=record.get("raw_finish_reason"),
        reasoning_blocks=tuple(
            ReasoningBlock(**block) for block in record.get("reasoning_blocks", ())
        ),
        content=tuple(_block_from_dict(block, index) for block in record.get("content", ())),
        logprobs=None
        if logprobs is None
        else TokenLogprobs(
            _tuple_or_none(logprobs.get("content")), _tuple_or_none(logprobs.get("refusal"))
        ),
        stop_sequence=record.get("stop_sequence"),
    )
