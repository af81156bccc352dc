"""A sans-IO chat stream decoder: the bytes of a streamed answer in, typed events out.

``ChatDecoder`` is the whole of decoding a chat response body, with no socket and no event loop,
in the manner of h11's connection object: feed it bytes as they arrive, in pieces of any size,
and it returns the ``ContentEvent`` values they complete. It composes the WHATWG event-stream
decoder (``streamkit.sse``) with one wire format's decoder, counts the body bytes behind each
event (``wire_bytes``), and knows the format's end marker::

    decoder = ChatDecoder("anthropic")
    for chunk in chunks:
        for event in decoder.feed(chunk):
            ...
    decoder.close()  # raises ConnectionLostError if the end marker never came

The HTTP transport (``streamkit.transport``) and the replay of recordings (``streamkit.record``)
both decode through it, so a saved body or a relayed one decodes exactly as the live stream did.

Rules that hold whatever the split of the bytes:

- Events come out in order, each once, as soon as the bytes that complete it are fed.
- Everything after the format's end marker (``data: [DONE]``, ``message_stop``,
  ``response.completed``, Gemini's last ``finishReason``) is ignored:
  ``finished`` turns true and later bytes decode to nothing, in the same read or a later one.
- A malformed event stops decoding. ``feed`` returns the events before it; the error is raised
  by the next call of ``feed``, ``check`` or ``close``, so nothing decoded is lost and nothing
  after the bad event is decoded.
"""

from __future__ import annotations

from streamkit.errors import ConnectionLostError
from streamkit.events import BlockStart, ContentEvent, ProviderData, StreamStart, Usage
from streamkit.formats import FormatName, WireFormat, get_format
from streamkit.sse import DEFAULT_MAX_EVENT_BYTES, SSEDecoder

__all__ = ["ChatDecoder", "is_content"]


def is_content(event: ContentEvent) -> bool:
    """Whether ``event`` is part of the answer itself, for the first-token deadline.

    The answer's opening (``StreamStart``), a content block's opening (``BlockStart``: OpenAI's
    role chunk says ``content: ""``), usage reports and other provider data come before any
    token and do not count; keep-alives and pings never become events at all.
    """
    return not isinstance(event, (StreamStart, BlockStart, Usage, ProviderData))


class ChatDecoder:
    """Decodes one streamed chat response body; one instance per body.

    Args:
        format: the body's wire format: a ``FormatName`` (``"openai"``, ``"anthropic"``,
            ``"responses"``, ``"gemini"``) or a ``WireFormat``.
        max_event_bytes: the largest SSE event accepted; a larger one is a ``ProtocolError``.

    Raises:
        ValueError: ``format`` names no known format.
    """

    def __init__(
        self, format: FormatName | WireFormat, *, max_event_bytes: int = DEFAULT_MAX_EVENT_BYTES
    ) -> None:
        self._format = get_format(format) if isinstance(format, str) else format
        self._sse = SSEDecoder(max_event_bytes=max_event_bytes)
        self._decoder = self._format.decoder()
        self._unaccounted = 0  # body bytes fed since the last event was returned
        self._error: Exception | None = None
        self._closed = False

    @property
    def format(self) -> WireFormat:
        """The wire format decoded."""
        return self._format

    @property
    def finished(self) -> bool:
        """True once the format's end marker was decoded; later bytes are ignored."""
        return self._decoder.finished

    def feed(self, data: bytes, received_at: float = 0.0) -> list[ContentEvent]:
        """Decode ``data``, the next bytes of the body; return the events they complete.

        Args:
            data: any number of bytes, split anywhere (inside a UTF-8 character too).
            received_at: the monotonic time the bytes arrived, stamped on the events.

        Raises:
            ProtocolError: an earlier call met a malformed event (raised here, once its events
                were returned), or this one met one before completing any event.
            APIStatusError: the stream carried an error event (``in_stream`` is True).
            ValueError: the decoder is closed.
        """
        self._raise_pending()
        if self._closed:
            raise ValueError("the decoder is closed")
        if self.finished:
            return []
        self._unaccounted += len(data)
        events: list[ContentEvent] = []
        decoder = self._decoder
        decode = decoder.decode  # looked up once: this loop runs once per event
        try:
            for sse in self._sse.feed(data):
                decoded = decode(sse, received_at)
                if decoded:
                    if self._unaccounted:
                        # The format decoder built this event for this call and no one else
                        # holds it yet: stamping it in place spares rebuilding a frozen value.
                        object.__setattr__(decoded[0], "wire_bytes", self._unaccounted)
                        self._unaccounted = 0
                    events += decoded
                if decoder.finished:
                    break  # the end marker: whatever follows it is not part of the answer
        except Exception as exc:
            if not events:
                raise
            self._error = exc  # returned first what came before it; raised next call
        return events

    def check(self) -> None:
        """Raise the error that stopped decoding, if a ``feed`` returned early because of it."""
        self._raise_pending()

    def close(self) -> None:
        """The body ended: check that the answer did.

        Idempotent once it succeeded.

        Raises:
            ProtocolError: decoding had stopped at a malformed event (see ``feed``).
            ConnectionLostError: the body ended before the format's end marker (inside an event,
                when a partial event was pending).
        """
        self._raise_pending()
        if self._closed:
            return
        self._closed = True
        partial = self._sse.has_partial_event
        self._sse.close()
        if not self.finished:
            detail = " inside an event" if partial else ""
            raise ConnectionLostError(f"the stream ended{detail} before its end marker")

    def _raise_pending(self) -> None:
        error, self._error = self._error, None
        if error is not None:
            self._closed = True
            raise error
