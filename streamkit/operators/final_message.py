"""``to_message``: the stream folded into one ``Message``, emitted when it completes."""

from __future__ import annotations

import reactivex.operators as rx_ops
from reactivex import Observable

from streamkit.events import StreamEvent
from streamkit.fold.message_builder import MessageBuilder, accumulate
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.message import Message
from streamkit.operators.base import Operator, events_only

__all__ = ["to_message"]


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
        return source.pipe(
            events_only("to_message()"),
            rx_ops.reduce(accumulate, seed),
            rx_ops.map(MessageBuilder.build),
        )

    return operator
