"""JSON Lines files: streams and final messages as one JSON object per line.

Events become dicts with ``event_to_dict`` (a ``type`` tag and every field, ``raw`` included) and
come back with ``event_from_dict``; messages likewise with ``message_to_dict`` /
``message_from_dict``. ``to_jsonl(path)`` records a stream as it passes; ``append_jsonl`` adds one
record, for workflows that store each final message; ``read_jsonl`` reads records back.

Crash safety: every record is written with a single unbuffered write of its bytes, newline
included, to a file opened for appending, so a crash can only tear the last line. ``read_jsonl``
skips a torn last line; a bad line anywhere else is corruption and raises ``JSONLError``. The
next run that appends to the file mends a torn last line first: the fragment of a record that
was never completely written is cut off (a last line that is a whole object and only lacks its
newline gets one), so the file stays readable across crashes.
"""

from __future__ import annotations

import os
import types
from collections.abc import Iterator, Mapping
from dataclasses import fields
from typing import (
    Any,
    BinaryIO,
    Final,
    Literal,
    TypeAlias,
    Union,
    get_args,
    get_origin,
    get_type_hints,
)

import orjson
from reactivex import Observable, abc
from reactivex.disposable import CompositeDisposable, Disposable, SingleAssignmentDisposable

from streamkit.errors import ProtocolError, truncate
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
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.message import Choice, Message, ReasoningBlock
from streamkit.operators._types import Operator

__all__ = [
    "JSONLError",
    "RecordedError",
    "StrPath",
    "append_jsonl",
    "event_from_dict",
    "event_to_dict",
    "message_from_dict",
    "message_to_dict",
    "read_events",
    "read_jsonl",
    "to_jsonl",
]

#: A file path.
StrPath: TypeAlias = str | os.PathLike[str]

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
    )
}

#: The declared type of each field, per event type.
_FIELD_TYPES: Final[dict[str, dict[str, Any]]] = {
    name: get_type_hints(cls) for name, cls in _EVENT_TYPES.items()
}


class JSONLError(ProtocolError):
    """A JSON Lines file holds a line that is not a JSON object (other than a torn last line).

    Attributes:
        path: the file.
        line_number: the bad line, counting from 1.
    """

    def __init__(self, message: str, *, path: str, line_number: int) -> None:
        super().__init__(message)
        self.path = path
        self.line_number = line_number


