"""What the operators build on: the ``Operator`` type and the scheduler a timed one runs on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import TypeAlias, TypeVar

from reactivex import Observable, abc
from reactivex.scheduler import TimeoutScheduler
from reactivex.scheduler.eventloop import AsyncIOScheduler

__all__ = ["Operator", "now_seconds", "resolve_scheduler"]

A = TypeVar("A")
B = TypeVar("B")

#: What every streamkit operator returns: a function from one observable to another.
Operator: TypeAlias = Callable[[Observable[A]], Observable[B]]


def resolve_scheduler(
    explicit: abc.SchedulerBase | None, subscribed: abc.SchedulerBase | None
) -> abc.SchedulerBase:
    """The operator's own scheduler, else the subscriber's, else the running asyncio loop's.

    Falling back to the running loop keeps timers on the thread that runs streamkit's sources, so
    an operator never calls an observer from a timer thread in the middle of asyncio code.
    """
    if explicit is not None:
        return explicit
    if subscribed is not None:
        return subscribed
    try:
        return AsyncIOScheduler(asyncio.get_running_loop())
    except RuntimeError:
        return TimeoutScheduler.singleton()


def now_seconds(scheduler: abc.SchedulerBase) -> float:
    """The scheduler's clock as seconds (virtual time under a test scheduler)."""
    return scheduler.now.timestamp()
