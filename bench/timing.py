"""Timing helpers: warm up, repeat, keep the best and the median (``time.perf_counter``)."""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

__all__ = ["Timing", "time_async", "time_call", "time_many", "time_many_async"]


@dataclass(frozen=True, slots=True)
class Timing:
    """Wall times of repeated runs, in seconds. ``best`` is what tables report: the least noisy."""

    best: float
    median: float
    runs: int


def time_call(fn: Callable[[], object], *, repeat: int = 5, warmup: int = 1) -> Timing:
    """Time ``fn()``: ``warmup`` untimed calls, then ``repeat`` timed ones, GC off while timing.

    Before each timed call the young generations are collected (a full collection would take
    longer than many a timed call, and the timed call cannot trigger one).

    Raises:
        ValueError: ``repeat`` is below 1.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for _ in range(warmup):
        fn()
    times: list[float] = []
    for _ in range(repeat):
        gc.collect(1)
        gc.disable()
        try:
            start = time.perf_counter()
            fn()
            times.append(time.perf_counter() - start)
        finally:
            gc.enable()
    return _timing(times)


async def time_async(
    fn: Callable[[], Awaitable[object]], *, repeat: int = 3, warmup: int = 1
) -> Timing:
    """Time ``await fn()`` like ``time_call`` (GC stays on: the event loop allocates freely).

    Raises:
        ValueError: ``repeat`` is below 1.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    for _ in range(warmup):
        await fn()
    times: list[float] = []
    for _ in range(repeat):
        gc.collect(1)
        await asyncio.sleep(0)
        start = time.perf_counter()
        await fn()
        times.append(time.perf_counter() - start)
    return _timing(times)


def time_many(
    fns: Mapping[str, Callable[[], object]], *, repeat: int = 5, warmup: int = 1
) -> dict[str, Timing]:
    """Time several callables in interleaved rounds: one timed call of each per round.

    A shared machine's load drifts; interleaving makes the drift hit every candidate alike, so
    their ratios stay meaningful. Each call is timed as by ``time_call``.

    Raises:
        ValueError: ``repeat`` is below 1.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    times: dict[str, list[float]] = {label: [] for label in fns}
    for fn in fns.values():
        for _ in range(warmup):
            fn()
    for _ in range(repeat):
        for label, fn in fns.items():
            times[label].append(time_call(fn, repeat=1, warmup=0).best)
    return {label: _timing(runs) for label, runs in times.items()}


async def time_many_async(
    fns: Mapping[str, Callable[[], Awaitable[object]]], *, repeat: int = 3, warmup: int = 1
) -> dict[str, Timing]:
    """Time several coroutine functions in interleaved rounds, like ``time_many``.

    Raises:
        ValueError: ``repeat`` is below 1.
    """
    if repeat < 1:
        raise ValueError(f"repeat must be at least 1, got {repeat}")
    times: dict[str, list[float]] = {label: [] for label in fns}
    for fn in fns.values():
        for _ in range(warmup):
            await fn()
    for _ in range(repeat):
        for label, fn in fns.items():
            times[label].append((await time_async(fn, repeat=1, warmup=0)).best)
    return {label: _timing(runs) for label, runs in times.items()}


def _timing(runs: list[float]) -> Timing:
    return Timing(best=min(runs), median=statistics.median(runs), runs=len(runs))
