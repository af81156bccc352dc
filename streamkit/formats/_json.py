"""JSON helpers shared by the format modules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, TypeVar

import orjson

from streamkit.errors import (
    APIStatusError,
    MalformedEventError,
    ProtocolError,
    truncate,
)
from streamkit.exact_json import JSONDecodeError, loads
from streamkit.http_headers import retry_after_seconds

__all__ = [
    "api_error_from_response",
    "load_event_json",
    "optional_field",
    "optional_index",
    "required_field",
    "required_index",
]

_T = TypeVar("_T")
_D = TypeVar("_D")
_KIND_NAMES = {str: "a string", int: "an integer", dict: "an object", list: "an array"}


def load_event_json(sse_event: str, data: str) -> Any:
    """Parse the data of one SSE event, naming the event (truncated) when it is not JSON.

    Exact (see ``streamkit.exact_json``): big integers stay integers in ``raw``, and a lone
    surrogate escape (half of a pair split across two chunks) is kept for the fold to rejoin.

    Raises:
        MalformedEventError: ``data`` is not valid JSON.
    """
    try:
        return loads(data, lone_surrogates=True)
    except JSONDecodeError as exc:
        raise MalformedEventError(
            f"malformed JSON in SSE event {sse_event!r}: {exc}; data: {truncate(data)!r}"
        ) from exc


def required_field(obj: Mapping[str, Any], name: str, kind: type[_T], where: str) -> _T:
    """``obj[name]``, which must be a ``kind`` (a JSON boolean is not an integer).

    Raises:
        ProtocolError: the field is missing, null or of another type; the message names ``where``
            (the event or object), the field and the object (truncated).
    """
    value = obj.get(name)
    if isinstance(value, kind) and not _is_bool_for_int(value, kind):
        return value
    raise _shape_error(obj, name, kind, where)


def optional_field(
    obj: Mapping[str, Any], name: str, kind: type[_T], where: str, default: _D
) -> _T | _D:
    """``obj[name]`` if it is there and not null, else ``default``; see ``required_field``.

    Raises:
        ProtocolError: the field is there but neither null nor a ``kind``.
    """
    value = obj.get(name)
    # Decoders call this several times per event: the usual answer (exactly the JSON type, or
    # absent) must cost no more than the lookup. ``type(True) is int`` is false, so a boolean
    # still goes the long way and is rejected there.
    if type(value) is kind:
        return value
    if value is None:
        return default
    if isinstance(value, kind) and not _is_bool_for_int(value, kind):
        return value
    raise _shape_error(obj, name, kind, where)


def required_index(obj: Mapping[str, Any], name: str, where: str) -> int:
    """``obj[name]``, which must be an integer of at least 0 (a position in a list).

    Raises:
        ProtocolError: as ``required_field``, or the integer is negative.
    """
    return _non_negative(obj, name, required_field(obj, name, int, where), where)


def optional_index(obj: Mapping[str, Any], name: str, where: str, default: int) -> int:
    """``obj[name]`` as ``required_index``, or ``default`` if it is missing or null."""
    return _non_negative(obj, name, optional_field(obj, name, int, where, default), where)


def _non_negative(obj: Mapping[str, Any], name: str, value: int, where: str) -> int:
    if value < 0:
        raise ProtocolError(f"{where} with a negative {name!r}: {truncate(repr(dict(obj)))!r}")
    return value


def _is_bool_for_int(value: object, kind: type[Any]) -> bool:
    return isinstance(value, bool) and kind is not bool


def _shape_error(obj: Mapping[str, Any], name: str, kind: type[Any], where: str) -> ProtocolError:
    expected = _KIND_NAMES.get(kind, kind.__name__)
    try:
        shown = orjson.dumps(obj).decode()
    except TypeError:
        shown = repr(obj)
    return ProtocolError(
        f"{where} without a valid {name!r} ({expected} expected): {truncate(shown)!r}"
    )


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
