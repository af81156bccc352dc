"""The streamkit exception hierarchy.

Every error streamkit raises or sends down a pipeline is one of these::

    StreamkitError
    ├── ProtocolError (also ValueError)   malformed SSE, oversized event, events out of order
    │   ├── MalformedEventError           an event's data is not JSON (retryable)
    │   └── ToolCallError                 tool arguments not valid JSON when the call closes
    ├── APIStatusError                    .status .error_type .message .body .request_id
    │   │                                 .retry_after .in_stream
    │   ├── AuthenticationError           401, 403
    │   ├── RateLimitError                429
    │   └── ServerError                   5xx, 529 (overloaded)
    ├── TransportError                    connect failure
    │   ├── ConnectionLostError           the stream ended or broke before its end marker
    │   └── StreamTimeoutError (also TimeoutError)
    │                                     .phase: connect | first_token | content_idle
    │                                             | idle | total
    ├── RetryExhaustedError               .causes: every failure, in order
    └── RecordedError                     .type_name: an error read back from a recording,
                                          its class name and message only

Facts are attributes, never only message text; ``retryable`` tells whether trying the same request
again may succeed. Foreign exceptions (aiohttp, asyncio, orjson) are translated once, where they are
caught, with ``raise ... from exc``. No message or repr ever contains an API key.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Literal

__all__ = [
    "APIStatusError",
    "AuthenticationError",
    "ConnectionLostError",
    "MalformedEventError",
    "ProtocolError",
    "RateLimitError",
    "RecordedError",
    "RetryExhaustedError",
    "ServerError",
    "StreamTimeoutError",
    "StreamkitError",
    "TimeoutPhase",
    "ToolCallError",
    "TransportError",
]

TimeoutPhase = Literal["connect", "first_token", "content_idle", "idle", "total"]

#: HTTP statuses worth retrying: request timeout, conflict, rate limit, transient server errors.
RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})

_MAX_SNIPPET = 200


def truncate(text: str, limit: int = _MAX_SNIPPET) -> str:
    """Shorten ``text`` for an error message, saying how much was cut."""
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text) - limit} more characters)"


class StreamkitError(Exception):
    """Base of every error streamkit raises."""

    @property
    def retryable(self) -> bool:
        """Whether the same request, sent again, may succeed."""
        return False


class ProtocolError(StreamkitError, ValueError):
    """The stream broke its wire format: malformed SSE or JSON, an oversized event, bad order."""


class MalformedEventError(ProtocolError):
    """One event's data was not valid JSON.

    Retryable: a corrupted event says nothing about the next response, and a retry that resumes
    loses nothing. A server that always sends it exhausts the attempts and the causes tell why.
    """

    @property
    def retryable(self) -> bool:
        return True


class ToolCallError(ProtocolError):
    """A tool call's arguments were not valid JSON when the call closed."""

    def __init__(self, message: str, *, name: str, call_id: str, arguments: str) -> None:
        super().__init__(message)
        self.name = name
        self.call_id = call_id
        self.arguments = arguments


class APIStatusError(StreamkitError):
    """The API answered with an error: an HTTP status, or an error event inside the stream.

    Attributes:
        status: the HTTP status; for an error event inside a stream, the status the provider
            documents for that error type (``overloaded_error`` is 529).
        error_type: the provider's error type, e.g. ``rate_limit_error``, or ``None``.
        message: the provider's error message.
        body: the parsed error body (raw JSON), or the body text when it was not JSON.
        request_id: the provider's request id header, when present.
        retry_after: seconds to wait before retrying, from ``retry-after-ms`` / ``retry-after``.
        in_stream: True when the error arrived as an event after a 2xx response had started.
    """

    def __init__(
        self,
        message: str,
        *,
        status: int,
        error_type: str | None = None,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        in_stream: bool = False,
    ) -> None:
        # One line, whatever the provider wrote: logs and the CLI show it as one record.
        # ``.message`` keeps the provider's text whole.
        super().__init__(f"{status} {error_type or 'error'}: {' '.join(message.split())}")
        self.status = status
        self.error_type = error_type
        self.message = message
        self.body = body
        self.request_id = request_id
        self.retry_after = retry_after
        self.in_stream = in_stream

    @property
    def retryable(self) -> bool:
        return self.status in RETRYABLE_STATUSES

    @staticmethod
    def for_status(
        status: int,
        message: str,
        *,
        error_type: str | None = None,
        body: Any = None,
        request_id: str | None = None,
        retry_after: float | None = None,
        in_stream: bool = False,
    ) -> APIStatusError:
        """Build the most specific subclass for ``status``."""
        cls: type[APIStatusError]
        if status in (401, 403):
            cls = AuthenticationError
        elif status == 429:
            cls = RateLimitError
        elif status >= 500:
            cls = ServerError
        else:
            cls = APIStatusError
        return cls(
            message,
            status=status,
            error_type=error_type,
            body=body,
            request_id=request_id,
            retry_after=retry_after,
            in_stream=in_stream,
        )


class AuthenticationError(APIStatusError):
    """The API rejected the credentials (401) or their permissions (403)."""


class RateLimitError(APIStatusError):
    """The API asked the client to slow down (429); see ``retry_after``."""


class ServerError(APIStatusError):
    """The API failed or is overloaded (5xx, Anthropic's 529)."""


class TransportError(StreamkitError):
    """The connection could not be made or was broken."""

    @property
    def retryable(self) -> bool:
        return True


class ConnectionLostError(TransportError):
    """The stream broke, or ended before its end marker (``[DONE]`` / ``message_stop``)."""


class StreamTimeoutError(TransportError, TimeoutError):
    """A deadline passed.

    Attributes:
        phase: which deadline: ``connect`` (connection and response headers), ``first_token``
            (first content event), ``content_idle`` (time between two content events, which
            keep-alives do not reset), ``idle`` (time between any two received bytes) or
            ``total``.
        seconds: the deadline that passed.
    """

    def __init__(self, phase: TimeoutPhase, seconds: float) -> None:
        super().__init__(f"{phase} timeout: nothing after {seconds:g} s")
        self.phase: TimeoutPhase = phase
        self.seconds = seconds


class RetryExhaustedError(StreamkitError):
    """Every attempt failed; ``causes`` holds each failure in order, the last one last."""

    def __init__(self, message: str, causes: Sequence[BaseException]) -> None:
        super().__init__(message)
        self.causes: tuple[BaseException, ...] = tuple(causes)


class RecordedError(StreamkitError):
    """An exception read back from a recording: its class name and message, nothing more.

    It stands in for ``Retrying.cause`` when a recorded stream is read back (see
    ``streamkit.json_codec.event_from_dict``), since the original class may not be importable
    or constructible from a message. Not retryable: it describes a failure that already happened.

    Attributes:
        type_name: the original exception's class name.
    """

    def __init__(self, type_name: str, message: str) -> None:
        super().__init__(message)
        self.type_name = type_name

    def __repr__(self) -> str:
        return f"RecordedError({self.type_name!r}, {str(self)!r})"
