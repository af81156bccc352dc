"""Type aliases shared by the operators."""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeAlias, TypeVar

from reactivex import Observable

__all__ = ["Operator"]

A = TypeVar("A")
B = TypeVar("B")

#: What every streamkit operator returns: a function from one observable to another.
Operator: TypeAlias = Callable[[Observable[A]], Observable[B]]