class RecordedError(Exception):
    """An exception read back from a recording: its class name and message, nothing more.

    It stands in for ``Retrying.cause``, whose original class may not be importable or
    constructible from a message.

    Attributes:
        type_name: the original exception's class name.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"RecordedError({self.type_name!r}, {str(self)!r})"


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
        "usage": None
        if usage is None
        else {"input_tokens": usage.input_tokens, "output_tokens": usage.output_tokens},
    }


def _choice_to_dict(choice: Choice) -> dict[str, Any]:
    return {
        "index": choice.index,
        "text": choice.text,
        "reasoning": choice.reasoning,
        "refusal": choice.refusal,
        "tool_calls": [
            {
                "id": call.id,
                "name": call.name,
                "arguments": call.arguments,
                "raw_arguments": call.raw_arguments,
                "index": call.index,
                "valid": call.valid,
            }
            for call in choice.tool_calls
        ],
        "finish_reason": choice.finish_reason,
        "raw_finish_reason": choice.raw_finish_reason,
        "reasoning_blocks": [
            {"index": b.index, "kind": b.kind, "text": b.text, "signature": b.signature}
            for b in choice.reasoning_blocks
        ],
    }


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
        )
    except (KeyError, TypeError, AttributeError) as exc:
        raise ProtocolError(f"bad message record: {exc!r}") from exc


def _choice_from_dict(record: Mapping[str, Any]) -> Choice:
    index = record["index"]
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
    )


class _AppendFile:
    """A file opened (on first write) for appending whole lines, each with one write."""

    def __init__(self, path: StrPath) -> None:
        self._path = path
        self._file: BinaryIO | None = None
        self._closed = False

    def write(self, record: Mapping[str, Any]) -> None:
        data = orjson.dumps(dict(record), option=orjson.OPT_APPEND_NEWLINE)
        if self._closed:
            raise ValueError(f"{os.fspath(self._path)!r} is closed")
        if self._file is None:
            self._file = open(self._path, "a+b", buffering=0)  # closed in close()
            _mend_torn_tail(self._file)
        view = memoryview(data)
        while view:  # an unbuffered write may, rarely, take only part of the bytes
            written = self._file.write(view)
            view = view[written or 0 :]

    def close(self) -> None:
        self._closed = True
        if self._file is not None:
            self._file.close()
            self._file = None


_TAIL_BLOCK: Final = 64 * 1024


def _mend_torn_tail(file: BinaryIO) -> None:
    """Make a file whose last line was torn by a crash end in ``"\n"`` again, before appending.

    A last line that still parses as a whole object only lost its newline: the newline is added.
    Anything else is the fragment of a record never completely written: it is cut off, since
    the next record would otherwise be glued to it and the line would be unreadable.
    """
    size = file.seek(0, os.SEEK_END)
    if size == 0:
        return
    file.seek(size - 1)
    if file.read(1) == b"\n":
        return
    start = size
    while start > 0:  # find the start of the last line, reading backwards
        block_start = max(0, start - _TAIL_BLOCK)
        file.seek(block_start)
        newline = file.read(start - block_start).rfind(b"\n")
        if newline >= 0:
            start = block_start + newline + 1
            break
        start = block_start
    file.seek(start)
    if _is_object(file.read()):
        file.write(b"\n")
    else:
        file.truncate(start)


def _is_object(line: bytes) -> bool:
    try:
        return isinstance(orjson.loads(line), dict)
    except orjson.JSONDecodeError:
        return False


def append_jsonl(path: StrPath, record: Mapping[str, Any]) -> None:
    """Append ``record`` to ``path`` as one JSON line (creating the file), crash-safely.

    Example:
        >>> append_jsonl("answers.jsonl", message_to_dict(message))  # doctest: +SKIP

    Raises:
        TypeError: ``record`` holds something JSON cannot represent.
        OSError: the file cannot be written.
    """
    file = _AppendFile(path)
    try:
        file.write(record)
    finally:
        file.close()


def to_jsonl(
    path: StrPath, *, what: Literal["events", "messages"] = "events"
) -> Operator[StreamEvent, StreamEvent]:
    """Append the stream to a JSON Lines file as it passes; events pass on unchanged.

    With ``what="events"`` every event is a line (``event_to_dict``), written before it is passed
    on; with ``"messages"`` the final message is one line (``message_to_dict``), written when the
    stream completes, before the completion is passed on (tool calls with invalid arguments are
    kept, marked ``valid: false``). Each subscription opens the file on its first write and
    closes it when the stream ends or is disposed. A write error ends the stream with
    ``on_error`` (``OSError``, or ``TypeError`` for an unserializable ``raw``) and disposes the
    source.

    Example:
        >>> from streamkit import sinks  # doctest: +SKIP
        >>> events.pipe(sinks.to_jsonl("run.jsonl"))  # doctest: +SKIP

    Raises:
        ValueError: ``what`` is neither ``events`` nor ``messages``.
    """
    if what not in ("events", "messages"):
        raise ValueError(f"what must be 'events' or 'messages', got {what!r}")

    def operator(source: Observable[StreamEvent]) -> Observable[StreamEvent]:
        def subscribe(
            observer: abc.ObserverBase[StreamEvent], scheduler: abc.SchedulerBase | None = None
        ) -> abc.DisposableBase:
            file = _AppendFile(path)
            builder = MessageBuilder(invalid="emit")
            stopped = False
            subscription = SingleAssignmentDisposable()

            def fail(error: Exception) -> None:
                nonlocal stopped
                stopped = True
                file.close()
                observer.on_error(error)
                subscription.dispose()

            def on_next(event: StreamEvent) -> None:
                nonlocal builder
                if stopped:
                    return
                try:
                    if what == "events":
                        file.write(event_to_dict(event))
                    else:
                        builder = accumulate(builder, event)
                except Exception as exc:
                    fail(exc)
                    return
                observer.on_next(event)

            def on_error(error: Exception) -> None:
                if not stopped:
                    fail(error)

            def on_completed() -> None:
                nonlocal stopped
                if stopped:
                    return
                try:
                    if what == "messages":
                        file.write(message_to_dict(builder.build()))
                except Exception as exc:
                    fail(exc)
                    return
                stopped = True
                file.close()
                observer.on_completed()

            subscription.disposable = source.subscribe(
                on_next, on_error, on_completed, scheduler=scheduler
            )
            return CompositeDisposable(subscription, Disposable(file.close))

        return Observable(subscribe)

    return operator


def read_jsonl(path: StrPath) -> Iterator[dict[str, Any]]:
    """Yield the JSON objects of a JSON Lines file, in order, reading as it goes.

    A last line without its newline was torn by a crash mid-write: it is yielded if it still
    parses as a whole object and skipped if not. Blank lines are skipped.

    Raises:
        JSONLError: a line, other than a torn last one, is not a JSON object; it names the line.
        OSError: the file cannot be read.
    """
    name = os.fspath(path)
    with open(path, "rb") as file:
        for number, line in enumerate(file, start=1):
            torn = not line.endswith(b"\n")
            if not line.strip():
                continue
            try:
                record = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                if torn:
                    return
                raise JSONLError(
                    f"{name}, line {number}: not valid JSON ({exc})", path=name, line_number=number
                ) from exc
            if not isinstance(record, dict):
                if torn:
                    return
                raise JSONLError(
                    f"{name}, line {number}: a JSON {type(record).__name__}, not an object",
                    path=name,
                    line_number=number,
                )
            yield record


def read_events(path: StrPath) -> Iterator[StreamEvent]:
    """Yield the events of a file written by ``to_jsonl(path)``; see ``read_jsonl``.

    Raises:
        JSONLError: a line is corrupt.
        ProtocolError: a record is not an event.
    """
    for record in read_jsonl(path):
        yield event_from_dict(record)
