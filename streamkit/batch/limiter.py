"""Shared rate limits for a run: requests/min, tokens/min, and one pause for every stream.

Pure accounting with an injected clock: nothing here sleeps, opens a socket or reads the wall
clock, so every rule is tested by moving a number. ``RateLimiter.acquire`` is the one coroutine,
and it only sleeps for the wait the accounting computed.

How a request goes through it:

1. ``reserve(tokens)``: the request's input estimate plus its ``max_tokens`` is taken from the
   token budget and one request from the request budget. If either budget cannot cover it, or
   the run is paused, nothing is taken and the seconds to wait are returned instead.
2. The request runs. ``settle(reservation, used)`` gives back what the reservation overstated
   (or takes the excess, when the answer used more than was reserved).
3. A 429 or a ``retry-after`` anywhere calls ``pause(seconds)``: every ``reserve`` of the run
   waits until the pause ends, not only the stream that was told to slow down.
4. Providers' rate-limit headers (``observe_response``) correct the local view: a budget is never
   more generous than the server says it is, and a budget the server reports exhausted waits
   for the server's reset.

Budgets are token buckets that refill continuously (as OpenAI and Anthropic describe their own
limits) and hold at most ``burst`` seconds of quota, so a run does not start with a minute's
worth of requests at once. A request larger than the whole bucket may start when the bucket is
full and leaves it in debt, so a large ``max_tokens`` never deadlocks the run.

Where the quota comes from is pluggable (``QuotaSource``): ``LocalQuota`` keeps the buckets in
this process. A distributed run (Ray, Dask) plugs in a source that answers from a block of
quota leased from one shared actor, returns what it did not use, passes pauses on to the actor
and reports the other workers' pauses in its ``wait``; the limiter above it does not change.
"""

from __future__ import annotations

import asyncio
import math
import re
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Protocol

__all__ = [
    "Clock",
    "HeaderLimits",
    "LocalQuota",
    "QuotaSource",
    "RateLimiter",
    "Reservation",
    "TokenBucket",
    "parse_rate_limit_headers",
]

#: Monotonic seconds; ``time.monotonic`` in use, a plain counter in tests.
Clock = Callable[[], float]


@dataclass(slots=True)
class TokenBucket:
    """A budget that refills at ``rate`` units per second, up to ``capacity``.

    The level may go negative (debt) when one take is larger than the whole bucket; it must
    then refill to ``capacity`` before anything else is taken.

    Attributes:
        rate: units per second.
        capacity: the most the bucket holds.
        level: what it holds now (may be negative).
        updated: the clock reading ``level`` was computed at.
        blocked_until: no take before this time (a server said the budget is exhausted).
    """

    rate: float
    capacity: float
    level: float
    updated: float
    blocked_until: float = 0.0

    @classmethod
    def per_minute(cls, limit: float, *, burst: float, now: float) -> TokenBucket:
        """A bucket for ``limit`` units a minute holding ``burst`` seconds of it (at least 1)."""
        if not limit > 0:
            raise ValueError(f"a per-minute limit must be positive, got {limit!r}")
        if not burst > 0:
            raise ValueError(f"burst must be positive seconds, got {burst!r}")
        rate = limit / 60.0
        capacity = max(1.0, rate * burst)
        return cls(rate=rate, capacity=capacity, level=capacity, updated=now)

    def refill(self, now: float) -> None:
        """Bring ``level`` up to ``now``."""
        if now > self.updated:
            self.level = min(self.capacity, self.level + (now - self.updated) * self.rate)
            self.updated = now

    def wait(self, amount: float, now: float) -> float:
        """Seconds until ``amount`` can be taken (0: now). Takes nothing."""
        self.refill(now)
        blocked = max(0.0, self.blocked_until - now)
        # A take larger than the bucket needs a full bucket; any other, enough for itself.
        needed = min(amount, self.capacity)
        short = max(0.0, needed - self.level)
        return max(blocked, short / self.rate)

    def take(self, amount: float, now: float) -> None:
        """Take ``amount`` (the level may go negative); call after ``wait`` returned 0."""
        self.refill(now)
        self.level -= amount

    def give(self, amount: float, now: float) -> None:
        """Return ``amount`` (negative: take more), never above ``capacity``."""
        self.refill(now)
        self.level = min(self.capacity, self.level + amount)

    def correct(self, remaining: float | None, reset_in: float | None, now: float) -> None:
        """Follow a server's view: at most ``remaining`` left, refilled within ``reset_in``."""
        self.refill(now)
        if remaining is not None:
            self.level = min(self.level, remaining)
            if remaining < 1 and reset_in is not None:
                self.blocked_until = max(self.blocked_until, now + reset_in)


