"""AppendLog: a pure, growing map whose every value stays what it was, in linear time."""

from __future__ import annotations

import threading

import pytest
from hypothesis import given
from hypothesis import strategies as st

from streamkit.fold.append_log import AppendLog


def build(keys: list[int]) -> AppendLog[int, str]:
    log: AppendLog[int, str] = AppendLog()
    for key in keys:
        log = log.add(key, f"v{key}")
    return log


def test_entries_come_back_in_the_order_they_were_added() -> None:
    log = build([3, 1, 2])
    assert list(log) == [3, 1, 2]
    assert log.values() == ["v3", "v1", "v2"]
    assert (len(log), 1 in log, 4 in log, log.get(1), log.get(4, "none")) == (
        3,
        True,
        False,
        "v1",
        "none",
    )


def test_a_key_is_added_once() -> None:
    with pytest.raises(KeyError):
        build([1]).add(1, "again")


def test_earlier_values_do_not_see_later_entries() -> None:
    one = build([1])
    two = one.add(2, "v2")
    assert (list(one), 2 in one, one.get(2)) == ([1], False, None)
    assert list(two) == [1, 2]


def test_adding_to_an_earlier_value_forks_without_disturbing_the_later_one() -> None:
    base = build([1, 2])
    later = base.add(3, "v3")
    fork = base.add(4, "v4")  # base is no longer the newest: it copies first
    assert list(later) == [1, 2, 3] and 4 not in later
    assert list(fork) == [1, 2, 4] and 3 not in fork
    assert list(later.add(5, "v5")) == [1, 2, 3, 5]
    assert list(fork.add(3, "again")) == [1, 2, 4, 3]


@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 30)), max_size=40))
def test_any_interleaving_of_forks_gives_each_value_its_own_entries(
    steps: list[tuple[int, int]],
) -> None:
    """Each step adds key ``k`` to one of the values made so far; every value keeps exactly
    the entries of its own history, whatever was added to the others."""
    values: list[tuple[AppendLog[int, int], list[int]]] = [(AppendLog(), [])]
    for pick, key in steps:
        log, keys = values[pick % len(values)]
        if key in keys:
            continue
        values.append((log.add(key, key * 10), [*keys, key]))
    for log, keys in values:
        assert list(log) == keys
        assert log.values() == [k * 10 for k in keys]
        assert all(k in log for k in keys)


def test_values_compare_by_their_entries() -> None:
    assert build([1, 2]) == build([1, 2])
    assert build([1, 2]) != build([2, 1])
    assert repr(build([1])) == "AppendLog({1: 'v1'})"


def test_two_threads_adding_to_one_value_each_get_their_own_log() -> None:
    base = build([0])
    results: list[AppendLog[int, str]] = []
    barrier = threading.Barrier(8)

    def add(key: int) -> None:
        barrier.wait()
        results.append(base.add(key, f"v{key}"))

    threads = [threading.Thread(target=add, args=(k,)) for k in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(list(log) for log in results) == [[0, k] for k in range(1, 9)]
