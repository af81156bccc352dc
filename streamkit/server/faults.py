"""Fault injection for the embedded server: the ``x-streamkit-fault`` header, parsed.

The header holds ``;``-separated specs (spaces around them are ignored)::

    disconnect-after=N         close the connection abruptly after N SSE events
    status=CODE                answer with an HTTP error in the provider's error shape
    retry-after=S              with ``status``: send a ``retry-after: S`` header
    error-event-after=N:TYPE   send an error event of TYPE (e.g. ``overloaded_error``) after N
                               events, then end the stream
    malformed-after=N          send one event with broken JSON after N events
    stall=S@N                  sleep S seconds before event N
    oversize-after=N:BYTES     send one event larger than BYTES after N events (its content is
                               padding that decoders ignore)
    keepalive-every=N          a keep-alive (OpenAI comment, Anthropic ping) after every N events
    first-attempts=K           apply the other faults only to the first K requests that carry the
                               same fault header (and ``x-streamkit-session`` header); later ones
                               are served normally

Events are counted as written SSE events (the role chunk or ``message_start`` is event 1);
keep-alives, pings and injected events are not counted. This module is pure: no I/O.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, fields
from typing import Any

from streamkit.errors import StreamkitError

__all__ = ["FAULT_HEADER", "FaultPlan", "FaultSpecError", "parse_faults"]

#: The request header that carries fault specs.
FAULT_HEADER = "x-streamkit-fault"


class FaultSpecError(StreamkitError, ValueError):
    """A fault spec could not be parsed; ``spec`` is the offending text.

    A ``StreamkitError`` like every error streamkit raises, and a ``ValueError`` as bad input.
    """

    def __init__(self, spec: str, reason: str) -> None:
        super().__init__(f"invalid fault spec {spec!r}: {reason}")
        self.spec = spec
        self.reason = reason


@dataclass(frozen=True, slots=True)
class FaultPlan:
    """What to break in one response; every field None (or 0) means "no such fault".

    Attributes:
        disconnect_after: close the connection after this many events.
        status: answer with this HTTP error status instead of a stream.
        retry_after: seconds for the ``retry-after`` header of a ``status`` error.
        error_event_after: send an error event after this many events.
        error_type: the error event's type (e.g. ``overloaded_error``, ``api_error``).
        malformed_after: send one event with broken JSON after this many events.
        stall_seconds: how long to stall ...
        stall_before: ... before writing this event (1-based; 1 stalls before the first).
        oversize_after: send one oversized event after this many events ...
        oversize_bytes: ... larger than this many bytes.
        keepalive_every: a keep-alive after every this many events.
        first_attempts: apply the faults only to the first this many matching requests.
    """

    disconnect_after: int | None = None
    status: int | None = None
    retry_after: float | None = None
    error_event_after: int | None = None
    error_type: str = "api_error"
    malformed_after: int | None = None
    stall_seconds: float = 0.0
    stall_before: int | None = None
    oversize_after: int | None = None
    oversize_bytes: int = 0
    keepalive_every: int | None = None
    first_attempts: int | None = None

    @property
    def empty(self) -> bool:
        """True when the plan breaks nothing."""
        return self == FaultPlan()

    def without_faults(self) -> FaultPlan:
        """The plan for a request past ``first_attempts``: only keep-alives remain."""
        return FaultPlan(keepalive_every=self.keepalive_every)


def _count(spec: str, text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise FaultSpecError(spec, f"{text!r} is not a whole number") from None
    if value < 0:
        raise FaultSpecError(spec, "must not be negative")
    return value


def _seconds(spec: str, text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise FaultSpecError(spec, f"{text!r} is not a number of seconds") from None
    if not value >= 0:  # also rejects NaN
        raise FaultSpecError(spec, "must not be negative")
    return value


def _pair(spec: str, text: str, sep: str) -> tuple[str, str]:
    first, found, second = text.partition(sep)
    if not found or not first or not second:
        raise FaultSpecError(spec, f"expected two values separated by {sep!r}")
    return first, second


def _status(spec: str, text: str) -> dict[str, Any]:
    code = _count(spec, text)
    if not 400 <= code <= 599:
        raise FaultSpecError(spec, "status must be an HTTP error code (400-599)")
    return {"status": code}


def _error_event(spec: str, text: str) -> dict[str, Any]:
    count, kind = _pair(spec, text, ":")
    return {"error_event_after": _count(spec, count), "error_type": kind}


def _stall(spec: str, text: str) -> dict[str, Any]:
    seconds, before = _pair(spec, text, "@")
    return {"stall_seconds": _seconds(spec, seconds), "stall_before": _count(spec, before)}


def _oversize(spec: str, text: str) -> dict[str, Any]:
    count, size = _pair(spec, text, ":")
    return {"oversize_after": _count(spec, count), "oversize_bytes": _count(spec, size)}


def _positive(name: str) -> Callable[[str, str], dict[str, Any]]:
    def parse(spec: str, text: str) -> dict[str, Any]:
        value = _count(spec, text)
        if value == 0:
            raise FaultSpecError(spec, "must be at least 1")
        return {name: value}

    return parse


_PARSERS: dict[str, Callable[[str, str], dict[str, Any]]] = {
    "disconnect-after": lambda spec, text: {"disconnect_after": _count(spec, text)},
    "status": _status,
    "retry-after": lambda spec, text: {"retry_after": _seconds(spec, text)},
    "error-event-after": _error_event,
    "malformed-after": lambda spec, text: {"malformed_after": _count(spec, text)},
    "stall": _stall,
    "oversize-after": _oversize,
    "keepalive-every": _positive("keepalive_every"),
    "first-attempts": _positive("first_attempts"),
}


def parse_faults(header: str | None) -> FaultPlan:
    """Parse an ``x-streamkit-fault`` header value (see the module docstring); "" means none.

    Raises:
        FaultSpecError: an unknown spec, a malformed value, or the same spec twice.
    """
    values: dict[str, Any] = {}
    seen: set[str] = set()
    for raw in (header or "").split(";"):
        spec = raw.strip()
        if not spec:
            continue
        name, found, text = spec.partition("=")
        name, text = name.strip(), text.strip()
        parser = _PARSERS.get(name)
        if parser is None:
            known = ", ".join(sorted(_PARSERS))
            raise FaultSpecError(spec, f"unknown fault {name!r}; known faults: {known}")
        if not found or not text:
            raise FaultSpecError(spec, "expected NAME=VALUE")
        if name in seen:
            raise FaultSpecError(spec, f"{name!r} given twice")
        seen.add(name)
        values.update(parser(spec, text))
    if "retry_after" in values and "status" not in values:
        raise FaultSpecError(header or "", "retry-after needs status=CODE")
    known_fields = {f.name for f in fields(FaultPlan)}
    assert set(values) <= known_fields
    return FaultPlan(**values)
