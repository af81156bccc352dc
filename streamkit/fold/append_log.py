"""An insertion-ordered map that only grows, in constant time per entry, without copying.

The message fold is pure: each step returns a new state and earlier states stay valid. Keeping
a choice's tool calls or its block order in a tuple copies the tuple for every entry added, so
a message of n calls takes O(n²) to fold. An ``AppendLog`` shares its storage with the values it
was made from: each value sees the first ``len(value)`` entries of that storage, and adding to the
newest value of a lineage appends in place. Adding to an older value (a fold restarted from an
intermediate state) copies what that value sees first, so the newer values are not disturbed.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Generic, TypeVar

__all__ = ["AppendLog"]

K = TypeVar("K")
V = TypeVar("V")


class _Storage(Generic[K, V]):
    __slots__ = ("keys", "lock", "positions", "values")

    def __init__(self, keys: list[K], values: list[V]) -> None:
        self.keys = keys
        self.values = values
        self.positions = {key: position for position, key in enumerate(keys)}
        # Two folds stepping the same state in two threads must not both append in place.
        self.lock = threading.Lock()

    def append(self, key: K, value: V) -> None:
        self.positions[key] = len(self.keys)
        self.keys.append(key)
        self.values.append(value)


class AppendLog(Generic[K, V]):
    """Keys mapped to values in the order they were added; ``add`` gives a new log.

    A key is added once: ``add`` with a key already present is a ``KeyError`` (callers decide
    what a repeat means). Two logs are equal when their entries are.
    """

    __slots__ = ("_count", "_storage")

    def __init__(self) -> None:
        self._storage: _Storage[K, V] = _Storage([], [])
        self._count = 0

    def add(self, key: K, value: V) -> AppendLog[K, V]:
        """This log with ``key`` mapped to ``value`` at its end.

        Raises:
            KeyError: ``key`` is in the log already.
        """
        if key in self:
            raise KeyError(key)
        storage = self._storage
        with storage.lock:
            newest = len(storage.keys) == self._count
            if newest:  # nothing was added after this value: append in place
                storage.append(key, value)
        if not newest:
            storage = _Storage(storage.keys[: self._count], storage.values[: self._count])
            storage.append(key, value)
        added: AppendLog[K, V] = AppendLog.__new__(AppendLog)
        added._storage = storage
        added._count = self._count + 1
        return added

    def get(self, key: K, default: V | None = None) -> V | None:
        """The value of ``key``, or ``default`` when it is not in this log."""
        position = self._storage.positions.get(key)
        if position is None or position >= self._count:
            return default
        return self._storage.values[position]

    def values(self) -> list[V]:
        """The values, in the order they were added."""
        return self._storage.values[: self._count]

    def __contains__(self, key: object) -> bool:
        position = self._storage.positions.get(key)  # type: ignore[arg-type]
        return position is not None and position < self._count

    def __iter__(self) -> Iterator[K]:
        return iter(self._storage.keys[: self._count])

    def __len__(self) -> int:
        return self._count

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, AppendLog):
            return NotImplemented
        return list(self) == list(other) and self.values() == other.values()

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        entries = ", ".join(f"{k!r}: {v!r}" for k, v in zip(self, self.values(), strict=True))
        return f"AppendLog({{{entries}}})"
