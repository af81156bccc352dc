"""A mapping whose every version stays valid, changed in constant time by the newest version.

The tool-call reducer is pure: each step returns a new state and earlier states stay valid. Its
open calls in a ``dict`` copied per step cost O(n) a step, so an answer whose n calls stay open
until its finish folds in O(n²). A ``VersionedMap`` shares one ``dict`` among its versions: the
newest changes it in place and writes down what each change replaced; an older version, when it
is read or changed, rebuilds its contents from that record (a copy, then the same cost again as
a fresh map). Folding forward, as reducers do, is O(1) a change; the record is kept to a few
changes per entry by starting a fresh one now and then, so memory follows the map's size, not
the number of changes.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator, Mapping
from typing import Any, Final, Generic, TypeVar

__all__ = ["VersionedMap"]

K = TypeVar("K")
V = TypeVar("V")

_MISSING: Final[Any] = object()
#: Changes recorded beyond twice the map's size before a version starts a fresh record.
_SPARE_CHANGES: Final = 64


class _Shared(Generic[K, V]):
    __slots__ = ("data", "lock", "undo")

    def __init__(self, data: dict[K, V]) -> None:
        self.data = data
        # undo[i] = (key, value before change i + 1), _MISSING when the key was absent.
        self.undo: list[tuple[K, Any]] = []
        self.lock = threading.Lock()  # two folds may step the same version in two threads


class VersionedMap(Mapping[K, V], Generic[K, V]):
    """An immutable mapping; ``set`` and ``remove`` give new versions, as ``dict`` copies would.

    Reads and changes of the newest version are O(1); an older version's first read or change
    costs a copy of the map (what it held is rebuilt from the record of later changes).
    """

    __slots__ = ("_shared", "_version")

    def __init__(self, items: Mapping[K, V] | None = None) -> None:
        self._shared: _Shared[K, V] = _Shared(dict(items or {}))
        self._version = 0

    def set(self, key: K, value: V) -> VersionedMap[K, V]:
        """This map with ``key`` mapped to ``value``."""
        return self._change(key, value)

    def remove(self, key: K) -> VersionedMap[K, V]:
        """This map without ``key`` (the same contents when it is absent)."""
        if key not in self:
            return self
        return self._change(key, _MISSING)

    def _change(self, key: K, value: Any) -> VersionedMap[K, V]:
        shared = self._shared
        with shared.lock:
            newest = len(shared.undo) == self._version
            # Past a few changes per entry, the record costs more memory than a fresh copy of
            # the map: start one (still O(1) a change, amortized); older versions keep theirs.
            fresh = len(shared.undo) <= 2 * len(shared.data) + _SPARE_CHANGES
            if newest and fresh:
                _apply(shared, key, value)
                return _version_of(shared, self._version + 1)
        contents = self._contents()
        fork: _Shared[K, V] = _Shared(dict(contents) if contents is shared.data else contents)
        _apply(fork, key, value)
        return _version_of(fork, 1)

    def _contents(self) -> dict[K, V]:
        """What this version holds: the shared dict, or a rebuilt copy for an older version."""
        shared = self._shared
        with shared.lock:
            if len(shared.undo) == self._version:
                return shared.data
            data = dict(shared.data)
            for key, before in reversed(shared.undo[self._version :]):
                if before is _MISSING:
                    data.pop(key, None)
                else:
                    data[key] = before
            return data

    def __getitem__(self, key: K) -> V:
        return self._contents()[key]

    def __contains__(self, key: object) -> bool:
        return key in self._contents()

    def __iter__(self) -> Iterator[K]:
        return iter(list(self._contents()))  # a snapshot: later versions may change the dict

    def __len__(self) -> int:
        return len(self._contents())

    def __repr__(self) -> str:
        return f"VersionedMap({self._contents()!r})"


def _apply(shared: _Shared[K, V], key: K, value: Any) -> None:
    shared.undo.append((key, shared.data.get(key, _MISSING)))
    if value is _MISSING:
        del shared.data[key]
    else:
        shared.data[key] = value


def _version_of(shared: _Shared[K, V], version: int) -> VersionedMap[K, V]:
    made: VersionedMap[K, V] = VersionedMap.__new__(VersionedMap)
    made._shared = shared
    made._version = version
    return made
