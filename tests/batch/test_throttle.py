"""``rate_limited``: the limiter as an operator, tested on plain observables (no network)."""

from __future__ import annotations

import asyncio

import pytest
import reactivex

import streamkit as sk
from streamkit.batch import RateLimiter, rate_limited
from streamkit.events import StreamEvent, TextDelta, Usage


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    """A virtual clock that the limiter's waits advance instead of sleeping."""
    virtual = Clock()
    real_sleep = asyncio.sleep

    async def fake_sleep(seconds: float) -> None:
        virtual.now += seconds
        await real_sleep(0)

    monkeypatch.setattr(asyncio, "sleep", fake_sleep)
    return virtual


def answer(text: str, used_in: int, used_out: int) -> reactivex.Observable[StreamEvent]:
    return reactivex.of(TextDelta(text), Usage(input_tokens=used_in, output_tokens=used_out))


async def test_a_stream_settles_its_reservation_with_the_usage_it_reports(clock: Clock) -> None:
    limiter = RateLimiter(tpm=6000, clock=clock)  # 100 tokens/s, holds 100
    events = await sk.collect(answer("hi", 3, 7).pipe(rate_limited(limiter, tokens=100)))
    assert events[0] == TextDelta("hi")
    assert limiter.wait(90) == 0  # 100 reserved, 10 used: 90 came back


async def test_subscriptions_wait_for_their_quota(clock: Clock) -> None:
    limiter = RateLimiter(rpm=60, clock=clock)  # one a second
    started: list[float] = []

    def stream() -> reactivex.Observable[StreamEvent]:
        return reactivex.defer(lambda _: (started.append(clock.now), answer("x", 1, 1))[1])

    for _ in range(3):
        await sk.collect(stream().pipe(rate_limited(limiter)))
    assert started == pytest.approx([0.0, 1.0, 2.0])


async def test_a_429_pauses_the_limiter_and_is_passed_on(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    error = sk.RateLimitError("slow down", status=429, retry_after=2.5)
    with pytest.raises(sk.RateLimitError):
        await sk.collect(reactivex.throw(error).pipe(rate_limited(limiter, tokens=10)))
    assert limiter.paused_for() == pytest.approx(2.5)
    assert limiter.pauses == 1


async def test_a_refused_request_gives_its_tokens_back(clock: Clock) -> None:
    limiter = RateLimiter(tpm=6000, clock=clock)
    error = sk.APIStatusError("bad", status=400)
    with pytest.raises(sk.APIStatusError):
        await sk.collect(reactivex.throw(error).pipe(rate_limited(limiter, tokens=100)))
    assert limiter.wait(100) == 0


async def test_disposing_during_the_wait_takes_no_quota(clock: Clock) -> None:
    limiter = RateLimiter(clock=clock)
    limiter.pause(5.0)
    subscribed: list[bool] = []
    source = reactivex.defer(lambda _: (subscribed.append(True), answer("x", 1, 1))[1])
    subscription = source.pipe(rate_limited(limiter)).subscribe()
    subscription.dispose()
    await asyncio.sleep(0)
    assert subscribed == []


def test_negative_tokens_are_refused() -> None:
    with pytest.raises(ValueError, match="tokens"):
        rate_limited(RateLimiter(), tokens=-1)