@dataclass(frozen=True, slots=True)
class Reservation:
    """What one ``reserve`` took: one request and ``tokens`` tokens, at ``at``."""

    tokens: int
    at: float


@dataclass(frozen=True, slots=True)
class HeaderLimits:
    """What a provider's rate-limit headers say; ``None`` where a header was absent.

    Attributes:
        remaining_requests: requests left in the current window.
        remaining_tokens: tokens left in the current window.
        reset_requests: seconds until the request budget is full again.
        reset_tokens: seconds until the token budget is full again.
        retry_after: seconds from ``retry-after-ms`` / ``retry-after`` (a number; an HTTP date
            is left to the error the response becomes).
    """

    remaining_requests: int | None = None
    remaining_tokens: int | None = None
    reset_requests: float | None = None
    reset_tokens: float | None = None
    retry_after: float | None = None

    @property
    def empty(self) -> bool:
        """True when no rate-limit header was present."""
        return self == HeaderLimits()


class QuotaSource(Protocol):
    """Where a limiter's requests/min and tokens/min quota comes from.

    Every method is synchronous and takes the clock reading, so sources are pure accounting:
    a source backed by a remote actor answers from a locally leased block and renews the lease
    in the background.
    """

    def wait(self, tokens: int, now: float) -> float:
        """Seconds until one request of ``tokens`` tokens can start (0: now); takes nothing."""
        ...

    def take(self, tokens: int, now: float) -> None:
        """Take one request and ``tokens`` tokens; called only after ``wait`` returned 0."""
        ...

    def give_back(self, tokens: int, now: float) -> None:
        """Return ``tokens`` reserved but not used (negative: charge an excess)."""
        ...

    def correct(self, limits: HeaderLimits, now: float) -> None:
        """Follow what the provider's headers say about the remaining quota."""
        ...

    def pause(self, seconds: float, now: float) -> None:
        """Hold every user of this quota for ``seconds`` (a 429 was seen).

        The limiter already pauses its own streams; a source shared by several processes
        passes the pause on to the others (and its ``wait`` reports theirs).
        """
        ...


@dataclass(slots=True)
class LocalQuota:
    """Quota kept in this process: one token bucket per limit given.

    Args:
        rpm: requests per minute, or None for no limit.
        tpm: tokens per minute, or None for no limit.
        burst: seconds of quota a bucket holds; a run starts with at most that much at once.
        now: the clock reading the buckets start full at.
    """

    rpm: float | None = None
    tpm: float | None = None
    burst: float = 1.0
    now: float = 0.0
    requests: TokenBucket | None = field(init=False, default=None)
    tokens: TokenBucket | None = field(init=False, default=None)

    def __post_init__(self) -> None:
        if self.rpm is not None:
            self.requests = TokenBucket.per_minute(self.rpm, burst=self.burst, now=self.now)
        if self.tpm is not None:
            self.tokens = TokenBucket.per_minute(self.tpm, burst=self.burst, now=self.now)

    def wait(self, tokens: int, now: float) -> float:
        waits = [0.0]
        if self.requests is not None:
            waits.append(self.requests.wait(1, now))
        if self.tokens is not None:
            waits.append(self.tokens.wait(tokens, now))
        return max(waits)

    def take(self, tokens: int, now: float) -> None:
        if self.requests is not None:
            self.requests.take(1, now)
        if self.tokens is not None:
            self.tokens.take(tokens, now)

    def give_back(self, tokens: int, now: float) -> None:
        if self.tokens is not None and tokens:
            self.tokens.give(tokens, now)

    def pause(self, seconds: float, now: float) -> None:
        pass  # one process: the limiter's own pause covers every stream

    def correct(self, limits: HeaderLimits, now: float) -> None:
        if self.requests is not None:
            self.requests.correct(limits.remaining_requests, limits.reset_requests, now)
        if self.tokens is not None:
            self.tokens.correct(limits.remaining_tokens, limits.reset_tokens, now)


