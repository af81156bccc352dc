"""Record a stream to a JSON Lines file as it passes, and read the recorded events back.

``to_jsonl(path)`` is the Rx operator: every event (or, with ``what="messages"``, the final
message) becomes one line of a crash-safe JSON Lines file; ``read_events`` turns such a file back
into events. The pieces it is built from live below the sinks and are re-exported here, where
users have always imported them: the codec (``event_to_dict``, ``event_from_dict``,
``message_to_dict``, ``message_from_dict``, ``RecordedError``) in ``streamkit.json_codec``, the
file primitive (``append_jsonl``, ``read_jsonl``, ``JSONLError``, ``StrPath``) in
``streamkit.jsonl_file``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Literal

from streamkit.errors import RecordedError as RecordedError
from streamkit.events import StreamEvent
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.json_codec import event_from_dict as event_from_dict
from streamkit.json_codec import event_to_dict as event_to_dict
from streamkit.json_codec import message_from_dict as message_from_dict
from streamkit.json_codec import message_to_dict as message_to_dict
from streamkit.jsonl_file import JSONLAppender
from streamkit.jsonl_file import JSONLError as JSONLError
from streamkit.jsonl_file import StrPath as StrPath
from streamkit.jsonl_file import append_jsonl as append_jsonl
from streamkit.jsonl_file import read_jsonl as read_jsonl
from streamkit.operators.base import Emit, Operator, stateful_operator

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

    def start() -> tuple[JSONLAppender, MessageBuilder]:
        return JSONLAppender(path), MessageBuilder(invalid="emit")

    def step(
        state: tuple[JSONLAppender, MessageBuilder], event: StreamEvent, emit: Emit[StreamEvent]
    ) -> tuple[JSONLAppender, MessageBuilder]:
        file, builder = state
        if what == "events":
            file.write(event_to_dict(event))
        else:
            builder = accumulate(builder, event)
        emit(event)
        return file, builder

    def flush(state: tuple[JSONLAppender, MessageBuilder], emit: Emit[StreamEvent]) -> None:
        file, builder = state
        if what == "messages":
            file.write(message_to_dict(builder.build()))

    def close(state: tuple[JSONLAppender, MessageBuilder]) -> None:
        state[0].close()

    operator: Operator[StreamEvent, StreamEvent] = stateful_operator(
        start, step, flush=flush, close=close
    )
    return operator


def read_events(path: StrPath) -> Iterator[StreamEvent]:
    """Yield the events of a file written by ``to_jsonl(path)``; see ``read_jsonl``.

    Raises:
        JSONLError: a line is corrupt.
        ProtocolError: a record is not an event.
    """
    for record in read_jsonl(path):
        yield event_from_dict(record)
