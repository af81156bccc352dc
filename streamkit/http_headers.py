"""What HTTP response headers say about retrying: pure parsing, no I/O.

``retry_after_seconds`` reads ``retry-after-ms`` and ``retry-after`` (seconds or an HTTP date,
RFC 9110 section 10.2.3) from an error response, for the error the formats and the transport
build.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

__all__ = ["retry_after_seconds"]


def retry_after_seconds(headers: Mapping[str, str], *, now: datetime | None = None) -> float | None:
    """Read ``retry-after-ms`` or ``retry-after`` (seconds or an HTTP date) from response headers.

    A date is turned into seconds from ``now`` (default: the current UTC time); one in the past
    gives 0. A value that is neither, negative or not finite is ignored.
    """
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        value = headers.get(name)
        if value is None:
            continue
        try:
            seconds = float(value) * scale
        except ValueError:
            seconds = _seconds_until(value, now) if scale == 1.0 else math.nan
        if math.isfinite(seconds) and seconds >= 0:
            return seconds
    return None


def _seconds_until(http_date: str, now: datetime | None) -> float:
    """Seconds from ``now`` to an HTTP date (at least 0), or NaN when it is not a date."""
    try:
        when = parsedate_to_datetime(http_date)
    except (TypeError, ValueError, IndexError):
        return math.nan
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())
