"""JSON helpers shared by the format modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from streamkit.errors import APIStatusError, MalformedEventError, retry_after_seconds, truncate

__all__ = ["api_error_from_response", "load_event_json"]


def load_event_json(sse_event: str, data: str) -> Any:
    """Parse the data of one SSE event, naming the event (truncated) when it is not JSON.

    Raises:
        MalformedEventError: ``data`` is not valid JSON.
    """
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError as exc:
        raise MalformedEventError(
            f"malformed JSON in SSE event {sse_event!r}: {exc}; data: {truncate(data)!r}"
        ) from exc


def api_error_from_response(
    status: int,
    body: bytes,
    headers: Mapping[str, str],
    *,
    request_id_header: str,
) -> APIStatusError:
    """Build the typed error for a non-2xx response whose body may hold ``{"error": {...}}``."""
    text = body.decode("utf-8", errors="replace")
    parsed: Any
    try:
        parsed = orjson.loads(body) if body else None
    except orjson.JSONDecodeError:
        parsed = None
    error_type: str | None = None
    message = truncate(text) if text else f"HTTP {status}"
    error = parsed.get("error") if isinstance(parsed, dict) else None
    if isinstance(error, dict):
        error_type = error.get("type") if isinstance(error.get("type"), str) else None
        if isinstance(error.get("message"), str):
            message = error["message"]
    return APIStatusError.for_status(
        status,
        message,
        error_type=error_type,
        body=parsed if parsed is not None else text,
        request_id=headers.get(request_id_header),
        retry_after=retry_after_seconds(headers),
    )
