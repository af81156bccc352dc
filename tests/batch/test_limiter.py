"""The limiter is pure accounting: every rule is checked by moving a virtual clock."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from streamkit.batch.limiter import (
    HeaderLimits,
    LocalQuota,
    RateLimiter,
    Reservation,
    TokenBucket,
    parse_rate_limit_headers,
)


class Clock:
    """A clock that moves only when told to."""

    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_bucket_refills_at_its_rate_up_to_its_capacity() -> None:
    bucket = TokenBucket.per_minute(600, burst=1.0, now=0.0)  # 10/s, holds 10
    bucket.take(10, 0.0)
    assert bucket.wait(1, 0.0) == pytest.approx(0.1)
    assert bucket.wait(5, 0.0) == pytest.approx(0.5)
    bucket.refill(100.0)
    assert bucket.level == 10


def test_a_take_larger_than_the_bucket_waits_for_a_full_bucket_then_leaves_debt() -> None:
    bucket = TokenBucket.per_minute(60, burst=1.0, now=0.0)  # 1/s, holds 1
    assert bucket.wait(5, 0.0) == 0
    bucket.take(5, 0.0)
    assert bucket.level == -4
    assert bucket.wait(5, 0.0) == pytest.approx(5.0)  # back to full first


def test_rpm_spaces_requests_at_the_rate_after_the_burst() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=120, burst=1.0, clock=clock)  # 2/s, a burst of 2
    starts = []
    for _ in range(6):
        outcome = limiter.reserve(0)
        while not isinstance(outcome, Reservation):
            clock.now += outcome
            outcome = limiter.reserve(0)
        starts.append(outcome.at - 100.0)
    assert starts == pytest.approx([0.0, 0.0, 0.5, 1.0, 1.5, 2.0])


def test_tpm_reserves_the_estimate_and_settling_returns_what_was_not_used() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, burst=1.0, clock=clock)  # 100 tokens/s, holds 100
    first = limiter.reserve(100)
    assert isinstance(first, Reservation)
    assert limiter.reserve(100) == pytest.approx(1.0)
    limiter.settle(first, used=30)  # 70 come back
    assert limiter.reserve(100) == pytest.approx(0.3)


def test_settling_without_usage_keeps_the_whole_reservation() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, clock=clock)
    reservation = limiter.reserve(100)
    assert isinstance(reservation, Reservation)
    limiter.settle(reservation, used=None)
    assert limiter.reserve(100) == pytest.approx(1.0)


def test_an_answer_longer_than_reserved_is_charged() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=6000, clock=clock)
    reservation = limiter.reserve(50)
    assert isinstance(reservation, Reservation)
    limiter.settle(reservation, used=150)  # 100 more than reserved
    assert limiter.reserve(1) == pytest.approx(0.51)


def test_a_pause_holds_every_reservation_until_it_ends() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)  # no rate limits at all
    limiter.pause(3.0)
    assert limiter.reserve(0) == pytest.approx(3.0)
    clock.now += 2.0
    assert limiter.reserve(0) == pytest.approx(1.0)
    clock.now += 1.0
    assert isinstance(limiter.reserve(0), Reservation)


def test_overlapping_pauses_extend_and_a_shorter_one_never_cuts_a_longer_one() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock)
    limiter.pause(3.0)
    clock.now += 1.0
    limiter.pause(0.5)
    assert limiter.paused_for() == pytest.approx(2.0)
    limiter.pause(4.0)
    assert limiter.paused_for() == pytest.approx(4.0)
    assert limiter.paused_seconds == pytest.approx(5.0)  # 0..5 once, not 3 + 0.5 + 4
    assert limiter.pauses == 3


def test_a_429_response_pauses_for_its_retry_after() -> None:
    clock = Clock()
    limiter = RateLimiter(clock=clock, default_pause=1.0)
    limiter.observe_response(429, {"retry-after": "2.5"})
    assert limiter.paused_for() == pytest.approx(2.5)
    limiter.observe_response(429, {})
    assert limiter.paused_for() == pytest.approx(2.5)  # the default 1 s is within it
    limiter.observe_response(200, {"retry-after": "9"})
    assert limiter.paused_for() == pytest.approx(2.5)  # only a 429 pauses


def test_headers_saying_the_budget_is_exhausted_block_until_their_reset() -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=6000, tpm=600_000, clock=clock)
    limiter.observe_response(
        200,
        {
            "x-ratelimit-remaining-requests": "0",
            "x-ratelimit-reset-requests": "1.5s",
            "x-ratelimit-remaining-tokens": "5000",
        },
    )
    assert limiter.reserve(10) == pytest.approx(1.5)
    clock.now += 1.5
    assert isinstance(limiter.reserve(10), Reservation)


def test_headers_lower_the_token_budget_to_what_the_server_has_left() -> None:
    clock = Clock()
    limiter = RateLimiter(tpm=60_000, clock=clock)  # 1000/s, holds 1000
    limiter.observe_response(200, {"x-ratelimit-remaining-tokens": "100"})
    assert limiter.reserve(300) == pytest.approx(0.2)


def test_a_plugged_in_quota_source_is_asked_instead_of_local_buckets() -> None:
    class Leases:
        def __init__(self) -> None:
            self.block = 2
            self.returned = 0
            self.paused: list[float] = []

        def wait(self, tokens: int, now: float) -> float:
            return 0.0 if self.block else 0.25

        def take(self, tokens: int, now: float) -> None:
            self.block -= 1

        def give_back(self, tokens: int, now: float) -> None:
            self.returned += tokens

        def correct(self, limits: HeaderLimits, now: float) -> None:
            pass

        def pause(self, seconds: float, now: float) -> None:
            self.paused.append(seconds)

    clock = Clock()
    leases = Leases()
    limiter = RateLimiter(clock=clock, source=leases)
    first = limiter.reserve(10)
    assert isinstance(first, Reservation)
    assert isinstance(limiter.reserve(10), Reservation)
    assert limiter.reserve(10) == 0.25
    limiter.settle(first, used=4)
    assert leases.returned == 6
    limiter.pause(2.0)  # passed on, so a shared source can hold every worker
    assert leases.paused == [2.0]
    with pytest.raises(ValueError, match="not both"):
        RateLimiter(rpm=1, source=leases)


async def test_acquire_sleeps_only_for_the_computed_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = Clock()
    limiter = RateLimiter(rpm=60, clock=clock)
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.now += seconds

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    await limiter.acquire()
    limiter.pause(2.0)
    await limiter.acquire()
    assert slept == pytest.approx([2.0])  # the pause covers the 1 s refill too


def test_local_quota_without_limits_never_waits() -> None:
    quota = LocalQuota()
    quota.take(10**9, 0.0)
    assert quota.wait(10**9, 0.0) == 0


def test_openai_headers_are_parsed_with_their_durations() -> None:
    limits = parse_rate_limit_headers(
        {
            "X-RateLimit-Remaining-Requests": "59",
            "x-ratelimit-remaining-tokens": "149984",
            "x-ratelimit-reset-requests": "6m0s",
            "x-ratelimit-reset-tokens": "20ms",
            "retry-after-ms": "1500",
        }
    )
    assert limits == HeaderLimits(59, 149984, 360.0, 0.02, 1.5)


def test_anthropic_headers_are_parsed_with_their_reset_times() -> None:
    now = datetime(2026, 1, 1, 12, 0, 0, tzinfo=UTC)
    limits = parse_rate_limit_headers(
        {
            "anthropic-ratelimit-requests-remaining": "3",
            "anthropic-ratelimit-requests-reset": "2026-01-01T12:00:30Z",
            "anthropic-ratelimit-input-tokens-remaining": "900",
            "anthropic-ratelimit-output-tokens-remaining": "400",
            "anthropic-ratelimit-input-tokens-reset": "2026-01-01T12:00:02Z",
            "retry-after": "4",
        },
        now=now,
    )
    assert limits == HeaderLimits(3, 400, 30.0, 2.0, 4.0)


def test_malformed_rate_limit_headers_are_ignored() -> None:
    limits = parse_rate_limit_headers(
        {
            "x-ratelimit-remaining-requests": "lots",
            "x-ratelimit-reset-requests": "soon",
            "retry-after": "-3",
        }
    )
    assert limits.empty
