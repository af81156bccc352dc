"""VersionedMap: every version keeps its contents, whatever is done to the others."""

from __future__ import annotations

import threading

from hypothesis import given
from hypothesis import strategies as st

from streamkit.fold.versioned_map import VersionedMap


def test_the_newest_version_changes_and_the_older_ones_stay() -> None:
    empty: VersionedMap[str, int] = VersionedMap()
    one = empty.set("a", 1)
    two = one.set("b", 2).set("a", 3)
    gone = two.remove("b")
    assert (dict(empty), dict(one), dict(two), dict(gone)) == (
        {},
        {"a": 1},
        {"a": 3, "b": 2},
        {"a": 3},
    )
    assert gone.remove("missing") is gone
    assert one == {"a": 1} and "b" not in one and len(two) == 2


def test_changing_an_older_version_forks_it() -> None:
    base = VersionedMap({"x": 0})
    later = base.set("y", 1)
    fork = base.set("z", 2)
    assert dict(later) == {"x": 0, "y": 1}
    assert dict(fork) == {"x": 0, "z": 2}
    assert dict(later.remove("x")) == {"y": 1} and dict(fork.set("x", 5)) == {"x": 5, "z": 2}


OPERATIONS = st.lists(
    st.tuples(st.integers(0, 10), st.sampled_from(["set", "remove"]), st.integers(0, 5)),
    max_size=50,
)


@given(OPERATIONS)
def test_any_history_of_forks_matches_dict_copies(steps: list[tuple[int, str, int]]) -> None:
    versions: list[tuple[VersionedMap[int, int], dict[int, int]]] = [(VersionedMap(), {})]
    for n, (pick, operation, key) in enumerate(steps):
        current, expected = versions[pick % len(versions)]
        if operation == "set":
            versions.append((current.set(key, n), {**expected, key: n}))
        else:
            versions.append((current.remove(key), {k: v for k, v in expected.items() if k != key}))
    for current, expected in versions:
        assert dict(current) == expected


def test_two_threads_changing_one_version_each_get_their_own() -> None:
    base = VersionedMap({0: 0})
    results: list[VersionedMap[int, int]] = []
    barrier = threading.Barrier(8)

    def change(key: int) -> None:
        barrier.wait()
        results.append(base.set(key, key))

    threads = [threading.Thread(target=change, args=(k,)) for k in range(1, 9)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(sorted(r) for r in results) == [[0, k] for k in range(1, 9)]
    assert dict(base) == {0: 0}


def test_the_record_of_changes_stays_in_proportion_to_the_map() -> None:
    first: VersionedMap[str, int] = VersionedMap()
    current = first.set("key", 0)
    for n in range(1, 10_000):
        current = current.set("key", n)  # one entry, changed many times
    assert dict(current) == {"key": 9_999} and dict(first) == {}
    assert len(current._shared.undo) <= 2 * len(current) + 64
