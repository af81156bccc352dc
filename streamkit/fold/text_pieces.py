"""Text built by appending pieces, in linear time, without mutating anything shared.

The message fold and the tool-call reducer are pure: each step returns a new state and earlier
states stay valid (a reducer's seed is shared by every subscription). Appending to a ``str`` in
such a state copies the whole text every time; a ``Pieces`` value shares what came before.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

__all__ = ["Pieces"]

#: How many pieces may be appended one by one before they are merged into one string.
_MERGE_AFTER: Final = 128


@dataclass(frozen=True, slots=True, eq=False)
class Pieces:
    """A text built by appending pieces; each append gives a new value that shares the old one.

    Every ``_MERGE_AFTER`` appends, the pieces appended since the last merge become one string,
    so the pieces stay few, and a text of n pieces takes O(n) time to build and to ``join``.
    Two values are equal, and hash alike, when their texts are (each comparison joins them).
    """

    last: str
    before: Pieces | None = None
    loose: int = 1  # how many pieces, from this one back, are not merged yet

    def append(self, text: str) -> Pieces:
        """This text followed by ``text``."""
        if self.loose < _MERGE_AFTER:
            return Pieces(text, self, self.loose + 1)
        run = [text]
        node: Pieces | None = self
        while node is not None and node.loose:
            run.append(node.last)
            node = node.before
        return Pieces("".join(reversed(run)), node, 0)

    def join(self) -> str:
        """The whole text."""
        pieces: list[str] = []
        node: Pieces | None = self
        while node is not None:
            pieces.append(node.last)
            node = node.before
        return "".join(reversed(pieces))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Pieces) and self.join() == other.join()

    def __hash__(self) -> int:
        return hash(self.join())

    def __repr__(self) -> str:
        return f"Pieces({self.join()!r})"
