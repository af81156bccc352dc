"""The JSON Lines result store: which record wins, partials, torn lines, several writers."""

from __future__ import annotations

import multiprocessing
from pathlib import Path

from streamkit.batch.store import JSONLStore, StoredPartial, open_store


def done(key: str, h: str = "h1", text: str = "answer") -> dict[str, object]:
    return {"key": key, "request_hash": h, "status": "done", "text": text}


def failed(key: str, h: str = "h1") -> dict[str, object]:
    return {"key": key, "request_hash": h, "status": "failed", "error": {"type": "X"}}


def partial(key: str, text: str, h: str = "h1") -> dict[str, object]:
    return {
        "key": key,
        "request_hash": h,
        "status": "partial",
        "partial": {"id": "m1", "model": "gpt", "text": text},
    }


def test_a_reopened_store_knows_what_is_done_for_which_request(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JSONLStore(path) as store:
        store.append(done("a"))
        store.append(failed("b"))
    store = JSONLStore(path)
    assert store.is_done("a", "h1")
    assert not store.is_done("a", "h2")  # a changed request is asked again
    assert not store.is_done("b", "h1")  # failures are asked again
    assert store.get("a") == done("a")
    assert store.get("b") == failed("b")
    assert store.get("c") is None
    store.close()


def test_done_wins_over_earlier_and_later_failures(tmp_path: Path) -> None:
    with JSONLStore(tmp_path / "out.jsonl") as store:
        store.append(failed("a"))
        store.append(done("a", text="first"))
        store.append(failed("a"))
        store.append(done("b"))
        assert store.is_done("a", "h1")
        assert [r["key"] for r in store.records()] == ["a", "b"]
        assert store.get("a") == done("a", text="first")


def test_the_latest_partial_counts_until_its_row_finishes(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JSONLStore(path) as store:
        store.append(partial("a", "Once"))
        store.append(partial("a", "Once upon"))
        store.append(partial("b", "Hello"))
        store.append(done("b"))
    store = JSONLStore(path)
    assert store.partial("a", "h1") == StoredPartial("m1", "gpt", "Once upon")
    assert store.partial("a", "h2") is None  # another request: start afresh
    assert store.partial("b", "h1") is None  # finished
    assert [r["key"] for r in store.records()] == ["b"]  # partials are not results
    store.close()


def piece(key: str, start: int, text: str) -> dict[str, object]:
    record = partial(key, text)
    record["partial"] = {"id": "m1", "model": "gpt", "start": start, "text": text}
    return record


def test_partial_pieces_are_joined_and_a_restart_begins_a_new_chain(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JSONLStore(path) as store:
        store.append(piece("a", 0, "Once"))
        store.append(piece("a", 4, " upon"))
        store.append(piece("a", 9, " a time"))
        store.append(piece("b", 0, "Wrong"))
        store.append(piece("b", 0, "Right"))  # a Rewind: the answer restarted
        store.append(piece("c", 0, "Kept"))
        store.append(piece("c", 99, " lost"))  # a gap: the text ends before it
    store = JSONLStore(path)
    assert store.partial("a", "h1") == StoredPartial("m1", "gpt", "Once upon a time")
    assert store.partial("b", "h1") == StoredPartial("m1", "gpt", "Right")
    assert store.partial("c", "h1") == StoredPartial("m1", "gpt", "Kept")
    store.close()


def test_a_torn_last_line_is_skipped_and_set_apart_by_the_next_append(tmp_path: Path) -> None:
    path = tmp_path / "out.jsonl"
    with JSONLStore(path) as store:
        store.append(done("a"))
    with open(path, "ab") as file:
        file.write(b'{"key": "b", "request_hash": "h1", "sta')  # a crash mid-write
    store = JSONLStore(path)
    assert not store.is_done("b", "h1")
    store.append(done("b"))
    store.close()
    reopened = JSONLStore(path)
    assert reopened.is_done("a", "h1") and reopened.is_done("b", "h1")
    assert reopened.skipped_lines == 1
    assert len(path.read_bytes().splitlines()) == 3
    reopened.close()


def _append_many(path: str, worker: int, count: int) -> None:
    store = JSONLStore(path)
    for i in range(count):
        store.append(done(f"{worker}-{i}", text="x" * (i * 37 % 5000)))
    store.close()


def test_several_processes_appending_lose_no_record(tmp_path: Path) -> None:
    path = str(tmp_path / "out.jsonl")
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_append_many, args=(path, w, 300)) for w in range(3)]
    for process in workers:
        process.start()
    try:
        for process in workers:
            process.join(timeout=60)
    finally:
        for process in workers:
            if process.is_alive():
                process.kill()
                process.join()
    assert all(process.exitcode == 0 for process in workers)
    store = JSONLStore(path)
    assert store.skipped_lines == 0
    assert store.done_count == 900
    store.close()


def test_open_store_picks_jsonl_by_default_and_passes_store_objects_through(
    tmp_path: Path,
) -> None:
    store = open_store(tmp_path / "x.jsonl")
    assert isinstance(store, JSONLStore)
    assert open_store(store) is store
    store.close()


def test_without_indexing_appends_memory_stays_flat_and_a_reopen_sees_them(
    tmp_path: Path,
) -> None:
    path = tmp_path / "out.jsonl"
    with JSONLStore(path, index_appends=False) as store:
        for i in range(100):
            store.append(done(f"k{i}"))
        assert store.done_count == 0  # nothing kept per appended row
    with JSONLStore(path) as reopened:
        assert reopened.done_count == 100
