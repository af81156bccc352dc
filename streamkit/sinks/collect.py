"""Await the final assembled ``Message`` of a stream.

The sink for code that wants the whole answer, not its pieces: ``await collect_message(events)``.
The folding is the ``to_message`` operator (``streamkit.operators``); this module only awaits it.
"""

from __future__ import annotations

from reactivex import Observable

from streamkit.bridge import collect
from streamkit.events import StreamEvent
from streamkit.fold.tool_calls import InvalidArguments
from streamkit.message import Message
from streamkit.operators.final_message import to_message

__all__ = ["collect_message"]


async def collect_message(
    source: Observable[StreamEvent], *, invalid: InvalidArguments = "raise"
) -> Message:
    """Subscribe to ``source`` and return the ``Message`` its events fold into.

    An empty stream gives an empty ``Message``. Cancelling the await disposes the subscription
    (for a streamkit source, closing its connection).

    Args:
        source: the stream's events.
        invalid: ``raise`` ``ToolCallError`` for a tool call whose arguments are not valid JSON,
            or ``emit``: keep it in the message with ``valid=False``.

    Raises:
        Exception: the error the stream ended with (``StreamkitError`` for streamkit sources),
            or ``ToolCallError`` as described for ``invalid``.

    Example:
        >>> message = await sk.collect_message(sk.stream_chat(url, body))  # doctest: +SKIP
        >>> print(message.text)  # doctest: +SKIP
    """
    (message,) = await collect(source.pipe(to_message(invalid=invalid)))
    return message