class RateLimiter:
    """One run's shared limits: requests/min, tokens/min, and a pause that every stream obeys.

    Share one limiter between every stream of a run (``sk.batch`` does). Use ``acquire`` /
    ``settle`` around each request, or the ``rate_limited`` operator around each attempt.

    Args:
        rpm: requests per minute, or None.
        tpm: tokens per minute, or None; each request reserves its input estimate plus its
            ``max_tokens`` and settles with the real usage.
        burst: seconds of quota the run may spend at once.
        clock: monotonic seconds (``time.monotonic`` by default; a counter in tests).
        source: where quota comes from; by default a ``LocalQuota(rpm, tpm, burst)``.
        default_pause: seconds to pause after a 429 that carries no ``retry-after``.

    Example:
        >>> limiter = RateLimiter(rpm=500, tpm=200_000)  # doctest: +SKIP
        >>> reservation = await limiter.acquire(1200)  # doctest: +SKIP
        >>> limiter.settle(reservation, used=830)  # doctest: +SKIP
    """

    def __init__(
        self,
        *,
        rpm: float | None = None,
        tpm: float | None = None,
        burst: float = 1.0,
        clock: Clock = time.monotonic,
        source: QuotaSource | None = None,
        default_pause: float = 1.0,
    ) -> None:
        if source is not None and (rpm is not None or tpm is not None):
            raise ValueError("give rpm/tpm or a quota source, not both")
        self._clock = clock
        self._source: QuotaSource = source or LocalQuota(rpm, tpm, burst, clock())
        self._paused_until = 0.0
        self._default_pause = default_pause
        #: Total seconds of pause ordered so far (overlapping pauses count once).
        self.paused_seconds = 0.0
        #: How many pauses were ordered (429s and retry-afters seen).
        self.pauses = 0

    @property
    def clock(self) -> Clock:
        """The limiter's clock."""
        return self._clock

    def paused_for(self) -> float:
        """Seconds the run stays paused from now (0 when not paused)."""
        return max(0.0, self._paused_until - self._clock())

    def wait(self, tokens: int) -> float:
        """Seconds until a request of ``tokens`` tokens may start (0: now); takes nothing."""
        now = self._clock()
        return max(self._paused_until - now, self._source.wait(tokens, now), 0.0)

    def reserve(self, tokens: int) -> Reservation | float:
        """Take one request and ``tokens`` tokens now, or return the seconds to wait first."""
        if tokens < 0:
            raise ValueError(f"tokens must not be negative, got {tokens}")
        delay = self.wait(tokens)
        if delay > 0:
            return delay
        now = self._clock()
        self._source.take(tokens, now)
        return Reservation(tokens, now)

    async def acquire(self, tokens: int = 0) -> Reservation:
        """Wait until a request of ``tokens`` tokens may start, then reserve it.

        Cancelling the wait takes nothing. Waits are re-checked after each sleep: a pause
        ordered meanwhile, or another stream that took the quota, extends them.
        """
        while True:
            outcome = self.reserve(tokens)
            if isinstance(outcome, Reservation):
                return outcome
            await asyncio.sleep(outcome)

    def settle(self, reservation: Reservation, used: int | None) -> None:
        """Finish a request: give back the tokens reserved but not used.

        ``used=None`` (the provider reported no usage) keeps the whole reservation: the
        conservative choice, since the provider counted something.
        """
        if used is None:
            return
        self._source.give_back(reservation.tokens - used, self._clock())

    def pause(self, seconds: float | None) -> None:
        """Pause every stream of the run for ``seconds`` (default: ``default_pause``).

        Overlapping pauses extend each other; a shorter one never cuts a longer one short.
        """
        span = self._default_pause if seconds is None else max(0.0, seconds)
        now = self._clock()
        self._source.pause(span, now)
        until = now + span
        if until > self._paused_until:
            self.paused_seconds += until - max(now, self._paused_until)
            self._paused_until = until
        self.pauses += 1

    def observe_response(self, status: int, headers: Mapping[str, str]) -> HeaderLimits:
        """Follow a response's rate-limit headers, and pause the run on a 429; returns them.

        Called for every response as its headers arrive (``sk.batch`` hooks it into its
        session), so a 429 pauses the other streams before its error has even been decoded.
        """
        # Anthropic's resets are wall-clock times: the one place that needs the real date.
        limits = parse_rate_limit_headers(headers, now=datetime.now(UTC))
        if not limits.empty:
            self._source.correct(limits, self._clock())
        if status == 429:
            self.pause(limits.retry_after)
        return limits


