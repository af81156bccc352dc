"""Pieces: appended text that shares what came before, equal and hashed by its text."""

from __future__ import annotations

from streamkit.fold.text_pieces import _MERGE_AFTER, Pieces
from streamkit.operators.tool_calls import PartialToolCall


def test_appends_from_one_base_make_independent_branches() -> None:
    base = Pieces("a")
    for i in range(_MERGE_AFTER + 5):  # past a merge, so both branches cross one
        base = base.append(str(i % 10))
    text = base.join()
    left, right = base, base
    for _ in range(2 * _MERGE_AFTER):
        left = left.append("L")
        right = right.append("R")
    assert left.join() == text + "L" * 2 * _MERGE_AFTER
    assert right.join() == text + "R" * 2 * _MERGE_AFTER
    assert base.join() == text  # the shared base is unchanged


def test_equal_and_hashed_by_text() -> None:
    built = Pieces("ab").append("c").append("d")
    whole = Pieces("abcd")
    assert built == whole and hash(built) == hash(whole) == hash("abcd")
    assert built != Pieces("abc") and built != "abcd"
    assert len({built, whole, Pieces("x")}) == 2


def test_join_of_many_appends() -> None:
    pieces = Pieces("")
    expected = []
    for i in range(10 * _MERGE_AFTER + 7):
        pieces = pieces.append(f"{i},")
        expected.append(f"{i},")
    assert pieces.join() == "".join(expected)
    assert repr(Pieces("x").append("y")) == "Pieces('xy')"


def test_a_partial_tool_call_is_hashable() -> None:
    call = PartialToolCall(0, 0)
    assert hash(call) == hash(PartialToolCall(0, 0))
