"""A virtual-time scheduler for tests that check a timer was cancelled."""

from __future__ import annotations

from typing import Any

from reactivex import abc
from reactivex.testing import TestScheduler

__all__ = ["RecordingScheduler"]


class RecordingScheduler(TestScheduler):
    """A test scheduler that remembers the handle of every action scheduled on it."""

    def __init__(self) -> None:
        super().__init__()
        self.handles: list[tuple[float, abc.DisposableBase]] = []

    def schedule_absolute(self, duetime: Any, action: Any, state: Any = None) -> Any:
        handle = super().schedule_absolute(duetime, action, state)
        self.handles.append((self.to_seconds(duetime), handle))
        return handle