# --- the providers' rate-limit headers --------------------------------------------------------

_DURATION = re.compile(r"(?P<value>\d+(?:\.\d+)?)(?P<unit>ms|s|m|h)")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def _duration(text: str) -> float | None:
    """OpenAI's reset durations: ``1s``, ``6m0s``, ``20ms``, ``1h2m3.5s``; a bare number is s."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        return value if math.isfinite(value) and value >= 0 else None
    parts = list(_DURATION.finditer(text))
    if not parts or "".join(p.group(0) for p in parts) != text:
        return None
    return sum(float(p.group("value")) * _UNITS[p.group("unit")] for p in parts)


def _until(text: str, now: datetime) -> float | None:
    """Anthropic's resets: an RFC 3339 time; seconds from ``now`` (0 if past)."""
    try:
        when = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _count(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        value = int(float(text.strip()))
    except ValueError:
        return None
    return value if value >= 0 else None


def parse_rate_limit_headers(
    headers: Mapping[str, str], *, now: datetime | None = None
) -> HeaderLimits:
    """Read OpenAI's ``x-ratelimit-*`` or Anthropic's ``anthropic-ratelimit-*`` headers.

    OpenAI: ``x-ratelimit-remaining-requests/-tokens`` and ``x-ratelimit-reset-requests/-tokens``
    (durations such as ``6m0s``). Anthropic: ``anthropic-ratelimit-requests-remaining/-reset``
    and ``anthropic-ratelimit-tokens-remaining/-reset`` (RFC 3339 times); where only the
    input/output token headers are sent, the smaller remaining count is used. Malformed values
    are ignored.
    """
    lower = {name.lower(): value for name, value in headers.items()}
    moment = now or datetime.now(UTC)
    retry_after = _retry_after(lower)
    if any(name.startswith("anthropic-ratelimit-") for name in lower):
        tokens = _count(lower.get("anthropic-ratelimit-tokens-remaining"))
        reset_tokens_text = lower.get("anthropic-ratelimit-tokens-reset")
        if tokens is None:
            split = [
                _count(lower.get(f"anthropic-ratelimit-{kind}-tokens-remaining"))
                for kind in ("input", "output")
            ]
            known = [value for value in split if value is not None]
            tokens = min(known) if known else None
            reset_tokens_text = reset_tokens_text or lower.get(
                "anthropic-ratelimit-input-tokens-reset"
            )
        reset_requests_text = lower.get("anthropic-ratelimit-requests-reset")
        return HeaderLimits(
            remaining_requests=_count(lower.get("anthropic-ratelimit-requests-remaining")),
            remaining_tokens=tokens,
            reset_requests=_until(reset_requests_text, moment) if reset_requests_text else None,
            reset_tokens=_until(reset_tokens_text, moment) if reset_tokens_text else None,
            retry_after=retry_after,
        )
    reset_requests = lower.get("x-ratelimit-reset-requests")
    reset_tokens = lower.get("x-ratelimit-reset-tokens")
    return HeaderLimits(
        remaining_requests=_count(lower.get("x-ratelimit-remaining-requests")),
        remaining_tokens=_count(lower.get("x-ratelimit-remaining-tokens")),
        reset_requests=_duration(reset_requests) if reset_requests else None,
        reset_tokens=_duration(reset_tokens) if reset_tokens else None,
        retry_after=retry_after,
    )


def _retry_after(lower: Mapping[str, str]) -> float | None:
    for name, scale in (("retry-after-ms", 0.001), ("retry-after", 1.0)):
        text = lower.get(name)
        if text is None:
            continue
        try:
            value = float(text) * scale
        except ValueError:
            continue
        if math.isfinite(value) and value >= 0:
            return value
    return None
